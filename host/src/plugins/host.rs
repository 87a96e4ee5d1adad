//! Per-call host state and the capability imports.
//!
//! A [`CallState`] is made for each call and dropped with its store, so nothing a plugin
//! does outlives the call except through a capability (memory). Every import checks the
//! grant first; a capability the manifest asked for but agentx.json did not grant answers
//! `host-error::denied` (the plugin may carry on without it). Imports of capabilities the
//! manifest never asked for are refused earlier, when the component is loaded. Each import
//! is bounded in size and, where it does I/O, in time, so a plugin cannot hang the host
//! through one.
//!
//! Guests built with a libc or a language runtime (C, Python) also import WASI. They get a
//! deny-all one ([`GuestWasi`]): nothing of the machine they run on is reachable through it.

use super::bindings::responder::agentx::plugin::{
    clock, history, log, memory, outbound_http, types::HostError, workspace,
};
use super::log::PluginLog;
use super::manifest::{Capabilities, Capability};
use crate::clock::Clock;
use crate::store::{Rejection, Store, StoreError};
use std::path::{Component as PathPart, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// Budget for one host call doing I/O.
const HOST_IO_TIMEOUT: Duration = Duration::from_secs(2);
pub const MAX_MEMORY_KEY_BYTES: usize = 256;
pub const MAX_MEMORY_VALUE_BYTES: usize = 64 * 1024;
/// Keys one agent may keep in memory.
pub const MAX_MEMORY_KEYS: usize = 1000;
const MAX_WORKSPACE_FILE_BYTES: u64 = 1 << 20;
const MAX_DIR_ENTRIES: usize = 1000;
const MAX_HISTORY_TURNS: u32 = 100;
const MAX_HTTP_BODY_BYTES: usize = 1 << 20;
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// What a guest may write to its WASI stdout and to its stderr in one call; a write past it
/// traps the call, like any other limit.
const MAX_STDIO_BYTES: usize = 64 * 1024;

/// Host resources shared by every call.
#[derive(Clone)]
pub struct HostServices {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
}

/// What an agent's plugin may reach, fixed when the plugin is loaded for that agent.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub capabilities: Capabilities,
    pub workspace: Option<PathBuf>,
    /// Hosts outbound-http may reach: exact names, or `*.example.com` for subdomains.
    pub http_allow: Vec<String>,
}

/// Which conversation a call belongs to, for `history`.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub agent: String,
    pub session: Session,
}

/// Where a conversation's turns are kept.
#[derive(Debug, Clone)]
pub enum Session {
    /// No conversation (loading, policy decisions).
    None,
    /// A network thread: its messages are the turns.
    Thread(String),
    /// A chat of public-api or daemon tasks, kept per agent and chat id.
    Chat(String),
}

pub struct CallState {
    pub limits: StoreLimits,
    pub plugin: Arc<str>,
    pub conversation: Conversation,
    pub grants: Arc<Grants>,
    pub services: HostServices,
    pub log: Arc<PluginLog>,
    /// Made on the first WASI call, so guests that import no WASI (Rust, JS, WAT) pay
    /// nothing for it. NB: the mutex is never locked (it is reached with `get_mut`); it only
    /// makes `CallState` `Sync`, which the import futures borrowing it need, and `WasiCtx`
    /// is not.
    pub wasi: Option<std::sync::Mutex<GuestWasi>>,
}

type Outcome<T> = wasmtime::Result<Result<T, HostError>>;

impl CallState {
    fn require(&self, capability: Capability) -> Result<(), HostError> {
        if self.grants.capabilities.contains(&capability) {
            return Ok(());
        }
        let message = format!(
            "capability {} is not granted to plugin {} for agent {}",
            capability.name(),
            self.plugin,
            self.conversation.agent
        );
        self.log.push("warn", "host", message.clone());
        tracing::warn!(agent = %self.conversation.agent, plugin = %self.plugin, capability = capability.name(), "capability denied");
        Err(HostError::Denied(message))
    }
}

fn failed(e: impl std::fmt::Display) -> HostError {
    HostError::Failed(e.to_string())
}

fn store_failed(e: StoreError) -> HostError {
    match e {
        StoreError::Rejected(Rejection::QuotaExceeded) => HostError::TooLarge,
        other => failed(other),
    }
}

/// Runs host I/O under the import time budget.
async fn bounded<T>(io: impl Future<Output = Result<T, HostError>>) -> Result<T, HostError> {
    tokio::time::timeout(HOST_IO_TIMEOUT, io)
        .await
        .unwrap_or(Err(HostError::Timeout))
}

impl super::bindings::responder::agentx::plugin::types::Host for CallState {}

/// The WASI of one call, deny-all: no preopened directories (so no filesystem at all), no
/// environment variables, no arguments, an empty stdin, no network (TCP, UDP and name
/// lookup are all refused). What remains is harmless or bounded:
/// - stdout and stderr are captured (up to [`MAX_STDIO_BYTES`] each) and copied into the
///   plugin's log after the call;
/// - the wall clock is the host's clock only when the agent is granted `clock`, as for the
///   `clock` import; otherwise it reads the Unix epoch;
/// - the monotonic clock counts from the start of the call, so it tells nothing about the
///   host beyond what the guest could measure by itself;
/// - random numbers come from the host's generator: they reveal nothing about the host.
pub struct GuestWasi {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl GuestWasi {
    fn new(wall_clock: Option<Arc<dyn Clock>>) -> Self {
        let stdout = MemoryOutputPipe::new(MAX_STDIO_BYTES);
        let stderr = MemoryOutputPipe::new(MAX_STDIO_BYTES);
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(GuestWallClock(wall_clock))
            .monotonic_clock(GuestMonotonicClock(Instant::now()))
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }

    /// Copies what the guest printed into its log, a line per entry.
    pub fn drain_into(&self, log: &PluginLog) {
        for (pipe, level) in [(&self.stdout, "info"), (&self.stderr, "warn")] {
            let printed = pipe.contents();
            for line in String::from_utf8_lossy(&printed).lines() {
                if !line.trim().is_empty() {
                    log.push(level, "plugin", line.to_owned());
                }
            }
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wall_clock = self
            .grants
            .capabilities
            .contains(&Capability::Clock)
            .then(|| self.services.clock.clone());
        let wasi = self
            .wasi
            .get_or_insert_with(|| std::sync::Mutex::new(GuestWasi::new(wall_clock)))
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

/// The host's clock when granted, else a clock stopped at the Unix epoch.
struct GuestWallClock(Option<Arc<dyn Clock>>);

impl HostWallClock for GuestWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.as_ref().map_or(Duration::ZERO, |clock| {
            let now = clock.now();
            Duration::new(now.timestamp().max(0) as u64, now.timestamp_subsec_nanos())
        })
    }
}

/// Nanoseconds since the call started.
struct GuestMonotonicClock(Instant);

impl HostMonotonicClock for GuestMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.elapsed().as_nanos().min(u64::MAX as u128) as u64
    }
}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let (agent, plugin) = (&self.conversation.agent, &*self.plugin);
        let level = match level {
            log::Level::Trace => {
                tracing::trace!(agent, plugin, "{message}");
                "trace"
            }
            log::Level::Debug => {
                tracing::debug!(agent, plugin, "{message}");
                "debug"
            }
            log::Level::Info => {
                tracing::info!(agent, plugin, "{message}");
                "info"
            }
            log::Level::Warn => {
                tracing::warn!(agent, plugin, "{message}");
                "warn"
            }
            log::Level::Error => {
                tracing::error!(agent, plugin, "{message}");
                "error"
            }
        };
        self.log.push(level, "plugin", message);
        Ok(())
    }
}

impl CallState {
    /// Runs a memory operation on this agent's memory, if granted, within the I/O budget.
    async fn with_memory<T, F, Fut>(&self, op: F) -> Result<T, HostError>
    where
        F: FnOnce(Arc<dyn Store>, String) -> Fut,
        Fut: Future<Output = crate::store::Result<T>>,
    {
        self.require(Capability::Memory)?;
        let io = op(self.services.store.clone(), self.conversation.agent.clone());
        bounded(async move { io.await.map_err(store_failed) }).await
    }
}

impl memory::Host for CallState {
    async fn get(&mut self, key: String) -> Outcome<Option<String>> {
        Ok(self
            .with_memory(|store, agent| async move { store.memory_get(&agent, &key).await })
            .await)
    }

    async fn set(&mut self, key: String, value: String) -> Outcome<()> {
        if let Err(e) = self.require(Capability::Memory) {
            return Ok(Err(e));
        }
        if key.is_empty() || key.len() > MAX_MEMORY_KEY_BYTES {
            return Ok(Err(HostError::Invalid(format!(
                "memory keys are 1 to {MAX_MEMORY_KEY_BYTES} bytes"
            ))));
        }
        if value.len() > MAX_MEMORY_VALUE_BYTES {
            return Ok(Err(HostError::TooLarge));
        }
        Ok(self
            .with_memory(|store, agent| async move {
                store
                    .memory_set(&agent, &key, &value, MAX_MEMORY_KEYS)
                    .await
            })
            .await)
    }

    async fn delete(&mut self, key: String) -> Outcome<bool> {
        Ok(self
            .with_memory(|store, agent| async move { store.memory_delete(&agent, &key).await })
            .await)
    }

    async fn list_keys(&mut self, prefix: String) -> Outcome<Vec<String>> {
        Ok(self
            .with_memory(|store, agent| async move { store.memory_keys(&agent, &prefix).await })
            .await)
    }
}

impl history::Host for CallState {
    async fn recent(&mut self, limit: u32) -> Outcome<Vec<history::Turn>> {
        if let Err(e) = self.require(Capability::History) {
            return Ok(Err(e));
        }
        let store = self.services.store.clone();
        let agent = self.conversation.agent.clone();
        let limit = limit.min(MAX_HISTORY_TURNS) as usize;
        let thread = match self.conversation.session.clone() {
            Session::None => return Ok(Ok(Vec::new())),
            Session::Chat(chat) => {
                return Ok(bounded(async move {
                    let turns = store
                        .chat_turns(&agent, &chat, limit)
                        .await
                        .map_err(store_failed)?;
                    Ok(turns.into_iter().map(Into::into).collect())
                })
                .await);
            }
            Session::Thread(thread) => thread,
        };
        Ok(bounded(async move {
            let messages = store.thread_messages(&thread).await.map_err(store_failed)?;
            let skip = messages.len().saturating_sub(limit);
            Ok(messages
                .into_iter()
                .skip(skip)
                .map(|m| history::Turn {
                    role: if m.from_agent_id == agent {
                        history::Role::Outgoing
                    } else {
                        history::Role::Incoming
                    },
                    sender: m.from_agent_id,
                    content: m.content,
                    at: m.created_at.to_rfc3339(),
                })
                .collect())
        })
        .await)
    }
}

impl CallState {
    /// `relative` inside the agent's workspace, refusing absolute paths, `..`, and
    /// symlinks that lead outside.
    async fn workspace_path(&self, relative: &str) -> Result<PathBuf, HostError> {
        self.require(Capability::Workspace)?;
        let root = self
            .grants
            .workspace
            .as_ref()
            .ok_or_else(|| HostError::Denied("this agent has no workspace".into()))?;
        let escapes = Path::new(relative)
            .components()
            .any(|part| !matches!(part, PathPart::Normal(_) | PathPart::CurDir));
        if escapes {
            return Err(HostError::Invalid(format!(
                "{relative:?} is not a relative path inside the workspace"
            )));
        }
        let root = tokio::fs::canonicalize(root).await.map_err(failed)?;
        let path = tokio::fs::canonicalize(root.join(relative))
            .await
            .map_err(|_| HostError::NotFound)?;
        if !path.starts_with(&root) {
            return Err(HostError::Denied(format!(
                "{relative:?} leads outside the workspace"
            )));
        }
        Ok(path)
    }

    async fn read_workspace_file(&self, relative: &str) -> Result<Vec<u8>, HostError> {
        let path = self.workspace_path(relative).await?;
        bounded(async move {
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|_| HostError::NotFound)?;
            if !meta.is_file() {
                return Err(HostError::NotFound);
            }
            if meta.len() > MAX_WORKSPACE_FILE_BYTES {
                return Err(HostError::TooLarge);
            }
            tokio::fs::read(&path).await.map_err(failed)
        })
        .await
    }
}

impl workspace::Host for CallState {
    async fn read_string(&mut self, path: String) -> Outcome<String> {
        Ok(self.read_workspace_file(&path).await.and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| HostError::Invalid(format!("{path:?} is not UTF-8")))
        }))
    }

    async fn read_bytes(&mut self, path: String) -> Outcome<Vec<u8>> {
        Ok(self.read_workspace_file(&path).await)
    }

    async fn list_dir(&mut self, path: String) -> Outcome<Vec<workspace::Entry>> {
        let dir = match self
            .workspace_path(if path.is_empty() { "." } else { &path })
            .await
        {
            Ok(dir) => dir,
            Err(e) => return Ok(Err(e)),
        };
        Ok(bounded(async move {
            let mut entries = Vec::new();
            let mut read = tokio::fs::read_dir(&dir)
                .await
                .map_err(|_| HostError::NotFound)?;
            while let Some(entry) = read.next_entry().await.map_err(failed)? {
                if entries.len() == MAX_DIR_ENTRIES {
                    return Err(HostError::TooLarge);
                }
                let meta = entry.metadata().await.map_err(failed)?;
                entries.push(workspace::Entry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    is_dir: meta.is_dir(),
                    size: meta.len(),
                });
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })
        .await)
    }
}

impl clock::Host for CallState {
    async fn now(&mut self) -> Outcome<clock::Datetime> {
        Ok(self.require(Capability::Clock).map(|()| {
            let now = self.services.clock.now();
            clock::Datetime {
                seconds: now.timestamp().max(0) as u64,
                nanoseconds: now.timestamp_subsec_nanos(),
            }
        }))
    }

    async fn now_iso8601(&mut self) -> Outcome<String> {
        Ok(self
            .require(Capability::Clock)
            .map(|()| self.services.clock.now().to_rfc3339()))
    }
}

impl CallState {
    fn allows_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.grants.http_allow.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            match allowed.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == allowed,
            }
        })
    }
}

impl outbound_http::Host for CallState {
    async fn send(&mut self, request: outbound_http::Request) -> Outcome<outbound_http::Response> {
        if let Err(e) = self.require(Capability::OutboundHttp) {
            return Ok(Err(e));
        }
        let url = match reqwest::Url::parse(&request.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                return Ok(Err(HostError::Invalid(format!(
                    "{:?} is not an http(s) URL",
                    request.url
                ))));
            }
        };
        let host = url.host_str().unwrap_or_default();
        if !self.allows_host(host) {
            let message = format!("host {host:?} is not on this agent's outbound-http allow-list");
            self.log.push("warn", "host", message.clone());
            return Ok(Err(HostError::Denied(message)));
        }
        if request.body.len() > MAX_HTTP_BODY_BYTES {
            return Ok(Err(HostError::TooLarge));
        }
        use outbound_http::Method;
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .services
            .http
            .request(method, url)
            .timeout(HTTP_TIMEOUT);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let exchange = async move {
            let mut response = builder.body(request.body).send().await.map_err(failed)?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(failed)? {
                if body.len() + chunk.len() > MAX_HTTP_BODY_BYTES {
                    return Err(HostError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(outbound_http::Response {
                status,
                headers,
                body,
            })
        };
        Ok(tokio::time::timeout(HTTP_TIMEOUT, exchange)
            .await
            .unwrap_or(Err(HostError::Timeout)))
    }
}

impl From<crate::tasks::ChatTurn> for history::Turn {
    fn from(turn: crate::tasks::ChatTurn) -> Self {
        history::Turn {
            role: match turn.role {
                crate::tasks::ChatRole::Incoming => history::Role::Incoming,
                crate::tasks::ChatRole::Outgoing => history::Role::Outgoing,
            },
            sender: turn.sender,
            content: turn.content,
            at: turn.at.to_rfc3339(),
        }
    }
}
