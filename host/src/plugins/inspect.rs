//! What is wrong with a component, in words its author can act on.
//!
//! Checked before a plugin is loaded, so the server, `agentx reload` and `agentx plugin
//! check` all say *why* a component is refused (a core module, another WIT version, the
//! other world, an import this host does not provide or the manifest does not declare)
//! rather than pass on the linker's type error.

use super::manifest::{Capability, Manifest, SUPPORTED_WIT, World};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package the host's worlds live in.
const PACKAGE: &str = "agentx:plugin";
/// The interface of `PACKAGE` that only holds types; every world may import it.
const TYPES: &str = "types";

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("{origin} is not WebAssembly at all ({what}); a plugin is a WebAssembly component")]
    NotWasm { origin: String, what: String },
    #[error(
        "{origin} is a core WebAssembly module, not a component: wrap it in a component of \
         world responder or contract-policy (`agentx plugin build` does for WAT and Rust; \
         `wasm-tools component embed` then `component new` for any module)"
    )]
    CoreModule { origin: String },
    #[error(
        "{origin} was built against {found}, but this host loads {supported}: rebuild it \
         against this agentx's wit/"
    )]
    WitVersion {
        origin: String,
        found: String,
        supported: String,
    },
    #[error("{origin} implements world {found}, but its plugin.toml says world = \"{expected}\"")]
    WrongWorld {
        origin: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error(
        "{origin} does not export `{export}`, which world {world} needs (it exports: {exports})"
    )]
    MissingExport {
        origin: String,
        export: &'static str,
        world: &'static str,
        exports: String,
    },
    #[error(
        "{origin} imports {import}, which this host does not provide to world {world} \
         (it provides {provided})"
    )]
    UnknownImport {
        origin: String,
        import: String,
        world: &'static str,
        provided: String,
    },
    #[error(
        "plugin {plugin} imports {capability} but its manifest does not ask for it: add \
         \"{capability}\" to capabilities in its plugin.toml (and grant it in agentx.json)"
    )]
    Undeclared {
        plugin: String,
        capability: &'static str,
    },
}

/// What a file holds, judged from its first bytes (WAT text is parsed first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Component,
    CoreModule,
}

/// Refuses anything but a component, binary or WAT text.
pub fn format(bytes: &[u8], origin: &str) -> Result<Format, Problem> {
    const MAGIC: &[u8] = b"\0asm";
    if let Some(header) = bytes.strip_prefix(MAGIC) {
        // The version is 1 for core modules; components put their layer (1) in the upper half.
        return match header.get(..4) {
            Some([1, 0, 0, 0]) => Err(Problem::CoreModule {
                origin: origin.into(),
            }),
            Some([_, _, 1, 0]) => Ok(Format::Component),
            _ => Err(Problem::NotWasm {
                origin: origin.into(),
                what: "a WebAssembly header of an unknown version".into(),
            }),
        };
    }
    let not_wasm = |what: String| Problem::NotWasm {
        origin: origin.into(),
        what,
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        let start = bytes
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>();
        return Err(not_wasm(format!(
            "it starts with bytes {}, not \\0asm",
            start.join(" ")
        )));
    };
    match wat::parse_str(text) {
        Ok(binary) => format(&binary, origin),
        Err(e) if text.trim_start().starts_with(['(', ';']) => {
            Err(not_wasm(format!("WAT text that does not parse: {e}")))
        }
        Err(_) => {
            let start: String = text.trim_start().chars().take(24).collect();
            Err(not_wasm(format!("it is text starting {start:?}")))
        }
    }
}

/// Checks a compiled component against the world and capabilities its manifest names.
pub fn examine(
    engine: &Engine,
    component: &Component,
    manifest: &Manifest,
    origin: &str,
) -> Result<(), Problem> {
    let ty = component.component_type();
    let imports: Vec<&str> = ty.imports(engine).map(|(name, _)| name).collect();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();

    // The version first: a component of another WIT version mismatches everything else too.
    for import in &imports {
        if let Some((_, version)) = import
            .strip_prefix(PACKAGE)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split_once('@'))
        {
            let found = format!("{PACKAGE}@{version}");
            if !SUPPORTED_WIT.contains(&found.as_str()) {
                return Err(Problem::WitVersion {
                    origin: origin.into(),
                    found,
                    supported: SUPPORTED_WIT.join(", "),
                });
            }
        }
    }

    let expected = manifest.world;
    if let Some(found) = World::ALL
        .into_iter()
        .find(|w| w.exports().iter().all(|e| exports.contains(e)))
        .filter(|found| *found != expected)
    {
        return Err(Problem::WrongWorld {
            origin: origin.into(),
            found: found.name(),
            expected: expected.name(),
        });
    }
    if let Some(export) = expected
        .exports()
        .iter()
        .copied()
        .find(|e| !exports.contains(e))
    {
        return Err(Problem::MissingExport {
            origin: origin.into(),
            export,
            world: expected.name(),
            exports: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        });
    }

    let offered = expected.capabilities();
    for import in imports {
        // WASI is linked deny-all for guests with a libc or language runtime; the linker
        // names a WASI version it does not have.
        if import.starts_with("wasi:") {
            continue;
        }
        let interface = import
            .strip_prefix(PACKAGE)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split_once('@'))
            .map(|(interface, _)| interface);
        if interface == Some(TYPES) {
            continue;
        }
        let Some(capability) =
            interface.and_then(|i| offered.iter().copied().find(|c| c.name() == i))
        else {
            let provided = std::iter::once(TYPES)
                .chain(offered.iter().map(|c| c.name()))
                .map(|i| format!("{PACKAGE}/{i}"))
                .chain(["wasi:* 0.2 (deny-all)".to_owned()])
                .collect::<Vec<_>>();
            return Err(Problem::UnknownImport {
                origin: origin.into(),
                import: import.into(),
                world: expected.name(),
                provided: provided.join(", "),
            });
        };
        if capability != Capability::Log && !manifest.capabilities.contains(&capability) {
            return Err(Problem::Undeclared {
                plugin: manifest.name.clone(),
                capability: capability.name(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart() {
        assert_eq!(format(b"(component)", "c").unwrap(), Format::Component);
        let core = wat::parse_str("(module)").unwrap();
        assert!(matches!(
            format(&core, "m"),
            Err(Problem::CoreModule { .. })
        ));
        assert!(matches!(
            format(b"(module)", "m"),
            Err(Problem::CoreModule { .. })
        ));
        for junk in [&b"hello world"[..], b"\x7fELF\x02\x01", b"(component oops"] {
            assert!(matches!(format(junk, "j"), Err(Problem::NotWasm { .. })));
        }
    }
}
