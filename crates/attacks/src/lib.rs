//! Attacks on interpretable deep learning systems (spec sections 3-8).
//!
//! A variant (plain, ADV2, AdvEdge, AdvEdge+) decides how the Sobel edge weights enter the
//! warm-up phase; a framework (PGD, C&W, StAdv) decides how the image is parametrised and stepped;
//! an interpreter decides the interpretation loss and the output rule. Every attack returns one
//! `ImageOutcome` per image and is deterministic for a given seed: random draws come from a
//! per-image stream seeded by (seed, image index), so results do not depend on batch size.

pub mod edges;
pub mod error;
pub mod framework;
pub mod inner_mask;
pub mod interp_loss;
pub mod losses;
pub mod optim_attack;
pub mod optim_mask;
pub mod outcome;
pub mod pgd;
pub mod pgd_mask;
pub mod progress;
pub mod rng;
pub mod snapshot;
pub mod variant;

pub use error::AttackError;
pub use framework::{run, AttackConfig, CheckedAttack, Framework};
pub use losses::EncoderTerm;
pub use outcome::{AttackBatch, FloatFigures, ImageOutcome};
pub use variant::{EdgeScope, RtsReference, Variant};
