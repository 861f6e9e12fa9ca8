//! CIFAR-scale classifiers (ResNet, DenseNet-BC) with the feature taps the interpreters need,
//! plus their training, evaluation and model cards.
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
pub mod train;

pub use card::ModelCard;
pub use classifier::{ArchConfig, Classifier, Features};
pub use error::ModelError;
pub use normalize::Normalize;
