//! `reproduce --verify N`: re-run the first N images of every done cell with today's code, data
//! and weights, and compare each image's row with the stored one, every column but `seconds`,
//! as the CSV holds it. The report goes to the terminal and `results/<profile>/verify-<grid>.md`;
//! any drift makes the command fail.
//!
//! No loss couples the images of a batch, and outcomes are bit-identical across batch sizes 1-4
//! (tested for every framework x interpreter x variant); from batch size 5 on, burn-flex rounds
//! the input gradient differently (its kernels depend on the matrix shape), and an attack's
//! iterations carry that into the last printed digits. So the check re-runs the cell's own
//! batches that hold the first N images: N = 1 costs one batch of the cell.
//!
//! Each cell's check is recorded in `<stem>.verify-<N>.json` (code fingerprint, commit, the
//! checked CSV's checksum, the outcome) as soon as it ends. A later `--verify N` under the same
//! code fingerprint reuses the records of unchanged cells instead of attacking again, so a long
//! check survives a crash or a stop and can be finished later; a cell re-run since, or code that
//! decides the numbers changed since, is checked again.
//!
//! What it guarantees: the stored rows of the checked images follow from the cell's key under
//! the code that runs the check. What it does not: the other images of a cell, cells not done,
//! and anything a cell's key leaves out (the machine's floating-point kernels: a CPU with other
//! vector units may round differently).
use super::cell::Cell;
use super::store::{as_written, csv_path, differing_columns, parse_rows, status, write_atomic, CellRow, FileCheck, Status};
use crate::attack_cmd::correct_images;
use crate::data_source::DataSource;
use crate::repo;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One cell's check: images compared, and per differing image its columns. Stored as the cell's
/// `<stem>.verify-<n>.json`.
#[derive(Serialize, Deserialize)]
struct Checked {
    id: String,
    key: String,
    images: usize,
    drift: Vec<String>,
    seconds: f64,
    /// The code that made the check (see `repo::CODE_FINGERPRINT`) and its commit.
    code_fingerprint: String,
    git_commit: String,
    finished_unix: u64,
    /// The CSV as it was checked: a record is reused only while the CSV is unchanged.
    csv: FileCheck,
}

fn record_path(dir: &Path, c: &Cell, n: usize) -> PathBuf {
    dir.join(format!("{}.verify-{n}.json", c.stem()))
}

/// A record of this cell's check under the running code, if one exists and the CSV is unchanged.
fn earlier_check(c: &Cell, dir: &Path, n: usize) -> Option<Checked> {
    let r: Checked = serde_json::from_str(&std::fs::read_to_string(record_path(dir, c, n)).ok()?).ok()?;
    let csv = FileCheck::of(&std::fs::read(csv_path(dir, c)).ok()?);
    (r.code_fingerprint == repo::CODE_FINGERPRINT && r.csv == csv && r.key == c.key()).then_some(r)
}

fn check_cell(c: &Cell, dir: &Path, n: usize) -> anyhow::Result<Checked> {
    let t0 = Instant::now();
    let path = csv_path(dir, c);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let (csv, stored) = (FileCheck::of(&bytes), parse_rows(&bytes, &path)?);
    let (card, model) = repo::load_model(&c.model, None)?;
    let clean = correct_images(&model, c.images, &repo::device(), DataSource::for_arch(&card.architecture), c.any_images)?;
    // The batches that hold the first n images, as the cell ran them: burn-flex's kernels round
    // some input gradients differently from batch size 5 on, so only the cell's own batches
    // reproduce its rows bit for bit.
    let n = n.min(clean.len()).min(stored.len());
    let covered = (n.div_ceil(c.batch) * c.batch).min(clean.len());
    let first = clean.slice(0, covered);
    let mut fresh: Vec<CellRow> = Vec::new();
    for start in (0..first.len()).step_by(c.batch) {
        let sub = first.slice(start, (start + c.batch).min(first.len()));
        fresh.extend(advedge_attacks::run(&model, &c.interpreter, c.variant, &c.config, &sub, None).iter().map(|o| CellRow::of(o, &first)));
    }
    fresh.truncate(n);
    let fresh = as_written(&fresh)?;
    let mut drift = Vec::new();
    for (f, s) in fresh.iter().zip(&stored) {
        if f.image_index != s.image_index {
            drift.push(format!("image {} stored where the data now gives image {}", s.image_index, f.image_index));
            continue;
        }
        let d = differing_columns(f, s, 0.0);
        if !d.is_empty() {
            drift.push(format!("image {}: {} (now vs stored)", f.image_index, d.join(", ")));
        }
    }
    let finished_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let k = Checked {
        id: c.id(),
        key: c.key(),
        images: fresh.len(),
        drift,
        seconds: t0.elapsed().as_secs_f64(),
        code_fingerprint: repo::CODE_FINGERPRINT.to_string(),
        git_commit: repo::git_commit(),
        finished_unix,
        csv,
    };
    write_atomic(&record_path(dir, c, n), serde_json::to_string_pretty(&k)?.as_bytes())?;
    Ok(k)
}

/// Verify the done cells of `cells` (workers: `jobs`); writes `<out_dir>/verify-<grid>.md`.
pub fn run(grid: &str, profile: &str, filter: Option<&str>, cells: &[Cell], dir: &Path, out_dir: &Path, n: usize, jobs: usize) -> anyhow::Result<()> {
    if n == 0 {
        bail!("--verify 0 would check no image; give at least 1");
    }
    if cells.is_empty() {
        println!("grid `{grid}`: no attack cells under profile `{profile}`, nothing to verify");
        return Ok(());
    }
    let done: Vec<&Cell> = cells.iter().filter(|c| status(dir, c) == Status::Done).collect();
    if done.is_empty() {
        bail!("none of the {} cells of grid `{grid}` under profile `{profile}` is done in {}: nothing to verify", cells.len(), dir.display());
    }
    println!("verifying the first {n} image(s) of {} done cells of {} ({} not done, not checked)", done.len(), cells.len(), cells.len() - done.len());
    let checks = super::pool::run(
        &done,
        jobs,
        "verify",
        false,
        |_, c| match earlier_check(c, dir, n) {
            Some(k) => Ok((k, true)),
            None => check_cell(c, dir, n).with_context(|| c.id()).map(|k| (k, false)),
        },
        |c, r| match r {
            Ok((k, earlier)) => format!(
                "  {:<40} {}{}",
                k.id,
                if k.drift.is_empty() { format!("{} image(s) identical", k.images) } else { format!("DRIFT in {} of {} image(s)", k.drift.len(), k.images) },
                if *earlier { " (recorded earlier)" } else { "" }
            ),
            Err(e) => format!("  {:<40} ERROR: {e:#}", c.id()),
        },
    );
    let results: Vec<(usize, anyhow::Result<Checked>)> = checks.into_iter().enumerate().map(|(i, r)| (i, r.expect("every item runs").map(|(k, _)| k))).collect();
    let mut md = format!(
        "# Verification of profile `{profile}`, grid `{grid}`\n\nGenerated by `cargo xtask reproduce {grid} --profile {profile} --verify {n}{}` at commit {} (code fingerprint {}). The batches holding the first {n} image(s) of each done cell were attacked again as the cell ran them, and every column of those images' rows but `seconds` compared with the stored CSV as written. {} of {} cells were done and checked. A check recorded earlier under the same code fingerprint, of the same CSV bytes, is reused (its commit is named).\n\n| Cell | Key | Images | Result | Seconds | Checked at commit |\n|---|---|---|---|---|---|\n",
        filter.map(|f| format!(" --filter '{f}'")).unwrap_or_default(),
        repo::git_commit(), repo::CODE_FINGERPRINT, done.len(), cells.len()
    );
    let (mut drifted, mut errors) = (0, 0);
    for (i, r) in &results {
        match r {
            Ok(k) => {
                let verdict = if k.drift.is_empty() { "identical".to_string() } else { drifted += 1; format!("drift: {}", k.drift.join("; ")) };
                md.push_str(&format!("| {} | {} | {} | {verdict} | {:.1} | {} |\n", k.id, k.key, k.images, k.seconds, k.git_commit));
            }
            Err(e) => {
                errors += 1;
                md.push_str(&format!("| {} | {} | – | error: {} | – | – |\n", done[*i].id(), done[*i].key(), format!("{e:#}").replace('\n', " ")));
            }
        }
    }
    md.push_str(&format!("\n{} cells identical, {drifted} with drift, {errors} could not be checked.\n", results.len() - drifted - errors));
    std::fs::create_dir_all(out_dir)?;
    let path = out_dir.join(format!("verify-{grid}.md"));
    write_atomic(&path, md.as_bytes())?;
    println!("wrote {}", path.display());
    if drifted + errors > 0 {
        bail!("{drifted} cell(s) drifted and {errors} could not be checked; see {}", path.display());
    }
    println!("all {} checked cells identical", results.len());
    Ok(())
}
