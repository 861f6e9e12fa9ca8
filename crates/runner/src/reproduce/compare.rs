//! `compare`: per-image comparison of the cells of two results folders of one profile (a fresh
//! run against the committed one). Cells are matched by file name, which holds the cell key, so
//! only cells with the same resolved configuration, weights and code version are compared; every
//! column but `seconds` must be equal, byte for byte as written. CI runs it on the smoke profile,
//! so a change that alters results without a new cell key cannot land unnoticed. With
//! `--time-report` it also writes what the two runs cost, cell kind by cell kind, from the
//! manifests' wall seconds and threads (a re-run of a committed grid on new code).
use super::cost::{Cost, Timing};
use super::store::{differing_columns, read_rows};
use anyhow::{bail, Context};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Clone)]
pub struct CompareArgs {
    /// A profile folder of a fresh run (holding `cells/`), e.g. /tmp/run/smoke.
    pub fresh: PathBuf,
    /// The profile folder to compare with, e.g. results/smoke.
    pub reference: PathBuf,
    /// Numeric columns may differ by up to this much (another backend's float rounding, e.g.
    /// `--device wgpu:cpu` against the CPU); integer and 0/1 columns must still be equal.
    /// Default 0: byte for byte as written.
    #[arg(long, default_value_t = 0.0)]
    pub tolerance: f64,
    /// Compare only the cells both folders hold (a fresh run of some cells); by default a cell
    /// only one side has is a failure.
    #[arg(long)]
    pub common_only: bool,
    /// Also write a Markdown table of what the cells both folders hold cost on each side (wall
    /// and thread seconds from their manifests, per model x framework x interpreter), e.g.
    /// results/bench/cifar_grid_time.md.
    #[arg(long)]
    pub time_report: Option<PathBuf>,
}

fn timing(dir: &Path, csv: &str) -> anyhow::Result<Timing> {
    Timing::read(&dir.join("cells").join(csv.trim_end_matches(".csv").to_string() + ".json"))
}

/// The Markdown time report of the cells `both` folders hold; `differing` is how many of them
/// differ per image (the report says so beside the times).
fn time_report(fresh: &Path, reference: &Path, both: &[String], differing: usize) -> anyhow::Result<String> {
    let mut rows: BTreeMap<(String, String, String), (Cost, Cost)> = BTreeMap::new();
    let (mut tf, mut tr) = (Cost::default(), Cost::default());
    let (mut made_f, mut made_r) = (BTreeSet::new(), BTreeSet::new());
    for name in both {
        let (f, r) = (timing(fresh, name)?, timing(reference, name)?);
        let e = rows.entry(f.kind()).or_default();
        e.0.add(&f);
        e.1.add(&r);
        tf.add(&f);
        tr.add(&r);
        made_f.insert(format!("{} on {}, {} thread(s), code {}", f.git_commit, f.device, f.rayon_threads, f.code_fingerprint.as_deref().unwrap_or("not recorded")));
        made_r.insert(format!("{} ({} thread(s))", r.git_commit, r.rayon_threads));
    }
    let ratio = |a: f64, b: f64| if a > 0.0 { format!("{:.2}", b / a) } else { "-".into() };
    let mut md = String::new();
    writeln!(md, "# Cost of a re-run against the committed cells
")?;
    writeln!(md, "`cargo xtask compare {} {} --time-report ...`: {} cells in both, {} of them differing per image (every column but the seconds compared).
", fresh.display(), reference.display(), both.len(), differing)?;
    writeln!(md, "Wall seconds are each cell's own (its manifest's `wall_seconds`, summed over resumed runs); thread seconds are wall x the manifest's `rayon_threads`, an upper bound of CPU time for cells that ran on more than one thread. The committed cells were made over many commits, some on 2 threads and under other load, so the committed side is what its manifests record, not a controlled baseline; `cargo xtask bench-attack` and `bench-conv` are the like-for-like measurements.
")?;
    writeln!(md, "- re-run: {}", made_f.into_iter().collect::<Vec<_>>().join("; "))?;
    writeln!(md, "- committed: {} distinct commits: {}
", made_r.len(), made_r.into_iter().collect::<Vec<_>>().join(", "))?;
    writeln!(md, "| model | framework | interpreter | cells | committed wall s | committed thread s | re-run wall s | committed / re-run (thread s) |")?;
    writeln!(md, "|---|---|---|---:|---:|---:|---:|---:|")?;
    for ((m, f, i), (cf, cr)) in &rows {
        writeln!(md, "| {m} | {f} | {i} | {} | {:.0} | {:.0} | {:.0} | {} |", cf.cells, cr.wall, cr.thread, cf.wall, ratio(cf.thread, cr.thread))?;
    }
    writeln!(md, "| **all** | | | {} | {:.0} | {:.0} | {:.0} | {} |", tf.cells, tr.wall, tr.thread, tf.wall, ratio(tf.thread, tr.thread))?;
    writeln!(md, "
CPU hours: committed {:.2} (thread s) / {:.2} (wall s), re-run {:.2} (thread s).", tr.thread / 3600.0, tr.wall / 3600.0, tf.thread / 3600.0)?;
    Ok(md)
}

fn csvs(dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    let cells = dir.join("cells");
    let rd = std::fs::read_dir(&cells).with_context(|| format!("reading {}", cells.display()))?;
    Ok(rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".csv")).collect())
}

/// Differences between the cells both folders hold, the reference's cells the fresh run lacks
/// and the fresh run's new ones (a cell whose key changed shows up in both), and how many cells
/// both hold.
pub fn compare(fresh: &Path, reference: &Path) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<String>, usize)> {
    compare_within(fresh, reference, 0.0)
}

/// [`compare`] with numeric columns allowed to differ by up to `tolerance`.
pub fn compare_within(fresh: &Path, reference: &Path, tolerance: f64) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<String>, usize)> {
    let (a, b) = (csvs(fresh)?, csvs(reference)?);
    let mut diffs = Vec::new();
    for name in a.intersection(&b) {
        let (ra, rb) = (read_rows(&fresh.join("cells").join(name))?, read_rows(&reference.join("cells").join(name))?);
        if ra.len() != rb.len() {
            diffs.push(format!("{name}: {} images, reference {}", ra.len(), rb.len()));
            continue;
        }
        for (x, y) in ra.iter().zip(&rb) {
            let d = differing_columns(x, y, tolerance);
            if !d.is_empty() {
                diffs.push(format!("{name}: image {}: {} (fresh vs reference)", x.image_index, d.join(", ")));
            }
        }
    }
    let missing = b.difference(&a).cloned().collect();
    let new = a.difference(&b).cloned().collect();
    Ok((diffs, missing, new, a.intersection(&b).count()))
}

pub fn run(a: CompareArgs) -> anyhow::Result<()> {
    let (diffs, missing, new, same) = compare_within(&a.fresh, &a.reference, a.tolerance)?;
    if a.tolerance > 0.0 {
        println!("numeric columns compared within {}", a.tolerance);
    }
    let differing = diffs.iter().map(|d| d.split(':').next().unwrap_or("")).collect::<BTreeSet<_>>().len();
    println!("{} cells in both, {} differ in {} rows; {} only in {}, {} only in {}", same, differing, diffs.len(), missing.len(), a.reference.display(), new.len(), a.fresh.display());
    for d in &diffs {
        println!("  differs: {d}");
    }
    if !a.common_only {
        for m in &missing {
            println!("  not in the fresh run (a new key, or not run): {m}");
        }
        for n in &new {
            println!("  new in the fresh run: {n}");
        }
    }
    if let Some(path) = &a.time_report {
        let both: Vec<String> = csvs(&a.fresh)?.intersection(&csvs(&a.reference)?).cloned().collect();
        let md = time_report(&a.fresh, &a.reference, &both, differing)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, &md).with_context(|| format!("writing {}", path.display()))?;
        print!("{md}");
        println!("written to {}", path.display());
    }
    if !diffs.is_empty() || (!a.common_only && (!missing.is_empty() || !new.is_empty())) {
        bail!("the per-image results differ from {}", a.reference.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::store::{rows_csv, CellRow};

    fn write(dir: &Path, name: &str, rows: &[CellRow]) {
        std::fs::create_dir_all(dir.join("cells")).unwrap();
        std::fs::write(dir.join("cells").join(name), rows_csv(rows).unwrap()).unwrap();
    }

    /// Seconds may differ, nothing else; a cell only one side has is reported.
    #[test]
    fn only_the_seconds_may_differ() {
        let base = std::env::temp_dir().join(format!("advedge-compare-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        let row = CellRow { image_index: 3, label: 1, target: 2, success: true, target_prob: 0.9, l1: 0.1, iou: 0.5, one_minus_ssim: 0.01, success_float: true, target_prob_float: 0.95, l1_float: 0.05, iou_float: 0.6, one_minus_ssim_float: 0.009, seconds: 1.0, iterations: 10, failure: String::new() };
        write(&a, "c-1.csv", std::slice::from_ref(&row));
        write(&b, "c-1.csv", &[CellRow { seconds: 7.5, ..row.clone() }]);
        let (diffs, missing, new, both) = compare(&a, &b).unwrap();
        assert!(diffs.is_empty() && missing.is_empty() && new.is_empty() && both == 1, "{diffs:?}");
        write(&b, "c-1.csv", &[CellRow { l1: 0.100001, ..row.clone() }]);
        write(&b, "c-2.csv", std::slice::from_ref(&row));
        let (diffs, missing, new, _) = compare(&a, &b).unwrap();
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert!(diffs[0].starts_with("c-1.csv: image 3: l1: 0.1 vs 0.100001"), "{}", diffs[0]);
        assert_eq!((missing, new), (vec!["c-2.csv".to_string()], vec![]));
        // Within a tolerance a small float difference passes; a flipped success never does.
        let (diffs, _, _, _) = compare_within(&a, &b, 1e-5).unwrap();
        assert!(diffs.is_empty(), "{diffs:?}");
        write(&b, "c-1.csv", &[CellRow { l1: 0.100001, success: false, ..row.clone() }]);
        let (diffs, _, _, _) = compare_within(&a, &b, 1e-5).unwrap();
        assert!(diffs.len() == 1 && diffs[0].contains("success: 1 vs 0") && !diffs[0].contains("l1"), "{diffs:?}");
        let _ = std::fs::remove_dir_all(base);
    }

    /// The time report sums each side's manifests per cell kind; thread seconds are wall x
    /// threads (committed 2 x 30 + 1 x 10 = 70 thread s against the re-run's 5 + 2 = 7: 10.00).
    #[test]
    fn time_report_sums_manifests() {
        let base = std::env::temp_dir().join(format!("advedge-compare-time-{}", std::process::id()));
        let manifest = |dir: &Path, stem: &str, interp: &str, wall: f64, threads: usize| {
            std::fs::create_dir_all(dir.join("cells")).unwrap();
            let j = format!(r#"{{"cell":{{"model":"resnet20","framework":"pgd","interpreter":{{"kind":"{interp}"}}}},"wall_seconds":{wall},"rayon_threads":{threads},"git_commit":"abc","device":"cpu (burn-flex)","code_fingerprint":"f00"}}"#);
            std::fs::write(dir.join("cells").join(format!("{stem}.json")), j).unwrap();
        };
        let (a, b) = (base.join("fresh"), base.join("ref"));
        manifest(&a, "c1", "cam", 5.0, 1);
        manifest(&a, "c2", "grad", 2.0, 1);
        manifest(&b, "c1", "cam", 30.0, 2);
        manifest(&b, "c2", "grad", 10.0, 1);
        let md = time_report(&a, &b, &["c1.csv".into(), "c2.csv".into()], 0).unwrap();
        assert!(md.contains("| resnet20 | pgd | cam | 1 | 30 | 60 | 5 | 12.00 |"), "{md}");
        assert!(md.contains("| **all** | | | 2 | 40 | 70 | 7 | 10.00 |"), "{md}");
        assert!(md.contains("2 cells in both, 0 of them differing"), "{md}");
        // A missing manifest is an error naming the file.
        let e = time_report(&a, &b, &["c3.csv".into()], 0).unwrap_err();
        assert!(format!("{e:#}").contains("c3.json"), "{e:#}");
        let _ = std::fs::remove_dir_all(base);
    }
}
