//! The detector grid's smoke profile end to end (Tables V and VI) on the committed ResNet-20:
//! the PGD AdvEdge cells run, maps are extracted, detectors are trained and both tables written
//! with the paper's numbers beside ours, and the detectors' learning curve.
use advedge_runner::reproduce::{reproduce, ReproduceArgs};

#[test]
fn detector_smoke_profile_writes_tables_5_and_6() {
    let results = std::env::temp_dir().join(format!("advedge-detector-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let args = ReproduceArgs::new("table5", "smoke", results.clone());
    reproduce(args).expect("detector smoke grid runs");
    let t5 = std::fs::read_to_string(results.join("smoke/tables/table5.md")).unwrap();
    assert!(t5.contains("| resnet20 | CAM × Grad | ") && t5.contains("/ 0.896 ("), "{t5}");
    let t6 = std::fs::read_to_string(results.join("smoke/tables/table6.csv")).unwrap();
    let row = t6.lines().find(|l| l.starts_with("resnet20,Grad+CAM+MASK,")).expect("Grad+CAM+MASK row");
    // model, interpreters, pairs, splits, accuracy, ...
    let acc: f64 = row.split(',').nth(4).unwrap().parse().expect("an accuracy was measured");
    assert!((0.0..=1.0).contains(&acc));
    assert!(t6.is_empty() || std::fs::read_to_string(results.join("smoke/tables/table6.md")).unwrap().contains("## Shape check (resnet20)"));
    // The smoke profile's learning curve trains every detector again on 3 source images.
    let curve = std::fs::read_to_string(results.join("smoke/tables/detector_curve.csv")).unwrap();
    assert!(curve.lines().any(|l| l.starts_with("resnet20 CAM × Grad,3,")), "{curve}");
    assert!(results.join("smoke/index-detector.md").is_file());
    assert!(!results.join("smoke/index.md").exists(), "the detector grid must not overwrite the main index");
}
