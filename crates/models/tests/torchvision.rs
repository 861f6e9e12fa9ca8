//! torchvision parity. References come from `tools/make_torchvision_fixtures.py`, which
//! uses torchvision's own classes: tiny twins (committed) for logits, a zero-filled copy of the full
//! ResNet-50 / DenseNet-169 key lists (and those of ResNet-18/34/101/152, DenseNet-121/161/201) for structure, and the full random-weight models (100 MB,
//! not committed) when `runs/fixtures/torchvision/` holds them.
use advedge_models::tensor_io::{images, read_tensors, to_vec};
use advedge_models::{tensor_io, torchvision, ArchConfig};
use burn::tensor::Device;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torchvision")
}

fn resnet50() -> ArchConfig {
    ArchConfig::TvResnet { layers: vec![3, 4, 6, 3], width: 64, num_classes: 1000, block: Default::default() }
}

fn densenet169() -> ArchConfig {
    ArchConfig::TvDensenet { blocks: vec![6, 12, 32, 32], growth: 32, init_features: 64, num_classes: 1000 }
}

/// Max |ours - torch| / max |torch| over the logits of the fixture's inputs.
fn logits_rel_error(arch: &ArchConfig, weights: &Path, io: &Path) -> f32 {
    let dev = Device::flex();
    let model = tensor_io::load_weights(arch, weights, &dev).expect("load");
    let t = read_tensors(io).expect("io fixture");
    let (shape, x) = t["input"].clone();
    let logits = to_vec(model.forward(images(x, shape[0], shape[2], shape[3], &dev)));
    let want = &t["logits"].1;
    assert_eq!(logits.len(), want.len());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = logits.iter().zip(want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    err / scale
}

#[test]
fn tiny_resnet_pth_matches_torchvision() {
    let arch = ArchConfig::TvResnet { layers: vec![1, 2, 1, 1], width: 8, num_classes: 10, block: Default::default() };
    let f = fixtures();
    let rel = logits_rel_error(&arch, &f.join("tiny_resnet.pth"), &f.join("tiny_resnet.io.safetensors"));
    assert!(rel <= 1e-4, "relative logit error {rel}");
}

#[test]
fn tiny_basic_block_resnet_pth_matches_torchvision() {
    // torchvision's BasicBlock (ResNet-18/34's block) at width 8.
    let arch = ArchConfig::TvResnet { layers: vec![1, 2, 1, 1], width: 8, num_classes: 10, block: advedge_models::tv_resnet::BlockKind::Basic };
    let f = fixtures();
    let rel = logits_rel_error(&arch, &f.join("tiny_resnet_basic.pth"), &f.join("tiny_resnet_basic.io.safetensors"));
    assert!(rel <= 1e-4, "relative logit error {rel}");
}

#[test]
fn tiny_densenet_legacy_pth_matches_torchvision() {
    // Saved in torch's legacy (non-zip) format with the old `norm.1` key spelling.
    let arch = ArchConfig::TvDensenet { blocks: vec![1, 2, 1, 1], growth: 4, init_features: 8, num_classes: 10 };
    let f = fixtures();
    let rel = logits_rel_error(&arch, &f.join("tiny_densenet.pth"), &f.join("tiny_densenet.io.safetensors"));
    assert!(rel <= 1e-4, "relative logit error {rel}");
}

/// Writes a safetensors file holding zeros under every key of the torchvision state dict listed in
/// `<name>.keys.json`, then loads it through the same remapping as a real `.pth`.
fn structural(name: &str, arch: ArchConfig) {
    use safetensors::tensor::{Dtype, TensorView};
    let keys: Vec<(String, Vec<usize>, String)> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join(format!("{name}.keys.json"))).unwrap()).unwrap();
    let buffers: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = keys
        .iter()
        .map(|(k, shape, dtype)| {
            let n: usize = shape.iter().product();
            let (dt, width) = match dtype.as_str() {
                "float32" => (Dtype::F32, 4),
                "int64" => (Dtype::I64, 8),
                other => panic!("unexpected dtype {other} for {k}"),
            };
            (k.clone(), shape.clone(), dt, vec![0u8; n * width])
        })
        .collect();
    let views: Vec<(String, TensorView)> =
        buffers.iter().map(|(k, s, dt, b)| (k.clone(), TensorView::new(*dt, s.clone(), b).unwrap())).collect();
    let dir = std::env::temp_dir().join(format!("advedge-structural-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.safetensors"));
    safetensors::serialize_to_file(views, None, &path).unwrap();
    let mut model = arch.init(&Device::flex());
    let report = torchvision::load_into(&mut model, &arch, &path);
    std::fs::remove_dir_all(&dir).ok();
    let report = report.expect("every tensor consumed with the right shape");
    let bn_counters = keys.iter().filter(|(k, ..)| k.ends_with("num_batches_tracked")).count();
    assert_eq!(report.applied, keys.len() - bn_counters, "applied tensors");
    assert_eq!(report.unused.len(), bn_counters, "only num_batches_tracked may stay unused: {:?}", report.unused);
}

#[test]
fn resnet50_state_dict_structure() {
    structural("resnet50", resnet50());
}

#[test]
fn densenet169_state_dict_structure() {
    structural("densenet169", densenet169());
}

/// The other members of the families: the same architectures at other depths and widths load
/// every tensor of torchvision's own state dicts (key lists from torchvision 0.29).
#[test]
fn family_state_dict_structures() {
    let resnet = |layers: Vec<usize>| ArchConfig::TvResnet { layers, width: 64, num_classes: 1000, block: Default::default() };
    let basic = |layers: Vec<usize>| ArchConfig::TvResnet { layers, width: 64, num_classes: 1000, block: advedge_models::tv_resnet::BlockKind::Basic };
    structural("resnet18", basic(vec![2, 2, 2, 2]));
    structural("resnet34", basic(vec![3, 4, 6, 3]));
    let densenet = |blocks: Vec<usize>, growth: usize, init_features: usize| ArchConfig::TvDensenet { blocks, growth, init_features, num_classes: 1000 };
    structural("resnet101", resnet(vec![3, 4, 23, 3]));
    structural("resnet152", resnet(vec![3, 8, 36, 3]));
    structural("densenet121", densenet(vec![6, 12, 24, 16], 32, 64));
    structural("densenet161", densenet(vec![6, 12, 36, 24], 48, 96));
    structural("densenet201", densenet(vec![6, 12, 48, 32], 32, 64));
}

#[test]
fn a_missing_key_names_the_file() {
    // The tiny DenseNet's file does not fit the tiny ResNet: the error names the file.
    let arch = ArchConfig::TvResnet { layers: vec![1, 2, 1, 1], width: 8, num_classes: 10, block: Default::default() };
    let path = fixtures().join("tiny_densenet.pth");
    let err = tensor_io::load_weights(&arch, &path, &Device::flex()).err().expect("must fail").to_string();
    assert!(err.contains("tiny_densenet.pth"), "{err}");
}

/// Full-size parity, when `tools/make_torchvision_fixtures.py` has written the 160 MB of random
/// models (kept out of git). Prints that it was skipped otherwise.
#[test]
fn full_size_parity_when_fixtures_present() {
    let dir = root().join("runs/fixtures/torchvision");
    for (name, arch) in [("resnet50", resnet50()), ("densenet169", densenet169())] {
        let (w, io) = (dir.join(format!("{name}.pth")), dir.join(format!("{name}.io.safetensors")));
        if !w.is_file() || !io.is_file() {
            eprintln!("SKIPPED {name} parity: {} not found (run tools/make_torchvision_fixtures.py)", w.display());
            continue;
        }
        let rel = logits_rel_error(&arch, &w, &io);
        eprintln!("{name}: max relative logit difference vs torchvision {rel:.2e}");
        assert!(rel <= 1e-4, "{name}: relative logit error {rel}");
    }
}
