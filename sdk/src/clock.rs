//! Wall-clock time from the host (capability `clock`).
//!
//! `std::time::SystemTime::now()` panics on `wasm32-unknown-unknown`; these functions are
//! the replacement. They return a plain [`SystemTime`] so the rest of `std::time` works as
//! usual.
//!
//! ```
//! use std::time::UNIX_EPOCH;
//!
//! # fn main() -> Result<(), agentx_sdk::HostError> {
//! # agentx_sdk::testing::reset();
//! let now = agentx_sdk::clock::now()?;
//! assert!(now > UNIX_EPOCH);
//! let stamp = agentx_sdk::clock::now_iso8601()?; // e.g. "2025-01-31T12:00:00Z"
//! # assert!(stamp.ends_with('Z'));
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::HostError;

#[cfg(target_arch = "wasm32")]
use crate::bindings::responder::agentx::plugin::clock as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::host::clock as host;

/// The current time.
pub fn now() -> Result<SystemTime, HostError> {
    let now = host::now()?;
    // NB: only `SystemTime::now()` is unsupported on wasm32-unknown-unknown; arithmetic
    // on `UNIX_EPOCH` is plain `Duration` math and works everywhere.
    Ok(UNIX_EPOCH + Duration::new(now.seconds, now.nanoseconds))
}

/// The current time as ISO 8601 UTC, formatted by the host, ready to print or to compare
/// with message timestamps.
pub fn now_iso8601() -> Result<String, HostError> {
    host::now_iso8601()
}
