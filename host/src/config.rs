//! Configuration: `agentx.json`, then environment, then command-line flags.
//!
//! Every field has a default, so `agentx serve` runs without a file. Unknown keys are
//! warned about (a typo should not silently do nothing); a value of the wrong type fails
//! the start with a message naming the field.

use crate::model::is_agent_id;
use crate::plugins::Capability;
use crate::plugins::health::HealthPolicy;
use crate::plugins::manifest::LimitOverrides;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_PORT: u16 = 4202;
pub const DEFAULT_DAEMON_PORT: u16 = 18800;
/// 256 KiB: far above any chat message, small enough that a flood of bodies cannot exhaust memory.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    /// The network's contract-policy plugin (folder or plugin.toml); default: the built-in
    /// `contracts` plugin.
    pub policy: Option<PathBuf>,
    /// Agents hosted by agentx, keyed by their network agent id.
    pub agents: BTreeMap<String, AgentConfig>,
    /// The file this was read from; `POST /reload` reads it again (none: nothing to reload).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Who may call a hosted agent from outside the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    #[default]
    Private,
    Public,
}

/// An agent that runs inside agentx: a member of the network whose behaviour is plugins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// Display name (default: the agent id).
    pub name: Option<String>,
    /// Directory the `workspace` capability reads from.
    pub workspace: Option<PathBuf>,
    pub tier: Option<String>,
    /// Names the agent answers to in group conversations.
    pub mentions: Vec<String>,
    pub access: Access,
    /// Responder plugin (folder or plugin.toml).
    pub responder: Option<PathBuf>,
    /// Contract-policy plugin deciding messages this agent receives (default: the network's).
    pub policy: Option<PathBuf>,
    /// Capabilities granted to this agent's plugins (`log` always is); deny by default.
    pub grants: Vec<Capability>,
    /// Lower limits than the plugins' manifests ask for.
    pub limits: LimitOverrides,
    /// Hosts `outbound-http` may reach: exact names or `*.example.com`.
    pub http_allow: Vec<String>,
}

impl AgentConfig {
    pub fn display_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(id)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address of the public listener (the network API).
    pub bind: IpAddr,
    pub port: u16,
    /// Port of the operator listener; always bound to loopback.
    pub daemon_port: u16,
    pub data_dir: PathBuf,
    /// `postgres://USER[:PW]@HOST:PORT/DB`: keep everything in this PostgreSQL database,
    /// shared by any number of nodes, instead of the embedded store in `data_dir` (which
    /// then only holds the plugin cache). `--database-url` and `AGENTX_DATABASE_URL` win.
    pub database_url: Option<String>,
    /// Where compiled plugins are kept; default `<data_dir>/plugin-cache`. Servers may share
    /// one: entries are named by the component's sha256 and the engine's compatibility hash
    /// and written by rename.
    pub plugin_cache_dir: Option<PathBuf>,
    /// Base URL for links handed out (join URLs); default: the request's Host.
    pub public_url: Option<String>,
    /// Admin key; `AGENTX_ADMIN_KEY` overrides it. Unset: admin routes answer 403.
    pub admin_key: Option<String>,
    pub body_limit_bytes: usize,
    pub rate_limit: RateLimitConfig,
    pub limits: LimitsConfig,
    /// Reverse proxies in front of the public listener (addresses or CIDR ranges): only
    /// from these is `X-Forwarded-For` believed about who the client is.
    pub trusted_proxies: TrustedProxies,
    pub connections: ConnectionConfig,
    pub webhooks: WebhookConfig,
    pub plugin_health: PluginHealthConfig,
    /// Reload when agentx.json or a plugin file it names changes (`agentx serve --watch`),
    /// as `POST /reload` does.
    pub watch: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: DEFAULT_PORT,
            daemon_port: DEFAULT_DAEMON_PORT,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            plugin_cache_dir: None,
            public_url: None,
            admin_key: None,
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            rate_limit: RateLimitConfig::default(),
            limits: LimitsConfig::default(),
            trusted_proxies: TrustedProxies::default(),
            connections: ConnectionConfig::default(),
            webhooks: WebhookConfig::default(),
            plugin_health: PluginHealthConfig::default(),
            watch: false,
        }
    }
}

/// Requests per proven identity (agent, token, admin), or per client address until a
/// credential is proven.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
    /// Refused credentials (401, 403) one client address may present per minute, burst
    /// included; past it the address's requests without a proven credential get 429.
    pub failed_auth_per_minute: NonZeroU32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // Generous enough for scripted clients and test suites registering many agents from
        // one address; low enough to stop a runaway loop. Refusals: a client that typed its
        // key wrong retries a few times; 20 a minute leaves a guesser ~10^4 guesses a day.
        Self {
            per_second: NonZeroU32::new(100).expect("non-zero"),
            burst: NonZeroU32::new(200).expect("non-zero"),
            failed_auth_per_minute: NonZeroU32::new(20).expect("non-zero"),
        }
    }
}

/// Budgets of what stays written: how fast one client address may add to the store.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Registrations one client address may make per hour, burst included.
    pub registrations_per_hour: NonZeroU32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        // A team setting up its agents, or a test suite, from one address; not a script
        // filling the disk with accounts.
        Self {
            registrations_per_hour: NonZeroU32::new(100).expect("non-zero"),
        }
    }
}

/// Addresses and CIDR ranges (`"10.0.0.0/8"`, `"::1"`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                            "{entry:?} is neither an IP address nor a CIDR range"
                        ))
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

/// How many connections both listeners hold open and how long a client may take: what keeps
/// slow or piled-up clients from exhausting file descriptors or holding shutdown open.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct ConnectionConfig {
    /// Time a client has to send a request's complete headers, from its first byte (or, on a
    /// new connection, from the connection's opening).
    pub header_read_timeout_ms: u64,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout_ms: u64,
    /// Time a client has to send a whole request body, from the end of its headers.
    pub body_read_timeout_ms: u64,
    /// Connections open at once over both listeners; when full, the oldest idle one is
    /// closed to make room (none idle: the new one is refused). Keep it below `ulimit -n`.
    pub max_connections: NonZeroUsize,
    /// Connections open at once from one client address, shed the same way.
    pub max_connections_per_address: NonZeroUsize,
    /// How long shutdown waits for requests in flight before it closes their connections.
    pub shutdown_timeout_ms: u64,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            // Headers are a few hundred bytes: 10 s is generous even on a bad mobile link.
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            // 256 KiB at dial-up speed takes ~40 s; a client slower than that is not a client.
            body_read_timeout_ms: 60_000,
            // Below the descriptor limits servers are usually given, leaving room for the store
            // and webhooks; per address, a thousand agents long-polling from behind one NAT or
            // reverse proxy (idle connections are shed first, so only requests in flight count).
            max_connections: NonZeroUsize::new(4096).expect("non-zero"),
            max_connections_per_address: NonZeroUsize::new(1024).expect("non-zero"),
            shutdown_timeout_ms: 10_000,
        }
    }
}

/// Webhook delivery: the URL rules' relaxations (for local testing only), timeouts and the
/// retry schedule.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    pub allow_http: bool,
    pub allow_private: bool,
    /// Whole-request timeout of one delivery attempt.
    pub timeout_ms: u64,
    /// Wait after the first failure; doubled after each next one (with jitter).
    pub retry_first_delay_ms: u64,
    /// Longest wait between two attempts.
    pub retry_max_delay_ms: u64,
    /// How long a delivery is retried before it is dead (from its queueing or replay).
    pub retry_window_seconds: u64,
    /// Timeout of making the connection, within `timeout_ms`: a receiver that is down
    /// should cost a slot briefly.
    pub connect_timeout_ms: u64,
    /// Attempts running at once, over all agents.
    pub max_in_flight: usize,
    /// Attempts running at once for one agent: its share, whatever its backlog.
    pub max_in_flight_per_agent: usize,
    /// Attempts running at once to one receiver (`host:port`), whoever they are for.
    pub max_in_flight_per_destination: usize,
    /// Attempts in a row a receiver leaves unanswered (refused, timed out) before its
    /// deliveries are deferred for `breaker_cool_down_ms` (then one probe is let through).
    pub breaker_failures: u32,
    pub breaker_cool_down_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            allow_private: false,
            // Receivers should answer at once and work afterwards; 10 s is generous.
            timeout_ms: 10_000,
            // 5 s, 10 s, 20 s … up to 10 min: quick through a blip, gentle on an outage.
            retry_first_delay_ms: 5_000,
            retry_max_delay_ms: 600_000,
            // A day: long enough to outlast a receiver's outage, short enough to matter.
            retry_window_seconds: 86_400,
            connect_timeout_ms: 3_000,
            max_in_flight: 64,
            // A quarter of a receiver's fair use: one agent's backlog takes 4 slots of 64,
            // one receiver (shared by several agents) 8.
            max_in_flight_per_agent: 4,
            max_in_flight_per_destination: 8,
            breaker_failures: 5,
            // A minute: a dead receiver costs one probe a minute, a blip delays a minute.
            breaker_cool_down_ms: 60_000,
        }
    }
}

/// When a plugin counts as degraded (calls refused with 503) and how soon it is tried again.
/// Only host-side faults count: traps, timeouts, memory exhaustion.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct PluginHealthConfig {
    /// Consecutive faults after which the plugin is degraded.
    pub degraded_after: u32,
    /// Wait before the first probe call; doubled after each failed probe.
    pub recovery_first_delay_ms: u64,
    /// Longest wait between two probes.
    pub recovery_max_delay_ms: u64,
}

impl Default for PluginHealthConfig {
    fn default() -> Self {
        let policy = HealthPolicy::default();
        Self {
            degraded_after: policy.degraded_after,
            recovery_first_delay_ms: policy.first_backoff.as_millis() as u64,
            recovery_max_delay_ms: policy.max_backoff.as_millis() as u64,
        }
    }
}

impl PluginHealthConfig {
    pub fn policy(&self) -> HealthPolicy {
        HealthPolicy {
            degraded_after: self.degraded_after.max(1),
            first_backoff: Duration::from_millis(self.recovery_first_delay_ms),
            max_backoff: Duration::from_millis(
                self.recovery_max_delay_ms.max(self.recovery_first_delay_ms),
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads a config file, warning about keys agentx does not know. Relative paths in it
    /// are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        config.source = Some(path.to_owned());
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.policy.iter_mut().for_each(resolve);
        for agent in self.agents.values_mut() {
            agent.workspace.iter_mut().for_each(resolve);
            agent.responder.iter_mut().for_each(resolve);
            agent.policy.iter_mut().for_each(resolve);
        }
    }

    /// Parses config text; the error names the field at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let mut unknown = Vec::new();
        let mut record = |path: serde_ignored::Path| unknown.push(path.to_string());
        let config: Config = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
            &mut de,
            &mut record,
        ))
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
        for key in unknown {
            tracing::warn!(key, "unknown config key ignored");
        }
        for id in config.agents.keys() {
            if !is_agent_id(id) {
                return Err(format!(
                    "agents.{id}: agent ids are 1 to 64 characters of a-z, 0-9, - and _"
                ));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    #[test]
    fn empty_config_is_all_defaults() {
        let config = Config::parse("{}").unwrap();
        assert_eq!(config.server.port, DEFAULT_PORT);
        assert_eq!(config.server.body_limit_bytes, DEFAULT_BODY_LIMIT_BYTES);
    }

    #[test]
    fn errors_name_the_field() {
        let e = Config::parse(r#"{"server": {"port": "eighty"}}"#).unwrap_err();
        assert!(e.starts_with("server.port"), "{e}");
        let e = Config::parse(r#"{"server": {"rate_limit": {"burst": 0}}}"#).unwrap_err();
        assert!(e.starts_with("server.rate_limit.burst"), "{e}");
    }

    #[test]
    fn agents_and_their_fields() {
        let config = Config::parse(
            r#"{"agents": {"support": {"name": "Support", "access": "public",
                "responder": "plugins/faq", "grants": ["memory", "workspace"]}}}"#,
        )
        .unwrap();
        let support = &config.agents["support"];
        assert_eq!(support.access, Access::Public);
        assert_eq!(
            support.grants,
            vec![Capability::Memory, Capability::Workspace]
        );
        let e = Config::parse(r#"{"agents": {"a": {"access": "open"}}}"#).unwrap_err();
        assert!(e.starts_with("agents.a.access"), "{e}");
        let e = Config::parse(r#"{"agents": {"a": {"grants": ["root"]}}}"#).unwrap_err();
        assert!(e.starts_with("agents.a.grants"), "{e}");
        let e = Config::parse(r#"{"agents": {"Bad Id": {}}}"#).unwrap_err();
        assert!(e.contains("agent ids"), "{e}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let config =
            Config::parse(r#"{"server": {"trusted_proxies": ["10.0.0.0/8", "::1"]}}"#).unwrap();
        let proxies = &config.server.trusted_proxies;
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("::1".parse().unwrap()));
        assert!(!proxies.contains("11.0.0.1".parse().unwrap()));
        let e = Config::parse(r#"{"server": {"trusted_proxies": ["proxy.local"]}}"#).unwrap_err();
        assert!(e.starts_with("server.trusted_proxies"), "{e}");
    }

    #[test]
    fn unknown_keys_are_not_fatal() {
        assert!(Config::parse(r#"{"server": {"prot": 1}, "extra": true}"#).is_ok());
    }

    /// Every key agentx.json knows, so that arbitrary documents reach the fields' own
    /// deserialisers and not only the "unknown key" path.
    const KEYS: &[&str] = &[
        "server",
        "policy",
        "agents",
        "bind",
        "port",
        "daemon_port",
        "data_dir",
        "plugin_cache_dir",
        "public_url",
        "admin_key",
        "body_limit_bytes",
        "rate_limit",
        "per_second",
        "burst",
        "connections",
        "max_connections",
        "webhooks",
        "allow_http",
        "timeout_ms",
        "plugin_health",
        "degraded_after",
        "watch",
        "name",
        "workspace",
        "tier",
        "mentions",
        "access",
        "responder",
        "grants",
        "limits",
        "memory_mib",
        "max_output_bytes",
        "http_allow",
        "support",
        "a",
    ];

    /// Any JSON value, with object keys mostly drawn from [`KEYS`].
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(vec!["public", "private", "memory", "0.0.0.0", "::1", ""])
                .prop_map(Value::from),
            "\\PC{0,16}".prop_map(Value::from),
        ];
        let key =
            prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_owned), 1 => "\\PC{0,8}"];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Runs `f` with the warnings it logs captured as text.
    fn warnings_of<T>(f: impl FnOnce() -> T) -> (T, String) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        let out = tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
        (out, text)
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn agent_id() -> impl Strategy<Value = String> {
        "[a-z0-9_-]{1,64}"
    }

    proptest! {
        /// Arbitrary text, arbitrary bytes read as a file and arbitrary JSON documents are
        /// each a config or an error message; never a panic.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,64}|.{0,64}") {
            let _ = Config::parse(&text);
        }

        #[test]
        fn any_file_loads_or_is_refused(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("agentx.json");
            std::fs::write(&path, &bytes).unwrap();
            let _ = Config::load(&path);
        }

        #[test]
        fn any_json_parses_or_names_the_field(value in any_json()) {
            if let Err(message) = Config::parse(&value.to_string()) {
                prop_assert!(!message.is_empty());
            }
        }

        /// A valid config comes back with the values written, whatever they are.
        #[test]
        fn valid_configs_round_trip(
            bind in any::<IpAddr>(),
            port in any::<u16>(),
            daemon_port in any::<u16>(),
            body_limit in any::<usize>(),
            per_second in 1..=u32::MAX,
            public_url in proptest::option::of("\\PC{0,20}"),
            id in agent_id(),
            name in proptest::option::of("\\PC{0,20}"),
            mentions in prop::collection::vec("\\PC{0,10}", 0..4),
            public in any::<bool>(),
            grants in prop::sample::subsequence(Capability::ALL.to_vec(), 0..=6),
            timeout_ms in proptest::option::of(any::<u64>()),
        ) {
            let text = json!({
                "server": {"bind": bind, "port": port, "daemon_port": daemon_port,
                    "body_limit_bytes": body_limit, "public_url": public_url,
                    "rate_limit": {"per_second": per_second}},
                "agents": {&id: {"name": name, "mentions": mentions,
                    "access": if public { "public" } else { "private" },
                    "grants": grants.iter().map(|c| c.name()).collect::<Vec<_>>(), "limits": {"timeout_ms": timeout_ms}}},
            })
            .to_string();
            let config = Config::parse(&text).map_err(TestCaseError::fail)?;
            let server = &config.server;
            prop_assert_eq!(
                (server.bind, server.port, server.daemon_port, server.body_limit_bytes),
                (bind, port, daemon_port, body_limit)
            );
            prop_assert_eq!(server.rate_limit.per_second.get(), per_second);
            prop_assert_eq!(&server.public_url, &public_url);
            let agent = &config.agents[&id];
            prop_assert_eq!(&agent.name, &name);
            prop_assert_eq!(&agent.mentions, &mentions);
            prop_assert_eq!(agent.access == Access::Public, public);
            prop_assert_eq!(&agent.grants, &grants);
            prop_assert_eq!(agent.limits.timeout_ms, timeout_ms);
        }

        /// A key agentx does not know, at any level, is not fatal and is warned about by
        /// its full path.
        #[test]
        fn unknown_keys_warn(
            key in "[a-z_]{1,12}x",
            at in 0..4usize,
            value in any_json(),
        ) {
            let mut config = json!({"server": {"webhooks": {}}, "agents": {"a": {"limits": {}}}});
            let (parent, path) = match at {
                0 => (&mut config, key.clone()),
                1 => (&mut config["server"], format!("server.{key}")),
                2 => (&mut config["server"]["webhooks"], format!("server.webhooks.{key}")),
                _ => (&mut config["agents"]["a"], format!("agents.a.{key}")),
            };
            parent[&key] = value;
            let (parsed, logged) = warnings_of(|| Config::parse(&config.to_string()));
            prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
            prop_assert!(logged.contains("unknown config key ignored"), "{}", logged);
            prop_assert!(logged.contains(&path), "{} not in {}", path, logged);
        }
    }
}
