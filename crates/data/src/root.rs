//! Data root resolution: `$ADVEDGE_DATA`, then `<repo>/data`, then `<repo>/../shared/data`.
use crate::DataError;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the data root.
pub const DATA_ENV: &str = "ADVEDGE_DATA";

/// The repository root: the nearest ancestor of the working directory holding `Cargo.toml` with a
/// `[workspace]`, falling back to where this crate was compiled.
fn repo_root() -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let toml = dir.join("Cargo.toml");
            if std::fs::read_to_string(&toml).map(|s| s.contains("[workspace]")).unwrap_or(false) {
                return dir.to_path_buf();
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Candidate roots in priority order.
pub fn candidate_roots() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(v) = std::env::var_os(DATA_ENV) {
        out.push(PathBuf::from(v));
    }
    let repo = repo_root();
    out.push(repo.join("data"));
    out.push(repo.join("..").join("shared").join("data"));
    out
}

/// The first candidate root that contains `wanted` as a sub-folder. `$ADVEDGE_DATA` set to
/// something that is not a folder is an error naming it.
pub fn resolve_data_root(wanted: &str) -> Result<PathBuf, DataError> {
    if let Some(v) = std::env::var_os(DATA_ENV) {
        let p = PathBuf::from(v);
        if !p.is_dir() {
            return Err(DataError::EnvNotAFolder { path: p });
        }
    }
    let tried = candidate_roots();
    for root in &tried {
        if root.join(wanted).is_dir() {
            return Ok(root.clone());
        }
    }
    Err(DataError::NoRoot {
        wanted: wanted.to_string(),
        tried: tried.iter().map(|r| r.join(wanted)).collect(),
    })
}
