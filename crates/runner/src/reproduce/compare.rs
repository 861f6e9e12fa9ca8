//! `compare`: per-image comparison of the cells of two results folders of one profile (a fresh
//! run against the committed one). Cells are matched by file name, which holds the cell key, so
//! only cells with the same resolved configuration, weights and code version are compared; every
//! column but `seconds` must be equal, byte for byte as written. CI runs it on the smoke profile,
//! so a change that alters results without a new cell key cannot land unnoticed.
use super::store::{differing_columns, read_rows};
use anyhow::{bail, Context};
use std::collections::BTreeSet;
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
    println!("{} cells in both, {} differ in {} rows; {} only in {}, {} only in {}", same, diffs.iter().map(|d| d.split(':').next().unwrap_or("")).collect::<BTreeSet<_>>().len(), diffs.len(), missing.len(), a.reference.display(), new.len(), a.fresh.display());
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
}
