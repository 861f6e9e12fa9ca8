//! Countermeasures of the paper's section VIII.
//!
//! * `detector`: the multi-interpreter detector (Tables V, VI): attribution maps of several
//!   interpreters stacked as channels, a small convolutional feature extractor trained here, and
//!   a gradient-boosting classifier (the `gbdt` crate) on its features.

pub mod detector;
