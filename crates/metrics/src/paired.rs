//! Paired tests for comparing two attacks on the same images: the sign-flip (permutation) test of
//! the mean paired difference, and Holm's step-down correction for a family of such tests.
//!
//! Under the null hypothesis that the two attacks are exchangeable on each image, every paired
//! difference is as likely to have either sign, so the 2^n sign patterns are equally likely. The
//! p-value is the share of patterns whose |mean| reaches the observed |mean|: exact (every
//! pattern enumerated) up to `EXACT_MAX` images, else estimated from `reps` seeded random
//! patterns (with the observed pattern counted, so p is never 0).
use rand::{Rng, SeedableRng};

/// Up to this many pairs the test enumerates all 2^n sign patterns.
pub const EXACT_MAX: usize = 20;

/// Random sign patterns above [`EXACT_MAX`] pairs.
pub const SIGN_FLIP_REPS: usize = 20_000;

/// Two-sided p-value of the sign-flip test of mean(d) = 0; NaN for no pairs, 1 when every
/// difference is 0.
pub fn sign_flip_p(d: &[f64], reps: usize, seed: u64) -> f64 {
    let n = d.len();
    if n == 0 {
        return f64::NAN;
    }
    let observed = d.iter().sum::<f64>().abs();
    // A relative tolerance, so a pattern that ties the observed sum is counted despite rounding.
    let reaches = |s: f64| s.abs() >= observed * (1.0 - 1e-12) - 1e-300;
    if n <= EXACT_MAX {
        let total = 1u64 << n;
        let hits = (0..total).filter(|mask| reaches(d.iter().enumerate().map(|(i, v)| if mask >> i & 1 == 1 { -v } else { *v }).sum())).count();
        return hits as f64 / total as f64;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let hits = (0..reps).filter(|_| reaches(d.iter().map(|v| if rng.gen::<bool>() { -v } else { *v }).sum())).count();
    (hits + 1) as f64 / (reps + 1) as f64
}

/// Holm's step-down adjusted p-values (same order as `p`; NaN entries stay NaN and do not count
/// in the family): with m tests sorted ascending, p_(i) becomes max_{j<=i} min(1, (m - j + 1) p_(j)).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = idx.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// n positive differences: only the all-positive and all-negative patterns reach |sum|, so
    /// p = 2 / 2^n exactly.
    #[test]
    fn all_one_sign_gives_two_over_two_to_the_n() {
        assert_eq!(sign_flip_p(&[0.1, 0.3, 0.2, 0.5, 0.4], 0, 0), 2.0 / 32.0);
        assert_eq!(sign_flip_p(&[1.0; 10], 0, 0), 2.0 / 1024.0);
    }

    /// d = (1, 1, -1): the sums of the 8 patterns are ±1 (6 patterns) and ±3 (2), so |sum| >= 1
    /// for all 8: p = 1. d = (3, 1, 1): |sum| >= 5 only for (+,+,+) and (-,-,-): p = 2/8.
    #[test]
    fn small_cases_by_hand() {
        assert_eq!(sign_flip_p(&[1.0, 1.0, -1.0], 0, 0), 1.0);
        assert_eq!(sign_flip_p(&[3.0, 1.0, 1.0], 0, 0), 0.25);
        assert_eq!(sign_flip_p(&[0.0, 0.0], 0, 0), 1.0);
        assert!(sign_flip_p(&[], 0, 0).is_nan());
    }

    /// Above the exact limit the Monte-Carlo estimate of 25 equal positive differences is
    /// (0 + 1) / (reps + 1) in practice (the chance of drawing an extreme pattern is 2^-24).
    #[test]
    fn monte_carlo_is_seeded_and_close() {
        let d = vec![0.5; 25];
        assert_eq!(sign_flip_p(&d, 999, 7), 1.0 / 1000.0);
        let mixed: Vec<f64> = (0..30).map(|i| if i % 3 == 0 { -1.0 } else { 0.7 }).collect();
        assert_eq!(sign_flip_p(&mixed, 5000, 1), sign_flip_p(&mixed, 5000, 1));
    }

    /// Holm on (0.01, 0.04, 0.03, NaN): sorted 0.01, 0.03, 0.04 with m = 3 -> 0.03, 0.06, max(0.06, 0.04) = 0.06.
    #[test]
    fn holm_by_hand() {
        let a = holm(&[0.01, 0.04, 0.03, f64::NAN]);
        assert!((a[0] - 0.03).abs() < 1e-12 && (a[1] - 0.06).abs() < 1e-12 && (a[2] - 0.06).abs() < 1e-12 && a[3].is_nan(), "{a:?}");
    }
}
