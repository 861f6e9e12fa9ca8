//! Conversions between plain buffers and tensors, and weight files (safetensors via burn-store).
use crate::{ArchConfig, Classifier, ModelError};
use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::path::{Path, PathBuf};

/// A [0,1] image batch (B*3*H*W values, CHW order) as a tensor.
pub fn images(data: Vec<f32>, b: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(data, [b, 3, h, w]), device)
}

pub fn labels(l: &[u32], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = l.iter().map(|&x| x as i64).collect();
    Tensor::from_data(TensorData::new(v, [l.len()]), device)
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("float tensor")
}

pub fn to_vec_int<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().try_into_vec::<i64>().expect("int tensor")
}

/// Save all parameters and batch-norm statistics. Writes a temporary file then renames it.
pub fn save_weights(model: &Classifier, path: &Path) -> Result<(), ModelError> {
    let tmp = path.with_extension("safetensors.tmp");
    let mut store = SafetensorsStore::from_file(&tmp);
    // `valid()` first: it brings batch-norm running statistics up to date (see save_checkpoint).
    model
        .valid()
        .save_into(&mut store)
        .map_err(|e| ModelError::Weights { path: path.to_path_buf(), reason: e.to_string() })?;
    canonicalise_metadata(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })
}

/// Metadata keys in the order [`canonicalise_metadata`] writes them (the order of the committed
/// `resnet20.safetensors` and of the random ResNet-50 behind `results/paper-smoke`); others follow, sorted.
const METADATA_ORDER: [&str; 3] = ["producer", "format", "version"];

/// burn-store writes a safetensors file's `__metadata__` from a `HashMap`, so two saves of the
/// same tensors differ in a few header bytes (measured: two `init-weights` runs), and so in the
/// file fingerprint that enters every cell key. This rewrites the metadata object in a fixed order,
/// in place: the same entries, so the same length, and the tensor offsets stay valid. A file
/// whose header does not start with a flat string-to-string metadata object is left as it is.
pub fn canonicalise_metadata(path: &Path) -> Result<(), ModelError> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let io = |e| ModelError::Io { path: path.to_path_buf(), source: e };
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(io)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(io)?;
    let n = u64::from_le_bytes(len) as usize;
    let mut header = vec![0u8; n];
    f.read_exact(&mut header).map_err(io)?;
    let Some(out) = canonical_header(&header) else { return Ok(()) };
    f.seek(SeekFrom::Start(8)).map_err(io)?;
    f.write_all(&out).map_err(io)
}

/// The header with its leading `{"__metadata__":{...}` object reordered, or None when there is
/// no such object or it is not flat strings.
fn canonical_header(header: &[u8]) -> Option<Vec<u8>> {
    const PREFIX: &[u8] = b"{\"__metadata__\":{";
    let body = header.strip_prefix(PREFIX)?;
    let end = PREFIX.len() + body.iter().position(|&c| c == b'}')?;
    let object = &header[PREFIX.len() - 1..=end];
    let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(object).ok()?;
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| (METADATA_ORDER.iter().position(|o| o == k).unwrap_or(METADATA_ORDER.len()), k.as_str()));
    let entries: Vec<String> = keys.iter().map(|k| Some(format!("{}:{}", serde_json::to_string(k).ok()?, serde_json::to_string(&map[*k]).ok()?))).collect::<Option<_>>()?;
    let new_object = format!("{{{}}}", entries.join(","));
    (new_object.len() == object.len()).then(|| [&header[..PREFIX.len() - 1], new_object.as_bytes(), &header[end + 1..]].concat())
}

/// Build the architecture and load its weights for inference; every tensor must be present.
/// torchvision state dicts (`.pth`) go through [`crate::torchvision::load_into`].
pub fn load_weights(arch: &ArchConfig, path: &Path, device: &Device) -> Result<Classifier, ModelError> {
    // Loaded models are for inference: turn the training flags off (batch norm would otherwise
    // take batch statistics as soon as its input lives on an autodiff device).
    Ok(load_weights_trainable(arch, path, device)?.valid())
}

/// Like [`load_weights`] but keeps the module trainable (training flags on, autodiff kept when
/// `device` is an autodiff device): for resuming or warm-starting training.
pub fn load_weights_trainable(arch: &ArchConfig, path: &Path, device: &Device) -> Result<Classifier, ModelError> {
    if !path.is_file() {
        return Err(ModelError::Weights { path: path.to_path_buf(), reason: "file not found".into() });
    }
    let mut model = arch.init(device);
    if crate::torchvision::is_torchvision_file(arch, path) {
        crate::torchvision::load_into(&mut model, arch, path)?;
        return Ok(model);
    }
    let mut store = SafetensorsStore::from_file(path);
    let res = model
        .load_from(&mut store)
        .map_err(|e| ModelError::Weights { path: path.to_path_buf(), reason: e.to_string() })?;
    if !res.missing.is_empty() || !res.errors.is_empty() {
        return Err(ModelError::Weights {
            path: path.to_path_buf(),
            reason: format!("missing tensors: {:?}; errors: {:?}", res.missing, res.errors),
        });
    }
    Ok(model)
}

/// Save a training checkpoint in burn's own format, which keeps parameter ids (the optimiser
/// state refers to them: with fresh ids a resumed run would restart Adam/momentum from zero).
/// Written to a temporary name and renamed.
pub fn save_checkpoint<M: Module>(model: &M, path: &Path) -> Result<(), ModelError> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut store = BurnpackStore::from_file(&tmp).overwrite(true).auto_extension(false);
    // Measured (tests/train_resume.rs): batch-norm running statistics of a module in training
    // mode are only brought up to date by `valid()`; saving the training module directly
    // writes stale statistics. The snapshot keeps parameter ids.
    model.valid().save_into(&mut store).map_err(|e| ModelError::Weights { path: tmp.clone(), reason: e.to_string() })?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })
}

/// A training checkpoint in `dir`: `model` and `optim` under `files` (names carrying the step),
/// then the state file `json` (which names them) committed by [`commit_checkpoint`]; older files
/// whose names start with `stems` are removed.
pub fn save_training_checkpoint<M: Module>(dir: &Path, model: &M, optim: &burn::optim::ModuleOptimizer, files: &[String; 2], json: &str, stems: &[&str]) -> Result<(), ModelError> {
    let (mp, op) = (dir.join(&files[0]), dir.join(&files[1]));
    save_checkpoint(model, &mp)?;
    let tmp = op.with_extension("tmp");
    optim.save(&tmp).map_err(|e| ModelError::Weights { path: tmp.clone(), reason: format!("{e:?}") })?;
    std::fs::rename(&tmp, &op).map_err(|e| ModelError::Io { path: op.clone(), source: e })?;
    commit_checkpoint(&dir.join("state.json"), json, &[mp, op], stems)
}

/// The payload files a state file names (`files`), or the fixed `legacy` names of checkpoints
/// written before the files were step-stamped.
pub fn checkpoint_files(dir: &Path, files: &Option<[String; 2]>, legacy: [&str; 2]) -> (PathBuf, PathBuf) {
    match files {
        Some([m, o]) => (dir.join(m), dir.join(o)),
        None => (dir.join(legacy[0]), dir.join(legacy[1])),
    }
}

/// Commit a checkpoint made of several files: the payload files (`keep`, already written under
/// names carrying the checkpoint's step) are named by the state file `json`, which goes in by an
/// atomic rename; only then are the older payload files (names starting with one of `stems`, in
/// the state file's folder) removed. A kill at any moment leaves a state file whose payload files
/// exist and belong to it.
pub fn commit_checkpoint(state: &Path, json: &str, keep: &[PathBuf], stems: &[&str]) -> Result<(), ModelError> {
    let tmp = state.with_extension("tmp");
    std::fs::write(&tmp, json).map_err(|e| ModelError::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, state).map_err(|e| ModelError::Io { path: state.to_path_buf(), source: e })?;
    let dir = state.parent().unwrap_or(Path::new("."));
    for entry in std::fs::read_dir(dir).map_err(|e| ModelError::Io { path: dir.to_path_buf(), source: e })?.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if p != state && !keep.contains(&p) && stems.iter().any(|s| name.starts_with(s)) {
            let _ = std::fs::remove_file(&p);
        }
    }
    Ok(())
}

/// Load a checkpoint written by [`save_checkpoint`] into `model` (trainable, ids restored).
pub fn load_checkpoint_into<M: Module>(model: &mut M, path: &Path) -> Result<(), ModelError> {
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    let res = model.load_from(&mut store).map_err(|e| ModelError::Weights { path: path.to_path_buf(), reason: e.to_string() })?;
    if !res.missing.is_empty() || !res.errors.is_empty() {
        return Err(ModelError::Weights { path: path.to_path_buf(), reason: format!("missing tensors: {:?}; errors: {:?}", res.missing, res.errors) });
    }
    Ok(())
}

/// [`load_checkpoint_into`] a freshly built `arch`.
pub fn load_checkpoint(arch: &ArchConfig, path: &Path, device: &Device) -> Result<Classifier, ModelError> {
    let mut model = arch.init(device);
    load_checkpoint_into(&mut model, path)?;
    Ok(model)
}

/// Every tensor of a safetensors file as (shape, values converted to f32): reference fixtures
/// written by the `tools/` scripts (float32 and int64 tensors).
pub fn read_tensors(path: &Path) -> Result<std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>, ModelError> {
    use safetensors::{Dtype, SafeTensors};
    let bad = |reason: String| ModelError::Weights { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut out = std::collections::BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::I64 => data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
            other => return Err(bad(format!("tensor `{name}` has dtype {other:?}; expected F32 or I64"))),
        };
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::canonical_header;

    #[test]
    fn metadata_is_reordered_in_place() {
        // Two of the orders burn-store wrote for the same file (see canonicalise_metadata).
        let a = br#"{"__metadata__":{"version":"0.22.1","format":"safetensors","producer":"burn"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  "#;
        let b = br#"{"__metadata__":{"format":"safetensors","producer":"burn","version":"0.22.1"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  "#;
        let want = br#"{"__metadata__":{"producer":"burn","format":"safetensors","version":"0.22.1"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  "#;
        assert_eq!(canonical_header(a).unwrap(), want.to_vec());
        assert_eq!(canonical_header(b).unwrap(), want.to_vec());
        assert!(canonical_header(br#"{"w":{"dtype":"F32"}}"#).is_none());
    }
}
