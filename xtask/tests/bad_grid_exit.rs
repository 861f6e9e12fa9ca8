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

/// The cell key covers the evaluated data: a copy of CIFAR-10 with one test image replaced gives
/// every cell another key, so a cell made on other data is never taken as done.
#[test]
fn cells_made_on_other_data_have_other_keys() {
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let copy = std::env::temp_dir().join(format!("advedge-data-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    let test = copy.join("cifar10/test");
    std::fs::create_dir_all(&test).unwrap();
    std::os::unix::fs::symlink(real.join("cifar10/train"), copy.join("cifar10/train")).unwrap();
    for class in std::fs::read_dir(real.join("cifar10/test")).unwrap() {
        let class = class.unwrap();
        let name = class.file_name();
        if name == "airplane" {
            // The same folder with its first image replaced by its second.
            std::fs::create_dir_all(test.join(&name)).unwrap();
            for f in std::fs::read_dir(class.path()).unwrap() {
                let f = f.unwrap();
                std::os::unix::fs::symlink(f.path(), test.join(&name).join(f.file_name())).unwrap();
            }
            std::fs::remove_file(test.join("airplane/0000.jpg")).unwrap();
            std::fs::copy(class.path().join("0001.jpg"), test.join("airplane/0000.jpg")).unwrap();
        } else {
            std::os::unix::fs::symlink(class.path(), test.join(&name)).unwrap();
        }
    }
    let key = |data: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["reproduce", "main", "--profile", "smoke", "--dry-run", "--filter", "pgd/cam/plain"])
            .env("ADVEDGE_DATA", data)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let line = text.lines().find(|l| l.contains("resnet20/pgd/cam/plain")).unwrap_or_else(|| panic!("{text}")).to_string();
        line.split_whitespace().nth(1).unwrap().to_string()
    };
    let (k_real, k_copy) = (key(&real), key(&copy));
    assert_ne!(k_real, k_copy, "one replaced test image must change the key");
    assert_eq!(k_real, key(&real), "the key is stable");
    let _ = std::fs::remove_dir_all(&copy);
}
