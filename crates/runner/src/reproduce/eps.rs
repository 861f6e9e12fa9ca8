//! Epsilon curves as a profile metric (`eps_curve = { ... }` in a grid profile): for each done PGD
//! cell the profile selects, its images attacked again at every listed L-infinity budget (the
//! cell's own attack otherwise), and each image's smallest fooling budget refined by bisection,
//! as `attack --eps` does for a user's images (`crate::eps_curve`).
//!
//! Computed in the run stage, after the cells, into `<stem>.eps-<settings>.json` beside the cell
//! (so `collect` and later renders only read); at the cell's own budget the cell's stored rows
//! are used instead of attacking again. Rendered as `tables/eps_curve.md` and, per model and
//! interpreter, `eps/<model>_<interpreter>/` (CSVs and `eps_curve.png`).
use super::cell::Cell;
use super::grid::EpsCurveSettings;
use super::store::{csv_path, read_rows, status, write_atomic, write_table, Status};
use crate::attack_cmd::correct_images;
use crate::data_source::DataSource;
use crate::eps_curve::{self, parse_eps_list, EpsRow};
use crate::repo;
use advedge_attacks::{AttackConfig, Framework, Variant};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one cell's curve file holds.
#[derive(Serialize, Deserialize)]
struct EpsFile {
    eps: Vec<f32>,
    min_eps_steps: usize,
    /// (image index, budget, success, target probability, map L1), one per image and budget.
    rows: Vec<(usize, f32, bool, f32, f64)>,
    /// (image index, smallest fooling budget; none when no listed budget fooled the model).
    min_eps: Vec<(usize, Option<f32>)>,
    seconds: f64,
    git_commit: String,
    code_fingerprint: String,
}

/// The done PGD cells `s` selects (every PGD cell when `s.cells` is empty).
fn selected<'a>(cells: &'a [Cell], s: &EpsCurveSettings) -> Vec<&'a Cell> {
    cells.iter().filter(|c| c.framework == Framework::Pgd && (s.cells.is_empty() || s.cells.iter().any(|f| c.matches(f)))).collect()
}

fn file_path(dir: &Path, c: &Cell, s: &EpsCurveSettings) -> PathBuf {
    let tag = repo::fnv1a(format!("{}|{}", s.eps, s.min_eps_steps).as_bytes());
    dir.join(format!("{}.eps-{tag:016x}.json", c.stem()))
}

fn cell_eps(c: &Cell) -> Option<f32> {
    match c.config.config() {
        AttackConfig::Pgd(p) => Some(p.eps),
        AttackConfig::Optim(_) => None,
    }
}

fn compute_cell(c: &Cell, dir: &Path, s: &EpsCurveSettings) -> anyhow::Result<EpsFile> {
    let t0 = Instant::now();
    let eps = parse_eps_list(&s.eps).map_err(anyhow::Error::msg)?.0;
    let (card, model) = repo::load_model(&c.model, None)?;
    let clean = correct_images(&model, c.images, &repo::device(), DataSource::for_arch(&card.architecture), c.any_images)?;
    let stored = read_rows(&csv_path(dir, c))?;
    let own = cell_eps(c);
    let mut rows: Vec<EpsRow> = Vec::new();
    for &e in &eps {
        if Some(e) == own && stored.len() == clean.len() {
            // The cell itself: same images, budget and batches, so the same outcomes.
            rows.extend(stored.iter().map(|r| EpsRow { variant: c.variant, eps: e, image_index: r.image_index, success: r.success, target_prob: r.target_prob as f32, l1: r.l1 }));
        } else {
            rows.extend(eps_curve::curves(&model, &c.interpreter, &[(c.variant, c.config.clone())], &clean, c.batch, &[e])?);
        }
    }
    let min = eps_curve::min_eps(&model, &c.interpreter, &[(c.variant, c.config.clone())], &clean, &rows, s.min_eps_steps)?;
    Ok(EpsFile {
        eps,
        min_eps_steps: s.min_eps_steps,
        rows: rows.iter().map(|r| (r.image_index, r.eps, r.success, r.target_prob, r.l1)).collect(),
        min_eps: min.into_iter().map(|(_, i, e)| (i, e)).collect(),
        seconds: t0.elapsed().as_secs_f64(),
        git_commit: repo::git_commit(),
        code_fingerprint: repo::CODE_FINGERPRINT.to_string(),
    })
}

/// Compute the curve files the profile asks for that do not exist yet (`jobs` workers).
pub fn compute(cells: &[Cell], dir: &Path, s: &EpsCurveSettings, jobs: usize) -> anyhow::Result<()> {
    let todo: Vec<&Cell> = selected(cells, s).into_iter().filter(|c| status(dir, c) == Status::Done && !file_path(dir, c, s).is_file()).collect();
    if todo.is_empty() {
        return Ok(());
    }
    println!("epsilon curves ({}, {} bisection steps): {} cell(s)", s.eps, s.min_eps_steps, todo.len());
    let results = super::pool::run(
        &todo,
        jobs,
        "eps curves",
        false,
        |_, c| {
            let _span = tracing::info_span!("eps", id = %c.id()).entered();
            compute_cell(c, dir, s).and_then(|f| write_atomic(&file_path(dir, c, s), serde_json::to_string(&f)?.as_bytes()).map(|_| f))
        },
        |c, r| match r {
            Ok(f) => format!("  {:<40} eps curve: {:.0} s", c.id(), f.seconds),
            Err(e) => format!("  {:<40} eps curve FAILED: {e:#}", c.id()),
        },
    );
    let errors: Vec<String> = todo.iter().zip(&results).filter_map(|(c, r)| match r {
        Some(Err(e)) => Some(format!("{}: {e:#}", c.id())),
        _ => None,
    }).collect();
    if !errors.is_empty() {
        anyhow::bail!("epsilon curves failed:\n  {}", errors.join("\n  "));
    }
    Ok(())
}

/// `tables/eps_curve.{csv,md}` and per (model, interpreter) `eps/<model>_<interpreter>/`, from the
/// curve files that exist; returns the written paths (nothing when none exists).
pub fn render(profile: &str, cells: &[Cell], dir: &Path, s: &EpsCurveSettings, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut groups: Vec<((String, String), Vec<(Variant, EpsFile)>)> = Vec::new();
    let mut missing = Vec::new();
    for c in selected(cells, s) {
        let p = file_path(dir, c, s);
        let Ok(text) = std::fs::read_to_string(&p) else {
            missing.push(c.id());
            continue;
        };
        let f: EpsFile = serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        let g = (c.model.clone(), c.interpreter.name().to_string());
        match groups.iter_mut().find(|(k, _)| *k == g) {
            Some((_, v)) => v.push((c.variant, f)),
            None => groups.push((g, vec![(c.variant, f)])),
        }
    }
    if groups.is_empty() {
        return Ok(vec![]);
    }
    let eps = parse_eps_list(&s.eps).map_err(anyhow::Error::msg)?.0;
    // Whole multiples of 1/255 as `n/255`, other budgets as written (the paper's 0.031).
    let head: Vec<String> = eps.iter().map(|e| if ((e * 255.0).round() - e * 255.0).abs() < 1e-3 { format!("{}/255", (e * 255.0).round()) } else { e.to_string() }).collect();
    let mut md = format!(
        "# Epsilon curves: success rate (mean map L1 over successes) per L-infinity budget\n\nProfile `{profile}`, PGD cells {}. Each cell's images attacked again at every budget with the cell's own attack (at the cell's budget its stored rows are used). Smallest fooling budget: the smallest listed budget that succeeded, refined by {} bisection step(s) below it; its median over the images that any budget fooled, with how many did. Beyond the paper (foolbox-style robustness curves). Generated by `cargo xtask reproduce main --profile {profile}`.\n\n| Model | Interpreter | Variant | {} | median smallest budget (x 1/255; fooled) |\n|---|---|---|{}---|\n",
        if s.cells.is_empty() { "(all)".to_string() } else { s.cells.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ") },
        s.min_eps_steps,
        head.join(" | "),
        "---|".repeat(head.len())
    );
    let mut csv = String::from("model,interpreter,variant,eps,images,successes,success_rate,l1_mean_successes,min_eps_median,min_eps_found\n");
    let mut written = Vec::new();
    for ((model, interp), files) in &groups {
        let mut rows = Vec::new();
        let mut mins = Vec::new();
        for (v, f) in files {
            let mine: Vec<EpsRow> = f.rows.iter().map(|&(i, e, ok, p, l1)| EpsRow { variant: *v, eps: e, image_index: i, success: ok, target_prob: p, l1 }).collect();
            let mut found: Vec<f32> = f.min_eps.iter().filter_map(|m| m.1).collect();
            found.sort_by(f32::total_cmp);
            let median = (!found.is_empty()).then(|| if found.len() % 2 == 1 { found[found.len() / 2] } else { 0.5 * (found[found.len() / 2 - 1] + found[found.len() / 2]) });
            let mut line = format!("| {model} | {interp} | {} |", v.name());
            for &e in &eps {
                let at: Vec<&EpsRow> = mine.iter().filter(|r| r.eps == e).collect();
                let ok: Vec<&&EpsRow> = at.iter().filter(|r| r.success).collect();
                let l1 = (!ok.is_empty()).then(|| ok.iter().map(|r| r.l1).sum::<f64>() / ok.len() as f64);
                let rate = ok.len() as f64 / at.len().max(1) as f64;
                line.push_str(&format!(" {rate:.2} ({}) |", l1.map_or("–".into(), |x| format!("{x:.3}"))));
                csv.push_str(&format!("{model},{interp},{},{e},{},{},{rate:.4},{},{},{}\n", v.name(), at.len(), ok.len(), l1.map_or(String::new(), |x| format!("{x:.6}")), median.map_or(String::new(), |m| m.to_string()), found.len()));
            }
            line.push_str(&format!(" {} ({} of {}) |\n", median.map_or("–".into(), |m| format!("{:.2}", m * 255.0)), found.len(), f.min_eps.len()));
            md.push_str(&line);
            mins.extend(f.min_eps.iter().map(|&(i, e)| (*v, i, e)));
            rows.extend(mine);
        }
        let out = out_dir.join("eps").join(format!("{model}_{}", interp.to_lowercase()));
        written.extend(eps_curve::write(&out, &format!("PGD x {interp}, {model}, profile {profile}: success and map L1 against epsilon"), &rows, Some(&mins))?);
    }
    if !missing.is_empty() {
        md.push_str(&format!("\nNot computed yet (the cell is not done, or `collect` only reads; run `cargo xtask reproduce main --profile {profile}`): {}\n", missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")));
    }
    let figures: Vec<String> = written.iter().filter(|p| p.extension().is_some_and(|e| e == "png")).map(|p| format!("`{}`", p.strip_prefix(out_dir).unwrap_or(p).display())).collect();
    md.push_str(&format!("\nFigures (success rate and map L1 against epsilon, per variant): {}. Per image: `eps_images.csv` and `min_eps.csv` beside each.\n", figures.join(", ")));
    written.extend(write_table(out_dir, "eps_curve", &csv, &md)?);
    Ok(written)
}
