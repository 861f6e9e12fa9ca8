//! C&W and StAdv building blocks (closed forms) and smoke runs of every variant.
use advedge_attacks::optim_attack::{cw_f, flow_loss, run, tanh_image, tanh_init, warp, Kind, OptimConfig};
use advedge_attacks::{AttackBatch, Variant};
use advedge_interpreters::Interpreter;
use advedge_models::{tensor_io, ArchConfig};
use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor, TensorData};

#[test]
fn tanh_round_trip() {
    let x: Vec<f32> = (0..48).map(|i| i as f32 / 47.0).collect();
    let w = tanh_init(&x);
    assert!(w.iter().all(|v| v.is_finite()), "saturated pixels must stay finite");
    let back = tensor_io::to_vec(tanh_image(Tensor::<4>::from_data(TensorData::new(w, [1, 3, 4, 4]), &Device::flex())));
    for (a, b) in back.iter().zip(&x) {
        assert!((a - b).abs() < 2e-6, "{a} vs {b}");
    }
}

#[test]
fn zero_flow_warp_is_identity_and_integer_flow_shifts() {
    let dev = Device::flex();
    let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Uniform(0.0, 1.0), &dev);
    let same = warp(x.clone(), Tensor::zeros([2, 2, 8, 8], &dev));
    let d = tensor_io::to_vec((same - x.clone()).abs().max());
    assert!(d[0] < 1e-6, "{}", d[0]);
    // flow of +1 column samples the right neighbour (clamped at the border)
    let mut f = vec![0f32; 2 * 2 * 64];
    for b in 0..2 {
        for p in 0..64 {
            f[b * 128 + 64 + p] = 1.0;
        }
    }
    let shifted = tensor_io::to_vec(warp(x.clone(), Tensor::from_data(TensorData::new(f, [2, 2, 8, 8]), &dev)));
    let xv = tensor_io::to_vec(x);
    assert!((shifted[3 * 8 + 2] - xv[3 * 8 + 3]).abs() < 1e-6);
    assert!((shifted[3 * 8 + 7] - xv[3 * 8 + 7]).abs() < 1e-6);
}

#[test]
fn flow_loss_closed_forms() {
    let dev = Device::flex();
    // a constant flow: every diagonal difference is 0 -> 4 * H * W * sqrt(1e-8) per sample
    let l = tensor_io::to_vec(flow_loss(Tensor::<4>::ones([1, 2, 5, 5], &dev) * 0.3));
    assert!((l[0] - 4.0 * 25.0 * 1e-4).abs() < 1e-6, "{}", l[0]);
    // a single spike of height 1 in channel 0 at the centre of a 5x5 zero flow: its 4 diagonal
    // neighbours see it once each and it sees 4 of them: 8 differences of ~1
    let mut v = vec![0f32; 50];
    v[12] = 1.0;
    let l = tensor_io::to_vec(flow_loss(Tensor::<4>::from_data(TensorData::new(v, [1, 2, 5, 5]), &dev)));
    let want = 8.0 * (1.0f64 + 1e-8).sqrt() + (100.0 - 8.0) * 1e-4;
    assert!((l[0] as f64 - want).abs() < 1e-4, "{} vs {want}", l[0]);
}

#[test]
fn cw_f_multiplies_non_targets_by_a_mask() {
    let dev = Device::flex();
    let z = Tensor::<2>::from_data(TensorData::new(vec![-3.0f32, -1.0, -2.0, 1.0, 5.0, 2.0], [2, 3]), &dev);
    let f = tensor_io::to_vec(cw_f(z, tensor_io::labels(&[0, 1], &dev)));
    // sample 0: target -3, others masked to [0,-1,-2] -> max 0 -> f = 3 (the zero slot counts)
    assert_eq!(f[0], 3.0);
    // sample 1: target 5, others [1,0,2] -> 2 - 5 < 0 -> clamped to 0 (kappa = 0)
    assert_eq!(f[1], 0.0);
}

/// A tiny ResNet (batch-norm statistics from two random batches) and CIFAR test images 5 and 6005.
fn tiny_model_and_batch() -> (advedge_models::Classifier, AttackBatch) {
    let ad = Device::flex().autodiff();
    ad.seed(5);
    let m = ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }.init(&ad);
    let _ = m.forward(Tensor::<4>::random([8, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &ad));
    let m = m.valid();
    let root = advedge_data::resolve_data_root("cifar10").unwrap();
    let entries = advedge_data::list_image_folder(&root.join("cifar10"), "test").unwrap();
    let ds = advedge_data::Dataset::decode(vec![entries[5].clone(), entries[6005].clone()], &advedge_data::DecodeOptions { resize: advedge_data::Resize::Exact(32, 32), skip_bad: false }).unwrap();
    let (images, labels) = ds.batch_f32(&[0, 1]);
    (m, AttackBatch { images, labels, indices: vec![5, 6005], height: 32, width: 32, targets: None })
}

#[test]
fn every_variant_runs_in_cw_and_stadv() {
    let (m, batch) = tiny_model_and_batch();
    for kind in [Kind::Cw, Kind::Stadv] {
        for interp in [Interpreter::Cam, Interpreter::Grad { pool: 2 }] {
            for v in Variant::ALL {
                let cfg = OptimConfig::paper(kind, &interp).scaled(0.01);
                let a = run(&m, &interp, v, &cfg, &batch);
                let b = run(&m, &interp, v, &cfg, &batch);
                for (x, y) in a.iter().zip(&b) {
                    assert_eq!(x.adversarial, y.adversarial, "{kind:?} {} {v:?} not deterministic", interp.name());
                    assert!(x.adversarial.iter().all(|p| p.is_finite() && (-1e-6..=1.0 + 1e-6).contains(p)));
                    assert!(x.failure.is_none());
                }
            }
        }
    }
}

#[test]
fn cw_cam_outcome_does_not_depend_on_batch_size() {
    // C&W-CAM's B·L2 quirk (spec 6) uses the authors' batch of 10 as a constant: an image attacked
    // alone must come out as it does inside a batch of two.
    let (m, both) = tiny_model_and_batch();
    let one = AttackBatch { images: both.images[3072..].to_vec(), labels: both.labels[1..].to_vec(), indices: vec![6005], height: 32, width: 32, targets: None };
    let cfg = OptimConfig::paper(Kind::Cw, &Interpreter::Cam).scaled(0.02);
    assert!(cfg.l2_times_batch);
    let a = run(&m, &Interpreter::Cam, Variant::AdvEdge, &cfg, &both);
    let b = run(&m, &Interpreter::Cam, Variant::AdvEdge, &cfg, &one);
    assert_eq!(a[1].target, b[0].target);
    let diff = a[1].adversarial.iter().zip(&b[0].adversarial).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    eprintln!("C&W-CAM batch-size difference (max abs): {diff:e}");
    assert!(diff <= 1e-4, "{diff}");
}
