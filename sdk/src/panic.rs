//! Makes panics visible to the operator.
//!
//! Plugins are built with `panic = "abort"`, so a panic becomes a wasm `unreachable` trap
//! and the host only learns "the guest trapped". The hook below runs before the abort and
//! sends the panic message and location through the host's log, which is always granted.

use std::sync::Once;

/// Installs the hook once per instance. The export macros call it at the top of every
/// export, which costs one atomic load after the first call.
pub fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            crate::log::error(format_args!("plugin {info}"));
        }));
    });
}
