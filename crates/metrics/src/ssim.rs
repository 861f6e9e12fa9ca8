//! SSIM with `skimage.metrics.structural_similarity` semantics (spec 9.5): uniform 7x7 window,
//! sample covariance (N/(N-1)), K1 = 0.01, K2 = 0.03, data range 1, the SSIM map cropped by
//! (win-1)/2 on every side before averaging, computed per channel and averaged over channels.
//! (Inside the crop every window lies fully in the image, so the padding mode does not matter.)

#[derive(Clone, Copy, Debug)]
pub struct SsimConfig {
    pub win: usize,
    pub k1: f64,
    pub k2: f64,
    pub data_range: f64,
}

impl Default for SsimConfig {
    fn default() -> Self {
        Self { win: 7, k1: 0.01, k2: 0.03, data_range: 1.0 }
    }
}

/// Mean SSIM of two CHW images with `c` channels of `h`x`w`.
pub fn ssim(x: &[f32], y: &[f32], c: usize, h: usize, w: usize, cfg: SsimConfig) -> f64 {
    assert_eq!(x.len(), c * h * w);
    assert_eq!(y.len(), x.len());
    assert!(h >= cfg.win && w >= cfg.win, "image smaller than the SSIM window");
    (0..c).map(|ch| ssim_channel(&x[ch * h * w..(ch + 1) * h * w], &y[ch * h * w..(ch + 1) * h * w], h, w, cfg)).sum::<f64>() / c as f64
}

fn ssim_channel(x: &[f32], y: &[f32], h: usize, w: usize, cfg: SsimConfig) -> f64 {
    let r = cfg.win / 2;
    let np = (cfg.win * cfg.win) as f64;
    let cov_norm = np / (np - 1.0);
    let c1 = (cfg.k1 * cfg.data_range).powi(2);
    let c2 = (cfg.k2 * cfg.data_range).powi(2);
    let mut total = 0.0;
    let mut count = 0usize;
    for i in r..h - r {
        for j in r..w - r {
            let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for di in 0..cfg.win {
                for dj in 0..cfg.win {
                    let k = (i + di - r) * w + (j + dj - r);
                    let (a, b) = (x[k] as f64, y[k] as f64);
                    sx += a;
                    sy += b;
                    sxx += a * a;
                    syy += b * b;
                    sxy += a * b;
                }
            }
            let (ux, uy) = (sx / np, sy / np);
            let vx = cov_norm * (sxx / np - ux * ux);
            let vy = cov_norm * (syy / np - uy * uy);
            let vxy = cov_norm * (sxy / np - ux * uy);
            let s = ((2.0 * ux * uy + c1) * (2.0 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            total += s;
            count += 1;
        }
    }
    total / count as f64
}
