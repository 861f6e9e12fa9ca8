//! Mean and sample standard deviation (ddof = 1), as the paper's "mean ± std".
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
}

/// NaN mean for an empty input; NaN std for fewer than two values.
pub fn mean_std(v: &[f64]) -> Summary {
    let n = v.len();
    if n == 0 {
        return Summary { n, mean: f64::NAN, std: f64::NAN };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let std = if n < 2 { f64::NAN } else { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() };
    Summary { n, mean, std }
}
