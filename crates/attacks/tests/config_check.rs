//! Attack configurations are validated once into a checked form: every setting out of range is
//! an error naming the setting and its value, and the paper's settings of all 48 framework x
//! interpreter x variant combinations pass.
use advedge_attacks::{AttackConfig, AttackError, Framework, Variant};
use advedge_interpreters::mask::MaskConfig;
use advedge_interpreters::{Interpreter, InterpreterKind};

fn interp(k: InterpreterKind) -> Interpreter {
    match k {
        InterpreterKind::Grad => Interpreter::Grad { pool: 2 },
        InterpreterKind::Cam => Interpreter::Cam,
        InterpreterKind::Mask => Interpreter::Mask(MaskConfig::v1_cifar()),
        InterpreterKind::Rts => Interpreter::Rts(advedge_interpreters::rts::RtsSpec { name: "r".into(), fingerprint: "f".into(), widths: vec![8, 8], kappa: 5.0, path: "r".into() }),
    }
}

fn field_of(e: AttackError) -> String {
    match e {
        AttackError::OutOfRange { field, .. } => field,
        other => panic!("not a range error: {other}"),
    }
}

#[test]
fn paper_settings_of_every_combination_pass_at_any_sane_scale() {
    for f in Framework::ALL {
        for k in InterpreterKind::ALL {
            for v in Variant::ALL {
                for s in [1.0, 0.02, 0.001] {
                    let c = AttackConfig::paper(f, &interp(k), v).scaled(s);
                    assert_eq!(c.framework(), f);
                    c.check().unwrap_or_else(|e| panic!("{f} x {k} x {v} at scale {s}: {e}"));
                }
            }
        }
    }
}

#[test]
fn each_bad_setting_is_named_with_its_value() {
    let pgd = |edit: &dyn Fn(&mut advedge_attacks::pgd::PgdConfig)| {
        let AttackConfig::Pgd(mut c) = AttackConfig::paper(Framework::Pgd, &Interpreter::Cam, Variant::AdvEdge) else { unreachable!() };
        edit(&mut c);
        AttackConfig::Pgd(c).check().unwrap_err()
    };
    let e = pgd(&|c| c.eps = -0.1);
    assert_eq!(e.to_string(), "attack setting `eps` = -0.1: must be in (0, 1] (pixel units)");
    assert_eq!(field_of(pgd(&|c| c.select_every = 0)), "select_every");
    assert_eq!(field_of(pgd(&|c| c.alpha = -1.0)), "alpha");
    assert_eq!(field_of(pgd(&|c| c.alpha = f32::NAN)), "alpha");
    assert_eq!(field_of(pgd(&|c| c.soft_tau = 0.0)), "soft_tau");
    assert_eq!(field_of(pgd(&|c| c.select_min_prob = 1.5)), "select_min_prob");
    let optim = |edit: &dyn Fn(&mut advedge_attacks::optim_attack::OptimConfig)| {
        let AttackConfig::Optim(mut c) = AttackConfig::paper(Framework::Cw, &Interpreter::Mask(MaskConfig::v2_cifar()), Variant::AdvEdge) else { unreachable!() };
        edit(&mut c);
        AttackConfig::Optim(c).check().unwrap_err()
    };
    assert_eq!(field_of(optim(&|c| c.lr = -0.01)), "lr");
    assert_eq!(field_of(optim(&|c| c.mask.as_mut().unwrap().outer_lr = 0.0)), "mask.outer_lr");
    assert_eq!(field_of(optim(&|c| c.mask.as_mut().unwrap().refresh_every = 0)), "mask.refresh_every");
}

/// A schedule multiplied by 1e12 would allocate its per-step table and abort the process: it is
/// an error naming the count instead.
#[test]
fn an_absurd_scale_is_an_error_not_an_allocation_failure() {
    let e = AttackConfig::paper(Framework::Pgd, &Interpreter::Grad { pool: 2 }, Variant::AdvEdge).scaled(1e12).check().unwrap_err();
    assert_eq!(field_of(e.clone()), "warmup_iters", "{e}");
    assert!(e.to_string().contains("300000000000000"), "{e}");
}

#[test]
fn names_parse_case_insensitively_and_unknown_ones_list_the_known() {
    assert_eq!("PGD".parse::<Framework>().unwrap(), Framework::Pgd);
    assert_eq!("advedge+".parse::<Variant>().unwrap(), Variant::AdvEdgePlus);
    assert_eq!(Variant::AdvEdgePlus.to_string(), "advedge+");
    let e = "pgdd".parse::<Framework>().unwrap_err().to_string();
    assert_eq!(e, "unknown framework `pgdd` (pgd, cw, stadv)");
    assert!("maskk".parse::<InterpreterKind>().unwrap_err().to_string().contains("`maskk`"));
}
