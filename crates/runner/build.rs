//! The code fingerprint recorded in every cell's manifest: FNV-1a over the sources of the crates
//! that decide an attack's numbers (data, models, interpreters, attacks, metrics), of the patched
//! CPU backend (patches/burn-flex) and Cargo.lock (the pinned dependency versions). `reproduce --dry-run` names done cells made by other code.
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut all = Vec::new();
    for c in ["data", "models", "interpreters", "attacks", "metrics"] {
        let src = root.join("crates").join(c).join("src");
        println!("cargo:rerun-if-changed={}", src.display());
        files(&src, &mut all);
    }
    let flex = root.join("patches/burn-flex/src");
    println!("cargo:rerun-if-changed={}", flex.display());
    files(&flex, &mut all);
    all.sort();
    all.push(root.join("Cargo.lock"));
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());
    let mut h: u64 = 0xcbf29ce484222325;
    for p in &all {
        let rel = p.strip_prefix(&root).unwrap_or(p).to_string_lossy().into_owned();
        for b in rel.bytes().chain(std::fs::read(p).unwrap_or_default()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    println!("cargo:rustc-env=ADVEDGE_CODE_FINGERPRINT={h:016x}");
}
