//! Image data sets for advedge: where the data lives, how it is laid out, and how it is decoded.
//!
//! Images are decoded once (in parallel with rayon) into an in-memory `u8` CHW buffer; models
//! receive them scaled to [0,1] (normalisation is the model's first layer), so epsilons and
//! perturbations live in pixel space. No tensor library is used here: this crate is the bottom
//! of the dependency stack.

mod augment;
mod dataset;
mod error;
mod layout;
mod root;
mod source;

pub use augment::{augment_crop_flip, Rng64};
pub use dataset::{decode_image, Dataset, DecodeOptions, Resize};
pub use error::DataError;
pub use layout::{list_class_folders, list_image_folder, list_imagenet_v2, ImageEntry};
pub use root::{resolve_data_root, DATA_ENV};
pub use source::{ImageSource, LazyDataset};

/// CIFAR-10 class names in label order (sorted folder names).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
];

/// Load a CIFAR-10 split (`train` or `test`) from the resolved data root.
pub fn load_cifar10(split: &str, skip_bad: bool) -> Result<Dataset, DataError> {
    let root = resolve_data_root("cifar10")?;
    check_classes(&root.join("cifar10").join(split), &CIFAR10_CLASSES)?;
    let entries = list_image_folder(&root.join("cifar10"), split)?;
    Dataset::decode(entries, &DecodeOptions { resize: Resize::Exact(32, 32), skip_bad })
}

/// The class folders of `dir` must be exactly `classes` (labels are folder positions, so a
/// missing or extra folder would silently renumber them); an error names both differences.
pub fn check_classes(dir: &std::path::Path, classes: &[&str]) -> Result<(), DataError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DataError::Io { path: dir.to_path_buf(), source })?;
    let mut found: Vec<String> = rd.flatten().filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    found.sort();
    let missing: Vec<String> = classes.iter().filter(|c| !found.iter().any(|f| f == *c)).map(|c| c.to_string()).collect();
    let extra: Vec<String> = found.iter().filter(|f| !classes.contains(&f.as_str())).cloned().collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    Err(DataError::ClassMismatch { path: dir.to_path_buf(), expected: classes.len(), found, missing, extra })
}

/// Load the ImageNetV2-layout sample folder, resized and centre-cropped to 224x224.
pub fn load_imagenet_samples(skip_bad: bool) -> Result<Dataset, DataError> {
    let root = resolve_data_root("imagenet-samples")?;
    let entries = list_imagenet_v2(&root.join("imagenet-samples"))?;
    Dataset::decode(entries, &DecodeOptions { resize: Resize::ShorterThenCrop(224), skip_bad })
}
