//! Calls to public agents from outside the network (`POST /api/public/agents/{id}/messages`):
//! the contract's checks, in the contract's order, then a task on channel `public-api`.

use super::{PUBLIC_API, TaskContext, TaskResult, Tasks};
use crate::auth::Tokens;
use crate::config::Access;
use crate::hosted::HostedAgents;
use crate::network::{Error, Result};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct PublicMessage {
    message: String,
    #[serde(default)]
    context: Option<TaskContext>,
}

pub struct PublicAgents {
    tokens: Arc<Tokens>,
    hosted: Arc<HostedAgents>,
    tasks: Arc<Tasks>,
}

impl PublicAgents {
    pub fn new(tokens: Arc<Tokens>, hosted: Arc<HostedAgents>, tasks: Arc<Tasks>) -> Self {
        Self {
            tokens,
            hosted,
            tasks,
        }
    }

    /// 401 (no, unknown, revoked or expired token), 404 (agent not configured), 403 (scope
    /// or access), 400 (body), then the task's own failures (503 degraded, 502 failed).
    pub async fn message(
        &self,
        token: Option<&str>,
        agent: &str,
        body: &[u8],
    ) -> Result<TaskResult> {
        let token = self.tokens.authenticate(token).await?;
        let hosted = self
            .hosted
            .get(agent)
            .ok_or_else(|| Error::not_found("agent_not_found", format!("No agent {agent:?}")))?;
        if !token.may_call(agent) {
            return Err(Error::forbidden(
                "insufficient_scope",
                format!("This token has neither agent:{agent} nor agent:* scope"),
            ));
        }
        if hosted.config.access != Access::Public {
            return Err(Error::forbidden(
                "agent_not_public",
                format!("Agent {agent:?} is not public"),
            ));
        }
        let request: PublicMessage = serde_json::from_slice(body).map_err(|e| {
            Error::invalid(
                "invalid_body",
                format!("Body must be JSON with a string `message`: {e}"),
            )
            .on("message")
        })?;
        let context = TaskContext {
            channel: Some(PUBLIC_API.into()),
            ..request.context.unwrap_or_default()
        };
        Ok(self
            .tasks
            .run(agent, request.message, context, PUBLIC_API)
            .await?)
    }
}
