//! Calls to public agents from outside the network (`POST /api/public/agents/{id}/messages`):
//! the contract's checks, in the contract's order, then a task on channel `public-api`.
//!
//! The public listener reaches them through [`PublicEndpoint`]: [`PublicAgents`] in the
//! same process, or [`RemoteDaemon`] when the public listener runs apart from the daemon
//! (split mode), where the daemon makes the checks and a daemon that cannot be reached is
//! a 502 at once rather than a hang.

use super::{PUBLIC_API, TaskContext, TaskResult, Tasks};
use crate::auth::Tokens;
use crate::config::Access;
use crate::hosted::HostedAgents;
use crate::network::{Error, ErrorKind, Result};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The public-agent call, wherever the agents run.
#[async_trait]
pub trait PublicEndpoint: Send + Sync + 'static {
    /// Checks `token` and `body` for `agent` and runs the call; see [`PublicAgents::message`].
    async fn message(&self, token: Option<&str>, agent: &str, body: &[u8]) -> Result<TaskResult>;
}

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
}

#[async_trait]
impl PublicEndpoint for PublicAgents {
    /// 401 (no, unknown, revoked or expired token), 404 (agent not configured), 403 (scope
    /// or access), 400 (body), then the task's own failures (503 degraded, 502 failed).
    async fn message(&self, token: Option<&str>, agent: &str, body: &[u8]) -> Result<TaskResult> {
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

/// Connecting to a daemon on the same host takes well under a millisecond; one that has not
/// accepted within this is dead or wedged, and the caller should hear so within a second.
const DAEMON_CONNECT_TIMEOUT: Duration = Duration::from_millis(800);
/// Longer than any plugin deadline a call can wait on.
const DAEMON_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The daemon of another process, reached over its loopback HTTP listener.
pub struct RemoteDaemon {
    http: reqwest::Client,
    base: url::Url,
}

impl RemoteDaemon {
    pub fn new(base: url::Url) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(DAEMON_CONNECT_TIMEOUT)
            .timeout(DAEMON_CALL_TIMEOUT)
            .build()
            .expect("a client with timeouts builds");
        Self { http, base }
    }

    fn message_url(&self, agent: &str) -> url::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http URL has path segments")
            .pop_if_empty()
            .extend(["public", "agents", agent, "messages"]);
        url
    }
}

fn unreachable(e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Upstream,
        "daemon_unreachable",
        format!("The agentx daemon cannot be reached: {e}"),
    )
}

#[async_trait]
impl PublicEndpoint for RemoteDaemon {
    async fn message(&self, token: Option<&str>, agent: &str, body: &[u8]) -> Result<TaskResult> {
        let mut request = self
            .http
            .post(self.message_url(agent))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_value(answer).map_err(unreachable);
        }
        // The daemon made the checks; pass its verdict on unchanged.
        let kind = match status.as_u16() {
            400 | 413 => ErrorKind::Invalid,
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            503 => ErrorKind::Unavailable,
            _ => ErrorKind::Upstream,
        };
        let detail = answer["error"]
            .as_str()
            .unwrap_or("The daemon refused the call");
        Err(Error::new(kind, "daemon_refused", detail))
    }
}
