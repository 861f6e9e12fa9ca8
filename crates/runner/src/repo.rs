//! Repository facts: root folder, weights folder, git commit, weights fingerprints.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The workspace root (nearest ancestor of the cwd with a `[workspace]` Cargo.toml).
pub fn root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    for dir in cwd.ancestors() {
        if std::fs::read_to_string(dir.join("Cargo.toml")).map(|s| s.contains("[workspace]")).unwrap_or(false) {
            return dir.to_path_buf();
        }
    }
    cwd
}

/// Where model cards and weights live: `$ADVEDGE_WEIGHTS`, else `data/weights`.
pub fn weights_dir() -> PathBuf {
    std::env::var_os("ADVEDGE_WEIGHTS").map(PathBuf::from).unwrap_or_else(|| root().join("data").join("weights"))
}

/// `git rev-parse --short HEAD`, with `-dirty` when the tree has changes; "unknown" without git.
pub fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git").args(args).current_dir(root()).output().ok().filter(|o| o.status.success())
    };
    let Some(head) = run(&["rev-parse", "--short", "HEAD"]) else { return "unknown".into() };
    let mut s = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if let Some(st) = run(&["status", "--porcelain", "--untracked-files=no"]) {
        if !st.stdout.is_empty() {
            s.push_str("-dirty");
        }
    }
    s
}

/// 16 hex digits of FNV-1a over a file's bytes ("missing" when it cannot be read), cached per
/// path. Grid cells include the fingerprint of the weights they attack, so retraining a model
/// makes its old results stale instead of silently mixing them with new ones.
pub fn fingerprint(path: &Path) -> String {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(f) = cache.lock().expect("fingerprint cache").get(path) {
        return f.clone();
    }
    let f = match std::fs::read(path) {
        Ok(bytes) => format!("{:016x}", fnv1a(&bytes)),
        Err(_) => "missing".to_string(),
    };
    cache.lock().expect("fingerprint cache").insert(path.to_path_buf(), f.clone());
    f
}

/// FNV-1a, 64 bit.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fingerprint of a named classifier's weights (via its card in [`weights_dir`]).
pub fn model_fingerprint(model: &str) -> String {
    let card = weights_dir().join(format!("{model}.toml"));
    match advedge_models::ModelCard::load(&card) {
        Ok(c) => fingerprint(&c.weights_path(&card)),
        Err(_) => "missing".to_string(),
    }
}
