//! 95 % intervals for the tables: Wilson's score interval for a rate (success over images) and a
//! seeded percentile bootstrap over images for a mean (confidence, time, map L1, IoU, 1-SSIM).
//! At 10 images per cell they are wide; the tables show them so a reader can tell a difference
//! from noise.
use rand::{Rng, SeedableRng};

/// z of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval of `k` successes in `n` trials at normal quantile `z`; (NaN, NaN) for
/// n = 0.
pub fn wilson(k: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let den = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / den;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / den;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Resamples of the percentile bootstrap in the tables.
pub const BOOTSTRAP_REPS: usize = 2000;

/// 95 % percentile-bootstrap interval of the mean of `v` (`reps` resamples with replacement,
/// drawn from ChaCha8 seeded by `seed`); (NaN, NaN) for an empty input, (v, v) for one value.
pub fn bootstrap_mean(v: &[f64], reps: usize, seed: u64) -> (f64, f64) {
    match v.len() {
        0 => return (f64::NAN, f64::NAN),
        1 => return (v[0], v[0]),
        _ => {}
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = v.len();
    let mut means: Vec<f64> = (0..reps).map(|_| (0..n).map(|_| v[rng.gen_range(0..n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| means[((q * (reps - 1) as f64).round() as usize).min(reps - 1)];
    (at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closed form: 8 of 10 gives centre (0.8 + z²/20) / (1 + z²/10) = 0.71674 and half-width
    /// z·sqrt(0.016 + z²/400) / (1 + z²/10) = 0.22658, so [0.4902, 0.9433]; 0 of 10 gives
    /// [0, z²/10 / (1 + z²/10)] = [0, 0.2775]; 10 of 10 mirrors it.
    #[test]
    fn wilson_matches_the_closed_form() {
        let (lo, hi) = wilson(8, 10, Z95);
        assert!((lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(0, 10, Z95);
        assert!(lo.abs() < 1e-12 && (hi - 0.2775).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(10, 10, Z95);
        assert!((lo - 0.7225).abs() < 1e-4 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
        assert!(wilson(0, 0, Z95).0.is_nan());
    }

    /// Seeded (the same interval twice), around the mean, zero width for constant data, and of
    /// the width the normal approximation predicts: for n = 400 values with sd 1 the 95 %
    /// interval of the mean is about ±1.96/20 = ±0.098.
    #[test]
    fn bootstrap_is_seeded_and_has_the_expected_width() {
        let v: Vec<f64> = (0..400).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let (lo, hi) = bootstrap_mean(&v, BOOTSTRAP_REPS, 7);
        assert_eq!((lo, hi), bootstrap_mean(&v, BOOTSTRAP_REPS, 7));
        assert!(lo < 0.0 && hi > 0.0);
        assert!((hi - lo - 0.196).abs() < 0.03, "width {}", hi - lo);
        assert_eq!(bootstrap_mean(&[0.3; 5], BOOTSTRAP_REPS, 1), (0.3, 0.3));
        assert_eq!(bootstrap_mean(&[0.3], BOOTSTRAP_REPS, 1), (0.3, 0.3));
        assert!(bootstrap_mean(&[], BOOTSTRAP_REPS, 1).0.is_nan());
    }
}
