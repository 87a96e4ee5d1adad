//! Loading plugins for agents and calling them under limits.
//!
//! A plugin is loaded *for an agent*: its compiled component (shared, cached on disk), an
//! `InstancePre` (imports resolved once), the agent's grants and limits, its log and health.
//! Each call gets a new `Store`: fresh memory from the pool, a memory cap, a wall-clock
//! deadline enforced by epochs (a looping guest yields every tick and traps at the deadline)
//! plus an outer timeout for time spent in host imports. A failing call is logged in the
//! plugin's log; repeated host-side faults degrade the plugin until a probe call after a
//! backoff succeeds, or a reload replaces it (see [`super::health`]).

use super::bindings::{policy, responder, types};
use super::cache::{CacheOutcome, ComponentCache};
use super::engine::{self, EPOCH_TICK};
use super::health::{Admission, Health, HealthPolicy, Outcome};
use super::host::{
    CallLimits, CallState, Conversation, Grants, HostServices, Session, TurnsInFlight,
};
use super::inspect;
use super::log::PluginLog;
use super::manifest::{Capabilities, Capability, Limits, Manifest, PluginSource, World};
use crate::error::{Source, context, source};
use crate::telemetry;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The plugin cannot be loaded: the message says why, and the cause is kept.
    #[error(transparent)]
    Load(Source),
    #[error("plugin {plugin} exceeded its {timeout_ms} ms deadline")]
    Timeout { plugin: String, timeout_ms: u64 },
    #[error("plugin {plugin} failed: {detail}")]
    Trap { plugin: String, detail: String },
    #[error("plugin {plugin} returned {bytes} bytes, over its limit of {limit}")]
    OutputTooLarge {
        plugin: String,
        bytes: usize,
        limit: usize,
    },
    #[error("plugin {plugin} reported an error: {reason}")]
    Guest { plugin: String, reason: String },
    #[error("plugin {plugin} is degraded after repeated failures; it is retried after a backoff")]
    Degraded { plugin: String },
}

impl PluginError {
    /// A plugin that cannot be loaded, for a reason given as an error or a message.
    pub fn load(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        PluginError::Load(source(e))
    }
}

/// Whose plugin it is: what its logs and metrics name, and whose memory and history its
/// capabilities reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A hosted agent, by id.
    Agent(String),
    /// The network's default contract policy, which acts for no agent.
    Network,
}

impl Owner {
    /// The agent id, or `*` for the network (no agent id can be `*`: ids are `a-z0-9-_`).
    pub fn label(&self) -> &str {
        match self {
            Owner::Agent(id) => id,
            Owner::Network => "*",
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A plugin loaded for one owner, ready to be called.
pub struct Plugin<P> {
    pub agent: Owner,
    pub manifest: Manifest,
    pub limits: Limits,
    pub grants: Arc<Grants>,
    pub log: Arc<PluginLog>,
    /// Shared with every plugin loaded from the same component bytes (see [`SharedPres`]).
    pre: Arc<P>,
    health: Health,
    calls: telemetry::PluginCalls,
    /// `name@version`, made once: every call's state names its plugin by it.
    label: Arc<str>,
}

pub type ResponderPlugin = Plugin<responder::ResponderPre<CallState>>;
pub type PolicyPlugin = Plugin<policy::ContractPolicyPre<CallState>>;

impl<P> Plugin<P> {
    pub fn is_degraded(&self) -> bool {
        self.health.is_degraded()
    }

    /// Refuses a `call` before any work is done for it while the plugin is degraded, without
    /// claiming the probe (a cheap check before work that only makes sense if it runs).
    pub fn check_admissible(&self, call: &'static str) -> Result<(), PluginError> {
        if self.health.refuses(Instant::now()) {
            Err(self.refused(call))
        } else {
            Ok(())
        }
    }

    pub fn label(&self) -> String {
        self.label.to_string()
    }

    /// Lets a call run, unless the plugin is degraded and it is not yet time for a probe.
    fn admit(&self, call: &'static str) -> Result<(Admission, Instant), PluginError> {
        let now = Instant::now();
        match self.health.admit(now) {
            Some(admission) => Ok((admission, now)),
            None => Err(self.refused(call)),
        }
    }

    /// A call refused as degraded, counted as the `degraded` outcome of `call`.
    fn refused(&self, call: &'static str) -> PluginError {
        self.calls.record(call, "degraded", Duration::ZERO);
        PluginError::Degraded {
            plugin: self.label(),
        }
    }

    /// Counts the call, logs it if it failed, and tells the plugin's health how it ended.
    fn record<T>(
        &self,
        (admission, started): (Admission, Instant),
        call: &'static str,
        outcome: Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        self.calls
            .record(call, outcome_name(&outcome), started.elapsed());
        if let Err(e) = &outcome {
            self.log.push("error", "host", e.to_string());
            tracing::warn!(agent = %self.agent, plugin = %self.label(), error = %e, "plugin call failed");
        }
        // The plugin's own refusal and a reply too large for the caller's request are
        // answers; only what the host had to stop counts against the plugin.
        let health = match &outcome {
            Err(PluginError::Timeout { .. } | PluginError::Trap { .. }) => Outcome::Fault,
            _ => Outcome::Answered,
        };
        if let Some(change) = self.health.record(admission, health, Instant::now()) {
            let note = change.to_string();
            self.log.push("error", "host", note.clone());
            tracing::error!(agent = %self.agent, plugin = %self.label(), "{note}");
        }
        outcome
    }
}

/// How a call ended, as the outcome label of the plugin-call metric.
fn outcome_name<T>(outcome: &Result<T, PluginError>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(PluginError::Guest { .. }) => "refused",
        Err(PluginError::OutputTooLarge { .. }) => "output_too_large",
        Err(PluginError::Timeout { .. }) => "timeout",
        Err(PluginError::Trap { .. }) => "trap",
        Err(PluginError::Degraded { .. }) => "degraded",
        Err(PluginError::Load(_)) => "load",
    }
}

/// What a loaded plugin may do for its agent, from agentx.json.
#[derive(Debug, Clone, Default)]
pub struct AgentGrant {
    pub capabilities: Capabilities,
    pub workspace: Option<PathBuf>,
    pub http_allow: Vec<String>,
    pub limits: super::manifest::LimitOverrides,
}

/// A world's component with its imports resolved (`bindgen!`'s `*Pre`).
trait WorldPre {
    fn component(&self) -> &Component;
}

impl WorldPre for responder::ResponderPre<CallState> {
    fn component(&self) -> &Component {
        self.instance_pre().component()
    }
}

impl WorldPre for policy::ContractPolicyPre<CallState> {
    fn component(&self) -> &Component {
        self.instance_pre().component()
    }
}

/// The `*Pre`s of one world's loaded plugins, by the sha256 of their component bytes, so
/// that agents running the same plugin share one compiled component (its code mapped once)
/// and one import resolution: a thousand hosted agents on one plugin load it once. An
/// `InstancePre` is immutable; every call still gets its own store and instance. Entries are
/// weak: a component no loaded plugin uses any more (after a reload) is freed.
struct SharedPres<P> {
    by_digest: Mutex<HashMap<[u8; 32], Weak<P>>>,
}

impl<P> Default for SharedPres<P> {
    fn default() -> Self {
        Self {
            by_digest: Mutex::default(),
        }
    }
}

impl<P> SharedPres<P> {
    fn get(&self, digest: &[u8; 32]) -> Option<Arc<P>> {
        self.lock().get(digest).and_then(Weak::upgrade)
    }

    fn insert(&self, digest: [u8; 32], pre: P) -> Arc<P> {
        let pre = Arc::new(pre);
        let mut by_digest = self.lock();
        by_digest.retain(|_, pre| pre.strong_count() > 0);
        by_digest.insert(digest, Arc::downgrade(&pre));
        pre
    }

    // A std mutex: held for a map lookup or insert, never across an await or a compile.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Weak<P>>> {
        self.by_digest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A call's work against a fresh instance: owns what it needs, borrows only the store.
type CallFn<T> = Box<
    dyn for<'s> FnOnce(
            &'s mut Store<CallState>,
        ) -> Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 's>>
        + Send,
>;

pub struct PluginRuntime {
    engine: Engine,
    responder_linker: Linker<CallState>,
    policy_linker: Linker<CallState>,
    responders: SharedPres<responder::ResponderPre<CallState>>,
    policies: SharedPres<policy::ContractPolicyPre<CallState>>,
    cache: ComponentCache,
    services: HostServices,
    /// Bounds live instances below the pool's size: calls beyond it wait here instead of
    /// failing to allocate.
    slots: Arc<Semaphore>,
    /// When each loaded plugin counts as degraded, and how it comes back.
    health: HealthPolicy,
}

impl PluginRuntime {
    pub fn new(
        cache_dir: PathBuf,
        services: HostServices,
        health: HealthPolicy,
    ) -> Result<Self, PluginError> {
        let load = |e: wasmtime::Error| PluginError::Load(context("plugin engine", e));
        let engine = engine::build().map_err(load)?;
        // Both worlds also get the deny-all WASI (see `GuestWasi`) for guests whose libc or
        // runtime imports it; a component that imports none of it is not affected.
        let mut responder_linker = Linker::new(&engine);
        responder::Responder::add_to_linker::<_, HasSelf<CallState>>(&mut responder_linker, |s| s)
            .map_err(load)?;
        wasmtime_wasi::p2::add_to_linker_async(&mut responder_linker).map_err(load)?;
        let mut policy_linker = Linker::new(&engine);
        policy::ContractPolicy::add_to_linker::<_, HasSelf<CallState>>(&mut policy_linker, |s| s)
            .map_err(load)?;
        wasmtime_wasi::p2::add_to_linker_async(&mut policy_linker).map_err(load)?;
        Ok(Self {
            cache: ComponentCache::new(&engine, cache_dir),
            engine,
            responder_linker,
            policy_linker,
            responders: SharedPres::default(),
            policies: SharedPres::default(),
            services,
            slots: Arc::new(Semaphore::new(engine::MAX_INSTANCES as usize)),
            health,
        })
    }

    /// Where a running chat call's turns are until they are stored, for `history` to see.
    pub fn turns_in_flight(&self) -> &Arc<TurnsInFlight> {
        &self.services.turns_in_flight
    }

    /// Compiles (or fetches from the cache) the component of `source`, refusing one that
    /// is not a component of its manifest's world or imports beyond what the manifest asks
    /// for (see [`inspect`]).
    pub fn component(
        &self,
        source: &PluginSource,
    ) -> Result<(Component, CacheOutcome), PluginError> {
        let manifest = &source.manifest;
        inspect::format(&source.bytes, &source.origin).map_err(PluginError::load)?;
        let started = Instant::now();
        let (component, outcome) = self.cache.load(&self.engine, &source.bytes).map_err(|e| {
            PluginError::Load(context(
                format!("{} is not a valid component", source.origin),
                e,
            ))
        })?;
        match outcome {
            CacheOutcome::Hit => {
                tracing::info!(plugin = %manifest.name, ms = started.elapsed().as_millis() as u64, "plugin loaded from the compile cache")
            }
            CacheOutcome::Compiled => {
                tracing::info!(plugin = %manifest.name, ms = started.elapsed().as_millis() as u64, "plugin compiled")
            }
        }
        inspect::examine(&self.engine, &component, manifest, &source.origin)
            .map_err(PluginError::load)?;
        Ok((component, outcome))
    }

    /// The `*Pre` of `source`'s component for its world: the one already loaded from the
    /// same bytes if any, else compiled (or read from the compile cache) and resolved by
    /// `resolve`. Either way checked against `source`'s own manifest.
    fn prepare<P: WorldPre>(
        &self,
        shared: &SharedPres<P>,
        source: &PluginSource,
        resolve: impl FnOnce(&Component) -> wasmtime::Result<P>,
    ) -> Result<Arc<P>, PluginError> {
        let manifest = &source.manifest;
        let digest: [u8; 32] = Sha256::digest(&source.bytes).into();
        if let Some(pre) = shared.get(&digest) {
            inspect::examine(&self.engine, pre.component(), manifest, &source.origin)
                .map_err(PluginError::load)?;
            return Ok(pre);
        }
        let (component, _) = self.component(source)?;
        let pre = resolve(&component).map_err(|e| {
            let what = format!(
                "plugin {} does not fit world {}",
                manifest.name,
                manifest.world.name()
            );
            PluginError::Load(context(what, e))
        })?;
        Ok(shared.insert(digest, pre))
    }

    fn plugin<P>(
        &self,
        agent: Owner,
        manifest: Manifest,
        grant: &AgentGrant,
        pre: Arc<P>,
    ) -> Plugin<P> {
        // Granted = asked for by the manifest ∩ granted by agentx.json; `log` always.
        let mut capabilities: Capabilities = manifest
            .capabilities
            .intersection(&grant.capabilities)
            .copied()
            .collect();
        capabilities.insert(Capability::Log);
        Plugin {
            calls: telemetry::PluginCalls::new(agent.label()),
            label: format!("{}@{}", manifest.name, manifest.version).into(),
            agent,
            limits: manifest.limits.narrowed(&grant.limits),
            grants: Arc::new(Grants {
                capabilities,
                workspace: grant.workspace.clone(),
                http_allow: grant.http_allow.clone(),
            }),
            log: Arc::default(),
            manifest,
            pre,
            health: Health::new(self.health),
        }
    }

    /// Loads a responder for `agent` and checks that it describes itself as its manifest says.
    pub async fn load_responder(
        &self,
        agent: &str,
        source: PluginSource,
        grant: &AgentGrant,
    ) -> Result<Arc<ResponderPlugin>, PluginError> {
        expect_world(&source.manifest, World::Responder)?;
        let pre = self.prepare(&self.responders, &source, |component| {
            self.responder_linker
                .instantiate_pre(component)
                .and_then(responder::ResponderPre::new)
        })?;
        let plugin = self.plugin(Owner::Agent(agent.to_owned()), source.manifest, grant, pre);
        let pre = plugin.pre.clone();
        let description = self
            .call(
                &plugin,
                Session::None,
                Box::new(move |store| {
                    Box::pin(async move {
                        pre.instantiate_async(&mut *store)
                            .await?
                            .call_describe(store)
                            .await
                    })
                }),
            )
            .await?;
        check_description(&plugin.manifest, &description)?;
        Ok(Arc::new(plugin))
    }

    /// Loads a contract policy for `owner`, checks its description, and reads its presets.
    pub async fn load_policy(
        &self,
        owner: Owner,
        source: PluginSource,
        grant: &AgentGrant,
    ) -> Result<(Arc<PolicyPlugin>, Vec<types::Preset>), PluginError> {
        expect_world(&source.manifest, World::ContractPolicy)?;
        let pre = self.prepare(&self.policies, &source, |component| {
            self.policy_linker
                .instantiate_pre(component)
                .and_then(policy::ContractPolicyPre::new)
        })?;
        let plugin = self.plugin(owner, source.manifest, grant, pre);
        let pre = plugin.pre.clone();
        let (description, presets) = self
            .call(
                &plugin,
                Session::None,
                Box::new(move |store| {
                    Box::pin(async move {
                        let instance = pre.instantiate_async(&mut *store).await?;
                        let description = instance.call_describe(&mut *store).await?;
                        let presets = instance.call_presets(&mut *store).await?;
                        Ok((description, presets))
                    })
                }),
            )
            .await?;
        check_description(&plugin.manifest, &description)?;
        Ok((Arc::new(plugin), presets))
    }

    /// Asks a responder for its reply to `message`.
    pub async fn respond(
        &self,
        plugin: &ResponderPlugin,
        context: types::RequestContext,
        message: types::Message,
    ) -> Result<Option<String>, PluginError> {
        let admission = plugin.admit("respond")?;
        let session = match context.channel {
            types::Channel::Network => Session::Thread(context.chat_id.clone()),
            types::Channel::PublicApi => Session::Chat(context.chat_id.clone()),
        };
        let pre = plugin.pre.clone();
        let outcome = self
            .call(
                plugin,
                session,
                Box::new(move |store| {
                    Box::pin(async move {
                        pre.instantiate_async(&mut *store)
                            .await?
                            .call_respond(store, &context, &message)
                            .await
                    })
                }),
            )
            .await
            .and_then(|result| match result {
                Ok(reply) => Ok(reply.map(|r| r.content)),
                Err(reason) => Err(PluginError::Guest {
                    plugin: plugin.label(),
                    reason,
                }),
            })
            .and_then(|reply| match reply {
                Some(content) if content.len() > plugin.limits.max_output_bytes => {
                    Err(PluginError::OutputTooLarge {
                        plugin: plugin.label(),
                        bytes: content.len(),
                        limit: plugin.limits.max_output_bytes,
                    })
                }
                other => Ok(other),
            });
        plugin.record(admission, "respond", outcome)
    }

    /// Asks a contract policy for its decision.
    pub async fn decide(
        &self,
        plugin: &PolicyPlugin,
        request: types::PolicyRequest,
    ) -> Result<types::Decision, PluginError> {
        let admission = plugin.admit("decide")?;
        let pre = plugin.pre.clone();
        let outcome = self
            .call(
                plugin,
                Session::None,
                Box::new(move |store| {
                    Box::pin(async move {
                        pre.instantiate_async(&mut *store)
                            .await?
                            .call_decide(store, &request)
                            .await
                    })
                }),
            )
            .await;
        plugin.record(admission, "decide", outcome)
    }

    /// Runs `work` on a fresh store under the plugin's limits and classifies failures.
    async fn call<P, T: Send + 'static>(
        &self,
        plugin: &Plugin<P>,
        session: Session,
        work: CallFn<T>,
    ) -> Result<T, PluginError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the slot semaphore is never closed");
        let limits = plugin.limits;
        let mut store = Store::new(
            &self.engine,
            CallState {
                limits: CallLimits::new(limits.memory_bytes()),
                plugin: plugin.label.clone(),
                conversation: Conversation {
                    agent: plugin.agent.label().to_owned(),
                    session,
                },
                grants: plugin.grants.clone(),
                services: self.services.clone(),
                log: plugin.log.clone(),
                wasi: None,
            },
        );
        store.limiter(|state| &mut state.limits);
        // Yield to the runtime at every epoch tick, so a spinning guest shares its thread
        // with other requests, and trap once the wall-clock deadline has passed.
        let deadline = Instant::now() + limits.timeout();
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        // Time inside host imports is not guest execution; the outer timeout bounds it.
        let outer = limits.timeout() + 2 * EPOCH_TICK;
        let timeout = || PluginError::Timeout {
            plugin: plugin.label(),
            timeout_ms: limits.timeout_ms,
        };
        let outcome = tokio::time::timeout(outer, work(&mut store)).await;
        if let Some(wasi) = store.data_mut().wasi.as_mut() {
            let wasi = wasi.get_mut().unwrap_or_else(PoisonError::into_inner);
            wasi.drain_into(&plugin.log);
        }
        match outcome {
            Err(_) => Err(timeout()),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => Err(timeout()),
            Ok(Err(e)) => Err(PluginError::Trap {
                plugin: plugin.label(),
                detail: format!("{e:#}"),
            }),
        }
    }
}

fn expect_world(manifest: &Manifest, world: World) -> Result<(), PluginError> {
    if manifest.world == world {
        Ok(())
    } else {
        Err(PluginError::load(format!(
            "plugin {} is a {} plugin (its plugin.toml says world = \"{}\"), not a {} one",
            manifest.name,
            manifest.world.name(),
            manifest.world.name(),
            world.name()
        )))
    }
}

fn check_description(
    manifest: &Manifest,
    description: &types::Description,
) -> Result<(), PluginError> {
    if description.name != manifest.name || description.version != manifest.version {
        return Err(PluginError::load(format!(
            "plugin describes itself as {}@{} but its manifest says {}@{}",
            description.name, description.version, manifest.name, manifest.version
        )));
    }
    let wanted: Capabilities = description.capabilities.iter().map(|&c| c.into()).collect();
    if let Some(extra) = wanted
        .difference(&manifest.capabilities)
        .find(|c| **c != Capability::Log)
    {
        return Err(PluginError::load(format!(
            "plugin {} wants {} but its manifest does not ask for it",
            manifest.name,
            extra.name()
        )));
    }
    Ok(())
}

impl From<types::Capability> for Capability {
    fn from(c: types::Capability) -> Self {
        match c {
            types::Capability::Log => Capability::Log,
            types::Capability::Memory => Capability::Memory,
            types::Capability::History => Capability::History,
            types::Capability::Workspace => Capability::Workspace,
            types::Capability::Clock => Capability::Clock,
            types::Capability::OutboundHttp => Capability::OutboundHttp,
        }
    }
}
