//! Experiment grid files: one TOML per group of tables/figures, with profiles.
//! Unknown keys and bad values are rejected with the file, line and key named (toml + serde).
use anyhow::{bail, Context};
use serde::Deserialize;
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
    pub detector: Option<super::detector::DetectorSettings>,
    /// Settings of the robust-training experiment (Table VII), per profile.
    pub robust: Option<BTreeMap<String, super::robust::RobustSettings>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axes {
    pub models: Vec<String>,
    pub frameworks: Vec<String>,
    pub interpreters: Vec<String>,
    pub variants: Vec<String>,
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
    pub interpreter_scale: BTreeMap<String, f64>,
    #[serde(default)]
    pub seed: u64,
    /// `warmup` (authors' code, default) or `all` (paper text).
    #[serde(default = "default_scope")]
    pub edge_scope: String,
    /// RTS attacks: aim at the benign map for the target class (`target`) or the true class
    /// (`true`); unset = the spec's choice per framework (PGD, C&W: target; StAdv: true).
    pub rts_reference: Option<advedge_attacks::RtsReference>,
    /// Optional narrower axes for this profile.
    pub models: Option<Vec<String>>,
    pub frameworks: Option<Vec<String>>,
    pub interpreters: Option<Vec<String>>,
    pub variants: Option<Vec<String>>,
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
    pub overrides: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

fn default_transfer_mask_iters() -> usize {
    100
}

fn default_scope() -> String {
    "warmup".into()
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

fn validate(g: &GridFile) -> anyhow::Result<()> {
    for f in &g.grid.frameworks {
        if !["pgd", "cw", "stadv"].contains(&f.as_str()) {
            bail!("grid.frameworks: unknown framework `{f}` (pgd, cw, stadv)");
        }
    }
    for i in &g.grid.interpreters {
        crate::attack_cmd::check_interpreter(i).with_context(|| "grid.interpreters")?;
    }
    for v in &g.grid.variants {
        crate::attack_cmd::parse_variant(v).with_context(|| "grid.variants")?;
    }
    for (name, p) in &g.profiles {
        if p.images == 0 || p.batch == 0 {
            bail!("profiles.{name}: images and batch must be > 0");
        }
        if !(p.scale > 0.0 && p.scale.is_finite()) {
            bail!("profiles.{name}.scale must be positive, got {}", p.scale);
        }
        if p.mask_map_iters == Some(0) {
            bail!("profiles.{name}.mask_map_iters must be at least 1");
        }
        if !["warmup", "all"].contains(&p.edge_scope.as_str()) {
            bail!("profiles.{name}.edge_scope must be `warmup` or `all`, got `{}`", p.edge_scope);
        }
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
