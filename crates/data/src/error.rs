use std::path::PathBuf;

/// Everything that can go wrong while finding, listing or decoding images.
/// Each variant names the offending path so the one-line message is actionable.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("data set `{wanted}` not found; looked in: {}. Put it there (see ../shared/data/README.md) or set {env} to a folder containing `{wanted}/`", fmt_paths(.tried), env = crate::DATA_ENV)]
    NoRoot { wanted: String, tried: Vec<PathBuf> },
    /// The override is set but names no folder: an error, never a silent fall-back.
    #[error("{env} is set to {path}, which is not a folder (unset it to use the default data roots)", env = crate::DATA_ENV)]
    EnvNotAFolder { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot decode image {path}: {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("image {path} is {got_w}x{got_h}, expected {want_w}x{want_h}")]
    BadSize { path: PathBuf, got_w: u32, got_h: u32, want_w: u32, want_h: u32 },
    #[error("no images found under {path}")]
    Empty { path: PathBuf },
    /// The class folders are not the data set's classes (labels would be renumbered silently).
    #[error("{path}: class folders {found:?} are not the {expected} classes of the data set (missing: {missing:?}; unexpected: {extra:?})")]
    ClassMismatch { path: PathBuf, expected: usize, found: Vec<String>, missing: Vec<String>, extra: Vec<String> },
    #[error("folder name {path} is not a class index (ImageNetV2 layout expects <root>/<class index>/<file>)")]
    BadClassFolder { path: PathBuf },
}

fn fmt_paths(p: &[PathBuf]) -> String {
    p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
