//! `reproduce`: expand an experiment grid (experiments/<name>.toml) into cells, run the cells that
//! are not done yet (resumable, atomic per-cell files), then render the target's tables.

pub mod args;
pub mod cell;
pub mod claims;
pub mod compare;
pub mod cost;
pub mod detector;
pub mod detector_curve;
pub mod eps;
pub mod robust;
pub mod rounding;
pub mod figures;
pub mod frame;
pub mod grid;
pub mod panels;
pub mod partial;
pub mod paper;
pub mod pool;
pub mod report;
pub mod run;
pub mod slurm;
pub mod store;
pub mod tables;
pub mod transfer;
pub mod verdicts;
pub mod verify;

pub use run::{collect, reproduce, CollectArgs, ReproduceArgs};
