//! Distances between attribution maps (values in [0,1], same shape).

/// Per-element mean absolute difference (spec 9.3): (1/|Ω|) Σ |a - b|.
pub fn l1_mean(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "maps must have the same size");
    a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).sum::<f64>() / a.len() as f64
}

/// The k-fractions used for IoU by default: 10%, 20%, ..., 90% (spec 9.4, configurable).
pub const DEFAULT_IOU_KS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// Binary mask of the top `frac` entries of `m` (at least one). Ties are broken by index so the
/// mask always has exactly round(frac * n) entries.
pub fn topk_mask(m: &[f32], frac: f64) -> Vec<bool> {
    let n = m.len();
    let k = ((frac * n as f64).round() as usize).clamp(1, n);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&i, &j| m[j].partial_cmp(&m[i]).unwrap_or(std::cmp::Ordering::Equal).then(i.cmp(&j)));
    let mut out = vec![false; n];
    for &i in &idx[..k] {
        out[i] = true;
    }
    out
}

/// IoU of the top-`frac` binarisations of two maps.
pub fn iou_topk(a: &[f32], b: &[f32], frac: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "maps must have the same size");
    let (ma, mb) = (topk_mask(a, frac), topk_mask(b, frac));
    let inter = ma.iter().zip(&mb).filter(|(x, y)| **x && **y).count();
    let union = ma.iter().zip(&mb).filter(|(x, y)| **x || **y).count();
    inter as f64 / union as f64
}

/// IoU averaged over several k-fractions (the rule recorded in every report).
pub fn iou_topk_mean(a: &[f32], b: &[f32], ks: &[f64]) -> f64 {
    ks.iter().map(|&k| iou_topk(a, b, k)).sum::<f64>() / ks.len() as f64
}

/// Kendall's tau-b (scipy.stats.kendalltau's default) between two equally long sequences.
/// O(n^2); maps here have at most a few thousand cells.
pub fn kendall_tau_b(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len();
    let (mut conc, mut disc, mut ties_a, mut ties_b) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let da = (a[i] - a[j]).signum() as i64 * ((a[i] != a[j]) as i64);
            let db = (b[i] - b[j]).signum() as i64 * ((b[i] != b[j]) as i64);
            match (da, db) {
                (0, 0) => {}
                (0, _) => ties_a += 1,
                (_, 0) => ties_b += 1,
                _ if da == db => conc += 1,
                _ => disc += 1,
            }
        }
    }
    let n0 = (conc + disc + ties_a) as f64;
    let n1 = (conc + disc + ties_b) as f64;
    if n0 == 0.0 || n1 == 0.0 {
        return f64::NAN;
    }
    (conc - disc) as f64 / (n0 * n1).sqrt()
}
