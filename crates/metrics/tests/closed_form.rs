//! Closed-form checks of the map metrics (the skimage parity of SSIM is in `ssim_fixture.rs`).
use advedge_metrics::*;

#[test]
fn l1_is_the_per_element_mean() {
    assert!((l1_mean(&[0.0, 1.0, 0.5, 0.5], &[1.0, 1.0, 0.0, 0.5]) - 0.375).abs() < 1e-12);
}

#[test]
fn iou_of_identical_maps_is_one_and_of_disjoint_tops_is_zero() {
    let a = [0.9, 0.8, 0.1, 0.0];
    assert_eq!(iou_topk_mean(&a, &a, &DEFAULT_IOU_KS), 1.0);
    let b = [0.0, 0.1, 0.8, 0.9];
    // top-50%: {0,1} vs {2,3}
    assert_eq!(iou_topk(&a, &b, 0.5), 0.0);
    // top-75% (3 of 4): {0,1,2} vs {1,2,3} -> 2/4
    assert_eq!(iou_topk(&a, &b, 0.75), 0.5);
}

#[test]
fn kendall_tau_known_values() {
    let a = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert!((kendall_tau_b(&a, &a) - 1.0).abs() < 1e-12);
    let rev = [5.0, 4.0, 3.0, 2.0, 1.0];
    assert!((kendall_tau_b(&a, &rev) + 1.0).abs() < 1e-12);
    // scipy.stats.kendalltau([1,2,3,4,5],[3,1,2,5,4]) = 0.4 (7 concordant, 3 discordant pairs; checked with scipy 1.x)
    assert!((kendall_tau_b(&a, &[3.0, 1.0, 2.0, 5.0, 4.0]) - 0.4).abs() < 1e-12);
    // with ties (tau-b): scipy.stats.kendalltau([1,1,2,3],[1,2,2,3]) = 0.7999999999999999
    // = 4 / sqrt((4 + 1) * (4 + 1)): 4 concordant, one tie only in each sequence.
    assert!((kendall_tau_b(&[1.0, 1.0, 2.0, 3.0], &[1.0, 2.0, 2.0, 3.0]) - 0.8).abs() < 1e-12);
}

#[test]
fn ssim_of_identical_images_is_one_and_drops_with_noise() {
    let x: Vec<f32> = (0..3 * 16 * 16).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
    assert!((ssim(&x, &x, 3, 16, 16, SsimConfig::default()) - 1.0).abs() < 1e-12);
    let y: Vec<f32> = x.iter().enumerate().map(|(i, v)| (v + if i % 2 == 0 { 0.05 } else { -0.05 }).clamp(0.0, 1.0)).collect();
    let s = ssim(&x, &y, 3, 16, 16, SsimConfig::default());
    assert!(s < 0.999 && s > 0.5, "{s}");
}

#[test]
fn mean_std_uses_ddof_one() {
    let s = mean_std(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(s.mean, 2.5);
    assert!((s.std - 1.2909944487358056).abs() < 1e-12);
}
