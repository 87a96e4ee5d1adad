//! Logging into the host's tracing, the only place a plugin's output goes.
//!
//! On `wasm32-unknown-unknown` `println!` and `eprintln!` go nowhere, so this is how a
//! plugin reports what it does. The host tags every entry with the agent and plugin, and
//! the capability is always granted, so these functions cannot fail.
//!
//! ```
//! agentx_sdk::log::info("ready");
//! agentx_sdk::log::warn(format_args!("{} entries skipped", 3));
//! ```

use core::fmt::Display;

#[cfg(target_arch = "wasm32")]
use crate::bindings::responder::agentx::plugin::log as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::host::log as host;

pub use crate::bindings::responder::agentx::plugin::log::Level;

/// Logs `message` at `level`. Takes any [`Display`] so `format_args!` works without
/// building an intermediate `String` at the call site.
pub fn log(level: Level, message: impl Display) {
    host::log(level, &message.to_string());
}

/// Logs at [`Level::Trace`].
pub fn trace(message: impl Display) {
    log(Level::Trace, message);
}

/// Logs at [`Level::Debug`].
pub fn debug(message: impl Display) {
    log(Level::Debug, message);
}

/// Logs at [`Level::Info`].
pub fn info(message: impl Display) {
    log(Level::Info, message);
}

/// Logs at [`Level::Warn`].
pub fn warn(message: impl Display) {
    log(Level::Warn, message);
}

/// Logs at [`Level::Error`].
pub fn error(message: impl Display) {
    log(Level::Error, message);
}
