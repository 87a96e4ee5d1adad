//! Calls to public agents from outside the network (`POST /api/public/agents/{id}/messages`,
//! and the protocol front-ends over it): the contract's checks, in the contract's order,
//! then a task on the call's channel.
//!
//! When the public listener runs apart from the daemon (split mode), it reaches the daemon
//! through [`RemoteDaemon`], which makes the checks where the tokens are; a daemon that
//! cannot be reached is a 502 at once rather than a hang.

use super::{ChatOwner, PUBLIC_API, PreparedTask, TaskContext, TaskResult, Tasks};
use crate::auth::Tokens;
use crate::config::Access;
use crate::error::{Error, ErrorKind, Result};
use crate::hosted::{HostedAgent, HostedAgents};
use crate::model::ApiToken;
use crate::network::validate::{MAX_NAME_CHARS, bounded, object};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// The body of a public-agent call.
#[derive(Deserialize, ToSchema)]
pub struct PublicMessage {
    /// What the app says to the agent.
    message: String,
    #[serde(default, deserialize_with = "object")]
    context: Option<PublicContext>,
}

/// Who is calling, and in which chat; the channel is always `public-api`.
#[derive(Default, Deserialize, ToSchema)]
pub struct PublicContext {
    /// Who is speaking, as the agent sees it [default: `api`].
    #[schema(max_length = 100)]
    sender: Option<String>,
    /// The chat session: calls with the same id share history; a new one when absent.
    #[serde(rename = "chatId", alias = "chat_id")]
    #[schema(max_length = 128)]
    chat_id: Option<String>,
}

pub struct PublicAgents {
    tokens: Arc<Tokens>,
    hosted: Arc<HostedAgents>,
    tasks: Arc<Tasks>,
}

/// The longest chat id (`chatId`, A2A's `contextId`, OpenAI's `user`) a caller may name.
pub const MAX_CHAT_ID_CHARS: usize = 128;

/// Who calls a public agent and how, once the call's checks have passed.
pub struct PublicCall {
    /// `public-api`, or the protocol front-end's label (`a2a`, `openai`).
    pub channel: &'static str,
    pub sender: Option<String>,
    /// A chat session of the calling token; a new one when absent.
    pub chat_id: Option<String>,
}

impl PublicAgents {
    pub fn new(tokens: Arc<Tokens>, hosted: Arc<HostedAgents>, tasks: Arc<Tasks>) -> Self {
        Self {
            tokens,
            hosted,
            tasks,
        }
    }

    pub fn tasks(&self) -> &Arc<Tasks> {
        &self.tasks
    }

    /// 401: no token, or an unknown, revoked or expired one.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<ApiToken> {
        self.tokens.authenticate(token).await
    }

    /// The checks after authentication, in the contract's order: 404 (agent not
    /// configured), then 403 (scope, then access). Passed, the agent as it was found: the
    /// call is prepared on it ([`PublicAgents::prepare`]), never looked up again, so a
    /// reload meanwhile cannot make a call run on an agent its checks did not see.
    pub fn check(&self, token: &ApiToken, agent: &str) -> Result<Arc<HostedAgent>> {
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
        Ok(hosted)
    }

    /// `POST /api/public/agents/{id}/messages` by the authenticated `token`: 404 (agent not
    /// configured), 403 (scope or access), then 400 for the body the HTTP edge could not
    /// parse (`request`), then the task's own failures (503 degraded, 502 failed).
    pub async fn message(
        &self,
        token: &ApiToken,
        agent: &str,
        request: Result<PublicMessage>,
    ) -> Result<TaskResult> {
        let agent = self.check(token, agent)?;
        let PublicMessage { message, context } = request?;
        let PublicContext { sender, chat_id } = context.unwrap_or_default();
        let call = PublicCall {
            channel: PUBLIC_API,
            sender,
            chat_id,
        };
        let task = self.prepare(token, &agent, message, call)?;
        Ok(self.tasks.execute(task).await?)
    }

    /// The public agents `token` may call, by id.
    pub fn callable(&self, token: &ApiToken) -> Vec<Arc<HostedAgent>> {
        self.public()
            .into_iter()
            .filter(|agent| token.may_call(&agent.id))
            .collect()
    }

    /// Every public agent, by id.
    pub fn public(&self) -> Vec<Arc<HostedAgent>> {
        self.hosted
            .snapshot()
            .values()
            .filter(|agent| agent.config.access == Access::Public)
            .cloned()
            .collect()
    }

    /// The task of a call by `token` to `agent`, which [`PublicAgents::check`] returned, ready to run, in
    /// the token's own session of the chat id (400 when that is longer than
    /// [`MAX_CHAT_ID_CHARS`]: it is kept as the session's key; or the sender longer than
    /// [`MAX_NAME_CHARS`]).
    pub fn prepare(
        &self,
        token: &ApiToken,
        agent: &HostedAgent,
        message: String,
        call: PublicCall,
    ) -> Result<PreparedTask> {
        if let Some(chat_id) = &call.chat_id
            && chat_id.chars().count() > MAX_CHAT_ID_CHARS
        {
            return Err(Error::invalid(
                "chat_id_too_long",
                format!("A chat id has at most {MAX_CHAT_ID_CHARS} characters"),
            ));
        }
        // Kept with every turn of the chat; 400, as the front-ends' other bad input.
        bounded(&[("sender", call.sender.as_deref(), MAX_NAME_CHARS)]).map_err(|e| Error {
            kind: ErrorKind::Invalid,
            ..e
        })?;
        let context = TaskContext {
            channel: Some(call.channel.into()),
            sender: call.sender,
            chat_id: call.chat_id,
        };
        Ok(self.tasks.prepare(
            agent,
            message,
            context,
            call.channel,
            ChatOwner::Token(&token.id),
        )?)
    }
}

/// Where the daemon listener serves the task stream to split mode's public listener.
pub const DAEMON_STREAM_ROUTE: &str = "/public/task/stream";
/// Where the daemon listener serves the public-agent call and the protocol front-ends
/// (OpenAI, A2A, MCP) to split mode's public listener, each under its public path.
pub const DAEMON_PROTOCOLS_PREFIX: &str = "/public/protocol";

/// Connecting to a daemon on the same host takes well under a millisecond; one that has not
/// accepted within this is dead or wedged, and the caller should hear so within a second.
const DAEMON_CONNECT_TIMEOUT: Duration = Duration::from_millis(800);

/// The daemon of another process, reached over its loopback HTTP listener.
pub struct RemoteDaemon {
    /// NB: no overall timeout on the client: the task stream is meant to stay open.
    http: reqwest::Client,
    base: url::Url,
}

impl RemoteDaemon {
    pub fn new(base: url::Url) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(DAEMON_CONNECT_TIMEOUT)
            .build()
            .expect("a client with timeouts builds");
        Self { http, base }
    }

    /// `route` on the daemon.
    fn url(&self, route: &str) -> url::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http URL has path segments")
            .pop_if_empty()
            .extend(route.trim_start_matches('/').split('/'));
        url
    }

    /// The daemon's task stream for `token` (all agents, or `agent`'s): on success, the
    /// Server-Sent Events as they come; otherwise the daemon's refusal.
    pub async fn task_stream(
        &self,
        token: Option<&str>,
        agent: Option<&str>,
    ) -> Result<impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + use<>> {
        let mut request = self
            .http
            .get(self.url(DAEMON_STREAM_ROUTE))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(agent) = agent {
            request = request.query(&[("agent", agent)]);
        }
        let response = send(request, token).await?;
        Ok(response.bytes_stream())
    }

    /// A public-agent call or a protocol front-end's request, `path_and_query` as the public
    /// listener received it,
    /// sent to the daemon under [`DAEMON_PROTOCOLS_PREFIX`]: the daemon's answer, whatever
    /// its status, as it comes (streams stay open); a daemon that does not answer is a 502.
    pub async fn forward(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: reqwest::header::HeaderMap,
        body: bytes::Bytes,
    ) -> Result<reqwest::Response> {
        // NB: the path is joined as received; its escapes must not be escaped again.
        let base = self.base.as_str().trim_end_matches('/');
        let url = format!("{base}{DAEMON_PROTOCOLS_PREFIX}{path_and_query}");
        let url = url::Url::parse(&url).map_err(unreachable)?;
        let request = self.http.request(method, url).headers(headers).body(body);
        request.send().await.map_err(unreachable)
    }
}

fn unreachable(e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Upstream,
        "daemon_unreachable",
        format!("The agentx daemon cannot be reached: {e}"),
    )
}

/// Sends `request` with `token` as Bearer; a refusal by the daemon comes back as the same
/// error (the daemon made the checks), a daemon that does not answer as a 502.
async fn send(
    mut request: reqwest::RequestBuilder,
    token: Option<&str>,
) -> Result<reqwest::Response> {
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let kind = match status.as_u16() {
        400 | 413 => ErrorKind::Invalid,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        503 => ErrorKind::Unavailable,
        _ => ErrorKind::Upstream,
    };
    let answer: serde_json::Value = response.json().await.map_err(unreachable)?;
    let detail = answer["error"]
        .as_str()
        .unwrap_or("The daemon refused the call");
    Err(Error::new(kind, "daemon_refused", detail))
}
