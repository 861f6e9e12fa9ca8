//! Experiment grids: parsing errors name the file/line/key, expansion, cell keys, atomic writes.
use advedge_attacks::{AttackConfig, EdgeScope, Framework, Variant};
use advedge_interpreters::InterpreterKind;
use advedge_runner::names::Common;
use advedge_runner::reproduce::cell::Cell;
use advedge_runner::reproduce::grid::{self, find_target};
use advedge_runner::reproduce::run::expand;
use advedge_runner::reproduce::store::{status, write_atomic, Status};

fn common(scale: f64, rts_reference: Option<advedge_attacks::RtsReference>) -> Common {
    Common { scale, seed: 0, edge_scope: EdgeScope::Warmup, rts_reference }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("advedge-runner-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn unknown_key_is_rejected_with_file_line_and_key() {
    let d = tmp("badkey");
    let p = d.join("g.toml");
    std::fs::write(&p, "name = \"g\"\ndescription = \"d\"\ntargets = [\"t\"]\n\n[grid]\nmodels = [\"m\"]\nframeworks = [\"pgd\"]\ninterpreters = [\"cam\"]\nvariants = [\"adv2\"]\n\n[profiles.smoke]\ndescription = \"s\"\nimages = 2\nbatch = 2\nscale = 0.1\nbatchsize = 3\n").unwrap();
    let msg = format!("{:#}", grid::load(&p).unwrap_err());
    assert!(msg.contains("g.toml") && msg.contains("line 16") && msg.contains("batchsize"), "{msg}");
}

#[test]
fn bad_values_are_rejected() {
    let d = tmp("badval");
    let p = d.join("g.toml");
    std::fs::write(&p, "name = \"g\"\ndescription = \"d\"\ntargets = [\"t\"]\n[grid]\nmodels = [\"m\"]\nframeworks = [\"fgsm\"]\ninterpreters = [\"cam\"]\nvariants = [\"adv2\"]\n[profiles.smoke]\ndescription = \"s\"\nimages = 2\nbatch = 2\nscale = 0.1\n").unwrap();
    let msg = format!("{:#}", grid::load(&p).unwrap_err());
    assert!(msg.contains("fgsm") && msg.contains("g.toml"), "{msg}");
}

#[test]
fn main_grid_expands_to_distinct_stable_keys() {
    let (_, g) = find_target("table1").unwrap();
    let cells = expand(&g, &g.profiles["cifar"], None).unwrap();
    // RTS cells exist only for models with a trained RTS network (the others are skipped).
    let per_model = |m: &str| {
        let has_rts = advedge_runner::repo::weights_dir().join(format!("rts-{m}.toml")).is_file();
        g.grid.interpreters.iter().filter(|i| has_rts || **i != InterpreterKind::Rts).count()
    };
    let expected: usize = g.grid.models.iter().map(|m| per_model(m) * g.grid.frameworks.len() * g.grid.variants.len()).sum();
    assert_eq!(cells.len(), expected);
    assert!(cells.iter().any(|c| c.interpreter.name() == "MASK" && c.framework == Framework::Stadv));
    let mut keys: Vec<String> = cells.iter().map(|c| c.key()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), cells.len(), "every cell has its own key");
    // the key is a function of the resolved configuration only
    let again = expand(&g, &g.profiles["cifar"], None).unwrap();
    assert_eq!(cells[3].key(), again[3].key());
    // a subset run is a different cell
    let sub = expand(&g, &g.profiles["cifar"], Some(5)).unwrap();
    assert_ne!(cells[0].key(), sub[0].key());
    assert_eq!(sub[0].images, 5);
}

#[test]
fn status_follows_files_and_atomic_writes_leave_no_temporaries() {
    let d = tmp("status");
    let c = Cell::new("resnet20", Framework::Pgd, InterpreterKind::Cam, Variant::AdvEdgePlus, 2, 2, common(0.1, None)).unwrap();
    assert_eq!(status(&d, &c), Status::Pending);
    std::fs::write(d.join(format!("{}.failed", c.stem())), "boom\nmore").unwrap();
    assert_eq!(status(&d, &c), Status::Failed("boom".into()));
    // A CSV without a manifest that vouches for it is damaged, not done.
    let csv = format!("{}\n", advedge_runner::reproduce::store::CSV_HEADER);
    write_atomic(&d.join(format!("{}.csv", c.stem())), csv.as_bytes()).unwrap();
    assert!(matches!(status(&d, &c), Status::Damaged(_)));
    let check = advedge_runner::reproduce::store::FileCheck::of(csv.as_bytes());
    write_atomic(&d.join(format!("{}.json", c.stem())), serde_json::json!({ "images": 0, "csv": check }).to_string().as_bytes()).unwrap();
    assert_eq!(status(&d, &c), Status::Done);
    let leftovers: Vec<_> = std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty());
    assert!(c.stem().starts_with("resnet20_pgd_cam_advedgeplus-"), "{}", c.stem());
}

#[test]
fn rts_reference_override_changes_only_rts_cells() {
    use advedge_attacks::RtsReference;
    let cell = |i: &str, r| Cell::new("resnet20", Framework::Pgd, i.parse().unwrap(), Variant::Adv2, 2, 2, common(0.1, r)).unwrap();
    // A profile's override must not make the Grad/CAM/MASK cells of the same grid stale.
    assert_eq!(cell("cam", None).key(), cell("cam", Some(RtsReference::True)).key());
    // On RTS cells it is part of the resolved config, hence of the key; the spec's default
    // (target, for PGD) spelled out gives the same cell as leaving it unset.
    assert_ne!(cell("rts", None).key(), cell("rts", Some(RtsReference::True)).key());
    assert_eq!(cell("rts", None).key(), cell("rts", Some(RtsReference::Target)).key());
}

#[test]
fn profile_overrides_replace_settings_of_one_framework_and_reject_unknown_keys() {
    let d = tmp("overrides");
    let p = d.join("g.toml");
    let head = "name = \"g\"\ndescription = \"d\"\ntargets = [\"t\"]\n[grid]\nmodels = [\"resnet20\"]\nframeworks = [\"cw\", \"pgd\"]\ninterpreters = [\"cam\"]\nvariants = [\"advedge\"]\n[profiles.a]\ndescription = \"s\"\nimages = 2\nbatch = 2\nscale = 0.1\n";
    std::fs::write(&p, format!("{head}[profiles.b]\ndescription = \"s\"\nimages = 2\nbatch = 2\nscale = 0.1\noverrides = {{ cw = {{ l2_times_batch = false }} }}\n")).unwrap();
    let g = grid::load(&p).unwrap();
    let plain = expand(&g, &g.profiles["a"], None).unwrap();
    let over = expand(&g, &g.profiles["b"], None).unwrap();
    let (AttackConfig::Optim(a), AttackConfig::Optim(b)) = (plain[0].config.config(), over[0].config.config()) else { panic!("cw cells first") };
    assert!(a.l2_times_batch && !b.l2_times_batch, "the override took");
    assert_eq!((a.lr, a.cw_f_weight), (b.lr, b.cw_f_weight), "nothing else changed");
    assert_ne!(plain[0].key(), over[0].key(), "an overridden cell is another cell");
    assert_eq!(plain[1].key(), over[1].key(), "the PGD cell has no override and keeps its key");
    // A misspelt setting is named (run and collect add the file and profile).
    std::fs::write(&p, format!("{head}overrides = {{ cw = {{ l2_times_batc = false }} }}\n")).unwrap();
    let g = grid::load(&p).unwrap();
    let msg = format!("{:#}", expand(&g, &g.profiles["a"], None).unwrap_err());
    assert!(msg.contains("l2_times_batc") && msg.contains("overrides.cw"), "{msg}");
    // A value of the wrong type too.
    std::fs::write(&p, format!("{head}overrides = {{ cw = {{ l2_times_batch = \"no\" }} }}\n")).unwrap();
    let g = grid::load(&p).unwrap();
    let msg = format!("{:#}", expand(&g, &g.profiles["a"], None).unwrap_err());
    assert!(msg.contains("overrides.cw") && msg.contains("bool"), "{msg}");
}

#[test]
fn mask_map_iters_shortens_only_the_mask_cells_maps() {
    use advedge_interpreters::Interpreter;
    let (_, g) = find_target("table1").unwrap();
    let base = g.profiles["cifar"].clone();
    let short = grid::Profile { mask_map_iters: Some(7), ..base.clone() };
    let (a, b) = (expand(&g, &base, None).unwrap(), expand(&g, &short, None).unwrap());
    assert_eq!(a.len(), b.len());
    let mut masks = 0;
    for (x, y) in a.iter().zip(&b) {
        match (&x.interpreter, &y.interpreter) {
            (Interpreter::Mask(mx), Interpreter::Mask(my)) => {
                masks += 1;
                // unset = the spec's (v1 for PGD: 500, v2 for C&W / StAdv: 300); set = the profile's
                let spec = if x.framework == Framework::Pgd { 500 } else { 300 };
                assert_eq!((mx.iters, my.iters), (spec, 7), "{}", x.id());
                assert_ne!(x.key(), y.key(), "{}", x.id());
            }
            _ => assert_eq!(x.key(), y.key(), "{} must keep its key", x.id()),
        }
    }
    assert!(masks > 0);
    // zero iterations is refused when the grid file is read
    let d = tmp("maskiters");
    let p = d.join("g.toml");
    std::fs::write(&p, "name = \"g\"\ndescription = \"d\"\ntargets = [\"t\"]\n[grid]\nmodels = [\"m\"]\nframeworks = [\"pgd\"]\ninterpreters = [\"mask\"]\nvariants = [\"adv2\"]\n[profiles.smoke]\ndescription = \"s\"\nimages = 2\nbatch = 2\nscale = 0.1\nmask_map_iters = 0\n").unwrap();
    let msg = format!("{:#}", grid::load(&p).unwrap_err());
    assert!(msg.contains("mask_map_iters") && msg.contains("g.toml"), "{msg}");
}
