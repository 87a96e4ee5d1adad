//! The registry of agents hosted by agentx: network members whose behaviour is plugins.
//! Answering their messages is [`crate::runner`]'s job.
//!
//! The set of hosted agents is a snapshot swapped whole by a reload ([`HostedAgents::reload`]):
//! a new plugin version (responder or contract policy) is loaded beside the old one and only
//! then swapped in; callers hold the `Arc` of the version they started with, so calls and
//! decisions in flight finish on it. A version that fails to load or to describe itself is
//! refused and the old one keeps serving.

use crate::config::{AgentConfig, Config};
use crate::model::Agent;
use crate::network::Network;
use crate::plugins::policy::AgentPolicies;
use crate::plugins::runtime::{
    AgentGrant, Owner, Plugin, PluginRuntime, PolicyPlugin, ResponderPlugin,
};
use crate::plugins::{PluginError, PluginSource};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

pub struct HostedAgent {
    pub id: String,
    pub config: AgentConfig,
    pub responder: Option<Arc<ResponderPlugin>>,
    /// The contract policy deciding messages this agent receives (none: the network's).
    pub policy: Option<Arc<PolicyPlugin>>,
    /// Digests of what each plugin was built from (component, manifest, grants); a reload
    /// that finds the same digest keeps the loaded plugin.
    responder_digest: Option<[u8; 32]>,
    policy_digest: Option<[u8; 32]>,
}

/// Every hosted agent at one moment, by id.
pub type Snapshot = Arc<BTreeMap<String, Arc<HostedAgent>>>;

/// The hosted agents of the configuration, with their plugins loaded.
#[derive(Default)]
pub struct HostedAgents {
    /// The current set. A reload builds the next set beside it and swaps the `Arc`; the lock
    /// is held only to clone or replace it, never across an await.
    agents: RwLock<Snapshot>,
    /// Serialises reloads, so two never interleave their read-build-swap.
    reloading: tokio::sync::Mutex<()>,
}

/// The outcome of a reload, as `POST /reload` returns it.
#[derive(Debug, Default, Serialize)]
pub struct ReloadReport {
    /// Agents added, or whose configuration or plugins changed (and now serve the new one).
    pub reloaded: Vec<String>,
    pub unchanged: Vec<String>,
    /// Agents gone from the configuration.
    pub removed: Vec<String>,
    /// Agents whose new version was refused; each keeps serving its old version.
    pub failed: Vec<ReloadFailure>,
}

#[derive(Debug, Serialize)]
pub struct ReloadFailure {
    pub agent: String,
    pub error: String,
}

impl HostedAgents {
    /// Loads every hosted agent's plugins.
    pub async fn load(config: &Config, runtime: &PluginRuntime) -> Result<Self, PluginError> {
        let mut agents = BTreeMap::new();
        for (id, agent) in &config.agents {
            let hosted = build(id, agent, runtime, None)
                .await
                .map_err(|e| PluginError::Load(crate::error::context(format!("agent {id}"), e)))?;
            agents.insert(id.clone(), Arc::new(hosted));
        }
        Ok(Self {
            agents: RwLock::new(Arc::new(agents)),
            reloading: tokio::sync::Mutex::default(),
        })
    }

    /// The agent as it is now; the caller keeps this version however long it holds it.
    pub fn get(&self, id: &str) -> Option<Arc<HostedAgent>> {
        self.snapshot().get(id).cloned()
    }

    /// Every hosted agent as they are now.
    pub fn snapshot(&self) -> Snapshot {
        self.agents.read().expect("never poisoned").clone()
    }

    /// Brings the hosted agents in line with `config`: new and changed agents are loaded
    /// beside the current ones, then the whole set is swapped at once. An agent whose new
    /// version fails keeps its old one, responder and policy both (a new agent that fails is
    /// not added).
    pub async fn reload(&self, config: &Config, runtime: &PluginRuntime) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().await;
        let current = self.snapshot();
        let mut report = ReloadReport::default();
        let mut next = BTreeMap::new();
        for (id, agent) in &config.agents {
            let old = current.get(id);
            match build(id, agent, runtime, old.map(|o| o.as_ref())).await {
                Ok(hosted) => {
                    let same = old.is_some_and(|old| {
                        format!("{:?}", old.config) == format!("{agent:?}")
                            && same_plugin(&old.responder, &hosted.responder)
                            && same_plugin(&old.policy, &hosted.policy)
                    });
                    if same {
                        report.unchanged.push(id.clone());
                    } else {
                        report.reloaded.push(id.clone());
                    }
                    next.insert(id.clone(), Arc::new(hosted));
                }
                Err(e) => {
                    tracing::warn!(agent = %id, error = %e, "reload refused; the old version keeps serving");
                    report.failed.push(ReloadFailure {
                        agent: id.clone(),
                        error: e.to_string(),
                    });
                    if let Some(old) = old {
                        next.insert(id.clone(), old.clone());
                    }
                }
            }
        }
        report.removed = current
            .keys()
            .filter(|id| !config.agents.contains_key(*id))
            .cloned()
            .collect();
        *self.agents.write().expect("never poisoned") = Arc::new(next);
        tracing::info!(reloaded = ?report.reloaded, removed = ?report.removed, failed = report.failed.len(), "hosted agents reloaded");
        report
    }

    /// Makes each hosted agent a member of the network (created once, renamed on change).
    pub async fn register(&self, network: &Network) -> crate::store::Result<()> {
        let now = network.clock().now();
        let agents = self
            .snapshot()
            .values()
            .map(|agent| Agent::hosted(&agent.id, agent.config.display_name(&agent.id), now))
            .collect();
        network.store().ensure_hosted_agents(agents).await
    }
}

impl AgentPolicies for HostedAgents {
    fn policy(&self, agent: &str) -> Option<Arc<PolicyPlugin>> {
        self.get(agent).and_then(|a| a.policy.clone())
    }
}

fn same_plugin<P>(a: &Option<Arc<Plugin<P>>>, b: &Option<Arc<Plugin<P>>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// Loads `agent`'s responder and policy, reusing `old`'s where they were built from the
/// same component, manifest and grants.
async fn build(
    id: &str,
    agent: &AgentConfig,
    runtime: &PluginRuntime,
    old: Option<&HostedAgent>,
) -> Result<HostedAgent, PluginError> {
    let grant = grant(agent);
    let (responder, responder_digest) = reuse_or_load(
        agent.responder.as_deref(),
        &grant,
        old.and_then(|o| Some((o.responder.clone()?, o.responder_digest?))),
        |source| runtime.load_responder(id, source, &grant),
    )
    .await?
    .unzip();
    let (policy, policy_digest) = reuse_or_load(
        agent.policy.as_deref(),
        &grant,
        old.and_then(|o| Some((o.policy.clone()?, o.policy_digest?))),
        // An agent's own policy decides only its messages; the network's presets stand.
        |source| async {
            Ok(runtime
                .load_policy(Owner::Agent(id.to_owned()), source, &grant)
                .await?
                .0)
        },
    )
    .await?
    .unzip();
    Ok(HostedAgent {
        id: id.to_owned(),
        config: agent.clone(),
        responder,
        policy,
        responder_digest,
        policy_digest,
    })
}

/// A loaded plugin and the digest of what it was built from.
type Built<P> = (Arc<Plugin<P>>, [u8; 32]);

/// The plugin at `path` (none without one): `old` when it was built from the same bytes and
/// grants and is not degraded (a reload is how a degraded plugin recovers), otherwise a
/// fresh `load`.
async fn reuse_or_load<P, F, Fut>(
    path: Option<&Path>,
    grant: &AgentGrant,
    old: Option<Built<P>>,
    load: F,
) -> Result<Option<Built<P>>, PluginError>
where
    F: FnOnce(PluginSource) -> Fut,
    Fut: Future<Output = Result<Arc<Plugin<P>>, PluginError>>,
{
    let Some(path) = path else {
        return Ok(None);
    };
    let source = PluginSource::read(path).map_err(PluginError::load)?;
    let digest = digest(&source, grant);
    let reusable = old
        .filter(|(plugin, old_digest)| *old_digest == digest && !plugin.is_degraded())
        .map(|(plugin, _)| plugin);
    let plugin = match reusable {
        Some(plugin) => plugin,
        None => load(source).await?,
    };
    Ok(Some((plugin, digest)))
}

fn digest(source: &PluginSource, grant: &AgentGrant) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(Sha256::digest(&source.bytes));
    hash.update(format!("{:?}", source.manifest));
    hash.update(format!("{grant:?}"));
    hash.finalize().into()
}

fn grant(agent: &AgentConfig) -> AgentGrant {
    AgentGrant {
        capabilities: agent.grants.iter().copied().collect(),
        workspace: agent.workspace.clone(),
        http_allow: agent.http_allow.clone(),
        limits: agent.limits,
    }
}
