//! The explicit backward graph equals burn's autodiff input gradient (ReLU model, f32) on both
//! architectures, with non-trivial batch-norm statistics.
use advedge_interpreters::backprop::input_gradient;
use advedge_interpreters::ReluDeriv;
use advedge_models::{tensor_io, ArchConfig, Classifier};
use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Distribution, Tensor};

/// A small random model whose BN running statistics are not the identity: training-mode
/// forwards on random data update them.
pub fn small_model(arch: &ArchConfig, seed: u64) -> Classifier {
    let ad = Device::flex().autodiff();
    ad.seed(seed);
    let m = arch.init(&ad);
    for _ in 0..3 {
        let x = Tensor::<4>::random([8, 3, 16, 16], Distribution::Uniform(0.0, 1.0), &ad);
        let _ = m.forward(x);
    }
    m.valid()
}

fn relative(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt();
    num / den
}

fn check(arch: ArchConfig) {
    let dev = Device::flex();
    let m = small_model(&arch, 3);
    let x = Tensor::<4>::random([4, 3, 16, 16], Distribution::Uniform(0.0, 1.0), &dev);
    let classes = tensor_io::labels(&[1, 7, 3, 0], &dev);
    // autodiff reference: d/dx sum_b -log p_{c_b}
    let ad = dev.clone().autodiff();
    let mad = m.clone().to_device(&ad).freeze();
    let xa = x.clone().autodiff().require_grad();
    let lp = log_softmax(mad.forward(xa.clone()), 1);
    let loss = -(lp * classes.clone().to_device(&ad).one_hot(10).float()).sum();
    let g_ref = tensor_io::to_vec(xa.grad(&loss.backward()).unwrap());
    let norm: f64 = g_ref.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    assert!(norm > 1e-3, "reference gradient is (near) zero: {norm}");
    let (_, g) = input_gradient(&m, x, classes, ReluDeriv::Exact);
    let rel = relative(&tensor_io::to_vec(g), &g_ref);
    eprintln!("{}: explicit vs autodiff relative error {rel:.2e}", arch.describe());
    assert!(rel <= 1e-5, "{}: relative error {rel}", arch.describe());
    // The soft derivative must give a different gradient (guards against a vacuous check).
    let (_, gs) = input_gradient(&m, Tensor::<4>::random([4, 3, 16, 16], Distribution::Uniform(0.0, 1.0), &dev), tensor_io::labels(&[1, 7, 3, 0], &dev), ReluDeriv::PAPER);
    assert!(tensor_io::to_vec(gs).iter().all(|v| v.is_finite()));
}

#[test]
fn resnet_explicit_equals_autodiff() {
    check(ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 });
}

#[test]
fn densenet_explicit_equals_autodiff() {
    check(ArchConfig::Densenet { depth: 10, growth: 4, num_classes: 10, blocks: None });
    // Uneven blocks, as the committed densenet38 has ([1, 4, 12]).
    check(ArchConfig::Densenet { depth: 14, growth: 4, num_classes: 10, blocks: Some(vec![1, 2, 2]) });
}

/// Independent reference: torch autograd's d(sum_b CE)/dx on torchvision's own classes (tiny
/// ResNets with bottlenecks and with basic blocks; tiny DenseNet), from `tools/make_torchvision_fixtures.py`.
fn check_torchvision(arch: ArchConfig, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/torchvision");
    let dev = Device::flex();
    let m = tensor_io::load_weights(&arch, &dir.join(format!("{name}.pth")), &dev).expect("weights");
    let t = tensor_io::read_tensors(&dir.join(format!("{name}.io.safetensors"))).expect("fixture");
    let (shape, x) = t["input"].clone();
    let classes: Vec<u32> = t["classes"].1.iter().map(|&c| c as u32).collect();
    let x = tensor_io::images(x, shape[0], shape[2], shape[3], &dev);
    let (_, g) = input_gradient(&m, x, tensor_io::labels(&classes, &dev), ReluDeriv::Exact);
    let rel = relative(&tensor_io::to_vec(g), &t["input_grad"].1);
    eprintln!("{name}: explicit vs torch autograd relative error {rel:.2e}");
    assert!(rel <= 1e-4, "{name}: relative error {rel}");
}

#[test]
fn torchvision_resnet_explicit_equals_torch() {
    check_torchvision(ArchConfig::TvResnet { layers: vec![1, 2, 1, 1], width: 8, num_classes: 10, block: Default::default() }, "tiny_resnet");
}

#[test]
fn torchvision_basic_block_resnet_explicit_equals_torch() {
    let basic = advedge_models::tv_resnet::BlockKind::Basic;
    check_torchvision(ArchConfig::TvResnet { layers: vec![1, 2, 1, 1], width: 8, num_classes: 10, block: basic }, "tiny_resnet_basic");
}

#[test]
fn torchvision_densenet_explicit_equals_torch() {
    check_torchvision(ArchConfig::TvDensenet { blocks: vec![1, 2, 1, 1], growth: 4, init_features: 8, num_classes: 10 }, "tiny_densenet");
}
