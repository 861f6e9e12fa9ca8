//! Running a grid: status of each cell, resumable execution, atomic per-cell outputs, manifests.
use super::cell::{Cell, FrameworkConfig};
use super::grid::{self, GridFile, Profile};
use super::partial::{self, Partial};
use crate::attack_cmd::{correct_images, summarize};
use crate::data_source::DataSource;
use crate::repo;
use advedge_attacks::{optim_attack, pgd, AttackBatch, ImageOutcome};
use advedge_metrics::{iou_topk_mean, l1_mean, ssim, SsimConfig, DEFAULT_IOU_KS};
use anyhow::{bail, Context};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args, Clone)]
pub struct ReproduceArgs {
    /// Table or figure to reproduce (table1, table2, table3), a grid name, or the path of a grid
    /// file (`.toml`) kept outside experiments/.
    pub target: String,
    /// Profile of the grid: smoke, cifar, paper.
    #[arg(long, default_value = "cifar")]
    pub profile: String,
    /// Rerun cells even if their results exist.
    #[arg(long)]
    pub force: bool,
    /// Print the cells and their status (done / pending / failed) without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only the first N images of each cell (results are stamped "subset").
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only cells whose id (model/framework/interpreter/variant) contains this text; a trailing `$`
    /// anchors it at the end (`cw/cam/advedge$` leaves out `cw/cam/advedge+`).
    #[arg(long)]
    pub filter: Option<String>,
    /// Cells run in parallel.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Stop at the first failed cell.
    #[arg(long)]
    pub fail_fast: bool,
    /// Results folder (default results/).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Submit the grid to Slurm as a job array instead of running it here.
    #[arg(long)]
    pub slurm: bool,
    /// With --slurm: write the sbatch script but do not submit it.
    #[arg(long)]
    pub no_submit: bool,
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub gpus_per_task: Option<u32>,
    #[arg(long)]
    pub cpus_per_task: Option<u32>,
    /// Slurm time limit per array task, e.g. 02:00:00.
    #[arg(long)]
    pub time: Option<String>,
    /// Cells per array task.
    #[arg(long, default_value_t = 1)]
    pub cells_per_task: usize,
    /// Run only the cells of array task N (set by the sbatch script).
    #[arg(long)]
    pub task_index: Option<usize>,
    /// Do not render tables/figures after running (array tasks).
    #[arg(long)]
    pub no_render: bool,
    /// cpu, cuda, cuda:N or a list `cuda:0,cuda:1` (one worker per device; needs the `cuda`
    /// feature). Default: the profile's `device`, else cpu.
    #[arg(long)]
    pub device: Option<String>,
    /// Attack the first images whatever the classifier predicts, with the prediction as label:
    /// for smoke runs of random-weight models (e.g. the `paper` profile without real weights).
    #[arg(long)]
    pub any_images: bool,
}

impl ReproduceArgs {
    /// The command-line defaults for `target` and `profile`, results in `results` (for tests and
    /// programmatic use).
    pub fn new(target: &str, profile: &str, results: PathBuf) -> Self {
        ReproduceArgs {
            target: target.into(),
            profile: profile.into(),
            force: false,
            dry_run: false,
            limit: None,
            filter: None,
            jobs: 1,
            fail_fast: true,
            results: Some(results),
            slurm: false,
            no_submit: false,
            partition: None,
            gpus_per_task: None,
            cpus_per_task: None,
            time: None,
            cells_per_task: 1,
            task_index: None,
            no_render: false,
            device: None,
            any_images: false,
        }
    }
}

pub fn profile_dir(results: &Path, profile: &str) -> PathBuf {
    results.join(profile)
}

/// The cells of `g` under profile `p` (optionally with an image limit).
pub fn expand(g: &GridFile, p: &Profile, limit: Option<usize>) -> anyhow::Result<Vec<Cell>> {
    let pick = |o: &Option<Vec<String>>, d: &Vec<String>| o.clone().unwrap_or_else(|| d.clone());
    let images = limit.map(|l| l.min(p.images)).unwrap_or(p.images);
    let mut cells = Vec::new();
    for m in pick(&p.models, &g.grid.models) {
        for f in pick(&p.frameworks, &g.grid.frameworks) {
            for i in pick(&p.interpreters, &g.grid.interpreters) {
                if i == "rts" {
                    // No network, or one trained on other weights of the classifier.
                    if let Err(e) = crate::attack_cmd::parse_interpreter("rts", &m, &crate::repo::weights_dir()) {
                        tracing::warn!("skipping {m}/{f}/rts: {e:#}");
                        continue;
                    }
                }
                let scale = p.scale * p.interpreter_scale.get(&i).copied().unwrap_or(1.0);
                for v in pick(&p.variants, &g.grid.variants) {
                    cells.push(Cell::new(&m, &f, &i, &v, images, p.batch, scale, p.seed, &p.edge_scope, p.rts_reference)?.with_overrides(&p.overrides)?.with_mask_map_iters(p.mask_map_iters));
                }
            }
        }
    }
    Ok(cells)
}

#[derive(Debug, PartialEq)]
pub enum Status {
    Done,
    Pending,
    Failed(String),
}

pub fn status(dir: &Path, c: &Cell) -> Status {
    if dir.join(format!("{}.csv", c.stem())).is_file() {
        Status::Done
    } else if let Ok(msg) = std::fs::read_to_string(dir.join(format!("{}.failed", c.stem()))) {
        Status::Failed(msg.lines().next().unwrap_or("").to_string())
    } else {
        Status::Pending
    }
}

/// Write `bytes` to `path` through a temporary file and a rename, so a killed run never leaves a
/// half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // The temporary name carries the process id: two processes finishing the same cell (a
    // resubmitted Slurm task racing an old one) never write into each other's file.
    let tmp = path.with_extension(format!("{}.tmp{}", path.extension().and_then(|e| e.to_str()).unwrap_or(""), std::process::id()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[derive(Serialize)]
struct Manifest<'a> {
    cell: &'a Cell,
    key: String,
    git_commit: String,
    advedge_version: &'static str,
    burn_version: &'static str,
    device: String,
    rayon_threads: usize,
    started_unix: u64,
    wall_seconds: f64,
    images: usize,
    subset: bool,
    successes: usize,
    model_card: String,
    model_test_accuracy: f64,
}

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Per-image CSV: the paper's per-sample quantities.
pub fn outcomes_csv(out: &[ImageOutcome], clean: &AttackBatch) -> String {
    let n = clean.image_len();
    let mut s = String::from("image_index,label,target,success,target_prob,l1,iou,one_minus_ssim,seconds,iterations,failure\n");
    for o in out {
        let p = clean.indices.iter().position(|&i| i == o.image_index).expect("outcome of a clean image");
        let ss = ssim(&clean.images[p * n..(p + 1) * n], &o.adversarial, 3, clean.height, clean.width, SsimConfig::default());
        s.push_str(&format!(
            "{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.4},{},{}\n",
            o.image_index, o.label, o.target, o.success as u8, o.target_prob,
            l1_mean(&o.adversarial_map, &o.benign_map), iou_topk_mean(&o.adversarial_map, &o.benign_map, &DEFAULT_IOU_KS),
            1.0 - ss, o.seconds, o.iterations, csv_escape(o.failure.as_deref().unwrap_or(""))
        ));
    }
    s
}

#[derive(Serialize)]
struct MapsFile<'a> {
    map_hw: [usize; 2],
    images: Vec<MapsEntry<'a>>,
}
#[derive(Serialize)]
struct MapsEntry<'a> {
    image_index: usize,
    label: u32,
    target: u32,
    success: bool,
    benign_map: &'a [f32],
    adversarial_map: &'a [f32],
    /// 8-bit adversarial image (CHW), for the figures.
    adversarial_u8: Vec<u8>,
}

/// Run (or finish: see [`Partial`]) one cell; `fresh` ignores saved per-batch progress.
fn run_cell(c: &Cell, dir: &Path, subset: bool, fresh: bool) -> anyhow::Result<String> {
    let _span = tracing::info_span!("cell", id = %c.id()).entered();
    let t0 = Instant::now();
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (card, model) = repo::load_model(&c.model, None)?;
    let dev = repo::device();
    let clean = correct_images(&model, c.images, &dev, DataSource::for_arch(&card.architecture), c.any_images)?;
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
            done.outcomes.extend(match &c.config {
                FrameworkConfig::Pgd(cfg) => pgd::run_with(&model, &c.interpreter, c.variant, cfg, &sub, Some(&ck)),
                FrameworkConfig::Optim(cfg) => optim_attack::run_with(&model, &c.interpreter, c.variant, cfg, &sub, Some(&ck)),
            });
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
    let stem = c.stem();
    let maps = MapsFile {
        map_hw: out.first().map(|o| o.map_hw).unwrap_or([0, 0]),
        images: out.iter().map(|o| MapsEntry {
            image_index: o.image_index, label: o.label, target: o.target, success: o.success,
            benign_map: &o.benign_map, adversarial_map: &o.adversarial_map,
            adversarial_u8: o.adversarial.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect(),
        }).collect(),
    };
    write_atomic(&dir.join(format!("{stem}.maps.json")), serde_json::to_string(&maps)?.as_bytes())?;
    let manifest = Manifest {
        cell: c, key: c.key(), git_commit: repo::git_commit(), advedge_version: env!("CARGO_PKG_VERSION"), burn_version: "0.22.1",
        device: repo::device_name(), rayon_threads: rayon_threads(), started_unix: started, wall_seconds: prior_seconds + t0.elapsed().as_secs_f64(),
        images: out.len(), subset, successes: out.iter().filter(|o| o.success).count(),
        model_card: format!("data/weights/{}.toml", c.model), model_test_accuracy: card.test_accuracy,
    };
    write_atomic(&dir.join(format!("{stem}.json")), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    // The CSV is written last: its presence marks the cell as done.
    write_atomic(&dir.join(format!("{stem}.csv")), outcomes_csv(&out, &clean).as_bytes())?;
    let _ = std::fs::remove_file(dir.join(format!("{stem}.failed")));
    Partial::remove(dir, c);
    // The last batch's snapshot (the earlier ones went when their outcomes were saved).
    let _ = std::fs::remove_file(partial::checkpoint(dir, c, clean.len().saturating_sub(1) / c.batch * c.batch).path);
    Ok(summarize(&out, &clean))
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

pub fn reproduce(a: ReproduceArgs) -> anyhow::Result<()> {
    if a.target == "all" {
        // Every grid that has this profile, in file-name order (shared cells run once).
        let mut failed = Vec::new();
        for (path, g) in grid::all_grids()? {
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
    let p = g.profiles.get(&a.profile).with_context(|| format!("{}: no profile `{}` (profiles: {})", path.display(), a.profile, g.profiles.keys().cloned().collect::<Vec<_>>().join(", ")))?;
    let results = a.results.clone().unwrap_or_else(|| repo::root().join("results"));
    let dir = profile_dir(&results, &a.profile).join("cells");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    repo::select_device(a.device.as_deref().or(p.device.as_deref()).unwrap_or("cpu"))?;
    let mut cells = expand(&g, p, a.limit).with_context(|| format!("{}: profile `{}`", path.display(), a.profile))?;
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
            let st = match status(&dir, c) { Status::Done => "done".to_string(), Status::Pending => "pending".to_string(), Status::Failed(m) => format!("failed: {m}") };
            println!("  {:<40} {}  {}", c.id(), c.key(), st);
        }
        return Ok(());
    }
    let todo: Vec<&Cell> = cells.iter().filter(|c| a.force || status(&dir, c) != Status::Done).collect();
    println!("{} done, {} to run", cells.len() - todo.len(), todo.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = Mutex::new(Vec::<String>::new());
    let overall = advedge_models::train::progress(todo.len() as u64, 0, "cells");
    std::thread::scope(|s| {
        // One worker per selected device (several CUDA devices), or `--jobs` workers.
        for w in 0..a.jobs.max(repo::device_count()) {
            let (stop, next, todo, dir, overall, failures) = (&stop, &next, &todo, &dir, &overall, &failures);
            s.spawn(move || loop {
                repo::bind_worker(w);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(c) = todo.get(i) else { break };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_cell(c, &dir, a.limit.is_some(), a.force)));
                let r = r.unwrap_or_else(|e| Err(anyhow::anyhow!("panicked: {}", e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default())));
                match r {
                    Ok(summary) => overall.suspend(|| println!("  {:<40} {summary}", c.id())),
                    Err(e) => {
                        let msg = format!("{e:#}");
                        let _ = write_atomic(&dir.join(format!("{}.failed", c.stem())), msg.as_bytes());
                        overall.suspend(|| println!("  {:<40} FAILED: {msg}", c.id()));
                        failures.lock().unwrap().push(format!("{}: {msg}", c.id()));
                        if a.fail_fast {
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                }
                overall.inc(1);
            });
        }
    });
    overall.finish_and_clear();
    if !a.no_render {
        let written = super::tables::render(&g, &a.profile, p, &grid_cells, &dir, &profile_dir(&results, &a.profile), a.limit.is_some())?;
        for w in written {
            println!("wrote {}", w.display());
        }
    }
    let failures = failures.into_inner().unwrap();
    if !failures.is_empty() {
        bail!("{} cell(s) failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}

#[derive(clap::Args, Clone)]
pub struct CollectArgs {
    pub target: String,
    #[arg(long, default_value = "cifar")]
    pub profile: String,
    /// Only cells whose id contains this text (a trailing `$` anchors it), as for `reproduce`.
    #[arg(long)]
    pub filter: Option<String>,
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// The cells were run with `reproduce --any-images`.
    #[arg(long)]
    pub any_images: bool,
}

/// Render the tables from whatever cells exist and list the missing ones (exit non-zero if any).
pub fn collect(a: CollectArgs) -> anyhow::Result<()> {
    let (path, g) = grid::find_target(&a.target)?;
    let p = g.profiles.get(&a.profile).with_context(|| format!("{}: no profile `{}`", path.display(), a.profile))?;
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
        })
        .collect();
    for w in super::tables::render(&g, &a.profile, p, &cells, &dir, &profile_dir(&results, &a.profile), a.limit.is_some())? {
        println!("wrote {}", w.display());
    }
    if missing.is_empty() {
        println!("all {} cells done", cells.len());
        Ok(())
    } else {
        bail!("{} of {} cells missing:\n{}", missing.len(), cells.len(), missing.join("\n"))
    }
}
