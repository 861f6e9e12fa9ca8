//! Experiment grid files: one TOML per group of tables/figures, with profiles. The schema is
//! typed: frameworks, interpreters and variants are enums, so an unknown name anywhere (axes,
//! `overrides`, `interpreter_scale`) and any unknown key are rejected by serde with the file,
//! line and key named; ranges are checked in [`validate`].
use advedge_attacks::{EdgeScope, Framework, Variant};
use advedge_countermeasures::detector::DetectorConfig;
use advedge_interpreters::InterpreterKind;
use advedge_models::train::TrainConfig;
use advedge_models::ArchConfig;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridFile {
    pub name: String,
    pub description: String,
    /// Tables/figures this grid feeds (`cargo xtask reproduce <target>`).
    pub targets: Vec<String>,
    pub grid: Axes,
    pub profiles: BTreeMap<String, Profile>,
    /// Settings of the detector experiments (Tables V, VI).
    pub detector: Option<DetectorSettings>,
    /// Settings of the robust-training experiment (Table VII), per profile.
    pub robust: Option<BTreeMap<String, RobustSettings>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axes {
    pub models: Vec<String>,
    pub frameworks: Vec<Framework>,
    pub interpreters: Vec<InterpreterKind>,
    pub variants: Vec<Variant>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub description: String,
    /// Correctly classified test images per cell.
    pub images: usize,
    pub batch: usize,
    /// Multiplier on every iteration count of the paper's schedules (1.0 = the paper's).
    pub scale: f64,
    /// Extra multiplier per interpreter (e.g. `{ mask = 0.1 }`: the bi-level MASK attack costs
    /// ~100x a CAM attack per iteration).
    #[serde(default)]
    pub interpreter_scale: BTreeMap<InterpreterKind, f64>,
    #[serde(default)]
    pub seed: u64,
    /// `warmup` (authors' code, default) or `all` (paper text).
    #[serde(default)]
    pub edge_scope: EdgeScope,
    /// RTS attacks: aim at the benign map for the target class (`target`) or the true class
    /// (`true`); unset = the spec's choice per framework (PGD, C&W: target; StAdv: true).
    pub rts_reference: Option<advedge_attacks::RtsReference>,
    /// Optional narrower axes for this profile.
    pub models: Option<Vec<String>>,
    pub frameworks: Option<Vec<Framework>>,
    pub interpreters: Option<Vec<InterpreterKind>>,
    pub variants: Option<Vec<Variant>>,
    /// Adam iterations of the MASK maps a MASK cell extracts (benign and adversarial); unset =
    /// the spec's (v1 500, v2 300). At 224x224 on the CPU 500 iterations cost ~10 CPU-minutes a map, so the
    /// paper-scale smoke profile shortens them like its schedules. Set, it enters MASK cells' keys.
    pub mask_map_iters: Option<usize>,
    /// Adam iterations of MASK when extracting maps for Table IV (the paper's v1 uses 500).
    #[serde(default = "default_transfer_mask_iters")]
    pub transfer_mask_iters: usize,
    /// The paper's model each of our models stands in for (for the paper-vs-ours columns).
    #[serde(default)]
    pub paper_models: BTreeMap<String, String>,
    /// `cpu` (default) or `cuda[:N]`; `--device` overrides it.
    pub device: Option<String>,
    /// Per framework, settings of its resolved attack configuration to replace, e.g.
    /// `overrides = { cw = { l2_times_batch = false } }` (an ablation of a quirk). Top-level keys
    /// of the framework's config only; a key it does not have is an error naming it. The key of
    /// every cell hashes the resolved configuration, so overridden cells never mix with others.
    #[serde(default)]
    pub overrides: BTreeMap<Framework, BTreeMap<String, toml::Value>>,
    /// Success and map-L1 curves over the PGD budget, and each image's smallest fooling budget,
    /// for the done PGD cells it selects (see `reproduce::eps`).
    pub eps_curve: Option<EpsCurveSettings>,
    /// Detector grid: source-image counts of the detectors' learning curve
    /// (`tables/detector_curve.md`), each detector trained again on nested seeded subsets; sizes
    /// at or above the available pairs use the full detector.
    #[serde(default)]
    pub detector_curve: Vec<usize>,
}

/// `eps_curve = { eps = "1,2,4,8,16/255", min_eps_steps = 2, cells = ["resnet20/pgd/cam"] }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EpsCurveSettings {
    /// Budgets as `attack --eps` takes them (increasing, in (0, 1] pixel units).
    pub eps: String,
    /// Bisection steps below each image's smallest fooling listed budget (0: the list alone).
    #[serde(default)]
    pub min_eps_steps: usize,
    /// Which PGD cells (`--filter` patterns, any may match); empty: every PGD cell.
    #[serde(default)]
    pub cells: Vec<String>,
}

fn default_transfer_mask_iters() -> usize {
    100
}

/// `[detector]` section of a grid file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSettings {
    /// Adam iterations of MASK when extracting maps (v1 uses 500).
    pub mask_iters: usize,
    /// Fraction of source images in the training split.
    pub train_frac: f64,
    /// Train/test splits (seeds `model.seed`, `model.seed + 1`, ...), each with its own detector;
    /// the accuracy pools the source images' test results over them.
    #[serde(default = "one")]
    pub split_seeds: usize,
    #[serde(default)]
    pub model: DetectorConfig,
}

fn one() -> usize {
    1
}

fn madry_factor() -> Vec<f64> {
    vec![2.5]
}

/// `[robust.<profile>]` section of a grid file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RobustSettings {
    /// The "WRN": a wide CIFAR ResNet (see README for the size chosen for the CPU budget).
    pub arch: ArchConfig,
    pub train: TrainConfig,
    /// AT objective: gamma, inner PGD radius (1/255 units), steps and step size (1/255 units).
    pub gamma: f64,
    pub train_eps255: f64,
    pub inner_steps: usize,
    pub inner_alpha255: f64,
    /// Evaluation radii (1/255 units), PGD steps, test images, batch.
    pub eval_eps255: Vec<f64>,
    pub eval_steps: usize,
    pub eval_images: usize,
    pub eval_batch: usize,
    /// Random starts and step-size factors (alpha = factor x eps / steps) of the evaluation's PGD;
    /// each image keeps its worst outcome over all of them. Defaults: 1 and [2.5].
    #[serde(default = "one")]
    pub eval_restarts: usize,
    #[serde(default = "madry_factor")]
    pub eval_step_factors: Vec<f64>,
    /// Where weights and cards go (relative to the repository root); default `data/weights`.
    pub weights_dir: Option<String>,
    /// Checkpoint folder (relative to the repository root); default `runs/robust/<profile>`.
    /// A tracked folder lets a long training resume from a fresh clone.
    pub run_dir: Option<String>,
    /// Name prefix of the weights (`<prefix>-nt`, `<prefix>-at`).
    pub name: String,
}


pub fn experiments_dir() -> PathBuf {
    crate::repo::root().join("experiments")
}

pub fn load(path: &Path) -> anyhow::Result<GridFile> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let g: GridFile = toml::from_str(&s).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    validate(&g).with_context(|| format!("in {}", path.display()))?;
    Ok(g)
}

/// Range checks serde cannot express, for every profile (names are checked by the types).
fn validate(g: &GridFile) -> anyhow::Result<()> {
    check_name("name", &g.name)?;
    for m in &g.grid.models {
        check_name("grid.models", m)?;
    }
    if let Some(d) = &g.detector {
        if d.split_seeds == 0 || d.split_seeds > 100 {
            bail!("detector.split_seeds must be 1-100, got {}", d.split_seeds);
        }
        if !(d.train_frac > 0.0 && d.train_frac < 1.0) {
            bail!("detector.train_frac must lie in (0, 1), got {}", d.train_frac);
        }
    }
    for (name, p) in &g.profiles {
        check_name("profiles", name)?;
        if p.images == 0 || p.batch == 0 {
            bail!("profiles.{name}: images and batch must be > 0 (images = {}, batch = {})", p.images, p.batch);
        }
        if !(p.scale > 0.0 && p.scale.is_finite()) {
            bail!("profiles.{name}.scale must be a finite number > 0, got {}", p.scale);
        }
        for (k, s) in &p.interpreter_scale {
            if !(*s > 0.0 && s.is_finite()) {
                bail!("profiles.{name}.interpreter_scale.{k} must be a finite number > 0, got {s}");
            }
        }
        if p.mask_map_iters == Some(0) {
            bail!("profiles.{name}.mask_map_iters must be at least 1");
        }
        if p.transfer_mask_iters == 0 {
            bail!("profiles.{name}.transfer_mask_iters must be at least 1");
        }
        if let Some(e) = &p.eps_curve {
            crate::eps_curve::parse_eps_list(&e.eps).map_err(|m| anyhow::anyhow!("profiles.{name}.eps_curve.eps: {m}"))?;
            if e.min_eps_steps > 20 {
                bail!("profiles.{name}.eps_curve.min_eps_steps = {} halves the interval {0} times: at most 20", e.min_eps_steps);
            }
            if let Some(f) = e.cells.iter().find(|f| f.is_empty()) {
                bail!("profiles.{name}.eps_curve.cells: an empty pattern `{f}` would select every cell; leave `cells` out for that");
            }
        }
        for m in p.models.iter().flatten().chain(p.paper_models.keys()) {
            check_name(&format!("profiles.{name}.models"), m)?;
        }
    }
    Ok(())
}

/// Names that end up in file names and generated scripts: letters, digits, `.`, `_`, `-`, not
/// starting with `.` (so never `..` or a hidden file).
pub fn check_name(what: &str, s: &str) -> anyhow::Result<()> {
    let ok = !s.is_empty() && !s.starts_with('.') && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        bail!("{what}: `{}` is not a valid name (letters, digits, `.`, `_`, `-`; not starting with `.`)", s.escape_debug());
    }
    Ok(())
}

/// The grid file that provides `target` (e.g. table1 -> experiments/main.toml).
/// Every grid file in `experiments/`, sorted by file name.
pub fn all_grids() -> anyhow::Result<Vec<(PathBuf, GridFile)>> {
    let dir = experiments_dir();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().map(|e| e == "toml").unwrap_or(false)).collect();
    entries.sort();
    entries.into_iter().map(|p| load(&p).map(|g| (p, g))).collect()
}

/// The grid providing `target` (a table/figure name or a grid name) in experiments/, or the grid
/// file itself when `target` is a path ending in `.toml` (a sweep kept outside experiments/).
pub fn find_target(target: &str) -> anyhow::Result<(PathBuf, GridFile)> {
    if target.ends_with(".toml") {
        let p = PathBuf::from(target);
        return Ok((p.clone(), load(&p)?));
    }
    let dir = experiments_dir();
    let mut known = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries.into_iter().filter(|p| p.extension().map(|e| e == "toml").unwrap_or(false)) {
        let g = load(&p)?;
        if g.targets.iter().any(|t| t == target) || g.name == target {
            return Ok((p, g));
        }
        known.extend(g.targets.clone());
    }
    bail!("no experiment grid in {} provides `{target}` (known targets: all, {})", dir.display(), known.join(", "))
}
