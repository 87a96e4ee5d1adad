//! The agent's persistent key/value store (capability `memory`).
//!
//! Each call runs in a fresh instance, so statics do not survive between messages: this
//! store is where a plugin keeps anything it must remember. The store belongs to the
//! agent (all its plugins share it) and has a quota; use a key prefix to keep a plugin's
//! or a conversation's keys apart.
//!
//! ```
//! use agentx_sdk::memory;
//!
//! # fn main() -> Result<(), agentx_sdk::HostError> {
//! # agentx_sdk::testing::reset();
//! memory::set("greeting", "hello")?;
//! assert_eq!(memory::get("greeting")?.as_deref(), Some("hello"));
//! assert_eq!(memory::list_keys("greet")?, ["greeting"]);
//! assert!(memory::delete("greeting")?);
//! # Ok(())
//! # }
//! ```

#[cfg(target_arch = "wasm32")]
pub use crate::bindings::responder::agentx::plugin::memory::{delete, get, list_keys, set};
#[cfg(not(target_arch = "wasm32"))]
pub use crate::testing::host::memory::{delete, get, list_keys, set};
