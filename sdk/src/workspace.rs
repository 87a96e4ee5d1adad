//! Read-only files under the agent's workspace directory (capability `workspace`).
//!
//! Named after their `std::fs` counterparts, which do not work on
//! `wasm32-unknown-unknown`. Paths are relative and `/`-separated, `""` is the workspace
//! root; the host refuses anything that would leave the workspace.
//!
//! ```
//! use agentx_sdk::workspace;
//!
//! # fn main() -> Result<(), agentx_sdk::HostError> {
//! # agentx_sdk::testing::reset();
//! # agentx_sdk::testing::with_host(|host| host.add_file("notes/today.md", "ship it"));
//! for entry in workspace::read_dir("notes")? {
//!     if !entry.is_dir && entry.name.ends_with(".md") {
//!         let text = workspace::read_to_string(&format!("notes/{}", entry.name))?;
//!         agentx_sdk::log::debug(format_args!("{}: {} bytes", entry.name, text.len()));
//!     }
//! }
//! # agentx_sdk::testing::with_host(|host| assert_eq!(host.logs[0].1, "today.md: 7 bytes"));
//! # Ok(())
//! # }
//! ```

use crate::HostError;

#[cfg(target_arch = "wasm32")]
use crate::bindings::responder::agentx::plugin::workspace as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::host::workspace as host;

pub use crate::bindings::responder::agentx::plugin::workspace::Entry;

/// The whole file at `path` as text; [`HostError::Invalid`] if it is not UTF-8.
pub fn read_to_string(path: &str) -> Result<String, HostError> {
    host::read_string(path)
}

/// The whole file at `path` as bytes.
pub fn read(path: &str) -> Result<Vec<u8>, HostError> {
    host::read_bytes(path)
}

/// The entries of the directory at `path`, sorted by name.
pub fn read_dir(path: &str) -> Result<Vec<Entry>, HostError> {
    host::list_dir(path)
}
