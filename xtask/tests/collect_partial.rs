//! `collect` on a grid with a missing cell renders nothing and exits 1 naming the cell, so a
//! grid under way cannot replace complete tables with emptier ones; `--partial` renders the done
//! cells and says how many they are.
#[test]
fn collect_renders_a_partial_grid_only_when_asked() {
    let d = std::env::temp_dir().join(format!("advedge-partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let g = d.join("g.toml");
    std::fs::write(&g, "name = \"g\"\ndescription = \"d\"\ntargets = [\"table1\"]\n[grid]\nmodels = [\"resnet20\"]\nframeworks = [\"pgd\"]\ninterpreters = [\"cam\"]\nvariants = [\"advedge\", \"plain\"]\n[profiles.p]\ndescription = \"s\"\nimages = 1\nbatch = 1\nscale = 0.01\n").unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).arg(g.to_str().unwrap()).args(["--profile", "p", "--results"]).arg(d.join("r")).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    // One of the two cells.
    let (code, log) = run(&["reproduce", "--filter", "advedge$", "--no-render"]);
    assert_eq!(code, Some(0), "{log}");
    let table = d.join("r/p/tables/table1.md");
    std::fs::create_dir_all(table.parent().unwrap()).unwrap();
    std::fs::write(&table, "complete tables of an earlier run").unwrap();
    let (code, log) = run(&["collect"]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("1 of 2 cells missing") && log.contains("resnet20/pgd/cam/plain") && log.contains("nothing rendered"), "{log}");
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "complete tables of an earlier run", "the tables stay as they were");
    let (code, log) = run(&["collect", "--partial"]);
    assert_eq!(code, Some(0), "{log}");
    assert!(std::fs::read_to_string(&table).unwrap().starts_with("# Table I"));
    let index = std::fs::read_to_string(d.join("r/p/index.md")).unwrap();
    assert!(index.contains("**Partial: 1 of 2 cells done.**"), "{index}");
    let cost = std::fs::read_to_string(d.join("r/p/tables/cost.md")).unwrap();
    assert!(cost.contains("1 of 2 cells done") && cost.contains("| resnet20 | pgd | cam | 1 |"), "{cost}");
    let _ = std::fs::remove_dir_all(&d);
}
