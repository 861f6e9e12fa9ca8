//! SSIM parity with scikit-image's `structural_similarity` (fixture: tools/make_skimage_fixtures.py).
use advedge_metrics::{ssim, SsimConfig};

#[test]
fn ssim_matches_skimage_within_1e5() {
    let f: serde_json::Value = serde_json::from_str(include_str!("fixtures/ssim_skimage.json")).unwrap();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for c in cases {
        let x: Vec<f32> = c["x_u8"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as f32 / 255.0).collect();
        let y: Vec<f32> = c["y"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let want = c["ssim"].as_f64().unwrap();
        let got = ssim(&x, &y, 3, 32, 32, SsimConfig::default());
        assert!((got - want).abs() <= 1e-5, "{}: ours {got}, skimage {want}", c["file"]);
    }
}
