//! Everything `cargo xtask` does: train and evaluate classifiers, expand experiment grids into
//! resumable cells and render reports. Each command is a small module.

pub mod attack_cmd;
pub mod bench_attack;
pub mod bench_cmd;
pub mod bench_profile;
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

/// Stack of the threads commands and grid jobs run on (rayon's default, 2 MiB, is less than a
/// main thread's; autodiff graphs of the deeper models are walked on these threads).
pub const STACK_BYTES: usize = 16 << 20;
