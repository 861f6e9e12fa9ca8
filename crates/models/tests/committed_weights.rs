//! The committed classifier weights load and classify real CIFAR-10 test images.
use advedge_models::train::evaluate;
use advedge_models::{tensor_io, ModelCard};
use burn::tensor::Device;
use std::path::Path;

fn check_committed(name: &str) {
    let card_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../data/weights/{name}.toml"));
    let card = ModelCard::load(&card_path).unwrap_or_else(|e| panic!("data/weights/{name}.toml is committed: {e}"));
    assert!(card.test_accuracy >= 0.85, "{name}: card accuracy {} below the 85 % target", card.test_accuracy);
    assert_eq!(card.test_images, 10_000, "the card's accuracy is on the whole test set");
    let dev = Device::flex();
    let model = tensor_io::load_weights(&card.architecture, &card.weights_path(&card_path), &dev).unwrap();
    let test = advedge_data::load_cifar10("test", false).unwrap();
    let few = test.subset(&test.spread_indices(300));
    let (correct, n) = evaluate(&model, &few, 100, &dev);
    let acc = correct as f64 / n as f64;
    // 300 class-balanced images: binomial std ~ 2%; allow 6% below the card's full-test accuracy.
    assert!(acc >= card.test_accuracy - 0.06, "accuracy {acc} on {n} images vs card {}", card.test_accuracy);
    assert!(acc > 0.5, "{acc}");
}

#[test]
fn committed_resnet20_loads_and_classifies() {
    check_committed("resnet20");
}

#[test]
fn committed_densenet38_loads_and_classifies() {
    check_committed("densenet38");
}
