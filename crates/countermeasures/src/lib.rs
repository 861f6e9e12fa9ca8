//! Countermeasures of the paper's section VIII.
//!
//! * `detector`: the multi-interpreter detector (Tables V, VI): attribution maps of several
//!   interpreters stacked as channels, a small convolutional feature extractor trained here, and
//!   a gradient-boosting classifier (the `gbdt` crate) on its features.

//! * `robust`: interpretation-aware robust training (Table VII): cross-entropy plus the worst-case
//!   CAM discrepancy found by PGD, as a training objective for the models crate's loop, and the
//!   evaluation (PGD accuracy, Kendall's tau under an attack on the CAM).

pub mod detector;
pub mod robust;

/// What this crate reports instead of panicking: each variant carries the offending values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CountermeasureError {
    #[error("the detector needs samples on both sides of the split (train {train}, test {test})")]
    EmptySplit { train: usize, test: usize },
    #[error("the {booster} boosting head failed: {message}")]
    Boosting { booster: &'static str, message: String },
}
