//! torchvision state dicts (`.pth`, or a `.safetensors` export of one) loaded straight into the
//! torchvision-shaped architectures through burn-store: no conversion step by hand.
//!
//! burn-store's PyTorch adapter renames batch-norm `weight`/`bias` to `gamma`/`beta` and transposes
//! linear weights; the key renames below do the rest. Indices stay 1-based after the renames
//! (`layer1` -> `stages.1`, `denseblock1.denselayer1` -> `blocks.1.1`) and the store's contiguous
//! index mapping turns them into burn's 0-based `Vec` positions. Only `num_batches_tracked` may be
//! left unused; any missing tensor or shape mismatch is an error naming the file.
use crate::{ArchConfig, Classifier, ModelError};
use burn::store::{ApplyResult, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore};
use std::path::Path;

/// (regex, replacement) pairs, applied in order, from torchvision keys to this crate's paths.
pub fn key_remaps(arch: &ArchConfig) -> Vec<(&'static str, &'static str)> {
    match arch {
        ArchConfig::TvResnet { .. } => vec![
            (r"^", "net."),
            (r"^net\.layer(\d+)\.", "net.stages.$1."),
            (r"\.downsample\.0\.", ".downsample.conv."),
            (r"\.downsample\.1\.", ".downsample.bn."),
        ],
        ArchConfig::TvDensenet { .. } => vec![
            // Pre-0.3 torchvision files (e.g. densenet169-b2777c0a.pth) spell `norm1` as
            // `norm.1`; torchvision's own loader fixes this with the same substitution.
            (r"(denselayer\d+)\.(norm|conv)\.([12])\.", "$1.$2$3."),
            (r"^features\.conv0\.", "net.conv1."),
            (r"^features\.norm0\.", "net.norm0."),
            (r"^features\.norm5\.", "net.bn_final."),
            (r"^features\.denseblock(\d+)\.denselayer(\d+)\.norm([12])\.", "net.blocks.$1.$2.bn$3."),
            (r"^features\.denseblock(\d+)\.denselayer(\d+)\.", "net.blocks.$1.$2."),
            (r"^features\.transition(\d+)\.norm\.", "net.transitions.$1.bn."),
            (r"^features\.transition(\d+)\.", "net.transitions.$1."),
            (r"^classifier\.", "net.fc."),
        ],
        _ => Vec::new(),
    }
}

/// What a load did: tensors applied, and the source tensors nothing used.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub applied: usize,
    pub unused: Vec<String>,
}

fn check(result: ApplyResult, path: &Path) -> Result<LoadReport, ModelError> {
    let unexpected: Vec<&String> = result.unused.iter().filter(|k| !k.ends_with("num_batches_tracked")).collect();
    if !result.missing.is_empty() || !result.errors.is_empty() || !unexpected.is_empty() {
        let missing: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
        return Err(ModelError::Weights {
            path: path.to_path_buf(),
            reason: format!(
                "not a torchvision state dict of this architecture: missing {missing:?}; unused {unexpected:?}; errors {:?}",
                result.errors
            ),
        });
    }
    Ok(LoadReport { applied: result.applied.len(), unused: result.unused })
}

/// Load a torchvision state dict into `model` (built from `arch`). `.pth`/`.pt` files go through
/// burn-store's PyTorch reader, `.safetensors` through its safetensors reader with the PyTorch
/// adapter.
pub fn load_into(model: &mut Classifier, arch: &ArchConfig, path: &Path) -> Result<LoadReport, ModelError> {
    let bad = |e: String| ModelError::Weights { path: path.to_path_buf(), reason: e };
    let remaps = key_remaps(arch);
    let result = if path.extension().is_some_and(|e| e == "safetensors") {
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .map_indices_contiguous(true)
            .skip_enum_variants(true)
            .allow_partial(true);
        for (from, to) in &remaps {
            store = store.with_key_remapping(*from, *to);
        }
        model.load_from(&mut store).map_err(|e| bad(e.to_string()))?
    } else {
        let mut store = PytorchStore::from_file(path).allow_partial(true);
        for (from, to) in &remaps {
            store = store.with_key_remapping(*from, *to);
        }
        model.load_from(&mut store).map_err(|e| bad(e.to_string()))?
    };
    check(result, path)
}

/// True when `path` holds a torchvision-format state dict rather than this project's own
/// safetensors: `.pth`/`.pt`, or a `.safetensors` whose keys lack our `net.` prefix (checked in
/// the header only).
pub fn is_torchvision_file(arch: &ArchConfig, path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "pth" | "pt") || (arch.is_torchvision() && ext == "safetensors" && !header_has_net_prefix(path))
}

fn header_has_net_prefix(path: &Path) -> bool {
    use std::io::Read;
    let read = || -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len)?;
        let mut header = vec![0u8; (u64::from_le_bytes(len) as usize).min(1 << 26)];
        f.read_exact(&mut header)?;
        Ok(String::from_utf8_lossy(&header).into_owned())
    };
    read().map(|h| h.contains("\"net.")).unwrap_or(true)
}
