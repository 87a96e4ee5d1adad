//! The code wit-bindgen generates from `../wit`, one module per world.
//!
//! Both worlds are generated with `pub_export_macro`, which makes wit-bindgen split each
//! world's component-type section in two: an imports-only section emitted here (harmless
//! in every plugin, since `wasm-tools component new` drops unused imports), and the
//! section describing the exports, emitted only where the export macro is invoked. That
//! is what lets one SDK crate serve both worlds: a responder plugin never carries the
//! contract-policy exports, which `component new` would otherwise insist it implement.

/// The `responder` world: every capability import, the shared types, and the export glue
/// behind [`export_responder!`](crate::export_responder).
pub mod responder {
    wit_bindgen::generate!({
        path: "../wit",
        world: "agentx:plugin/responder@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_responder",
        default_bindings_module: "agentx_sdk::__private::responder",
        // Lets plugins and tests compare replies, decisions and presets directly.
        additional_derives: [PartialEq, Eq],
    });
}

/// The `contract-policy` world. Its imports and types are a subset of `responder`'s and
/// are mapped onto those, so a [`Level`](crate::Level) or a log call is the same Rust
/// item whichever world a plugin exports.
// The canonical ABI flattens `policy-request` into ten core parameters, so the generated
// `decide` glue has ten arguments; that is the ABI's shape, not a design choice to lint.
#[allow(clippy::too_many_arguments)]
pub mod contract_policy {
    wit_bindgen::generate!({
        path: "../wit",
        world: "agentx:plugin/contract-policy@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_contract_policy",
        default_bindings_module: "agentx_sdk::__private::contract_policy",
        with: {
            "agentx:plugin/types@0.1.0": crate::bindings::responder::agentx::plugin::types,
            "agentx:plugin/log@0.1.0": crate::bindings::responder::agentx::plugin::log,
            "agentx:plugin/clock@0.1.0": crate::bindings::responder::agentx::plugin::clock,
        },
    });
}
