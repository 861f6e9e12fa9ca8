//! The error type of this crate: each variant carries the offending name or path.
/// What this crate reports instead of panicking on a user's input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpreterError {
    #[error("unknown interpreter `{0}` (grad, cam, rts, mask)")]
    UnknownName(String),
    #[error("RTS weights {path}: {reason}")]
    RtsWeights { path: std::path::PathBuf, reason: String },
    /// Reading or writing a file or folder of RTS training failed.
    #[error("{path}: {reason}")]
    Io { path: std::path::PathBuf, reason: String },
    /// A training checkpoint that cannot be continued with the given settings.
    #[error("checkpoint in {run_dir}: {reason}")]
    Checkpoint { run_dir: std::path::PathBuf, reason: String },
    #[error("RTS loss became {loss} in phase {phase} step {step}")]
    Diverged { phase: u8, step: usize, loss: f32 },
    #[error("training data: {0}")]
    Data(String),
}
