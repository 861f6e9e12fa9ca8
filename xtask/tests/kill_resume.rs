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

/// A grid of one cell with five batches of one image, kept outside experiments/.
const ONE_CELL: &str = r#"
name = "resume-one-cell"
description = "kill/resume test: one PGD-CAM cell, 5 batches"
targets = []
[grid]
models = ["resnet20"]
frameworks = ["pgd"]
interpreters = ["cam"]
variants = ["advedge"]
[profiles.t]
description = "5 images, batch 1, schedules shortened 10x"
images = 5
batch = 1
scale = 0.1
"#;

fn one_cell(grid: &Path, results: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.arg("reproduce").arg(grid).args(["--profile", "t", "--no-render", "--results"]).arg(results)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("RUST_BACKTRACE", "0")
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn only_file(dir: &Path, suffix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.to_string_lossy().ends_with(suffix))
}

/// The CSV without its `seconds` column, which is wall time.
fn without_seconds(csv: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(csv).unwrap();
    let col = text.lines().next().unwrap().split(',').position(|h| h == "seconds").expect("a seconds column");
    text.lines().map(|l| l.split(',').enumerate().filter(|(i, _)| *i != col).map(|(_, f)| f).collect::<Vec<_>>().join(",")).collect()
}

/// Killing a cell mid-way keeps its finished batches (`<stem>.partial.json`): the rerun finishes
/// the cell from there, and its outcomes equal those of an uninterrupted run.
#[test]
fn killed_cell_resumes_after_its_last_finished_batch() {
    let base = std::env::temp_dir().join(format!("advedge-partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let grid = base.join("one-cell.toml");
    std::fs::write(&grid, ONE_CELL).unwrap();
    let (whole, resumed) = (base.join("whole"), base.join("resumed"));
    assert!(one_cell(&grid, &whole).status().unwrap().success(), "uninterrupted run failed");

    let cells = resumed.join("t/cells");
    let mut child = one_cell(&grid, &resumed).spawn().expect("xtask runs");
    let t0 = Instant::now();
    let partial = loop {
        if let Some(p) = only_file(&cells, ".partial.json") {
            break p;
        }
        assert!(t0.elapsed() < Duration::from_secs(600), "no batch finished in 10 minutes");
        assert!(child.try_wait().unwrap().is_none(), "xtask exited before saving a batch");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    assert!(only_file(&cells, ".csv").is_none(), "the cell finished before the kill: the test needs it mid-way");
    let kept = std::fs::read_to_string(&partial).unwrap().matches("\"image_index\"").count();
    assert!((1..5).contains(&kept), "partial file holds {kept} of 5 outcomes");

    assert!(one_cell(&grid, &resumed).status().unwrap().success(), "resumed run failed");
    assert!(!partial.exists(), "partial file left behind after the cell finished");
    let (a, b) = (only_file(&whole.join("t/cells"), ".csv").unwrap(), only_file(&cells, ".csv").unwrap());
    assert_eq!(a.file_name(), b.file_name(), "same cell key");
    assert_eq!(without_seconds(&a), without_seconds(&b), "resumed outcomes differ from the uninterrupted run");
    let maps = |p: &Path| std::fs::read_to_string(p.with_extension("maps.json")).unwrap();
    assert_eq!(maps(&a), maps(&b), "resumed maps differ");
    let _ = std::fs::remove_dir_all(&base);
}
