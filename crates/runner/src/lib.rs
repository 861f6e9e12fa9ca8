//! Everything `cargo xtask` does: train and evaluate classifiers, (later) expand experiment grids
//! into resumable cells and render reports. Each command is a small module.

pub mod attack_cmd;
pub mod bench_attack;
pub mod bench_cmd;
pub mod cli;
pub mod data_source;
pub mod eps_curve;
pub mod explain_cmd;
pub mod image_attack;
pub mod models_cmd;
pub mod names;
pub mod quality_cmd;
pub mod repo;
pub mod rts_cmd;
pub mod reproduce;
