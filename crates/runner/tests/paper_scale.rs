//! Paper-scale plumbing that needs no weights: device selection, the data source a card implies,
//! and the committed torchvision cards.
use advedge_models::{ArchConfig, ModelCard};
use advedge_runner::data_source::DataSource;
use advedge_runner::repo;

#[test]
fn device_selection_validates_names() {
    let e = repo::select_device("gpu").unwrap_err().to_string();
    assert!(e.contains("unknown device `gpu`"), "{e}");
    if !cfg!(feature = "cuda") {
        let e = repo::select_device("cuda:1").unwrap_err().to_string();
        assert!(e.contains("`cuda` feature"), "{e}");
    }
    let e = repo::select_device("cpu,cpu").unwrap_err().to_string();
    assert!(e.contains("bad device list"), "{e}");
    repo::select_device("cpu").unwrap();
    assert_eq!(repo::device_count(), 1);
    assert_eq!(repo::device_name(), "cpu (burn-flex)");
}

#[test]
fn committed_torchvision_cards_select_imagenet_settings() {
    let dir = repo::root().join("data/weights");
    for (name, depth) in [("resnet50", "ResNet-50"), ("densenet169", "DenseNet-169")] {
        let card = ModelCard::load(&dir.join(format!("{name}.toml"))).expect("card parses");
        assert!(card.architecture.is_torchvision());
        assert!(card.architecture.describe().starts_with(depth), "{}", card.architecture.describe());
        assert!(card.weights_file.ends_with(".pth"));
        let data = DataSource::for_arch(&card.architecture);
        assert_eq!(data, DataSource::ImagenetSamples);
        assert_eq!((data.side(), data.grad_pool()), (224, 4));
        assert_eq!(data.mask(false).mask_size, 28);
        assert_eq!(data.mask(true).v2.as_ref().map(|v| v.resize_to), Some(228));
    }
    let cifar = ArchConfig::Resnet { depth: 20, width: 16, num_classes: 10 };
    assert_eq!(DataSource::for_arch(&cifar).side(), 32);
}

/// An RTS network is refused for classifier weights other than the ones it was trained on.
#[test]
fn rts_network_trained_on_other_weights_is_refused() {
    let src = repo::root().join("data/weights");
    let dir = std::env::temp_dir().join(format!("advedge-rts-stale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["resnet20.toml", "resnet20.safetensors", "rts-resnet20.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let card = std::fs::read_to_string(src.join("rts-resnet20.toml")).unwrap();
    let card: String = card.lines().filter(|l| !l.starts_with("classifier_weights")).collect::<Vec<_>>().join("\n");
    let with = |fp: &str| card.replacen("[config]", &format!("classifier_weights = \"{fp}\"\n\n[config]"), 1);
    std::fs::write(dir.join("rts-resnet20.toml"), with("0000000000000000")).unwrap();
    let e = advedge_runner::names::parse_interpreter("rts", "resnet20", &dir).unwrap_err().to_string();
    assert!(e.contains("trained on other weights") && e.contains("train-rts"), "{e}");
    std::fs::write(dir.join("rts-resnet20.toml"), with(&repo::model_fingerprint_in("resnet20", &dir))).unwrap();
    advedge_runner::names::parse_interpreter("rts", "resnet20", &dir).expect("matching weights are accepted");
    // A truncated weights file is named before any cell runs (it used to panic inside one).
    let w = dir.join("rts-resnet20.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    let e = advedge_runner::names::parse_interpreter("rts", "resnet20", &dir).unwrap_err().to_string();
    assert!(e.contains("rts-resnet20.safetensors") && e.contains("not a usable safetensors file"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `cuda` build stays offline only while cubecl-llvm resolves to the stand-in in
/// patches/cubecl-llvm: a registry cubecl-llvm (a `cargo update`, or the `[patch]` entry gone)
/// brings back tracel-llvm-bundler, whose build script downloads LLVM. Read from Cargo.lock, which
/// records the graph of every feature, the cuda one included.
#[test]
fn cuda_graph_has_no_llvm_download() {
    let lock = std::fs::read_to_string(repo::root().join("Cargo.lock")).expect("Cargo.lock");
    let packages: Vec<&str> = lock.split("[[package]]").collect();
    let entry = |name: &str| packages.iter().find(|p| p.contains(&format!("name = \"{name}\"\n"))).copied();
    for gone in ["tracel-llvm-bundler", "llvm-sys", "pliron-llvm"] {
        assert!(entry(gone).is_none(), "{gone} is back in Cargo.lock: the cuda build would need internet");
    }
    let llvm = entry("cubecl-llvm").expect("cubecl-llvm (cubecl-cuda's dependency) in Cargo.lock");
    assert!(!llvm.contains("source ="), "cubecl-llvm comes from a registry, not patches/cubecl-llvm:{llvm}");
    let cuda = entry("cubecl-cuda").expect("cubecl-cuda in Cargo.lock");
    assert!(cuda.contains("\"cubecl-llvm\""), "{cuda}");
    assert!(repo::root().join("patches/cubecl-llvm/Cargo.toml").is_file());
}
