//! `plugin.toml`: what a plugin is, what it asks for, and the limits it runs under.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The WIT package versions this host can load.
pub const SUPPORTED_WIT: &[&str] = &["agentx:plugin@0.1.0"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    Responder,
    ContractPolicy,
}

impl World {
    pub const ALL: [World; 2] = [World::Responder, World::ContractPolicy];

    /// The WIT world's name (`agentx:plugin/<name>@…`), as plugin.toml spells it.
    pub fn name(self) -> &'static str {
        match self {
            World::Responder => "responder",
            World::ContractPolicy => "contract-policy",
        }
    }

    /// The functions a component of this world exports.
    pub fn exports(self) -> &'static [&'static str] {
        match self {
            World::Responder => &["describe", "respond"],
            World::ContractPolicy => &["describe", "presets", "decide"],
        }
    }

    /// The capabilities this world imports: a policy runs inside message delivery, so it
    /// gets only the cheap, local ones.
    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            World::Responder => &Capability::ALL,
            World::ContractPolicy => &[Capability::Log, Capability::Clock],
        }
    }
}

/// A host capability; each is an imported WIT interface of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    Log,
    Memory,
    History,
    Workspace,
    Clock,
    OutboundHttp,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::Log,
        Capability::Memory,
        Capability::History,
        Capability::Workspace,
        Capability::Clock,
        Capability::OutboundHttp,
    ];

    /// The WIT interface name (`agentx:plugin/<name>@…`).
    pub fn name(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Memory => "memory",
            Capability::History => "history",
            Capability::Workspace => "workspace",
            Capability::Clock => "clock",
            Capability::OutboundHttp => "outbound-http",
        }
    }
}

pub type Capabilities = BTreeSet<Capability>;

/// Per-call limits. agentx.json may lower them, never raise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub timeout_ms: u64,
    pub memory_mib: u64,
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 2000,
            memory_mib: 64,
            max_output_bytes: 64 * 1024,
        }
    }
}

/// Optional lower limits from agentx.json.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    pub timeout_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub max_output_bytes: Option<usize>,
}

impl Limits {
    /// These limits, lowered (never raised) by `overrides`.
    pub fn narrowed(self, overrides: &LimitOverrides) -> Self {
        Self {
            timeout_ms: overrides
                .timeout_ms
                .map_or(self.timeout_ms, |v| v.min(self.timeout_ms)),
            memory_mib: overrides
                .memory_mib
                .map_or(self.memory_mib, |v| v.min(self.memory_mib)),
            max_output_bytes: overrides
                .max_output_bytes
                .map_or(self.max_output_bytes, |v| v.min(self.max_output_bytes)),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib as usize) << 20
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub world: World,
    pub wit: String,
    /// The component, relative to the manifest (default `<name>.wasm`); resolved at load.
    pub component: Option<PathBuf>,
    pub capabilities: Capabilities,
    #[serde(default)]
    pub limits: Limits,
}

impl Manifest {
    /// Reads `path`: a plugin folder (its `plugin.toml`) or a manifest file. The returned
    /// manifest's `component` is an absolute-or-relative path usable as is.
    pub fn load(path: &Path) -> Result<Self, String> {
        let file = if path.is_dir() {
            path.join("plugin.toml")
        } else {
            path.to_owned()
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut manifest =
            Self::parse(&text).map_err(|e| format!("invalid {}: {e}", file.display()))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let component = manifest
            .component
            .take()
            .unwrap_or_else(|| PathBuf::from(format!("{}.wasm", manifest.name)));
        manifest.component = Some(dir.join(component));
        Ok(manifest)
    }

    /// Parses and checks manifest text; `component` is left as written.
    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        if !SUPPORTED_WIT.contains(&manifest.wit.as_str()) {
            return Err(format!(
                "wit {:?} is not supported (this host loads {})",
                manifest.wit,
                SUPPORTED_WIT.join(", ")
            ));
        }
        if manifest.limits.timeout_ms == 0 || manifest.limits.memory_mib == 0 {
            return Err("limits must be above zero".into());
        }
        if manifest.limits.memory_bytes() > super::engine::MAX_MEMORY_BYTES {
            return Err(format!(
                "limits.memory_mib is above this host's maximum of {} MiB",
                super::engine::MAX_MEMORY_BYTES >> 20
            ));
        }
        Ok(manifest)
    }
}

/// A plugin ready to load: its manifest and its component's bytes (binary or WAT text).
#[derive(Clone)]
pub struct PluginSource {
    pub manifest: Manifest,
    pub bytes: std::sync::Arc<[u8]>,
    /// Where it came from, for messages: the component's file, which is what a message
    /// about its contents is about (not the folder or manifest it was found through).
    pub origin: String,
}

impl PluginSource {
    /// Reads a plugin folder (or manifest file) and its component.
    pub fn read(path: &Path) -> Result<Self, String> {
        let manifest = Manifest::load(path)?;
        let component = manifest.component.clone().expect("resolved by load");
        let bytes = std::fs::read(&component)
            .map_err(|e| format!("cannot read {}: {e}", component.display()))?;
        Ok(Self {
            manifest,
            bytes: bytes.into(),
            origin: component.display().to_string(),
        })
    }

    /// The first-party `contracts` policy, built into the binary so that a server without
    /// any plugin files still applies the contract presets (through the plugin runtime).
    pub fn builtin_contracts() -> Self {
        const MANIFEST: &str = include_str!("../../../plugins/contracts/plugin.toml");
        const COMPONENT: &[u8] = include_bytes!("../../../plugins/contracts/contracts.wasm");
        Self {
            manifest: Manifest::parse(MANIFEST).expect("the built-in manifest is valid"),
            bytes: COMPONENT.into(),
            origin: "built-in contracts".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_only_narrow() {
        let limits = Limits::default().narrowed(&LimitOverrides {
            timeout_ms: Some(10_000),
            memory_mib: Some(16),
            max_output_bytes: None,
        });
        assert_eq!(limits.timeout_ms, 2000, "cannot widen");
        assert_eq!(limits.memory_mib, 16);
        assert_eq!(limits.max_output_bytes, 64 * 1024);
    }

    #[test]
    fn first_party_manifests_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        for name in ["echo", "faq", "contracts"] {
            let source = PluginSource::read(&root.join(name)).unwrap();
            assert_eq!(source.manifest.name, name);
            assert!(!source.bytes.is_empty());
        }
    }
}
