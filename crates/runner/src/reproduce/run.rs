//! Running a grid: the whole grid is expanded and checked first, then each cell that is not done
//! runs (resumable, per-batch progress), and its outputs go to the cell store.
pub use super::args::{CollectArgs, ReproduceArgs};
use super::cell::Cell;
use super::grid::{self, GridFile, Profile};
use super::partial::{self, Partial};
use super::store::{self, profile_dir, status, write_atomic, CellRow, MapsFile, Stage, Status};
use crate::attack_cmd::{correct_images, summarize};
use crate::data_source::DataSource;
use crate::names::Common;
use crate::repo;
use advedge_attacks::ImageOutcome;
use advedge_interpreters::InterpreterKind;
use anyhow::{bail, Context};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The cells of `g` under profile `p` (optionally with an image limit).
pub fn expand(g: &GridFile, p: &Profile, limit: Option<usize>) -> anyhow::Result<Vec<Cell>> {
    fn pick<T: Clone>(o: &Option<Vec<T>>, d: &[T]) -> Vec<T> {
        o.clone().unwrap_or_else(|| d.to_vec())
    }
    let images = limit.map(|l| l.min(p.images)).unwrap_or(p.images);
    let mut cells = Vec::new();
    for m in pick(&p.models, &g.grid.models) {
        for f in pick(&p.frameworks, &g.grid.frameworks) {
            for i in pick(&p.interpreters, &g.grid.interpreters) {
                if i == InterpreterKind::Rts {
                    // No network, or one trained on other weights of the classifier.
                    if let Err(e) = crate::names::interpreter(i, &m, &crate::repo::weights_dir()) {
                        tracing::warn!("skipping {m}/{f}/rts: {e:#}");
                        continue;
                    }
                }
                let scale = p.scale * p.interpreter_scale.get(&i).copied().unwrap_or(1.0);
                let common = Common { scale, seed: p.seed, edge_scope: p.edge_scope, rts_reference: p.rts_reference };
                for v in pick(&p.variants, &g.grid.variants) {
                    cells.push(Cell::new(&m, f, i, v, images, p.batch, common)?.with_overrides(&p.overrides)?.with_mask_map_iters(p.mask_map_iters));
                }
            }
        }
    }
    Ok(cells)
}

/// Run (or finish: see [`Partial`]) one cell; `fresh` ignores saved per-batch progress.
fn run_cell(c: &Cell, dir: &Path, subset: bool, fresh: bool) -> anyhow::Result<String> {
    let _span = tracing::info_span!("cell", id = %c.id()).entered();
    if let Status::Damaged(why) = status(dir, c) {
        let moved = store::set_aside(dir, c)?;
        tracing::warn!("{}: damaged ({why}); set aside as {} and re-run", c.id(), moved.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let t0 = Instant::now();
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (card, model) = repo::load_model(&c.model, None)?;
    let dev = repo::device();
    let clean = correct_images(&model, c.images, &dev, DataSource::for_arch(&card.architecture), c.any_images)?;
    // An empty cell marked done would hide the problem from every later run.
    if clean.is_empty() {
        bail!("no test image to attack: the classifier gets none of the screened images right (wrong data or weights?)");
    }
    if clean.len() < c.images {
        tracing::warn!("{}: only {} of the {} images the profile asks for were found (the data set is smaller)", c.id(), clean.len(), c.images);
    }
    let mut done = Partial::load(dir, c, fresh);
    let prior_seconds = done.seconds;
    let batches = clean.len().div_ceil(c.batch);
    let bar = advedge_models::train::progress(batches as u64, 0, &c.id());
    for start in (0..clean.len()).step_by(c.batch) {
        let sub = clean.slice(start, (start + c.batch).min(clean.len()));
        let _batch = tracing::info_span!("batch", first = start).entered();
        let ck = partial::checkpoint(dir, c, start);
        if fresh {
            let _ = std::fs::remove_file(&ck.path);
        }
        if !done.has_all(&sub.indices) {
            done.outcomes.extend(advedge_attacks::run(&model, &c.interpreter, c.variant, &c.config, &sub, Some(&ck)));
            done.seconds = prior_seconds + t0.elapsed().as_secs_f64();
            if start + c.batch < clean.len() {
                done.save(dir, c)?;
                let _ = std::fs::remove_file(&ck.path);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Outcomes in the order of the clean images (a resumed file holds the first batches).
    let out: Vec<ImageOutcome> = clean.indices.iter().filter_map(|i| done.outcomes.iter().find(|o| o.image_index == *i).cloned()).collect();
    store::remove_derived(dir, c)?;
    write_atomic(&store::maps_path(dir, c), serde_json::to_string(&MapsFile::of(&out))?.as_bytes())?;
    let rows: Vec<CellRow> = out.iter().map(|o| CellRow::of(o, &clean)).collect();
    let csv = store::rows_csv(&rows)?;
    let manifest = store::Manifest {
        cell: c, key: c.key(), git_commit: repo::git_commit(), advedge_version: env!("CARGO_PKG_VERSION"), burn_version: "0.22.1",
        device: repo::device_name(), rayon_threads: rayon_threads(), started_unix: started, wall_seconds: prior_seconds + t0.elapsed().as_secs_f64(),
        images: out.len(), subset, successes: out.iter().filter(|o| o.success).count(),
        model_card: format!("data/weights/{}.toml", c.model), model_test_accuracy: card.test_accuracy, csv: store::FileCheck::of(csv.as_bytes()),
        code_fingerprint: repo::CODE_FINGERPRINT,
    };
    write_atomic(&store::manifest_path(dir, c), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    // The CSV is written last: its presence marks the cell as done.
    write_atomic(&store::csv_path(dir, c), csv.as_bytes())?;
    let _ = std::fs::remove_file(store::failed_path(dir, c));
    Partial::remove(dir, c);
    // The last batch's snapshot (the earlier ones went when their outcomes were saved).
    let _ = std::fs::remove_file(partial::checkpoint(dir, c, clean.len().saturating_sub(1) / c.batch * c.batch).path);
    Ok(summarize(&out, &clean))
}

/// The threads of the rayon pool this cell ran on (its job's pool: `pool::threads_per_job`).
fn rayon_threads() -> usize {
    rayon::current_num_threads()
}

/// Checks of the command line that need no grid: the profile's name (it becomes a folder) and
/// `--limit`.
fn check_args(profile: &str, limit: Option<usize>) -> anyhow::Result<()> {
    grid::check_name("--profile", profile)?;
    if limit == Some(0) {
        bail!("--limit 0 would run no image; give at least 1");
    }
    Ok(())
}

/// The grid `target` with its profile `profile`, or an error naming the file and the profiles.
fn grid_profile<'g>(path: &Path, g: &'g GridFile, profile: &str) -> anyhow::Result<&'g Profile> {
    g.profiles.get(profile).with_context(|| format!("{}: no profile `{profile}` (profiles: {})", path.display(), g.profiles.keys().cloned().collect::<Vec<_>>().join(", ")))
}

pub fn reproduce(a: ReproduceArgs) -> anyhow::Result<()> {
    check_args(&a.profile, a.limit)?;
    if a.verify.is_some() && (a.slurm || a.force) {
        bail!("--verify runs no cell: it does not combine with --slurm or --force");
    }
    if a.target == "all" {
        // Every grid that has this profile, in file-name order (shared cells run once), except
        // that the grid owning the claims page renders last, so its index shows the parts the
        // other grids wrote. Every grid is expanded and checked before the first cell runs.
        let mut grids = grid::all_grids()?;
        grids.sort_by_key(|(_, g)| g.targets.iter().any(|t| t == "claims"));
        let with: Vec<&(std::path::PathBuf, GridFile)> = grids.iter().filter(|(_, g)| g.profiles.contains_key(&a.profile)).collect();
        if with.is_empty() {
            let mut known: Vec<String> = grids.iter().flat_map(|(_, g)| g.profiles.keys().cloned()).collect();
            known.sort();
            known.dedup();
            bail!("no grid in {} has a profile `{}` (profiles: {})", grid::experiments_dir().display(), a.profile, known.join(", "));
        }
        for (path, g) in &with {
            expand(g, &g.profiles[&a.profile], a.limit).with_context(|| format!("{}: profile `{}`", path.display(), a.profile))?;
        }
        let mut failed = Vec::new();
        for (path, g) in &grids {
            if !g.profiles.contains_key(&a.profile) {
                println!("{}: no profile `{}`, skipped", path.display(), a.profile);
                continue;
            }
            if let Err(e) = reproduce(ReproduceArgs { target: g.name.clone(), ..a.clone() }) {
                println!("{}: {e:#}", g.name);
                failed.push(g.name.clone());
            }
        }
        if !failed.is_empty() {
            bail!("grids with failures: {}", failed.join(", "));
        }
        return Ok(());
    }
    let (path, g) = grid::find_target(&a.target)?;
    let p = grid_profile(&path, &g, &a.profile)?;
    let results = a.results.clone().unwrap_or_else(|| repo::root().join("results"));
    let dir = profile_dir(&results, &a.profile).join("cells");
    let mut cells = expand(&g, p, a.limit).with_context(|| format!("{}: profile `{}`", path.display(), a.profile))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    repo::select_device(a.device.as_deref().or(p.device.as_deref()).unwrap_or("cpu"))?;
    for c in cells.iter_mut() {
        c.any_images = a.any_images;
    }
    // The tables are rendered from every cell of the grid that is done, as `collect` does: a
    // filtered run must not drop the rows of cells that other runs finished.
    let grid_cells = cells.clone();
    if let Some(f) = &a.filter {
        cells.retain(|c| c.matches(f));
    }
    if a.slurm {
        return super::slurm::submit(&a, &g, &cells, &results);
    }
    let total = cells.len();
    if let Some(t) = a.task_index {
        let k = a.cells_per_task.max(1);
        cells = cells.into_iter().skip(t * k).take(k).collect();
        if cells.is_empty() {
            bail!("task index {t} is past the end of the grid ({total} cells, {k} per task)");
        }
    }
    println!("{} [{}] profile `{}`: {} cells, {} images each{} -> {}", g.name, path.display(), a.profile, cells.len(), cells.first().map(|c| c.images).unwrap_or(0), if a.limit.is_some() { " (subset)" } else { "" }, dir.display());
    if a.dry_run {
        for c in &cells {
            let st = match status(&dir, c) {
                Status::Done => format!("done ({})", store::made_by(&dir, c)),
                Status::Pending => "pending".to_string(),
                Status::Failed(m) => format!("failed: {m}"),
                Status::Damaged(m) => format!("damaged, will be set aside and re-run: {m}"),
            };
            println!("  {:<40} {}  {}", c.id(), c.key(), st);
        }
        return Ok(());
    }
    if let Some(n) = a.verify {
        return super::verify::run(&g.name, &a.profile, a.filter.as_deref(), &cells, &dir, &profile_dir(&results, &a.profile), n, a.jobs);
    }
    let todo: Vec<&Cell> = cells.iter().filter(|c| a.force || status(&dir, c) != Status::Done).collect();
    println!("{} done, {} to run", cells.len() - todo.len(), todo.len());
    // One worker per selected device (several CUDA devices), or `--jobs` workers.
    let outcomes = super::pool::run(
        &todo,
        a.jobs.max(repo::device_count()),
        "cells",
        a.fail_fast,
        |w, c| {
            repo::bind_worker(w);
            run_cell(c, &dir, a.limit.is_some(), a.force)
        },
        |c, r| match r {
            Ok(summary) => format!("  {:<40} {summary}", c.id()),
            Err(e) => {
                let msg = format!("{e:#}");
                let _ = write_atomic(&store::failed_path(&dir, c), msg.as_bytes());
                format!("  {:<40} FAILED: {msg}", c.id())
            }
        },
    );
    let failures: Vec<String> = todo.iter().zip(&outcomes).filter_map(|(c, r)| match r {
        Some(Err(e)) => Some(format!("{}: {e:#}", c.id())),
        _ => None,
    }).collect();
    if let Some(e) = &p.eps_curve {
        super::eps::compute(&cells, &dir, e, a.jobs)?;
    }
    if !a.no_render {
        let written = super::tables::render(&g, &a.profile, p, &grid_cells, &dir, &profile_dir(&results, &a.profile), a.limit.is_some(), Stage::Run)?;
        for w in written {
            println!("wrote {}", w.display());
        }
    }
    if !failures.is_empty() {
        bail!("{} cell(s) failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}

/// Render the tables from whatever cells exist and list the missing ones (exit non-zero if any).
pub fn collect(a: CollectArgs) -> anyhow::Result<()> {
    check_args(&a.profile, a.limit)?;
    let (path, g) = grid::find_target(&a.target)?;
    let p = grid_profile(&path, &g, &a.profile)?;
    let results = a.results.clone().unwrap_or_else(|| repo::root().join("results"));
    let dir = profile_dir(&results, &a.profile).join("cells");
    let mut cells = expand(&g, p, a.limit).with_context(|| format!("{}: profile `{}`", path.display(), a.profile))?;
    if let Some(f) = &a.filter {
        cells.retain(|c| c.matches(f));
    }
    for c in cells.iter_mut() {
        c.any_images = a.any_images;
    }
    let missing: Vec<String> = cells
        .iter()
        .filter_map(|c| match status(&dir, c) {
            Status::Done => None,
            Status::Pending => Some(format!("  {} (pending)", c.id())),
            Status::Failed(m) => Some(format!("  {} (failed: {m})", c.id())),
            Status::Damaged(m) => Some(format!("  {} (damaged: {m}; `reproduce` sets it aside and re-runs it)", c.id())),
        })
        .collect();
    // Rendering a partial grid over complete tables would silently replace them with emptier
    // ones, so it takes `--partial`.
    if !missing.is_empty() && !a.partial {
        bail!(
            "{} of {} cells missing (nothing rendered; `--partial` renders the {} done cells):\n{}",
            missing.len(),
            cells.len(),
            cells.len() - missing.len(),
            missing.join("\n")
        );
    }
    for w in super::tables::render(&g, &a.profile, p, &cells, &dir, &profile_dir(&results, &a.profile), a.limit.is_some(), Stage::Collect)? {
        println!("wrote {}", w.display());
    }
    if missing.is_empty() {
        println!("all {} cells done", cells.len());
    } else {
        println!("rendered {} of {} cells (--partial); missing:\n{}", cells.len() - missing.len(), cells.len(), missing.join("\n"));
    }
    Ok(())
}
