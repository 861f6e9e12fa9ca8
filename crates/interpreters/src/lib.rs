//! Interpreters: functions from (classifier, [0,1] images, class per image) to attribution maps
//! [B,1,h,w] at the interpreter's native resolution, "higher = more salient", in [0,1].
//!
//! Adding an interpreter = one module + one `Interpreter` variant.

pub mod backprop;
pub mod cam;
pub mod error;
pub mod grad;
pub mod layers;
pub mod mask;
pub mod rts;
pub mod rts_train;

use advedge_models::Classifier;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

pub use error::InterpreterError;
pub use layers::ReluDeriv;

/// The interpreters by name, without their settings: grid axes, command-line flags and
/// per-interpreter keys (`interpreter_scale`). Serialised lower-case (`grad`, `cam`, `rts`, `mask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterpreterKind {
    Grad,
    Cam,
    Rts,
    Mask,
}

impl InterpreterKind {
    pub const ALL: [InterpreterKind; 4] = [InterpreterKind::Grad, InterpreterKind::Cam, InterpreterKind::Rts, InterpreterKind::Mask];
    /// The lower-case name used in grids, cell ids and on the command line.
    pub fn id(&self) -> &'static str {
        match self {
            InterpreterKind::Grad => "grad",
            InterpreterKind::Cam => "cam",
            InterpreterKind::Rts => "rts",
            InterpreterKind::Mask => "mask",
        }
    }
}

impl std::fmt::Display for InterpreterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for InterpreterKind {
    type Err = InterpreterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.trim().to_ascii_lowercase();
        InterpreterKind::ALL.into_iter().find(|k| k.id() == l).ok_or_else(|| InterpreterError::UnknownName(s.to_string()))
    }
}

/// The interpreters of the paper, with their settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Interpreter {
    /// Vanilla gradient, average-pooled by `pool`.
    Grad { pool: usize },
    /// Class activation map.
    Cam,
    /// Meaningful perturbation (v1); maps are shown as 1 - m (salient = high).
    Mask(mask::MaskConfig),
    /// Real-time saliency: a trained network on the classifier's features (maps 32x32).
    Rts(rts::RtsSpec),
}

impl Interpreter {
    pub fn kind(&self) -> InterpreterKind {
        match self {
            Interpreter::Grad { .. } => InterpreterKind::Grad,
            Interpreter::Cam => InterpreterKind::Cam,
            Interpreter::Mask(_) => InterpreterKind::Mask,
            Interpreter::Rts(_) => InterpreterKind::Rts,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            Interpreter::Grad { .. } => "Grad",
            Interpreter::Cam => "CAM",
            Interpreter::Mask(_) => "MASK",
            Interpreter::Rts(_) => "RTS",
        }
    }
    /// Does the attack aim the adversarial map at the benign map for the *target* class (RTS,
    /// spec 1.1 table) rather than for the true class (Grad, CAM, MASK)? Metrics always compare
    /// with the benign map for the true class.
    pub fn attack_reference_is_target(&self) -> bool {
        matches!(self, Interpreter::Rts(_))
    }
    /// Benign attribution maps (no gradient tracking through the result).
    pub fn explain(&self, model: &Classifier, x: Tensor<4>, classes: Tensor<1, Int>) -> Tensor<4> {
        match self {
            Interpreter::Grad { pool } => grad::grad_map_autodiff(model, x, classes, *pool),
            Interpreter::Cam => cam::cam_map(model, x, classes),
            Interpreter::Mask(cfg) => mask::optimise(model, x, classes, cfg).neg().add_scalar(1.0),
            Interpreter::Rts(spec) => rts::rts_map(spec, model, x, classes),
        }
    }
}
