//! The error type of this crate: each variant carries the offending name or path.
/// What this crate reports instead of panicking on a user's input.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error("unknown interpreter `{0}` (grad, cam, rts, mask)")]
    UnknownName(String),
    #[error("RTS weights {path}: {reason}")]
    RtsWeights { path: std::path::PathBuf, reason: String },
}
