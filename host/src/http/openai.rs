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
use super::error::{ApiError, OpenAiError};
use super::extract::bearer_header;
use crate::model::ChatRole;
use crate::network::Error;
use crate::tasks::public::PublicCall;
use crate::tasks::{TaskError, TaskResult};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;

/// The channel label of OpenAI-compatible calls, on the task stream.
pub const OPENAI: &str = "openai";

/// The header that names (and, on replies, reports) the chat session.
static CHAT_ID: HeaderName = HeaderName::from_static("x-chat-id");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/v1/models", get(models))
}

#[derive(Deserialize)]
struct CompletionRequest {
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    /// OpenAI's end-user id; here, the chat session to continue.
    user: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessage {
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
async fn completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let agents = &state.public_agents;
    let token = agents.authenticate(bearer_header(&headers)).await?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge {
                limit: state.body_limit,
            }
        } else {
            Error::invalid("invalid_body", rejection.body_text()).into()
        }
    })?;
    let request: CompletionRequest = serde_json::from_slice(&body).map_err(|e| {
        Error::invalid(
            "invalid_body",
            format!("Body must be a chat completion request with `model` and `messages`: {e}"),
        )
    })?;
    agents.check(&token, &request.model)?;
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
        .prepare(&token, &request.model, message.clone(), call)?
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

impl Completion {
    fn usage(&self, reply: &str) -> Value {
        let completion = reply.chars().count();
        json!({
            "prompt_tokens": self.prompt_chars,
            "completion_tokens": completion,
            "total_tokens": self.prompt_chars + completion,
        })
    }

    /// The `chat.completion` object.
    fn whole(&self, result: &TaskResult) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": result.content},
                "finish_reason": "stop",
            }],
            "usage": self.usage(&result.content),
        })
    }

    /// A `chat.completion.chunk` with `delta`, `finish_reason` and `usage` (when given).
    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<Value>) -> Event {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
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
                    crate::network::ErrorKind::Internal,
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
    let (status, message) = match e.kind {
        crate::network::ErrorKind::Internal => {
            tracing::error!(error = %e.detail, "internal error in a streamed completion");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error".to_owned(),
            )
        }
        kind => (super::error::status_of(kind), e.detail),
    };
    let error = json!({"error": {
        "message": message,
        "type": super::error::openai_type(status),
        "code": e.code,
    }});
    Event::default().data(error.to_string())
}

/// The public agents this token may call, as OpenAI's model list.
async fn models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, OpenAiError> {
    let agents = &state.public_agents;
    let token = agents.authenticate(bearer_header(&headers)).await?;
    let mut data = Vec::new();
    for agent in agents.callable(&token) {
        let profile = state.network.profile(&agent.id).await?;
        data.push(json!({
            "id": agent.id,
            "object": "model",
            "created": profile.created_at.timestamp(),
            "owned_by": "agentx",
        }));
    }
    Ok(Json(json!({"object": "list", "data": data})))
}
