//! Detector samples: channel-stacked maps at a common resolution, with labels (1 = adversarial)
//! and the source image index (train/test splits never share a source image).

#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub channels: usize,
    pub side: usize,
    /// `len() * channels * side * side` values, CHW per sample.
    pub data: Vec<f32>,
    pub labels: Vec<u8>,
    pub sources: Vec<usize>,
}

impl Samples {
    pub fn new(channels: usize, side: usize) -> Self {
        Self { channels, side, ..Default::default() }
    }
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn sample_len(&self) -> usize {
        self.channels * self.side * self.side
    }
    /// Append one sample from per-interpreter maps (each square, any size, values in [0,1]);
    /// with `product`, a last channel holds maps[0] ⊙ maps[1].
    pub fn push(&mut self, maps: &[&[f32]], product: bool, label: u8, source: usize) {
        let mut chans: Vec<Vec<f32>> = maps.iter().map(|m| resize_bilinear(m, self.side)).collect();
        if product {
            let p = chans[0].iter().zip(&chans[1]).map(|(a, b)| a * b).collect();
            chans.push(p);
        }
        assert_eq!(chans.len(), self.channels, "channel count");
        for c in chans {
            self.data.extend(c);
        }
        self.labels.push(label);
        self.sources.push(source);
    }
    /// Split by source image: a deterministic hash of the index puts about `train_frac` of the
    /// source images (with all their samples) in the first part. With two or more sources,
    /// neither part is left empty (the extreme source moves over).
    pub fn split(&self, train_frac: f64, seed: u64) -> (Samples, Samples) {
        let mut a = Samples::new(self.channels, self.side);
        let mut b = Samples::new(self.channels, self.side);
        let n = self.sample_len();
        let u = |src: usize| (splitmix(seed ^ src as u64) >> 11) as f64 / (1u64 << 53) as f64;
        let us: Vec<(f64, usize)> = self.sources.iter().map(|&s| (u(s), s)).collect();
        let (lo, hi) = us.iter().fold(((f64::MAX, 0), (f64::MIN, 0)), |(lo, hi), &(v, s)| (if v < lo.0 { (v, s) } else { lo }, if v > hi.0 { (v, s) } else { hi }));
        let all_train = us.iter().all(|x| x.0 < train_frac);
        let all_test = us.iter().all(|x| x.0 >= train_frac);
        for i in 0..self.len() {
            let (v, src) = us[i];
            let mut train = v < train_frac;
            if lo.1 != hi.1 && ((all_train && src == hi.1) || (all_test && src == lo.1)) {
                train = !train;
            }
            let t = if train { &mut a } else { &mut b };
            t.data.extend_from_slice(&self.data[i * n..(i + 1) * n]);
            t.labels.push(self.labels[i]);
            t.sources.push(self.sources[i]);
        }
        (a, b)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Bilinear resize of a square map (torch `align_corners = false`) to `side` x `side`.
pub fn resize_bilinear(m: &[f32], side: usize) -> Vec<f32> {
    let s = (m.len() as f64).sqrt().round() as usize;
    assert_eq!(s * s, m.len(), "square maps only");
    if s == side {
        return m.to_vec();
    }
    let coord = |o: usize| {
        let src = ((o as f64 + 0.5) * s as f64 / side as f64 - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(s - 1);
        (i0, (i0 + 1).min(s - 1), (src - i0 as f64) as f32)
    };
    let mut out = vec![0.0; side * side];
    for r in 0..side {
        let (r0, r1, fr) = coord(r);
        for c in 0..side {
            let (c0, c1, fc) = coord(c);
            let v = |y: usize, x: usize| m[y * s + x];
            out[r * side + c] = (1.0 - fr) * ((1.0 - fc) * v(r0, c0) + fc * v(r0, c1)) + fr * ((1.0 - fc) * v(r1, c0) + fc * v(r1, c1));
        }
    }
    out
}
