//! Table VII's smoke profile end to end: NT and AT train (tiny ResNet, 256 images, one epoch),
//! are evaluated, and the table is written; a second render reuses the cards and the cached
//! evaluation instead of training again.
use advedge_runner::reproduce::{reproduce, ReproduceArgs};

#[test]
fn table7_smoke_trains_evaluates_and_reuses() {
    let results = std::env::temp_dir().join(format!("advedge-robust-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let args = ReproduceArgs::new("table7", "smoke", results.clone());
    reproduce(args.clone()).expect("table7 smoke");
    let md = std::fs::read_to_string(results.join("smoke/tables/table7.md")).unwrap();
    for row in ["| Testing accuracy | NT", "| Testing accuracy | AT", "| Kendall τ under attack on CAM | AT", "## Shape check", "- AT more accurate than NT under PGD: "] {
        assert!(md.contains(row), "{row} missing:\n{md}");
    }
    let csv = std::fs::read_to_string(results.join("smoke/tables/table7.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 3 + 2 * 2, "{csv}");
    let cards = advedge_runner::repo::root().join("runs/robust/smoke-weights");
    let mtime = |k: &str| std::fs::metadata(cards.join(format!("robust-smoke-{k}.toml"))).unwrap().modified().unwrap();
    let before = (mtime("nt"), mtime("at"));
    reproduce(args).expect("re-render");
    assert_eq!(before, (mtime("nt"), mtime("at")), "the second render must reuse the trained models");
    let cached = std::fs::read_dir(results.join("smoke/robust")).unwrap().count();
    assert_eq!(cached, 2, "one cached evaluation per model");
    let _ = std::fs::remove_dir_all(&results);
}
