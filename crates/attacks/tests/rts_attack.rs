//! The RTS attacks (spec 5.3, 6, 7) on a tiny classifier with a small untrained RTS network:
//! every framework x variant runs, metrics use the true-class map, and the interpretation term
//! pulls the adversarial map towards its reference (the target-class map, or the true-class map
//! with `RtsReference::True`).
use advedge_attacks::optim_attack::{self, Kind, OptimConfig};
use advedge_attacks::pgd::{self, PgdConfig};
use advedge_attacks::{AttackBatch, RtsReference, Variant};
use advedge_interpreters::rts::{RtsNet, RtsSpec};
use advedge_interpreters::rts::encoder_channels;
use advedge_interpreters::rts_train::save_net;
use advedge_interpreters::Interpreter;
use advedge_models::{tensor_io, ArchConfig, Classifier};
use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};

fn l1_mean(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).sum::<f64>() / a.len() as f64
}

fn setup(tag: &str) -> (Classifier, Interpreter, AttackBatch) {
    let ad = Device::flex().autodiff();
    ad.seed(5);
    let m = ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }.init(&ad);
    for _ in 0..2 {
        let _ = m.forward(Tensor::<4>::random([8, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &ad));
    }
    let m = m.valid();
    let dev = Device::flex();
    dev.seed(6);
    let net = RtsNet::new(10, &encoder_channels(&m, &dev, 2), &[8, 8], &dev);
    let path = std::env::temp_dir().join(format!("advedge-rts-attack-{}-{tag}.safetensors", std::process::id()));
    save_net(&net, &path).unwrap();
    let spec = RtsSpec { name: "test".into(), fingerprint: "none".into(), widths: vec![8, 8], kappa: 0.0, path };
    let root = advedge_data::resolve_data_root("cifar10").unwrap();
    let entries = advedge_data::list_image_folder(&root.join("cifar10"), "test").unwrap();
    let idx = [3usize, 4000];
    let pick: Vec<_> = idx.iter().map(|&i| entries[i].clone()).collect();
    let ds = advedge_data::Dataset::decode(pick, &advedge_data::DecodeOptions { resize: advedge_data::Resize::Exact(32, 32), skip_bad: false }).unwrap();
    let (images, labels) = ds.batch_f32(&[0, 1]);
    (m, Interpreter::Rts(spec), AttackBatch { images, labels, indices: idx.to_vec(), height: 32, width: 32, targets: None })
}

#[test]
fn rts_attacks_run_in_every_framework() {
    let (m, interp, batch) = setup("all");
    let dev = Device::flex();
    let benign_y = tensor_io::to_vec(interp.explain(&m, tensor_io::images(batch.images.clone(), 2, 32, 32, &dev), tensor_io::labels(&batch.labels, &dev)));
    for v in Variant::ALL {
        let outs = [
            pgd::run(&m, &interp, v, &PgdConfig::paper(&interp, v).scaled(0.01), &batch),
            optim_attack::run(&m, &interp, v, &OptimConfig::paper(Kind::Cw, &interp).scaled(0.01), &batch),
            optim_attack::run(&m, &interp, v, &OptimConfig::paper(Kind::Stadv, &interp).scaled(0.01), &batch),
        ];
        for out in outs {
            for (j, o) in out.iter().enumerate() {
                assert_eq!(o.map_hw, [32, 32]);
                assert!(o.failure.is_none() && o.adversarial.iter().all(|v| v.is_finite()));
                // metrics compare with the benign map of the true class
                assert_eq!(o.benign_map, benign_y[j * 1024..(j + 1) * 1024].to_vec(), "{v:?}");
            }
        }
    }
}

/// Mean L1 of the adversarial maps to the benign map of class `reference_of(target, label)`, for
/// PGD ADV2 (with the RTS term aimed by `reference`) and the plain attack on the same budget.
fn pull(tag: &str, reference: RtsReference, toward_target: bool) -> [f64; 2] {
    let (m, interp, batch) = setup(tag);
    let dev = Device::flex();
    let x0 = tensor_io::images(batch.images.clone(), 2, 32, 32, &dev);
    // Same budget, same warm-up; ADV2's phase 2 has the RTS term, the plain attack does not.
    let mut cfg = PgdConfig::paper(&interp, Variant::Adv2).scaled(0.05);
    cfg.rts_reference = reference;
    let with = pgd::run(&m, &interp, Variant::Adv2, &cfg, &batch);
    let without = pgd::run(&m, &interp, Variant::Plain, &cfg, &batch);
    let mut d = [0.0f64; 2];
    for (k, out) in [&with, &without].into_iter().enumerate() {
        let classes: Vec<u32> = if toward_target { out.iter().map(|o| o.target).collect() } else { batch.labels.clone() };
        let r = tensor_io::to_vec(interp.explain(&m, x0.clone(), tensor_io::labels(&classes, &dev)));
        for (j, o) in out.iter().enumerate() {
            d[k] += l1_mean(&o.adversarial_map, &r[j * 1024..(j + 1) * 1024]) / 2.0;
        }
    }
    d
}

#[test]
fn rts_interpretation_term_pulls_the_map_to_the_target_class_reference() {
    let d = pull("pull-t", RtsReference::Target, true);
    eprintln!("L1 to the g(x; t) reference: with RTS term {:.4}, plain {:.4}", d[0], d[1]);
    assert!(d[0] < d[1], "the RTS term did not bring the map closer: {d:?}");
}

#[test]
fn rts_reference_true_pulls_the_map_to_the_true_class_map() {
    let d = pull("pull-y", RtsReference::True, false);
    eprintln!("L1 to the g(x; y) reference: with RTS term {:.4}, plain {:.4}", d[0], d[1]);
    assert!(d[0] < d[1], "the RTS term did not bring the map closer to g(x; y): {d:?}");
}

#[test]
fn rts_reference_defaults_follow_the_spec_and_keep_old_keys() {
    let (_, interp, _) = setup("keys");
    // PGD and C&W aim at g(x; t), the serde default, which is left out of the JSON (cell keys made
    // before the field existed stay valid); StAdv ([A2]) aims at g(x; y).
    let p = serde_json::to_string(&PgdConfig::paper(&interp, Variant::AdvEdge)).unwrap();
    let c = serde_json::to_string(&OptimConfig::paper(Kind::Cw, &interp)).unwrap();
    let s = OptimConfig::paper(Kind::Stadv, &interp);
    let cam = serde_json::to_string(&OptimConfig::paper(Kind::Stadv, &Interpreter::Cam)).unwrap();
    assert!(!p.contains("rts_reference") && !c.contains("rts_reference") && !cam.contains("rts_reference"), "{p}");
    assert_eq!(s.rts_reference, RtsReference::True);
    assert!(serde_json::to_string(&s).unwrap().contains(r#""rts_reference":"true""#));
    let back: OptimConfig = serde_json::from_str(&c).unwrap();
    assert_eq!(back.rts_reference, RtsReference::Target);
}
