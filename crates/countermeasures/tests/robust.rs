//! The Table VII objective and evaluation on the committed tiny CIFAR ResNet (fixture of the
//! interpreters crate): the discrepancy vanishes for identical inputs, the inner PGD finds a
//! larger one than its random start, and the evaluation's eps = 0 column is the clean accuracy.
use advedge_countermeasures::robust::{discrepancy, evaluate, CamRobust, RobustEval};
use advedge_models::train::Objective;
use advedge_models::{tensor_io, Classifier, ModelCard};
use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use std::path::Path;

fn tiny(dev: &Device) -> Classifier {
    let card_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interpreters/tests/fixtures/tiny.toml");
    let card = ModelCard::load(&card_path).unwrap();
    tensor_io::load_weights(&card.architecture, &card.weights_path(&card_path), dev).unwrap()
}

fn mean(t: Tensor<1>) -> f32 {
    tensor_io::to_vec(t.mean())[0]
}

#[test]
fn discrepancy_and_inner_maximisation() {
    let dev = Device::flex();
    dev.seed(5);
    let m = tiny(&dev);
    let x = Tensor::<4>::random([6, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev);
    let y = tensor_io::labels(&[0, 1, 2, 3, 4, 5], &dev);
    assert!(mean(discrepancy(&m, x.clone(), x.clone(), y.clone())).abs() < 1e-6, "D(x, x) must be 0");
    let eps = 8.0 / 255.0;
    let noisy = (x.clone() + Tensor::<4>::random(x.dims(), Distribution::Uniform(-eps, eps), &dev)).clamp(0.0, 1.0);
    let d_rand = mean(discrepancy(&m, x.clone(), noisy, y.clone()));
    // The objective's inner PGD (through `loss`) must find a worse x' than random noise: compare
    // the AT loss minus the cross-entropy, i.e. gamma * D at the PGD point, with D at random.
    let ad = dev.clone().autodiff();
    let mad = m.clone().to_device(&ad).freeze();
    let (xa, ya) = (x.clone().to_device(&ad), y.clone().to_device(&ad));
    let at = CamRobust { gamma: 1.0, eps, steps: 3, alpha: eps / 2.0 };
    let nt = CamRobust { gamma: 0.0, ..at.clone() };
    let d_pgd = tensor_io::to_vec(at.loss(&mad, xa.clone(), ya.clone(), mad.features(xa.clone())) - nt.loss(&mad, xa.clone(), ya, mad.features(xa)))[0];
    eprintln!("D at random start {d_rand:.4}, D after 3 PGD steps {d_pgd:.4}");
    assert!(d_pgd > d_rand, "PGD {d_pgd} vs random {d_rand}");
    assert_ne!(at.tag(), nt.tag(), "checkpoints must tell the objectives apart");
}

#[test]
fn evaluation_eps_zero_is_clean_accuracy() {
    let dev = Device::flex();
    dev.seed(6);
    let m = tiny(&dev);
    let n = 8;
    let x = tensor_io::to_vec(Tensor::<4>::random([n, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev));
    let pred = tensor_io::to_vec_int(m.forward(tensor_io::images(x.clone(), n, 32, 32, &dev)).argmax(1).flatten::<1>(0, 1));
    // Labels: the prediction for half of the images, another class for the rest: clean acc 0.5.
    let labels: Vec<u32> = pred.iter().enumerate().map(|(i, &p)| if i % 2 == 0 { p as u32 } else { (p as u32 + 1) % 10 }).collect();
    let one = RobustEval { steps: 3, restarts: 1, step_factors: vec![2.5], batch: 4, seed: 0 };
    let pts = evaluate(&m, &x, &labels, 32, &[0.0, 8.0], &one);
    assert_eq!(pts[0].accuracy, 0.5);
    assert_eq!(pts[0].correct.iter().filter(|c| **c).count(), 4);
    assert!(pts[0].kendall_tau.is_none());
    assert!(pts[1].accuracy <= 0.5, "PGD cannot raise accuracy: {}", pts[1].accuracy);
    let tau = pts[1].kendall_tau.expect("tau at eps > 0");
    assert!((-1.0..1.0).contains(&tau), "tau {tau} must be in [-1, 1) after an attack on the map");
}

/// Each image keeps its worst outcome over restarts and step sizes: adding attacks can only lower
/// its correctness and its tau, and the first schedule's outcomes do not depend on the batch size
/// (the random starts are drawn per image).
#[test]
fn worst_case_over_schedules_and_batch_independent() {
    let dev = Device::flex();
    dev.seed(7);
    let m = tiny(&dev);
    let n = 6;
    let x = tensor_io::to_vec(Tensor::<4>::random([n, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev));
    let labels: Vec<u32> = tensor_io::to_vec_int(m.forward(tensor_io::images(x.clone(), n, 32, 32, &dev)).argmax(1).flatten::<1>(0, 1)).iter().map(|&p| p as u32).collect();
    let one = RobustEval { steps: 2, restarts: 1, step_factors: vec![2.5], batch: 6, seed: 3 };
    let single = &evaluate(&m, &x, &labels, 32, &[2.0], &one)[0];
    let split = &evaluate(&m, &x, &labels, 32, &[2.0], &RobustEval { batch: 4, ..one.clone() })[0];
    assert_eq!(single.correct, split.correct);
    for (a, b) in single.taus.iter().zip(&split.taus) {
        assert!((a - b).abs() < 1e-6, "tau {a} at batch 6 vs {b} at batch 4");
    }
    let worst = &evaluate(&m, &x, &labels, 32, &[2.0], &RobustEval { restarts: 2, step_factors: vec![2.5, 1.0], ..one })[0];
    for i in 0..n {
        assert!(!worst.correct[i] || single.correct[i], "image {i}: more attacks made it correct");
        assert!(worst.taus[i] <= single.taus[i] + 1e-9, "image {i}: tau {} > {}", worst.taus[i], single.taus[i]);
    }
    let (lo, hi) = worst.accuracy_ci;
    assert!(lo <= worst.accuracy && worst.accuracy <= hi);
}
