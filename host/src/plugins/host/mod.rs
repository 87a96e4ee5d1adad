//! Per-call host state and the capability imports, one file per capability.
//!
//! A [`CallState`] is made for each call and dropped with its store, so nothing a plugin
//! does outlives the call except through a capability (memory). Every import checks the
//! grant first; a capability the manifest asked for but agentx.json did not grant answers
//! `host-error::denied` (the plugin may carry on without it). Imports of capabilities the
//! manifest never asked for are refused earlier, when the component is loaded. Each import
//! is bounded in size and, where it does I/O, in time, so a plugin cannot hang the host
//! through one.
//!
//! - [`memory`], [`history`], [`log`], [`workspace`], [`clock`], [`http`]: the imports of
//!   the `agentx:plugin` world, each self-contained with its bounds and their tests.
//! - [`limits`]: the memory (all linear memories together) and log lines of one call.
//! - [`wasi`]: the deny-all WASI of guests built with a libc or a language runtime.

use super::bindings::responder::agentx::plugin::types::HostError;
use super::log::PluginLog;
use super::manifest::{Capabilities, Capability};
use crate::clock::Clock;
use crate::store::{Rejection, Store, StoreError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod clock;
mod history;
mod http;
mod limits;
mod log;
mod memory;
mod wasi;
mod workspace;

pub use history::TurnsInFlight;
pub use limits::CallLimits;
pub use wasi::GuestWasi;

/// Budget for one host call doing I/O.
const HOST_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Host resources shared by every call.
#[derive(Clone)]
pub struct HostServices {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
    /// Chat turns of running calls, not stored yet (the tasks' chat calls hold theirs).
    pub turns_in_flight: Arc<TurnsInFlight>,
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

impl Session {
    /// The conversation's identity for per-conversation quotas; a thread id and a chat id
    /// never collide, whatever the caller chose as chat id.
    pub fn quota_key(&self) -> String {
        match self {
            Session::None => String::new(),
            Session::Thread(id) => format!("thread:{id}"),
            Session::Chat(id) => format!("chat:{id}"),
        }
    }
}

pub struct CallState {
    pub limits: CallLimits,
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

/// A [`CallState`] without wasm, over a real store in a temporary directory, for the
/// capabilities' unit tests.
#[cfg(test)]
mod testing {
    use super::*;
    use crate::clock::SystemClock;
    use crate::notify::LocalNotifier;
    use crate::store::RedbStore;

    pub(super) struct Harness {
        pub state: CallState,
        pub dir: tempfile::TempDir,
    }

    pub(super) fn call_state(capabilities: &[Capability], session: Session) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(&dir.path().join("data"), Arc::new(LocalNotifier::default()))
            .expect("open store");
        let grants = Grants {
            capabilities: capabilities.iter().copied().collect(),
            ..Grants::default()
        };
        let state = CallState {
            limits: CallLimits::new(64 << 20),
            plugin: "test-plugin".into(),
            conversation: Conversation {
                agent: "agent-a".into(),
                session,
            },
            grants: Arc::new(grants),
            services: HostServices {
                store: Arc::new(store),
                clock: Arc::new(SystemClock),
                http: reqwest::Client::new(),
                turns_in_flight: Default::default(),
            },
            log: Arc::new(PluginLog::default()),
            wasi: None,
        };
        Harness { state, dir }
    }

    impl Harness {
        pub fn grants(&mut self) -> &mut Grants {
            Arc::get_mut(&mut self.state.grants).expect("grants not shared yet")
        }

        /// Whether the host noted a denial in the plugin's log.
        pub fn logged_denial(&self) -> bool {
            self.state
                .log
                .entries()
                .iter()
                .any(|e| e.source == "host" && e.level == "warn")
        }
    }
}
