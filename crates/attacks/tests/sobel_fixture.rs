//! Edge weights vs scikit-image `filters.sobel` on real CIFAR images
//! (fixture: tools/make_skimage_fixtures.py), plus closed-form cases.
use advedge_attacks::edges::{edge_weights, sobel, EdgeMode};

#[test]
fn sobel_matches_skimage_within_1e5() {
    let f: serde_json::Value = serde_json::from_str(include_str!("fixtures/sobel_skimage.json")).unwrap();
    for c in f["cases"].as_array().unwrap() {
        let img: Vec<f32> = c["image_u8"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as f32 / 255.0).collect();
        let want: Vec<f64> = c["sobel"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let got = edge_weights(&img, 32, 32);
        let worst = got.iter().zip(&want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(worst <= 1e-5, "{}: max abs diff {worst}", c["file"]);
    }
}

#[test]
fn ideal_vertical_step_gives_one_over_sqrt2() {


    let (h, w) = (8, 8);
    let g: Vec<f32> = (0..h * w).map(|k| if k % w >= 4 { 1.0 } else { 0.0 }).collect();
    let s = sobel(&g, h, w);
    // at columns 3 and 4 the central difference is 1 -> magnitude 1/sqrt(2)
    assert!((s[2 * w + 3] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    assert!((s[2 * w + 4] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    assert_eq!(s[2 * w + 1], 0.0);
}

#[test]
fn edge_modes() {
    let w = [0.0, 0.05, 0.2, 0.7];
    assert_eq!(EdgeMode::None.factor(&w), vec![1.0; 4]);
    assert_eq!(EdgeMode::Weighted.factor(&w), w.to_vec());
    assert_eq!(EdgeMode::Binary { threshold: 0.1, keep_weight: false }.factor(&w), vec![0.0, 0.0, 1.0, 1.0]);
    assert_eq!(EdgeMode::Binary { threshold: 0.1, keep_weight: true }.factor(&w), vec![0.0, 0.0, 0.2, 0.7]);
}
