//! The OpenAI-compatible chat API over public agents: `POST /v1/chat/completions` (the
//! `model` is the agent's id) and `GET /v1/models` (the agents the token may call), so any
//! OpenAI client library reaches a public agent with a base URL and an `agx_live_` token.
//!
//! A completion is a public-agent call on channel `openai`: the same token checks and
//! statuses, a task in the token's chat session. The last user message is what the agent
//! is asked. A chat continues under the `user` field or the `X-Chat-Id` header (the reply
//! names its chat in `X-Chat-Id`); when a request names none, a new session starts with the
//! request's earlier messages as its past. `usage` counts characters (Unicode scalar
//! values), not tokens: agents are plugins, with no tokenizer to count by. Errors are
//! OpenAI's `{"error": {"message", "type", "code"}}`.

use super::AppState;
use super::error::{ApiError, OpenAiError, Shape};
use super::extract::{Authorization, LateJson, bearer_header, live_token};
use super::rate_limit::Proof;
use crate::error::Error;
use crate::model::ChatRole;
use crate::tasks::public::PublicCall;
use crate::tasks::{TaskError, TaskResult};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::convert::Infallible;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The channel label of OpenAI-compatible calls, on the task stream.
pub const OPENAI: &str = "openai";

/// The header that names (and, on replies, reports) the chat session.
static CHAT_ID: HeaderName = HeaderName::from_static("x-chat-id");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(completions))
        .routes(routes!(models))
}

/// A chat completion request; fields OpenAI defines and agents cannot use (`temperature`,
/// `tools`, …) are accepted and ignored.
#[derive(Deserialize, ToSchema)]
struct CompletionRequest {
    /// The public agent's id.
    model: String,
    /// The conversation; the last `user` message is what the agent is asked.
    messages: Vec<ChatMessage>,
    /// Answer as `chat.completion.chunk` Server-Sent Events, then `data: [DONE]`.
    #[serde(default)]
    stream: bool,
    /// OpenAI's end-user id; here, the chat session to continue (as the `X-Chat-Id`
    /// header).
    #[schema(max_length = 128)]
    user: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct ChatMessage {
    /// `user`, `assistant`, `system`, …
    role: String,
    /// A string, or content parts of which the `text` ones count.
    #[serde(default)]
    content: Value,
}

impl ChatMessage {
    /// The text of the message: the string, or its text parts joined.
    fn text(&self) -> String {
        match &self.content {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }
}

/// One reply of the agent, in OpenAI's chat completion shape (or, streamed, as chunks).
/// `usage` counts characters, not tokens. Refusals are OpenAI's
/// `{"error": {"message", "type", "code"}}`, with the public endpoint's statuses.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    security(("agx_live" = [])),
    params(("X-Chat-Id" = Option<String>, Header,
        description = "the chat session to continue, when the body has no `user`")),
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "the reply; its `X-Chat-Id` header names the chat session",
            content((ChatCompletion = "application/json"),
                (String = "text/event-stream"))),
        (status = 400, description = "not a chat completion request, or no user message"),
        (status = 401, description = "no token, or an unknown, revoked or expired one"),
        (status = 403, description = "the token lacks the agent's scope, or the agent is not public"),
        (status = 404, description = "no such agent"),
        (status = 413, description = "body over the limit"),
        (status = 502, description = "the plugin failed"),
        (status = 503, description = "the agent's plugin is degraded, or it has no responder")))]
async fn completions(
    State(state): State<AppState>,
    proof: Proof,
    headers: HeaderMap,
    body: Result<LateJson<CompletionRequest>, ApiError>,
) -> Result<Response, OpenAiError> {
    let LateJson(request) = body?;
    let agents = &state.public_agents;
    let token = live_token(&state, bearer_header(&headers), &proof).await?;
    let request = request.map_err(|e| {
        Error::invalid(
            "invalid_body",
            format!("Body must be a chat completion request with `model` and `messages`: {e}"),
        )
    })?;
    let agent = agents.check(&token, &request.model)?;
    let Some(last) = request.messages.iter().rposition(|m| m.role == "user") else {
        return Err(Error::invalid("no_user_message", "`messages` has no user message").into());
    };
    let header_chat = headers
        .get(&CHAT_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let chat_id = request.user.clone().or(header_chat);
    let earlier = match chat_id {
        // The session remembers the conversation; what the client resends is not new.
        Some(_) => Vec::new(),
        None => request.messages[..last]
            .iter()
            .map(|m| {
                let role = if m.role == "assistant" {
                    ChatRole::Outgoing
                } else {
                    ChatRole::Incoming
                };
                (role, m.text())
            })
            .collect(),
    };
    let message = request.messages[last].text();
    let call = PublicCall {
        channel: OPENAI,
        sender: None,
        chat_id,
    };
    let task = agents
        .prepare(&token, &agent, message.clone(), call)?
        .after(earlier);
    let chat = HeaderValue::from_str(&task.meta.chat_id).ok();
    let completion = Completion {
        id: format!("chatcmpl-{}", task.meta.task_id),
        created: state.network.clock().now().timestamp(),
        model: request.model.clone(),
        prompt_chars: message.chars().count(),
    };
    let tasks = agents.tasks().clone();
    let mut response = if request.stream {
        // Runs to the end even if the client goes away: its turns are part of the chat.
        let run = tokio::spawn(async move { tasks.execute(task).await });
        completion.stream(run, state.shutdown.clone())
    } else {
        let result = tasks.execute(task).await.map_err(Error::from)?;
        Json(completion.whole(&result)).into_response()
    };
    if let Some(chat) = chat {
        response.headers_mut().insert(CHAT_ID.clone(), chat);
    }
    Ok(response)
}

/// What every form of one completion's answer repeats.
struct Completion {
    id: String,
    created: i64,
    model: String,
    prompt_chars: usize,
}

/// A `chat.completion` object.
#[derive(Serialize, ToSchema)]
struct ChatCompletion {
    /// `chatcmpl-` and the task id.
    id: String,
    /// Always `chat.completion`.
    object: &'static str,
    /// Unix seconds.
    created: i64,
    /// The agent's id.
    model: String,
    /// One choice: the agent's reply.
    choices: Vec<Choice>,
    usage: Usage,
}

#[derive(Serialize, ToSchema)]
struct Choice {
    index: u32,
    message: AssistantMessage,
    /// Always `stop`.
    finish_reason: &'static str,
}

#[derive(Serialize, ToSchema)]
struct AssistantMessage {
    /// Always `assistant`.
    role: &'static str,
    /// The reply; empty when the agent chose not to answer.
    content: String,
}

/// Sizes in characters (Unicode scalar values): plugins have no tokenizer.
#[derive(Serialize, ToSchema)]
struct Usage {
    /// The characters of the message the agent was asked.
    prompt_tokens: usize,
    /// The characters of the reply.
    completion_tokens: usize,
    total_tokens: usize,
}

impl Completion {
    fn usage(&self, reply: &str) -> Usage {
        let completion = reply.chars().count();
        Usage {
            prompt_tokens: self.prompt_chars,
            completion_tokens: completion,
            total_tokens: self.prompt_chars + completion,
        }
    }

    /// The `chat.completion` object.
    fn whole(&self, result: &TaskResult) -> ChatCompletion {
        ChatCompletion {
            id: self.id.clone(),
            object: "chat.completion",
            created: self.created,
            model: self.model.clone(),
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: result.content.clone(),
                },
                finish_reason: "stop",
            }],
            usage: self.usage(&result.content),
        }
    }

    /// A `chat.completion.chunk` with `delta`, `finish_reason` and `usage` (when given).
    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<Usage>) -> Event {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(usage) = usage {
            chunk["usage"] = json!(usage);
        }
        Event::default().data(chunk.to_string())
    }

    /// The answer as Server-Sent Events: the assistant's role at once, the reply when the
    /// agent has answered (plugins answer whole: one content chunk), a last chunk with the
    /// finish reason and usage, then `[DONE]`. A failed task is an `error` object in
    /// OpenAI's shape, which its clients raise.
    fn stream(
        self,
        run: tokio::task::JoinHandle<Result<TaskResult, TaskError>>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Response {
        let opening = self.chunk(json!({"role": "assistant", "content": ""}), None, None);
        let rest = async move {
            let events = match run.await {
                Ok(Ok(result)) => vec![
                    self.chunk(json!({"content": result.content}), None, None),
                    self.chunk(json!({}), Some("stop"), Some(self.usage(&result.content))),
                    Event::default().data("[DONE]"),
                ],
                Ok(Err(e)) => vec![failure(Error::from(e))],
                Err(panicked) => vec![failure(Error::new(
                    crate::error::ErrorKind::Internal,
                    "internal",
                    panicked.to_string(),
                ))],
            };
            futures_util::stream::iter(events)
        };
        let events = futures_util::stream::once(async { opening })
            .chain(futures_util::stream::once(rest).flatten())
            .map(Ok::<_, Infallible>)
            .take_until(shutdown.cancelled_owned());
        Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response()
    }
}

/// A task's failure as a streamed event: the body [`OpenAiError`] would have answered.
fn failure(e: Error) -> Event {
    let body = ApiError::from(e).answer().body(Shape::OpenAi);
    Event::default().data(body.to_string())
}

/// OpenAI's model list.
#[derive(Serialize, ToSchema)]
struct ModelList {
    /// Always `list`.
    object: &'static str,
    data: Vec<Model>,
}

/// A public agent, as an OpenAI model.
#[derive(Serialize, ToSchema)]
struct Model {
    /// The agent's id: the `model` of a completion.
    id: String,
    /// Always `model`.
    object: &'static str,
    /// When the agent joined the network, in Unix seconds.
    created: i64,
    /// Always `agentx`.
    owned_by: &'static str,
}

/// The public agents this token may call, as OpenAI's model list.
#[utoipa::path(get, path = "/v1/models", tag = "openai", security(("agx_live" = [])),
    responses(
        (status = 200, body = ModelList),
        (status = 401, description = "no token, or an unknown, revoked or expired one")))]
async fn models(
    State(state): State<AppState>,
    proof: Proof,
    authorization: Authorization,
) -> Result<Json<ModelList>, OpenAiError> {
    let agents = &state.public_agents;
    let token = live_token(&state, authorization.bearer(), &proof).await?;
    let mut data = Vec::new();
    for agent in agents.callable(&token) {
        let profile = state.network.profile(&agent.id).await?;
        data.push(Model {
            id: agent.id.clone(),
            object: "model",
            created: profile.created_at.timestamp(),
            owned_by: "agentx",
        });
    }
    Ok(Json(ModelList {
        object: "list",
        data,
    }))
}
