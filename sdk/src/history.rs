//! Recent turns of the current conversation (capability `history`).
//!
//! The host keeps the transcript of every network thread and public-API session, so a
//! responder that wants context asks for it instead of storing its own copy.
//!
//! ```
//! use agentx_sdk::history::{self, Role};
//!
//! # fn main() -> Result<(), agentx_sdk::HostError> {
//! # agentx_sdk::testing::reset();
//! let asked_before = history::recent(10)?
//!     .iter()
//!     .any(|turn| turn.role == Role::Incoming && turn.content.contains("pricing"));
//! # assert!(!asked_before);
//! # Ok(())
//! # }
//! ```

pub use crate::bindings::responder::agentx::plugin::history::{Role, Turn};

#[cfg(target_arch = "wasm32")]
pub use crate::bindings::responder::agentx::plugin::history::recent;
#[cfg(not(target_arch = "wasm32"))]
pub use crate::testing::host::history::recent;
