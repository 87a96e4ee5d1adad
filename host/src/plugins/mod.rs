//! Agent behaviour as sandboxed WebAssembly components.
//!
//! # Layout
//! - [`manifest`]: `plugin.toml`, capabilities and limits.
//! - `engine`: the wasmtime engine (component model, pooling allocator, epoch ticker).
//! - `cache`: compiled components on disk, keyed by content and engine.
//! - [`inspect`]: what is wrong with a component, in plain words, before it is loaded.
//! - `bindings`: the only `bindgen!`s, over `wit/`.
//! - `host`: per-call state and the capability imports, each checked against the grant.
//! - [`runtime`]: loading plugins for agents and calling them under limits.
//! - [`health`]: when a plugin counts as degraded, and how it comes back by itself.
//! - [`policy`]: the network's contract policy, answered by policy plugins.
//! - [`log`]: each plugin's recent log, for operators.

mod bindings;
mod cache;
pub mod engine;
pub mod health;
pub use manifest::PluginSource;
mod host;
pub mod inspect;
pub mod log;
pub mod manifest;
pub mod policy;
pub mod runtime;

pub use bindings::types;
pub use cache::CacheOutcome;
pub use host::{HostServices, TurnsInFlight};
pub use manifest::{Capability, Manifest};
pub use runtime::{AgentGrant, Owner, PluginError, PluginRuntime, PolicyPlugin, ResponderPlugin};
