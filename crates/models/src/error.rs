use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Data(#[from] advedge_data::DataError),
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("bad weights file {path}: {reason}")]
    Weights { path: PathBuf, reason: String },
    #[error("bad model card {path}: {reason}")]
    Card { path: PathBuf, reason: String },
    #[error("unknown model `{0}` (known: {1})")]
    UnknownModel(String, String),
    #[error("invalid training config: {0}")]
    Config(String),
}
