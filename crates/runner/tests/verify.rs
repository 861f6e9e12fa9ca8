//! `reproduce --verify N` on a real cell: a freshly made cell verifies identical; a stored value
//! that today's code does not give (here: a target probability edited in the CSV, with the
//! manifest's checksum updated so the store still takes the cell as done) is drift, named in the
//! report, and the command fails.
use advedge_runner::reproduce::store::FileCheck;
use advedge_runner::reproduce::{reproduce, ReproduceArgs};

#[test]
fn verify_passes_on_a_fresh_cell_and_names_drift() {
    let results = std::env::temp_dir().join(format!("advedge-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let args = ReproduceArgs { filter: Some("pgd/cam/plain".into()), ..ReproduceArgs::new("main", "smoke", results.clone()) };
    reproduce(ReproduceArgs { no_render: true, ..args.clone() }).expect("the cell runs");
    let verify = ReproduceArgs { verify: Some(1), ..args.clone() };
    reproduce(verify.clone()).expect("a fresh cell verifies");
    let report = std::fs::read_to_string(results.join("smoke/verify-main.md")).unwrap();
    assert!(report.contains("| resnet20/pgd/cam/plain |") && report.contains("| identical |"), "{report}");
    // The check is recorded beside the cell; a second run under the same code reuses the record
    // (the file stays byte for byte) instead of attacking again.
    let cells = results.join("smoke/cells");
    let record = std::fs::read_dir(&cells).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().ends_with(".verify-1.json")).expect("a verification record");
    let first = std::fs::read_to_string(&record).unwrap();
    reproduce(verify.clone()).expect("verifies again");
    assert_eq!(std::fs::read_to_string(&record).unwrap(), first, "the record was reused");

    // Edit the first image's target probability and keep the store's checksum in step: the CSV
    // changed, so the record is not reused.
    let csv = std::fs::read_dir(&cells).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "csv")).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut fields: Vec<String> = lines[1].split(',').map(String::from).collect();
    fields[4] = "0.123456".into();
    lines[1] = fields.join(",");
    let edited = lines.join("\n") + "\n";
    std::fs::write(&csv, &edited).unwrap();
    let manifest = csv.with_extension("json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["csv"] = serde_json::to_value(FileCheck::of(edited.as_bytes())).unwrap();
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();

    let err = format!("{:#}", reproduce(verify).unwrap_err());
    assert!(err.contains("1 cell(s) drifted"), "{err}");
    let report = std::fs::read_to_string(results.join("smoke/verify-main.md")).unwrap();
    assert!(report.contains("drift: image") && report.contains("target_prob") && report.contains("0.123456"), "{report}");
    let _ = std::fs::remove_dir_all(&results);
}
