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
    std::fs::rename(&tmp, path).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })
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
