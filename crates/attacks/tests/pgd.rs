//! PGD unit and smoke tests on a tiny model and real CIFAR test images.
use advedge_attacks::edges::edge_weights;
use advedge_attacks::pgd::{run, signed_step, PgdConfig, Schedule};
use advedge_attacks::{AttackBatch, Variant};
use advedge_interpreters::Interpreter;
use advedge_models::{ArchConfig, Classifier};
use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};

fn tiny_model() -> Classifier {
    let ad = Device::flex().autodiff();
    ad.seed(5);
    let m = ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }.init(&ad);
    for _ in 0..2 {
        let _ = m.forward(Tensor::<4>::random([8, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &ad));
    }
    m.valid()
}

fn cifar_batch(idx: &[usize]) -> AttackBatch {
    let root = advedge_data::resolve_data_root("cifar10").unwrap();
    let entries = advedge_data::list_image_folder(&root.join("cifar10"), "test").unwrap();
    let pick: Vec<_> = idx.iter().map(|&i| entries[i].clone()).collect();
    let ds = advedge_data::Dataset::decode(pick, &advedge_data::DecodeOptions { resize: advedge_data::Resize::Exact(32, 32), skip_bad: false }).unwrap();
    let all: Vec<usize> = (0..ds.len()).collect();
    let (images, labels) = ds.batch_f32(&all);
    AttackBatch { images, labels, indices: idx.to_vec(), height: 32, width: 32, targets: None }
}

#[test]
fn signed_step_projects_and_clips() {
    let hw = 4;
    let x0 = vec![0.0, 0.5, 1.0, 0.02, 0.3, 0.3, 0.3, 0.3, 0.9, 0.9, 0.99, 0.01];
    let mut x = x0.clone();
    let g = vec![1.0, -1.0, -1.0, 1.0, 0.0, 2.0, -3.0, 1.0, 1.0, -1.0, -1.0, 1.0];
    let factor = vec![1.0; hw];
    for _ in 0..20 {
        signed_step(&mut x, &x0, &g, &factor, &[true], hw, 0.01, 0.031, true);
    }
    for (a, b) in x.iter().zip(&x0) {
        assert!((a - b).abs() <= 0.031 + 1e-7, "outside eps-ball: {a} vs {b}");
        assert!((0.0..=1.0).contains(a));
    }
    assert_eq!(x[4], 0.3, "zero gradient leaves the pixel alone");
    // a dead image is not touched
    let mut y = x0.clone();
    signed_step(&mut y, &x0, &g, &factor, &[false], hw, 0.01, 0.031, true);
    assert_eq!(y, x0);
}

fn warmup_only(interp: &Interpreter, v: Variant, iters: usize) -> PgdConfig {
    let mut c = PgdConfig::paper(interp, v);
    c.warmup_iters = iters;
    c.schedule = Schedule::Stages { stages: vec![] };
    c
}

#[test]
fn advedge_plus_leaves_non_edge_pixels_untouched_in_warmup() {
    let m = tiny_model();
    let batch = cifar_batch(&[0, 1500]);
    let out = run(&m, &Interpreter::Cam, Variant::AdvEdgePlus, &warmup_only(&Interpreter::Cam, Variant::AdvEdgePlus, 5), &batch);
    let mut changed = 0;
    for (j, o) in out.iter().enumerate() {
        let x0 = &batch.images[j * 3072..(j + 1) * 3072];
        let w = edge_weights(x0, 32, 32);
        for c in 0..3 {
            for p in 0..1024 {
                let d = o.adversarial[c * 1024 + p] - x0[c * 1024 + p];
                if w[p] <= 0.1 {
                    assert_eq!(d, 0.0, "image {j} pixel {p} is off the edge mask but moved");
                } else if d != 0.0 {
                    changed += 1;
                }
            }
        }
    }
    assert!(changed > 100, "the attack should move edge pixels ({changed})");
}

#[test]
fn advedge_step_is_alpha_times_w() {
    let m = tiny_model();
    let batch = cifar_batch(&[3]);
    let cfg = warmup_only(&Interpreter::Cam, Variant::AdvEdge, 1);
    let out = run(&m, &Interpreter::Cam, Variant::AdvEdge, &cfg, &batch);
    let x0 = &batch.images;
    let w = edge_weights(x0, 32, 32);
    let mut checked = 0;
    for c in 0..3 {
        for p in 0..1024 {
            // The step is a float-level property: check the attack's float result.
            let a = out[0].float.adversarial[c * 1024 + p];
            let d = (a - x0[c * 1024 + p]).abs();
            if d > 0.0 && a > 0.0 && a < 1.0 {
                assert!((d - cfg.alpha * w[p]).abs() < 1e-6, "pixel {p}: step {d} vs alpha*W {}", cfg.alpha * w[p]);
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn every_variant_runs_on_cam_and_grad_deterministically() {
    let m = tiny_model();
    let batch = cifar_batch(&[10, 2020]);
    for interp in [Interpreter::Cam, Interpreter::Grad { pool: 2 }] {
        for v in Variant::ALL {
            let cfg = PgdConfig::paper(&interp, v).scaled(0.01);
            let a = run(&m, &interp, v, &cfg, &batch);
            let b = run(&m, &interp, v, &cfg, &batch);
            assert_eq!(a.len(), 2);
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.adversarial, y.adversarial, "{} {:?} not deterministic", interp.name(), v);
                assert_ne!(x.target, x.label);
                assert!(x.adversarial.iter().all(|v| v.is_finite()));
                assert_eq!(x.benign_map.len(), x.map_hw[0] * x.map_hw[1]);
                assert!(x.failure.is_none());
                let x0 = &batch.images[(x.image_index != 10) as usize * 3072..];
                let linf = |img: &[f32]| img.iter().zip(x0).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
                // The float result stays in the ε-ball; rounding to 8 bits keeps it within 8/255.
                assert!(linf(&x.float.adversarial) <= 0.031 + 1e-6, "{}", linf(&x.float.adversarial));
                assert!(linf(&x.adversarial) <= 8.0 / 255.0 + 1e-6, "{}", linf(&x.adversarial));
            }
        }
    }
}

#[test]
fn outcome_does_not_depend_on_batch_size() {
    let m = tiny_model();
    let both = cifar_batch(&[7, 4242]);
    let one = cifar_batch(&[4242]);
    let cfg = PgdConfig::paper(&Interpreter::Cam, Variant::AdvEdge).scaled(0.02);
    let a = run(&m, &Interpreter::Cam, Variant::AdvEdge, &cfg, &both);
    let b = run(&m, &Interpreter::Cam, Variant::AdvEdge, &cfg, &one);
    assert_eq!(a[1].target, b[0].target);
    let diff = a[1].adversarial.iter().zip(&b[0].adversarial).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    eprintln!("batch-size difference (max abs): {diff:e}");
    assert!(diff <= 1e-5, "{diff}");
}
