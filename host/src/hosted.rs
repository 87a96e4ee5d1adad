//! Agents hosted by agentx: network members whose behaviour is plugins.
//!
//! Each hosted agent with a responder runs a loop that long-polls its own inbox like any
//! client would. A message whose permission is `auto` is handed to the responder and the
//! reply is sent back in the same thread as a `response`; `ask` messages (and messages
//! without a category) are left for the owner. Every message taken is acknowledged once
//! handled. Replies carry no category, so two hosted agents never answer each other in a loop.

use crate::config::{AgentConfig, Config};
use crate::network::Network;
use crate::network::messages::OutgoingMessage;
use crate::network::model::{Agent, Framework, Level, Message};
use crate::plugins::runtime::{AgentGrant, PluginRuntime, PolicyPlugin, ResponderPlugin};
use crate::plugins::{PluginError, PluginSource, types};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The `user_id` of hosted agents: they belong to the operator, not to a registered user.
pub const HOSTED_OWNER: &str = "agentx-host";
/// Messages one hosted agent handles at once; more wait, in order of arrival.
const CONCURRENT_CALLS_PER_AGENT: usize = 8;
/// How long one inbox long-poll of the runner lasts before it polls again.
const RUNNER_POLL: Duration = Duration::from_secs(60);

pub struct HostedAgent {
    pub id: String,
    pub config: AgentConfig,
    pub responder: Option<Arc<ResponderPlugin>>,
}

/// The hosted agents of the configuration, with their plugins loaded.
#[derive(Default)]
pub struct HostedAgents {
    agents: BTreeMap<String, HostedAgent>,
}

impl HostedAgents {
    /// Loads every hosted agent's plugins; also returns the agents' own policy plugins.
    pub async fn load(
        config: &Config,
        runtime: &PluginRuntime,
    ) -> Result<(Self, HashMap<String, Arc<PolicyPlugin>>), PluginError> {
        let mut agents = BTreeMap::new();
        let mut policies = HashMap::new();
        for (id, agent) in &config.agents {
            let grant = grant(agent);
            let in_agent = |e: String| PluginError::Load(format!("agent {id}: {e}"));
            let responder = match &agent.responder {
                Some(path) => {
                    let source = PluginSource::read(path).map_err(in_agent)?;
                    Some(
                        runtime
                            .load_responder(id, source, &grant)
                            .await
                            .map_err(|e| in_agent(e.to_string()))?,
                    )
                }
                None => None,
            };
            if let Some(path) = &agent.policy {
                let source = PluginSource::read(path).map_err(in_agent)?;
                let (policy, _) = runtime
                    .load_policy(id, source, &grant)
                    .await
                    .map_err(|e| in_agent(e.to_string()))?;
                policies.insert(id.clone(), policy);
            }
            agents.insert(
                id.clone(),
                HostedAgent {
                    id: id.clone(),
                    config: agent.clone(),
                    responder,
                },
            );
        }
        Ok((Self { agents }, policies))
    }

    pub fn get(&self, id: &str) -> Option<&HostedAgent> {
        self.agents.get(id)
    }

    /// Makes each hosted agent a member of the network (created once, renamed on change).
    pub async fn register(&self, network: &Network) -> crate::store::Result<()> {
        for agent in self.agents.values() {
            network
                .store()
                .ensure_hosted_agent(Agent {
                    id: agent.id.clone(),
                    user_id: HOSTED_OWNER.into(),
                    name: agent.config.display_name(&agent.id).to_owned(),
                    framework: Framework::Custom,
                    webhook_url: None,
                    created_at: network.clock().now(),
                    last_seen_at: None,
                })
                .await?;
        }
        Ok(())
    }

    /// The answering loops of the agents that have a responder.
    pub fn runners(
        &self,
        network: &Network,
        runtime: &Arc<PluginRuntime>,
        shutdown: &CancellationToken,
    ) -> Vec<impl Future<Output = ()> + Send + 'static> {
        self.agents
            .values()
            .filter_map(|agent| {
                let responder = agent.responder.clone()?;
                Some(run(
                    agent.id.clone(),
                    responder,
                    network.clone(),
                    runtime.clone(),
                    shutdown.clone(),
                ))
            })
            .collect()
    }
}

fn grant(agent: &AgentConfig) -> AgentGrant {
    AgentGrant {
        capabilities: agent.grants.iter().copied().collect(),
        workspace: agent.workspace.clone(),
        http_allow: agent.http_allow.clone(),
        limits: agent.limits,
    }
}

async fn run(
    id: String,
    responder: Arc<ResponderPlugin>,
    network: Network,
    runtime: Arc<PluginRuntime>,
    shutdown: CancellationToken,
) {
    let calls = Arc::new(Semaphore::new(CONCURRENT_CALLS_PER_AGENT));
    let mut handling = tokio::task::JoinSet::new();
    while !shutdown.is_cancelled() {
        let inbox = match network.poll(&id, RUNNER_POLL, &shutdown).await {
            Ok(inbox) => inbox,
            Err(e) => {
                tracing::error!(agent = %id, error = %e, "hosted agent cannot read its inbox");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        for message in inbox.messages {
            let permit = calls.clone().acquire_owned().await.expect("never closed");
            let (id, responder, network, runtime) = (
                id.clone(),
                responder.clone(),
                network.clone(),
                runtime.clone(),
            );
            handling.spawn(async move {
                handle(&id, &responder, &network, &runtime, message).await;
                drop(permit);
            });
        }
        while handling.try_join_next().is_some() {}
    }
    // Let calls in flight finish (each is bounded by its plugin's deadline).
    while handling.join_next().await.is_some() {}
}

async fn handle(
    id: &str,
    responder: &ResponderPlugin,
    network: &Network,
    runtime: &PluginRuntime,
    message: Message,
) {
    if message.permission == Some(Level::Auto) {
        let context = types::RequestContext {
            agent_id: id.to_owned(),
            channel: types::Channel::Network,
            chat_id: message.thread_id.clone(),
            sender: message.from_agent_id.clone(),
        };
        let incoming = types::Message {
            id: message.id.clone(),
            content: message.content.clone(),
            message_type: message.message_type.to_string(),
            category: message.category.map(|c| c.to_string()),
            from_agent_id: Some(message.from_agent_id.clone()),
            thread_id: Some(message.thread_id.clone()),
            created_at: message.created_at.to_rfc3339(),
        };
        match runtime.respond(responder, context, incoming).await {
            Ok(Some(reply)) => {
                let outgoing = OutgoingMessage {
                    to_agent_id: Some(message.from_agent_id.clone()),
                    content: Some(reply),
                    message_type: Some("response".into()),
                    thread_id: Some(message.thread_id.clone()),
                    ..OutgoingMessage::default()
                };
                if let Err(e) = network.send(id, outgoing, None).await {
                    tracing::warn!(agent = %id, message = %message.id, error = %e, "could not send the reply");
                }
            }
            Ok(None) => {}
            // Already in the plugin's log and counted toward degradation.
            Err(_) => {}
        }
    }
    if let Err(e) = network.acknowledge(id, &message.id).await {
        tracing::warn!(agent = %id, message = %message.id, error = %e, "could not acknowledge");
    }
}
