//! Logits, Grad and CAM against an independent PyTorch + captum implementation on the same
//! weights and real CIFAR-10 images (fixtures: tools/make_torch_fixtures.py). Tolerance 1e-4.
use advedge_interpreters::Interpreter;
use advedge_models::{tensor_io, ModelCard};
use burn::tensor::Device;
use std::path::Path;

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("torch_{name}.json"))).unwrap()).unwrap();
    let card_path = dir.join(format!("{name}.toml"));
    let card = ModelCard::load(&card_path).unwrap();
    let dev = Device::flex();
    let model = tensor_io::load_weights(&card.architecture, &card.weights_path(&card_path), &dev).unwrap();
    let floats = |k: &str| f[k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect::<Vec<f32>>();
    let x: Vec<f32> = f["images_u8"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as f32 / 255.0).collect();
    let classes: Vec<u32> = f["classes"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let b = classes.len();
    let xt = || tensor_io::images(x.clone(), b, 32, 32, &dev);
    let cls = || tensor_io::labels(&classes, &dev);
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    let logits = tensor_io::to_vec(model.forward(xt()));
    let grad = tensor_io::to_vec(Interpreter::Grad { pool: 2 }.explain(&model, xt(), cls()));
    let cam = tensor_io::to_vec(Interpreter::Cam.explain(&model, xt(), cls()));
    for (what, ours, theirs) in [("logits", &logits, floats("logits")), ("grad", &grad, floats("grad")), ("cam", &cam, floats("cam"))] {
        assert_eq!(ours.len(), theirs.len(), "{name} {what}: size");
        let d = worst(ours, &theirs);
        eprintln!("{name} {what}: max abs diff vs PyTorch {d:.2e}");
        assert!(d <= 1e-4, "{name} {what}: max abs diff {d}");
    }
}

#[test]
fn resnet_matches_pytorch_captum() {
    check("tiny");
}

#[test]
fn densenet_matches_pytorch_captum() {
    check("tiny-densenet");
}
