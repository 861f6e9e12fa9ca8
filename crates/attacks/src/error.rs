//! What this crate reports instead of panicking on a user's input: every variant names the
//! offending setting and value.
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum AttackError {
    /// A setting outside its range (`field` is the path in the resolved configuration).
    #[error("attack setting `{field}` = {value}: must be {expected}")]
    OutOfRange { field: String, value: String, expected: &'static str },
    /// A name that is not one of ours (framework, variant).
    #[error("unknown {what} `{name}` ({known})")]
    UnknownName { what: &'static str, name: String, known: &'static str },
}
