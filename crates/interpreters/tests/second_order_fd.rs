//! The attack's gradient through the explicit soft-ReLU saliency matches central finite
//! differences in f64. Own test binary: f64 must be configured before any tensor exists.
use advedge_interpreters::grad::grad_map_explicit;
use advedge_interpreters::ReluDeriv;
use advedge_models::{tensor_io, ArchConfig};
use burn::module::Module;
use burn::tensor::{Device, Distribution, FloatDType, Tensor};

fn loss(m: &advedge_models::Classifier, x: Tensor<4>, cls: &[u32], target: Tensor<4>) -> Tensor<1> {
    let classes = tensor_io::labels(cls, &x.device());
    let s = grad_map_explicit(m, x, classes, 2, ReluDeriv::PAPER);
    (s - target).powf_scalar(2.0).sum()
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()[0]
}

fn check(arch: ArchConfig, size: usize, dev: &Device) {
    let ad = dev.clone().autodiff();
    ad.seed(11);
    let m = arch.init(&ad);
    for _ in 0..3 {
        let _ = m.forward(Tensor::<4>::random([8, 3, size, size], Distribution::Uniform(0.0, 1.0), &ad));
    }
    let m = m.valid();
    let x = Tensor::<4>::random([2, 3, size, size], Distribution::Uniform(0.1, 0.9), dev);
    let target = Tensor::<4>::random([2, 1, size / 2, size / 2], Distribution::Uniform(0.0, 1.0), dev);
    let cls = [2, 5];
    let mad = m.clone().to_device(&ad).freeze();
    let xa = x.clone().autodiff().require_grad();
    let l = loss(&mad, xa.clone(), &cls, target.clone().autodiff());
    let g = xa.grad(&l.backward()).unwrap();
    for seed in 0..3u64 {
        dev.seed(100 + seed);
        let v = Tensor::<4>::random([2, 3, size, size], Distribution::Normal(0.0, 1.0), dev);
        let analytic = scalar((g.clone() * v.clone()).sum());
        let h = 1e-6;
        let lp = scalar(loss(&m, x.clone() + v.clone() * h, &cls, target.clone()));
        let lm = scalar(loss(&m, x.clone() - v.clone() * h, &cls, target.clone()));
        let fd = (lp - lm) / (2.0 * h);
        let rel = (analytic - fd).abs() / fd.abs().max(1e-12);
        eprintln!("{}: direction {seed}: autodiff {analytic:.6e} FD {fd:.6e} rel {rel:.2e}", arch.describe());
        assert!(rel <= 1e-3, "{}: direction {seed}: autodiff {analytic} vs FD {fd} (rel {rel})", arch.describe());
    }
}

#[test]
fn second_order_matches_finite_differences_f64() {
    let mut dev = Device::flex();
    dev.configure(FloatDType::F64).expect("f64 on flex");
    check(ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }, 16, &dev);
    check(ArchConfig::Densenet { depth: 10, growth: 4, num_classes: 10, blocks: None }, 16, &dev);
    // torchvision-shaped twins (7x7/2 stem, max pool, bottlenecks / four dense blocks): the
    // smallest input their four stages accept is 32x32.
    check(ArchConfig::TvResnet { layers: vec![1, 1, 1, 1], width: 4, num_classes: 10, block: Default::default() }, 32, &dev);
    check(ArchConfig::TvResnet { layers: vec![1, 1, 1, 1], width: 4, num_classes: 10, block: advedge_models::tv_resnet::BlockKind::Basic }, 32, &dev);
    check(ArchConfig::TvDensenet { blocks: vec![1, 1, 1, 1], growth: 4, init_features: 8, num_classes: 10 }, 32, &dev);
}
