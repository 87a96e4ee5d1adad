//! The only `bindgen!`s: Rust types and traits for the worlds in `wit/`.
//!
//! Imports are async (host capabilities do I/O) and trappable (the outer `Err` of a host
//! function traps the guest; the inner `host-error` is what the guest sees).

pub mod responder {
    wasmtime::component::bindgen!({
        world: "responder",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub mod policy {
    wasmtime::component::bindgen!({
        world: "contract-policy",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "agentx:plugin/types": super::responder::agentx::plugin::types,
            "agentx:plugin/log": super::responder::agentx::plugin::log,
            "agentx:plugin/clock": super::responder::agentx::plugin::clock,
        },
    });
}

pub use responder::agentx::plugin::types;
