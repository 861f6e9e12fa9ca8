//! Every bad configuration a user can write is an error that names the file, profile, key and
//! value, raised before any cell runs (no cell folder is even created), and the binary exits 1.
use advedge_runner::reproduce::{grid, reproduce, ReproduceArgs};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("advedge-badcfg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A one-cell grid on the committed ResNet-20 with `extra` lines in its profile `p`.
fn grid_file(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("g.toml");
    let text = format!(
        "name = \"g\"\ndescription = \"d\"\ntargets = [\"t\"]\n[grid]\nmodels = [\"resnet20\"]\nframeworks = [\"pgd\", \"cw\"]\ninterpreters = [\"cam\", \"mask\"]\nvariants = [\"advedge\"]\n[profiles.p]\ndescription = \"s\"\nimages = 1\nbatch = 1\nscale = 0.01\n{extra}\n"
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// Run `reproduce` on a grid with `extra` in its profile; the error message, and a check that
/// nothing was written under the results folder.
fn error_of(name: &str, extra: &str) -> String {
    let d = tmp(name);
    let g = grid_file(&d, extra);
    let results = d.join("results");
    let e = reproduce(ReproduceArgs::new(g.to_str().unwrap(), "p", results.clone())).expect_err("a bad grid must not run");
    assert!(!results.exists(), "{name}: the run created {} before failing", results.display());
    let _ = std::fs::remove_dir_all(&d);
    format!("{e:#}")
}

fn expect(name: &str, extra: &str, parts: &[&str]) {
    let msg = error_of(name, extra);
    for p in parts {
        assert!(msg.contains(p), "{name}: `{p}` missing in: {msg}");
    }
}

#[test]
fn out_of_range_attack_settings_name_the_setting_and_value() {
    expect("select_every", "overrides = { pgd = { select_every = 0 } }", &["g.toml", "profile `p`", "select_every", "= 0"]);
    expect("eps", "overrides = { pgd = { eps = -0.1 } }", &["g.toml", "`eps` = -0.1"]);
    expect("alpha", "overrides = { pgd = { alpha = -0.01 } }", &["`alpha` = -0.01"]);
    expect("lr", "overrides = { cw = { lr = -1.0 } }", &["overrides.cw", "`lr` = -1"]);
}

#[test]
fn an_absurd_scale_is_an_error_not_an_abort() {
    let d = tmp("hugescale");
    let p = d.join("g.toml");
    std::fs::write(&p, std::fs::read_to_string(grid_file(&d, "")).unwrap().replace("scale = 0.01", "scale = 1e12")).unwrap();
    let e = format!("{:#}", reproduce(ReproduceArgs::new(p.to_str().unwrap(), "p", d.join("results"))).unwrap_err());
    assert!(e.contains("warmup_iters") && e.contains("at most 10,000,000"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn interpreter_scale_must_be_a_positive_number() {
    for v in ["0.0", "-1.0", "nan"] {
        let d = tmp("iscale");
        let msg = format!("{:#}", grid::load(&grid_file(&d, &format!("interpreter_scale = {{ mask = {v} }}"))).unwrap_err());
        assert!(msg.contains("g.toml") && msg.contains("interpreter_scale.mask") && msg.contains("> 0"), "{v}: {msg}");
    }
}

#[test]
fn misspelt_names_under_overrides_and_interpreter_scale_are_rejected() {
    let d = tmp("names");
    let msg = format!("{:#}", grid::load(&grid_file(&d, "overrides = { pgdd = { eps = 0.1 } }")).unwrap_err());
    assert!(msg.contains("g.toml") && msg.contains("pgdd"), "{msg}");
    let msg = format!("{:#}", grid::load(&grid_file(&d, "interpreter_scale = { maskk = 0.1 }")).unwrap_err());
    assert!(msg.contains("g.toml") && msg.contains("maskk"), "{msg}");
    let msg = format!("{:#}", grid::load(&grid_file(&d, "variants = [\"advedge++\"]")).unwrap_err());
    assert!(msg.contains("advedge++"), "{msg}");
}

#[test]
fn an_unknown_profile_is_an_error_for_one_grid_and_for_all() {
    let d = tmp("profile");
    let g = grid_file(&d, "");
    let msg = format!("{:#}", reproduce(ReproduceArgs::new(g.to_str().unwrap(), "smoek", d.join("r"))).unwrap_err());
    assert!(msg.contains("no profile `smoek`") && msg.contains("profiles: p"), "{msg}");
    let msg = format!("{:#}", reproduce(ReproduceArgs::new("all", "smoek", d.join("r"))).unwrap_err());
    assert!(msg.contains("no grid") && msg.contains("`smoek`") && msg.contains("smoke"), "{msg}");
    assert!(!d.join("r").exists());
}

#[test]
fn names_that_would_escape_the_results_folder_are_rejected() {
    let d = tmp("escape");
    let g = grid_file(&d, "");
    for bad in ["../escape", "/tmp/abs", "a b", ".hidden"] {
        let msg = format!("{:#}", reproduce(ReproduceArgs::new(g.to_str().unwrap(), bad, d.join("r"))).unwrap_err());
        assert!(msg.contains("--profile") && msg.contains("not a valid name"), "{bad}: {msg}");
    }
    let msg = format!("{:#}", reproduce(ReproduceArgs { limit: Some(0), ..ReproduceArgs::new(g.to_str().unwrap(), "p", d.join("r")) }).unwrap_err());
    assert!(msg.contains("--limit 0"), "{msg}");
}
