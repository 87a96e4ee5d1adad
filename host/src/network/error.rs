//! The domain's error: what went wrong, in words for the caller, with a stable code.

use crate::store::{Rejection, StoreError};

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

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            // Call sites map the rejections they expect; one reaching here is a lookup miss
            // or a race lost to a concurrent request, reported as such.
            StoreError::Rejected(Rejection::NotFound) => Error::not_found("not_found", "Not found"),
            StoreError::Rejected(r) => Error::new(ErrorKind::Conflict, "conflict", r.to_string()),
            StoreError::Unsupported(what) => Error::new(ErrorKind::Invalid, "unsupported", what),
            other => Error::new(ErrorKind::Internal, "internal", other.to_string()),
        }
    }
}
