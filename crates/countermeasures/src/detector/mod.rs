//! Multi-interpreter detector (spec 11). A sample is a stack of attribution maps of one image
//! (benign: maps for its true class; adversarial: maps for the class the model now predicts),
//! one channel per interpreter, all resized to a common `side` x `side`, optionally with the
//! product of the first two maps as an extra channel (Table V lower half).
//!
//! The paper fine-tunes the first and last layers of an ImageNet VGG-16 on 224 px maps and puts
//! a gradient-boosting classifier on its convolutional features. At CIFAR scale no pretrained
//! VGG exists here, so `cnn::MapNet` (a small VGG-style network) is trained from scratch on the
//! training split, and gradient boosting (`gbdt` or `perpetual`, see `cnn`) is fitted on its
//! pooled features.
pub mod cnn;
pub mod samples;

pub use cnn::{Booster, BoosterScore, DetectorConfig, DetectorResult};
pub use samples::{resize_bilinear, Samples};

/// Train the feature extractor and the boosting head on `train`, evaluate on `test`.
pub fn train_and_evaluate(train: &Samples, test: &Samples, cfg: &DetectorConfig, device: &burn::tensor::Device) -> Result<DetectorResult, crate::CountermeasureError> {
    cnn::run(train, test, cfg, device)
}
