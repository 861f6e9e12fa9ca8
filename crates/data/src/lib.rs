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
    let entries = list_image_folder(&root.join("cifar10"), split)?;
    Dataset::decode(entries, &DecodeOptions { resize: Resize::Exact(32, 32), skip_bad })
}

/// Load the ImageNetV2-layout sample folder, resized and centre-cropped to 224x224.
pub fn load_imagenet_samples(skip_bad: bool) -> Result<Dataset, DataError> {
    let root = resolve_data_root("imagenet-samples")?;
    let entries = list_imagenet_v2(&root.join("imagenet-samples"))?;
    Dataset::decode(entries, &DecodeOptions { resize: Resize::ShorterThenCrop(224), skip_bad })
}
