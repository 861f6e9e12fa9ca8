//! Repository facts: root folder, weights folder, git commit.
use std::path::PathBuf;

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
