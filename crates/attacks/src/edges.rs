//! Edge weights of AdvEdge / AdvEdge+ (spec 3): Sobel magnitude of the channel-mean gray image
//! with `skimage.filters.sobel` semantics (>= 0.19: no border zeroing), computed once per benign
//! image. Pure Rust on plain slices: it runs once per image, outside the attack loop.

/// scipy.ndimage "reflect" index (half-sample symmetric: d c b a | a b c d).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let mut i = i;
    loop {
        if i < 0 {
            i = -i - 1;
        } else if i >= n {
            i = 2 * n - i - 1;
        } else {
            return i as usize;
        }
    }
}

/// Channel-mean gray image of a CHW [0,1] image.
pub fn gray(img: &[f32], h: usize, w: usize) -> Vec<f32> {
    let n = h * w;
    (0..n).map(|k| (img[k] + img[n + k] + img[2 * n + k]) / 3.0).collect()
}

/// Sobel magnitude sqrt((Gv^2 + Gh^2) / 2) of a gray image, kernels [1,0,-1] x [1,2,1]/4.
pub fn sobel(gray: &[f32], h: usize, w: usize) -> Vec<f32> {
    let px = |i: isize, j: isize| gray[reflect(i, h) * w + reflect(j, w)] as f64;
    let mut out = vec![0f32; h * w];
    for i in 0..h as isize {
        for j in 0..w as isize {
            // derivative along rows (axis 0), smoothing along columns
            let mut gv = 0.0;
            let mut gh = 0.0;
            for (d, e) in [(-1isize, 1.0f64), (1, -1.0)] {
                for (s, wgt) in [(-1isize, 0.25f64), (0, 0.5), (1, 0.25)] {
                    gv += e * wgt * px(i + d, j + s);
                    gh += e * wgt * px(i + s, j + d);
                }
            }
            out[(i as usize) * w + j as usize] = ((gv * gv + gh * gh) / 2.0).sqrt() as f32;
        }
    }
    out
}

/// Edge weights W [h*w] of one CHW image.
pub fn edge_weights(img: &[f32], h: usize, w: usize) -> Vec<f32> {
    sobel(&gray(img, h, w), h, w)
}

/// How edges enter an attack's warm-up phase.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeMode {
    /// ADV2 and the plain attack: W = 1.
    None,
    /// AdvEdge: multiply by W.
    Weighted,
    /// AdvEdge+: binary mask 1[W > threshold] (PGD) or W * 1[W > threshold] (C&W, StAdv).
    Binary { threshold: f32, keep_weight: bool },
}

impl EdgeMode {
    /// Per-pixel factor for weights `w`.
    pub fn factor(&self, w: &[f32]) -> Vec<f32> {
        match *self {
            EdgeMode::None => vec![1.0; w.len()],
            EdgeMode::Weighted => w.to_vec(),
            EdgeMode::Binary { threshold, keep_weight } => w
                .iter()
                .map(|&v| if v > threshold { if keep_weight { v } else { 1.0 } } else { 0.0 })
                .collect(),
        }
    }
}
