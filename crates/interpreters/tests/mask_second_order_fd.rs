//! The explicit MASK gradient ∂L/∂m is itself differentiable in the image, and its image
//! gradient (what the bi-level MASK attack follows, spec 5.4) matches central finite differences
//! in f64. Own test binary: f64 must be configured before any tensor exists.
use advedge_interpreters::mask::{mask_grad_explicit, regulariser_grad, MaskConfig};
use advedge_models::{tensor_io, ArchConfig};
use burn::module::Module;
use burn::tensor::{Device, Distribution, FloatDType, Tensor};

fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()[0]
}

#[test]
fn image_gradient_of_the_mask_gradient_matches_finite_differences_f64() {
    let mut dev = Device::flex();
    dev.configure(FloatDType::F64).expect("f64 on flex");
    let ad = dev.clone().autodiff();
    ad.seed(12);
    let m = ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }.init(&ad);
    for _ in 0..3 {
        let _ = m.forward(Tensor::<4>::random([8, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &ad));
    }
    let model = m.valid();
    let mad = model.clone().to_device(&ad).freeze();
    let cfg = MaskConfig::v1_cifar();
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(0.1, 0.9), &dev);
    let mask = Tensor::<4>::random([2, 1, 8, 8], Distribution::Uniform(0.1, 0.9), &dev);
    let w = Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
    let cls = tensor_io::labels(&[4, 9], &dev);
    let reg = regulariser_grad(mask.clone(), &cfg);
    // f(x) = Σ w ⊙ ∂L/∂m (x)
    let f = |xx: Tensor<4>| scalar((mask_grad_explicit(&model, mask.clone(), xx, cls.clone(), &cfg, reg.clone(), (0, 0)).0 * w.clone()).sum());
    let xa = x.clone().autodiff().require_grad();
    let (g, _) = mask_grad_explicit(&mad, mask.clone().autodiff(), xa.clone(), cls.clone().to_device(&ad), &cfg, reg.clone().autodiff(), (0, 0));
    let dx = xa.grad(&(g * w.clone().autodiff()).sum().backward()).unwrap();
    for seed in 0..3u64 {
        dev.seed(200 + seed);
        let v = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &dev);
        let analytic = scalar((dx.clone() * v.clone()).sum());
        let h = 1e-6;
        let fd = (f(x.clone() + v.clone() * h) - f(x.clone() - v.clone() * h)) / (2.0 * h);
        let rel = (analytic - fd).abs() / fd.abs().max(1e-12);
        eprintln!("direction {seed}: autodiff {analytic:.6e} FD {fd:.6e} rel {rel:.2e}");
        assert!(rel <= 1e-3, "direction {seed}: autodiff {analytic} vs FD {fd} (rel {rel})");
    }
}
