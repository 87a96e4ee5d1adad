//! The network's contract policy, answered by contract-policy plugins.
//!
//! The default plugin (built-in `contracts` unless agentx.json names another) supplies the
//! presets and decides every categorised message; a hosted agent may have its own policy
//! plugin, consulted for messages it receives and swapped by a reload (each decision runs
//! on the version current when it started). A failing policy fails closed: the message is
//! not sent, and the sender is told the policy is unavailable rather than "denied".

use super::bindings::types;
use super::runtime::{PluginRuntime, PolicyPlugin};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Contract, Level, Levels};
use crate::network::policy::{ContractPolicy, Decision, PolicyRequest};
use async_trait::async_trait;
use std::sync::Arc;

pub struct WasmPolicy {
    runtime: Arc<PluginRuntime>,
    default: Arc<PolicyPlugin>,
    presets: Vec<Contract>,
    /// Policies of hosted agents that have their own.
    per_agent: Arc<dyn AgentPolicies>,
}

/// Where agents' own policies are looked up; the answer may change between two calls (a
/// reload swaps them).
pub trait AgentPolicies: Send + Sync {
    /// `agent`'s own policy, or none when the network's default decides for it.
    fn policy(&self, agent: &str) -> Option<Arc<PolicyPlugin>>;
}

impl WasmPolicy {
    pub fn new(
        runtime: Arc<PluginRuntime>,
        default: Arc<PolicyPlugin>,
        presets: Vec<types::Preset>,
        per_agent: Arc<dyn AgentPolicies>,
    ) -> Self {
        let presets = presets
            .into_iter()
            .map(|p| Contract {
                name: p.name,
                levels: Levels {
                    info: p.info.into(),
                    requests: p.requests.into(),
                    personal: p.personal.into(),
                },
            })
            .collect();
        Self {
            runtime,
            default,
            presets,
            per_agent,
        }
    }
}

#[async_trait]
impl ContractPolicy for WasmPolicy {
    fn presets(&self) -> Vec<Contract> {
        self.presets.clone()
    }

    async fn decide(&self, request: PolicyRequest) -> Result<Decision> {
        let own = self.per_agent.policy(&request.recipient);
        let plugin = own.as_ref().unwrap_or(&self.default);
        let decision = self
            .runtime
            .decide(
                plugin,
                types::PolicyRequest {
                    category: request.category.to_string(),
                    contract: request.contract,
                    sender_level: request.sender_level.into(),
                    recipient_level: request.recipient_level.into(),
                    sender_agent_id: request.sender,
                    recipient_agent_id: request.recipient,
                },
            )
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    "policy_unavailable",
                    format!("The contract policy could not decide: {e}"),
                )
            })?;
        Ok(match decision {
            types::Decision::Auto => Decision::Auto,
            types::Decision::Ask => Decision::Ask,
            types::Decision::Deny(reason) => Decision::Deny(reason),
        })
    }
}

impl From<types::Level> for Level {
    fn from(level: types::Level) -> Self {
        match level {
            types::Level::Auto => Level::Auto,
            types::Level::Ask => Level::Ask,
            types::Level::Never => Level::Never,
        }
    }
}

impl From<Level> for types::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Auto => types::Level::Auto,
            Level::Ask => types::Level::Ask,
            Level::Never => types::Level::Never,
        }
    }
}
