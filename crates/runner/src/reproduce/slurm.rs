//! Slurm scale-out: the grid becomes one job array; each array task runs this same binary on its
//! cells (`--task-index`), writing the same atomic per-cell files into the shared results folder,
//! so finished cells are skipped on resubmission and a killed task can simply be resubmitted.
//! `cargo xtask collect <target>` (or `reproduce` again) renders the tables afterwards.
use super::cell::Cell;
use super::grid::GridFile;
use super::args::ReproduceArgs;
use super::store::profile_dir;
use crate::repo;
use anyhow::{bail, Context};
use std::path::Path;

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The sbatch script for `cells` (task i runs cells [i*k, (i+1)*k)).
pub fn script(a: &ReproduceArgs, g: &GridFile, cells: &[Cell], results: &Path, exe: &Path) -> String {
    let k = a.cells_per_task.max(1);
    let tasks = cells.len().div_ceil(k);
    let logs = profile_dir(results, &a.profile).join("slurm");
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name=advedge-{}-{}\n", g.name, a.profile));
    s.push_str(&format!("#SBATCH --array=0-{}\n", tasks.saturating_sub(1)));
    s.push_str(&format!("#SBATCH --output={}/%A_%a.out\n", logs.display()));
    if let Some(p) = &a.partition { s.push_str(&format!("#SBATCH --partition={p}\n")); }
    if let Some(n) = a.gpus_per_task { s.push_str(&format!("#SBATCH --gpus-per-task={n}\n")); }
    if let Some(n) = a.cpus_per_task { s.push_str(&format!("#SBATCH --cpus-per-task={n}\n")); }
    if let Some(t) = &a.time { s.push_str(&format!("#SBATCH --time={t}\n")); }
    s.push_str(&format!("# {} cells of `{}` (profile {}), {k} per task. Resubmitting this script is safe:\n# finished cells are skipped. Afterwards: cargo xtask collect {} --profile {}\n", cells.len(), g.name, a.profile, a.target, a.profile));
    s.push_str("set -euo pipefail\n");
    s.push_str(&format!("cd {}\n", quote(&repo::root().display().to_string())));
    for var in ["ADVEDGE_DATA", "ADVEDGE_WEIGHTS", "RAYON_NUM_THREADS"] {
        if let Ok(v) = std::env::var(var) {
            s.push_str(&format!("export {var}={}\n", quote(&v)));
        }
    }
    if a.cpus_per_task.is_some() {
        s.push_str("export RAYON_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n");
    }
    let mut cmd = format!("exec {} reproduce {} --profile {} --results {} --task-index \"$SLURM_ARRAY_TASK_ID\" --cells-per-task {k} --no-render", quote(&exe.display().to_string()), quote(&a.target), quote(&a.profile), quote(&results.display().to_string()));
    if let Some(f) = &a.filter { cmd.push_str(&format!(" --filter {}", quote(f))); }
    if let Some(l) = a.limit { cmd.push_str(&format!(" --limit {l}")); }
    if a.force { cmd.push_str(" --force"); }
    s.push_str(&cmd);
    s.push('\n');
    s
}

/// Write the script next to the results and submit it with `sbatch --parsable`; prints the job id.
pub fn submit(a: &ReproduceArgs, g: &GridFile, cells: &[Cell], results: &Path) -> anyhow::Result<()> {
    if cells.is_empty() {
        bail!("no cells to submit");
    }
    let results = std::path::absolute(results).with_context(|| format!("resolving {}", results.display()))?;
    let dir = profile_dir(&results, &a.profile).join("slurm");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::create_dir_all(profile_dir(&results, &a.profile).join("cells"))?;
    let exe = std::env::current_exe().context("locating the running binary")?;
    // A grid given by path is named by its (checked) `name`, so the script stays in `slurm/`.
    let stem = if a.target.ends_with(".toml") { g.name.clone() } else { a.target.clone() };
    super::grid::check_name("the target", &stem)?;
    for (flag, v) in [("--partition", &a.partition), ("--time", &a.time)] {
        if let Some(v) = v {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | ',')) {
                bail!("{flag} `{}`: letters, digits, `.`, `_`, `-`, `:` and `,` only (it goes into the sbatch script)", v.escape_debug());
            }
        }
    }
    let path = dir.join(format!("{stem}-{}.sbatch", a.profile));
    std::fs::write(&path, script(a, g, cells, &results, &exe)).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} ({} cells, {} array tasks)", path.display(), cells.len(), cells.len().div_ceil(a.cells_per_task.max(1)));
    if a.no_submit {
        return Ok(());
    }
    let out = std::process::Command::new("sbatch").arg("--parsable").arg(&path).output().context("running sbatch (is Slurm installed and on PATH?)")?;
    if !out.status.success() {
        bail!("sbatch failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("submitted job array {id}");
    Ok(())
}
