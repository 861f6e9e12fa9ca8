//! The smoke profile of the main grid end to end on the committed ResNet-20: cells run, tables and
//! figures are written, and a rerun resumes (only missing cells run again).
use advedge_runner::reproduce::{reproduce, ReproduceArgs};

#[test]
fn smoke_profile_runs_and_resumes() {
    let results = std::env::temp_dir().join(format!("advedge-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let args = ReproduceArgs { filter: Some("pgd/cam".into()), ..ReproduceArgs::new("table1", "smoke", results.clone()) };
    reproduce(args.clone()).expect("smoke grid runs");
    let cells = results.join("smoke").join("cells");
    let csvs: Vec<_> = std::fs::read_dir(&cells).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().map(|e| e == "csv").unwrap_or(false)).collect();
    assert_eq!(csvs.len(), 4, "one CSV per variant");
    for c in &csvs {
        let rows = std::fs::read_to_string(c).unwrap().lines().count();
        assert_eq!(rows, 3, "{}: header + 2 images", c.display());
    }
    for f in ["tables/table1.md", "tables/table2.csv", "tables/table3.md", "tables/table8.md", "tables/claims.md", "summary.csv", "index.md", "index.html", "figures/fig3.png", "figures/fig9.png"] {
        assert!(results.join("smoke").join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(results.join("smoke/tables/table1.md")).unwrap();
    assert!(md.contains("| PGD | resnet20 (ResNet-50) | CAM |") && md.contains("/ 1.00 ("), "{md}");
    // The profile's epsilon curves (its `eps_curve` selects these cells): 4 variants x 2 budgets,
    // and each image's smallest fooling budget.
    let eps = std::fs::read_to_string(results.join("smoke/tables/eps_curve.csv")).unwrap();
    assert_eq!(eps.lines().count(), 1 + 4 * 2, "{eps}");
    let min = std::fs::read_to_string(results.join("smoke/eps/resnet20_cam/min_eps.csv")).unwrap();
    assert_eq!(min.lines().count(), 1 + 4 * 2, "{min}");
    assert!(results.join("smoke/eps/resnet20_cam/eps_curve.png").is_file());
    // At the cells' own budget (0.031) the curve is the cell: the same success rate as Table I.
    let t1 = std::fs::read_to_string(results.join("smoke/tables/table1.csv")).unwrap();
    for line in eps.lines().filter(|l| l.contains(",0.031,")) {
        let f: Vec<&str> = line.split(',').collect();
        let variant = f[2];
        let row = t1.lines().find(|l| l.starts_with("PGD,resnet20,") && l.contains(&format!(",CAM,{variant},"))).unwrap_or_else(|| panic!("{variant} in {t1}"));
        let ours: f64 = row.split(',').nth(6).unwrap().parse().unwrap();
        assert_eq!(f[6].parse::<f64>().unwrap(), ours, "{line} vs {row}");
    }
    // resume: remove one cell, remember the others' mtimes, rerun
    let victim = csvs[0].clone();
    let others: Vec<_> = csvs[1..].iter().map(|p| (p.clone(), std::fs::metadata(p).unwrap().modified().unwrap())).collect();
    std::fs::remove_file(&victim).unwrap();
    reproduce(args.clone()).expect("resume");
    assert!(victim.is_file(), "the missing cell was rerun");
    for (p, t) in others {
        assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), t, "{} was rerun", p.display());
    }
    // A narrower filter re-renders the tables from every done cell, not only the filtered one.
    reproduce(ReproduceArgs { filter: Some("pgd/cam/plain".into()), ..args }).expect("filtered rerun");
    let summary = std::fs::read_to_string(results.join("smoke/summary.csv")).unwrap();
    assert_eq!(summary.lines().filter(|l| l.starts_with("resnet20,pgd,CAM,")).count(), 4, "{summary}");
}
