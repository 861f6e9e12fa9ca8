//! Conversions between plain buffers and tensors, and weight files (safetensors via burn-store).
use crate::{ArchConfig, Classifier, ModelError};
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::path::Path;

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
    model
        .save_into(&mut store)
        .map_err(|e| ModelError::Weights { path: path.to_path_buf(), reason: e.to_string() })?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })
}

/// Build the architecture and load its weights; every tensor must be present.
pub fn load_weights(arch: &ArchConfig, path: &Path, device: &Device) -> Result<Classifier, ModelError> {
    if !path.is_file() {
        return Err(ModelError::Weights { path: path.to_path_buf(), reason: "file not found".into() });
    }
    let mut model = arch.init(device);
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
    // Loaded models are for inference: turn the training flags off (batch norm would otherwise
    // take batch statistics as soon as its input lives on an autodiff device).
    Ok(model.valid())
}
