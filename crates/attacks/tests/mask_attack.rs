//! PGD × MASK (bi-level, spec 5.4) on the committed ResNet-20 and two real CIFAR images, at a
//! heavily shortened schedule: the variants run, stay in the ε-ball, succeed, and return 8-bit
//! images with their quantised MASK maps. (A random tiny network is not attackable in so few
//! steps, so the trained weights are used.) A killed run resumes from its mid-batch snapshot.
use advedge_attacks::optim_attack::OptimConfig;
use advedge_attacks::pgd::PgdConfig;
use advedge_attacks::snapshot::Checkpoint;
use advedge_attacks::{AttackBatch, AttackConfig, ImageOutcome, Variant};
use advedge_interpreters::mask::MaskConfig;
use advedge_interpreters::Interpreter;
use advedge_models::{tensor_io, ModelCard};
use burn::tensor::Device;
use std::time::Duration;

/// PGD through the one attack entry (which picks the bi-level MASK loop).
fn run(m: &advedge_models::Classifier, interp: &Interpreter, v: Variant, cfg: &PgdConfig, batch: &AttackBatch) -> Vec<ImageOutcome> {
    run_with(m, interp, v, cfg, batch, None)
}
fn run_with(m: &advedge_models::Classifier, interp: &Interpreter, v: Variant, cfg: &PgdConfig, batch: &AttackBatch, ck: Option<&Checkpoint>) -> Vec<ImageOutcome> {
    advedge_attacks::run(m, interp, v, &AttackConfig::Pgd(cfg.clone()).check().unwrap(), batch, ck)
}
/// C&W or StAdv through the one attack entry.
fn run_optim(m: &advedge_models::Classifier, interp: &Interpreter, v: Variant, cfg: &OptimConfig, batch: &AttackBatch, ck: Option<&Checkpoint>) -> Vec<ImageOutcome> {
    advedge_attacks::run(m, interp, v, &AttackConfig::Optim(cfg.clone()).check().unwrap(), batch, ck)
}

/// The committed ResNet-20 and two real CIFAR-10 test images.
fn resnet20_and_two_images() -> (advedge_models::Classifier, AttackBatch) {
    let card_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/weights/resnet20.toml");
    let card = ModelCard::load(&card_path).unwrap();
    let m = tensor_io::load_weights(&card.architecture, &card.weights_path(&card_path), &Device::flex()).unwrap();
    let root = advedge_data::resolve_data_root("cifar10").unwrap();
    let entries = advedge_data::list_image_folder(&root.join("cifar10"), "test").unwrap();
    let idx = [10usize, 5005];
    let pick: Vec<_> = idx.iter().map(|&i| entries[i].clone()).collect();
    let ds = advedge_data::Dataset::decode(pick, &advedge_data::DecodeOptions { resize: advedge_data::Resize::Exact(32, 32), skip_bad: false }).unwrap();
    let (images, labels) = ds.batch_f32(&[0, 1]);
    let batch = AttackBatch { images, labels, indices: idx.to_vec(), height: 32, width: 32, targets: None };
    (m, batch)
}

#[test]
fn pgd_mask_runs_and_returns_quantised_successes() {
    let (m, batch) = resnet20_and_two_images();
    let interp = Interpreter::Mask(MaskConfig { iters: 20, ..MaskConfig::v1_cifar() });
    let mut successes = 0;
    // ADV2 is the AdvEdge code path with W = 1.
    for v in [Variant::Plain, Variant::AdvEdge, Variant::AdvEdgePlus] {
        // 400 -> 20 warm-up steps, 1000 -> 10 outer iterations with a refresh every 5.
        let mut cfg = PgdConfig::paper(&interp, v).scaled(0.05);
        cfg.warmup_iters = 20;
        cfg.mask.as_mut().unwrap().outer_iters = 10;
        cfg.mask.as_mut().unwrap().refresh_iters = 20;
        let out = run(&m, &interp, v, &cfg, &batch);
        assert_eq!(out.len(), 2);
        for (j, o) in out.iter().enumerate() {
            assert!(o.failure.is_none(), "{v:?}: {:?}", o.failure);
            assert_eq!(o.map_hw, [8, 8]);
            assert!(o.adversarial_map.iter().all(|v| (0.0..=1.0).contains(v)));
            let linf = o.adversarial.iter().zip(&batch.images[j * 3072..]).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            // quantisation (floor to 1/255) may move a pixel by < 1/255 beyond the ball
            assert!(linf <= 0.031 + 1.0 / 255.0 + 1e-6, "{v:?}: L-inf {linf}");
            if o.success {
                successes += 1;
                if v != Variant::Plain {
                    assert!(o.adversarial.iter().all(|p| ((p * 255.0) - (p * 255.0).round()).abs() < 1e-3), "{v:?}: stored image is not 8-bit");
                }
            }
        }
    }
    eprintln!("successes: {successes} of 6");
    assert!(successes >= 3, "only {successes} of 6 attacks succeeded");
}

#[test]
fn cw_and_stadv_mask_run_and_store_quantised_successes() {
    use advedge_attacks::optim_attack::Kind;
    let (m, batch) = resnet20_and_two_images();
    let interp = Interpreter::Mask(MaskConfig { iters: 20, ..MaskConfig::v2_cifar() });
    let mut successes = 0;
    for kind in [Kind::Cw, Kind::Stadv] {
        for v in [Variant::Plain, Variant::AdvEdge] {
            // 400 -> 100 warm-up steps, 1000 -> 6 outer iterations, a refresh every 3.
            let mut cfg = OptimConfig::paper(kind, &interp).scaled(0.25);
            let mo = cfg.mask.as_mut().unwrap();
            (mo.outer_iters, mo.refresh_every, mo.refresh_iters) = (6, 3, 20);
            let out = run_optim(&m, &interp, v, &cfg, &batch, None);
            for o in &out {
                assert!(o.failure.is_none(), "{kind:?} {v:?}: {:?}", o.failure);
                assert_eq!(o.map_hw, [8, 8]);
                assert!(o.adversarial.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)));
                if o.success {
                    successes += 1;
                    assert!(o.adversarial.iter().all(|p| ((p * 255.0) - (p * 255.0).round()).abs() < 1e-3), "{kind:?} {v:?}: not 8-bit");
                }
            }
        }
    }
    eprintln!("C&W/StAdv MASK successes: {successes} of 8");
    // Deterministic for the committed weights (3 of 8 with the 82.98 % ResNet-20, 4 with the
    // 81.5 % one): the shortened C&W/StAdv schedules reach the target only on some images, and
    // the check that matters here is that successes are stored as 8-bit images with their maps.
    assert!(successes >= 2, "only {successes} of 8");
}

#[test]
fn cw_mask_plain_control_reaches_the_target() {
    // The plain control of C&W x MASK is phase 2 without the map term; phase 1 (L2 + 1e-4 x f)
    // for every step would stay at x.
    use advedge_attacks::optim_attack::Kind;
    let (m, batch) = resnet20_and_two_images();
    let interp = Interpreter::Mask(MaskConfig { iters: 20, ..MaskConfig::v2_cifar() });
    let cfg = OptimConfig::paper(Kind::Cw, &interp).scaled(0.1); // 40 warm-up + 100 outer steps
    let out = run_optim(&m, &interp, Variant::Plain, &cfg, &batch, None);
    for o in &out {
        assert!(o.success, "image {}: plain C&W did not reach target {} ({:?})", o.image_index, o.target, o.failure);
        assert!(o.adversarial.iter().all(|p| ((p * 255.0) - (p * 255.0).round()).abs() < 1e-3), "not 8-bit");
    }
}

/// Run `attack` once uninterrupted, then, for each kill point, kill a checkpointed run right
/// after its `kill`-th save (a panic from the save hook, as a crash would leave it) and rerun it:
/// the rerun must start from the snapshot (it saves only the iterations that were left) and
/// return the same bits as the uninterrupted run.
fn check_resume(name: &str, total: usize, kills: &[usize], attack: &dyn Fn(Option<&Checkpoint>) -> Vec<advedge_attacks::ImageOutcome>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("advedge-resume-{name}-{}", std::process::id()));
    let whole = attack(None);
    for &kill in kills {
        let path = dir.join(format!("kill{kill}.snapshot.json"));
        let ck = Checkpoint::new(&path, Duration::ZERO, "test cell").after_save(move |n| assert!(n != kill, "simulated kill after save {n}"));
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| attack(Some(&ck)))).is_err(), "{name}: the run was not killed");
        let saves = Arc::new(AtomicUsize::new(0));
        let counter = saves.clone();
        let ck = Checkpoint::new(&path, Duration::ZERO, "test cell").after_save(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let resumed = attack(Some(&ck));
        assert_eq!(saves.load(Ordering::SeqCst), total - kill, "{name}, killed after {kill}: the rerun did not start from the snapshot");
        for (a, b) in whole.iter().zip(&resumed) {
            let same = |x: &[f32], y: &[f32]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same(&a.adversarial, &b.adversarial), "{name}, killed after {kill}: image {} differs", a.image_index);
            assert!(same(&a.adversarial_map, &b.adversarial_map) && same(&a.benign_map, &b.benign_map), "{name}, killed after {kill}: maps differ");
            assert_eq!((a.success, a.target_prob.to_bits(), a.iterations), (b.success, b.target_prob.to_bits(), b.iterations), "{name}, killed after {kill}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn killed_mask_attacks_resume_from_their_snapshots_bit_for_bit() {
    use advedge_attacks::optim_attack::Kind;
    let (m, batch) = resnet20_and_two_images();
    // PGD x MASK AdvEdge+: 4 warm-up steps, then 6 outer iterations with a refresh every 3 and
    // the label-smoothing stream; kills in phase 1 (after 2 saves) and in phase 2 (after 7).
    let interp = Interpreter::Mask(MaskConfig { iters: 10, ..MaskConfig::v1_cifar() });
    let mut cfg = PgdConfig::paper(&interp, Variant::AdvEdgePlus);
    cfg.warmup_iters = 4;
    let mp = cfg.mask.as_mut().unwrap();
    (mp.outer_iters, mp.refresh_every, mp.refresh_iters) = (6, 3, 10);
    check_resume("pgd", 10, &[2, 7], &|ck| run_with(&m, &interp, Variant::AdvEdgePlus, &cfg, &batch, ck));
    // C&W x MASK AdvEdge (v2 jitter stream, AMSGrad state) and its plain control.
    let interp = Interpreter::Mask(MaskConfig { iters: 10, ..MaskConfig::v2_cifar() });
    let mut cfg = OptimConfig::paper(Kind::Cw, &interp);
    cfg.warmup_iters = 4;
    let mo = cfg.mask.as_mut().unwrap();
    (mo.outer_iters, mo.refresh_every, mo.refresh_iters) = (5, 2, 10);
    check_resume("cw", 9, &[3, 6], &|ck| run_optim(&m, &interp, Variant::AdvEdge, &cfg, &batch, ck));
    check_resume("cw-plain", 9, &[6], &|ck| run_optim(&m, &interp, Variant::Plain, &cfg, &batch, ck));
}
