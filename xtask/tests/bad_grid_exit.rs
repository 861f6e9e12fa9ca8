//! The `xtask` binary reports a bad grid with the setting named and exits 1 before any cell runs.
#[test]
fn a_bad_grid_exits_1_naming_the_setting() {
    let d = std::env::temp_dir().join(format!("advedge-exit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let g = d.join("g.toml");
    std::fs::write(&g, "name = \"g\"\ndescription = \"d\"\ntargets = [\"t\"]\n[grid]\nmodels = [\"resnet20\"]\nframeworks = [\"pgd\"]\ninterpreters = [\"cam\"]\nvariants = [\"advedge\"]\n[profiles.p]\ndescription = \"s\"\nimages = 1\nbatch = 1\nscale = 0.01\noverrides = { pgd = { select_every = 0 } }\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask")).args(["reproduce", g.to_str().unwrap(), "--profile", "p", "--results"]).arg(d.join("r")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("g.toml") && err.contains("select_every") && err.contains("= 0"), "{err}");
    assert!(!d.join("r").exists(), "nothing may be written");
    let _ = std::fs::remove_dir_all(&d);
}

/// `ADVEDGE_DATA` pointing nowhere is an error naming it, not a silent fall-back to the
/// default data roots.
#[test]
fn a_data_override_that_is_no_folder_is_an_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["attack", "--model", "resnet20", "--interpreter", "cam", "--images", "1", "--scale", "0.01"])
        .env("ADVEDGE_DATA", "/no/such/data/root")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ADVEDGE_DATA") && err.contains("/no/such/data/root"), "{err}");
}
