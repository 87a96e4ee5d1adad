//! What errors keep of their causes.

use std::sync::Arc;

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
