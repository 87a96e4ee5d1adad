//! The crate's error, and what errors keep of their causes.
//!
//! [`Error`] is what every layer above the store returns: what went wrong in words for the
//! caller, a stable code for programs, and an [`ErrorKind`] the HTTP layer maps to one status.
//! [`Source`] keeps a failure of another library (redb, wasmtime, the OS) as an error rather
//! than text.

use std::sync::Arc;

/// The class of failure; the HTTP layer maps each to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input does not have the contract's shape (missing field, unknown enum value).
    Malformed,
    /// Well-formed input that a rule refuses.
    Invalid,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    /// A dependency (such as a policy plugin) cannot answer now.
    Unavailable,
    /// A dependency answered with a failure (a plugin call failed, the daemon is down).
    Upstream,
    Internal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct Error {
    pub kind: ErrorKind,
    /// Stable snake_case identifier for programs.
    pub code: &'static str,
    /// Human-readable reason.
    pub detail: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            detail: detail.into(),
            field: None,
        }
    }

    pub fn malformed(field: &str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, "invalid_field", detail).on(field)
    }

    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, "unauthorized", detail)
    }

    /// Names the input field at fault.
    pub fn on(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
}

/// The cause of a failure in another library (redb, wasmtime, the OS), kept as an error
/// rather than flattened into text, so callers and logs can walk the chain. `Arc` keeps the
/// errors that carry one `Clone`.
pub type Source = Arc<dyn std::error::Error + Send + Sync>;

/// `e` as a [`Source`]; takes any error, wasmtime's `anyhow` errors and plain messages.
pub fn source(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Source {
    Arc::from(e.into())
}

/// A cause together with what agentx was doing when it happened.
#[derive(Debug)]
pub struct Context {
    what: String,
    cause: Source,
}

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `:#` shows the whole chain of wasmtime's errors (std errors print as usual).
        write!(f, "{}: {:#}", self.what, self.cause)
    }
}

impl std::error::Error for Context {
    /// The cause itself (not the `Arc` holding it), so callers can downcast it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause)
    }
}

/// `e`, as the cause of a failure at `what`.
pub fn context(
    what: impl Into<String>,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Source {
    Arc::new(Context {
        what: what.into(),
        cause: source(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_kept_and_named() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let failure = context("create /data", io);
        assert_eq!(failure.to_string(), "create /data: denied");
        let cause = failure.source().expect("kept");
        let io = cause
            .downcast_ref::<std::io::Error>()
            .expect("the same error");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
    }
}
