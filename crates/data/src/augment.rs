//! Training augmentation on `u8` CHW images: random crop with zero padding, random horizontal flip.
use rand::Rng;

/// Re-export of the generator type used throughout the project (seeded, reproducible).
pub type Rng64 = rand_chacha::ChaCha8Rng;

/// Write one augmented image into `out` (3*h*w floats in [0,1]).
/// `pad` pixels of zero padding, a uniformly random crop offset, and a flip with probability 1/2.
pub fn augment_crop_flip<R: Rng>(src: &[u8], h: usize, w: usize, pad: usize, rng: &mut R, out: &mut [f32]) {
    let dy = rng.gen_range(0..=2 * pad) as isize - pad as isize;
    let dx = rng.gen_range(0..=2 * pad) as isize - pad as isize;
    let flip = rng.gen_bool(0.5);
    for c in 0..3 {
        for y in 0..h {
            let sy = y as isize + dy;
            for x in 0..w {
                let xx = if flip { w - 1 - x } else { x };
                let sx = xx as isize + dx;
                let v = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                    src[c * h * w + sy as usize * w + sx as usize] as f32 / 255.0
                } else {
                    0.0
                };
                out[c * h * w + y * w + x] = v;
            }
        }
    }
}
