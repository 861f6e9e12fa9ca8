//! Classifiers with the feature taps the interpreters need: CIFAR-scale ResNet and DenseNet-BC
//! (trained here), torchvision's ResNet-50 / DenseNet-169 (weights from `.pth` files), plus
//! training, evaluation and model cards.
//!
//! Every model takes images in [0,1]; the per-dataset mean/std normalisation is its first layer,
//! so attacks perturb pixel space. Layers are public fields: the Grad interpreter re-walks them
//! to build its explicit backward graph.

pub mod adam;
pub mod card;
pub mod classifier;
pub mod densenet;
mod error;
pub mod normalize;
pub mod presets;
pub mod resnet;
pub mod tensor_io;
pub mod torchvision;
pub mod train;
pub mod tv_resnet;

pub use card::ModelCard;
pub use classifier::{ArchConfig, Classifier, Features};
pub use error::ModelError;
pub use normalize::Normalize;
