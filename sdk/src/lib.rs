//! Write agentx plugins in Rust.
//!
//! An agentx plugin is a WebAssembly component built against the `agentx:plugin@0.1.0`
//! WIT package (`wit/` in the repository). This crate hides the generated bindings
//! behind a trait per world, an export macro per world, and plain functions for the host
//! capabilities, so a plugin reads like ordinary Rust:
//!
//! ```
//! use agentx_sdk::{Capability, Description, Message, Reply, RequestContext, Responder};
//!
//! struct Echo;
//!
//! impl Responder for Echo {
//!     fn describe() -> Description {
//!         Description::new("echo", "0.1.0", [Capability::Log])
//!     }
//!
//!     fn respond(ctx: RequestContext, msg: Message) -> Result<Option<Reply>, String> {
//!         agentx_sdk::log::info(format_args!("echoing for {}", ctx.sender));
//!         Ok(Some(Reply::new(format!("echo: {}", msg.content))))
//!     }
//! }
//!
//! agentx_sdk::export_responder!(Echo);
//! #
//! # fn main() {
//! #     let reply = Echo::respond(agentx_sdk::testing::context("c"), agentx_sdk::testing::message("hi"));
//! #     assert_eq!(reply, Ok(Some(Reply::new("echo: hi"))));
//! # }
//! ```
//!
//! Build it for `wasm32-unknown-unknown` and turn it into a component with
//! `wasm-tools component new`; `plugins/build.sh` does both (see `sdk/README.md`).
//!
//! # Layout
//! - [`Responder`], [`export_responder!`]: the `responder` world (auto-replies).
//! - [`ContractPolicy`], [`export_contract_policy!`]: the `contract-policy` world
//!   (presets and per-message decisions).
//! - [`log`], [`memory`], [`history`], [`workspace`], [`clock`], [`outbound_http`]: one
//!   module per host capability. Each call fails with [`HostError::Denied`] unless the
//!   plugin's manifest asks for the capability and the agent's config grants it (`log`
//!   is always granted).
//! - `testing` (native builds only): a mock host so plugins can be unit-tested with
//!   `cargo test`, without wasm.
//! - The crate root re-exports the WIT types ([`Message`], [`Reply`], [`Decision`], ...).
//! - On wasm32, the global allocator (feature `allocator`, on by default): a call need not
//!   grow the instance's memory (see `heap.rs`).
//!
//! # Panics
//! Plugins are built with `panic = "abort"`, so a panic traps the instance and fails the
//! call. The export macros install a panic hook that first sends the panic message to the
//! host's log, so the operator sees why.

mod bindings;
pub mod clock;
#[cfg(all(target_arch = "wasm32", feature = "allocator"))]
mod heap;
pub mod history;
pub mod log;
pub mod memory;
pub mod outbound_http;
mod panic;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod workspace;

pub use bindings::responder::agentx::plugin::types::{
    Capability, Channel, Decision, Description, HostError, Level, Message, PolicyRequest, Preset,
    Reply, RequestContext,
};

/// An auto-responder: the `responder` world. Implement it on a unit struct and export it
/// with [`export_responder!`].
///
/// Each call runs in a fresh instance, so there is no `self`: anything that must outlive a
/// call goes through [`memory`].
pub trait Responder {
    /// The plugin's name, version and wanted capabilities. The host calls it at load time
    /// and checks it against the plugin's `plugin.toml`; keep it constant and cheap.
    fn describe() -> Description;

    /// Answers one message. `Ok(None)` means "no reply", leaving the message for a human;
    /// `Err(reason)` fails the call and `reason` shows up in the agent's plugin log.
    fn respond(ctx: RequestContext, msg: Message) -> Result<Option<Reply>, String>;
}

/// A contract policy: the `contract-policy` world. Implement it on a unit struct and
/// export it with [`export_contract_policy!`].
pub trait ContractPolicy {
    /// As [`Responder::describe`].
    fn describe() -> Description;

    /// The named contracts (presets) this policy defines. The host serves them on
    /// `GET /contracts` and applies them when a connection is accepted.
    fn presets() -> Vec<Preset>;

    /// Whether one categorised message may be delivered, and whether it may be
    /// auto-answered.
    fn decide(req: PolicyRequest) -> Decision;
}

impl Reply {
    /// A reply with `content`.
    pub fn new(content: impl Into<String>) -> Self {
        Reply {
            content: content.into(),
        }
    }
}

impl Description {
    /// A description from its parts; `env!("CARGO_PKG_NAME")` and
    /// `env!("CARGO_PKG_VERSION")` keep it in step with the crate.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        capabilities: impl IntoIterator<Item = Capability>,
    ) -> Self {
        Description {
            name: name.into(),
            version: version.into(),
            capabilities: capabilities.into_iter().collect(),
        }
    }
}

/// Exports a [`Responder`] implementation as the component's `responder` world.
///
/// Use it once, at the top level of the plugin crate. It also installs the panic hook
/// that logs panics through the host before the trap.
#[macro_export]
macro_rules! export_responder {
    ($ty:ty) => {
        // NB: the generated export glue only accepts a plain identifier, so an adapter
        // type with a fixed name bridges it to any `$ty`; the const block keeps that name
        // out of the plugin's namespace.
        const _: () = {
            struct Export;

            impl $crate::__private::responder::Guest for Export {
                fn describe() -> $crate::Description {
                    $crate::__private::install_panic_hook();
                    <$ty as $crate::Responder>::describe()
                }

                fn respond(
                    ctx: $crate::RequestContext,
                    msg: $crate::Message,
                ) -> ::core::result::Result<
                    ::core::option::Option<$crate::Reply>,
                    $crate::__private::String,
                > {
                    $crate::__private::install_panic_hook();
                    <$ty as $crate::Responder>::respond(ctx, msg)
                }
            }

            $crate::__private::responder::__export_responder!(
                Export with_types_in $crate::__private::responder
            );
        };
    };
}

/// Exports a [`ContractPolicy`] implementation as the component's `contract-policy`
/// world.
///
/// Use it once, at the top level of the plugin crate. It also installs the panic hook
/// that logs panics through the host before the trap.
///
/// ```
/// use agentx_sdk::{Capability, ContractPolicy, Decision, Description, Level, PolicyRequest, Preset};
///
/// struct OpenDoor;
///
/// impl ContractPolicy for OpenDoor {
///     fn describe() -> Description {
///         Description::new("open-door", "0.1.0", [Capability::Log])
///     }
///
///     fn presets() -> Vec<Preset> {
///         let all = Level::Auto;
///         vec![Preset { name: "open".into(), info: all, requests: all, personal: all }]
///     }
///
///     fn decide(_req: PolicyRequest) -> Decision {
///         Decision::Auto
///     }
/// }
///
/// agentx_sdk::export_contract_policy!(OpenDoor);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_contract_policy {
    ($ty:ty) => {
        // NB: see `export_responder!` for why there is an adapter type.
        const _: () = {
            struct Export;

            impl $crate::__private::contract_policy::Guest for Export {
                fn describe() -> $crate::Description {
                    $crate::__private::install_panic_hook();
                    <$ty as $crate::ContractPolicy>::describe()
                }

                fn presets() -> $crate::__private::Vec<$crate::Preset> {
                    $crate::__private::install_panic_hook();
                    <$ty as $crate::ContractPolicy>::presets()
                }

                fn decide(req: $crate::PolicyRequest) -> $crate::Decision {
                    $crate::__private::install_panic_hook();
                    <$ty as $crate::ContractPolicy>::decide(req)
                }
            }

            $crate::__private::contract_policy::__export_contract_policy!(
                Export with_types_in $crate::__private::contract_policy
            );
        };
    };
}

/// What the export macros expand to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::{contract_policy, responder};
    pub use crate::panic::install_hook as install_panic_hook;
    pub use std::string::String;
    pub use std::vec::Vec;
}
