//! Killing `cargo xtask reproduce` mid-grid loses only the cell in flight: the real binary is
//! SIGKILLed right after its first cell finishes, and the rerun keeps the finished cells (same
//! files, untouched) and completes the rest.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn done_cells(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .map(|p| {
            let t = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, t)
        })
        .collect();
    v.sort();
    v
}

fn reproduce(results: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(["reproduce", "table1", "--profile", "smoke", "--filter", "resnet20/pgd/cam", "--no-render", "--results"])
        .arg(results)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn killed_run_loses_only_the_cell_in_flight() {
    let results = std::env::temp_dir().join(format!("advedge-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let cells = results.join("smoke/cells");
    let mut child = reproduce(&results).spawn().expect("xtask runs");
    let t0 = Instant::now();
    while done_cells(&cells).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(600), "no cell finished in 10 minutes");
        assert!(child.try_wait().unwrap().is_none(), "xtask exited before finishing a cell");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let before = done_cells(&cells);
    assert!(!before.is_empty() && before.len() < 4, "killed with {} of 4 cells done: the kill must land mid-grid", before.len());
    // Every finished cell is complete (its maps and manifest exist: the CSV is written last).
    for (csv, _) in &before {
        let stem = csv.file_stem().unwrap().to_string_lossy().to_string();
        for ext in ["maps.json", "json"] {
            assert!(csv.with_file_name(format!("{stem}.{ext}")).is_file(), "{stem}.{ext} missing");
        }
    }
    let status = reproduce(&results).status().expect("rerun");
    assert!(status.success(), "rerun failed");
    let after = done_cells(&cells);
    assert_eq!(after.len(), 4, "all four cells done after the rerun");
    for (p, t) in &before {
        let now = after.iter().find(|(q, _)| q == p).expect("finished cell kept").1;
        assert_eq!(now, *t, "{} was recomputed", p.display());
    }
    let _ = std::fs::remove_dir_all(&results);
}
