//! `/messages`: send, long-poll, inbox, acknowledge and threads.

use super::AppState;
use super::error::ApiError;
use super::extract::{CurrentAgent, JsonBody, Params};
use crate::error::{Error, Result};
use crate::model::{Message, Thread};
use crate::network::messages::{Inbox, OutgoingMessage, ThreadWithMessages};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

const IDEMPOTENCY_KEY: &str = "idempotency-key";
const DEFAULT_POLL_SECONDS: u64 = 30;
/// The longest a long-poll waits (also MCP's `check_inbox`).
pub(super) const MAX_POLL_SECONDS: u64 = 60;
const DEFAULT_INBOX_LIMIT: usize = 50;
const MAX_INBOX_LIMIT: usize = 200;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(stream))
        .routes(routes!(inbox))
        .routes(routes!(acknowledge))
        .routes(routes!(threads))
        .routes(routes!(thread))
}

/// Send a message; an `Idempotency-Key` repeat within 24 h returns the first message.
#[utoipa::path(post, path = "/messages", tag = "messages", security(("api_key" = [])),
    request_body = OutgoingMessage,
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255,
        // Visible ASCII (spaces and tabs inside), not blank: HTTP trims the ends.
        pattern = r"^[\t\x20-\x7e]*[\x21-\x7e][\t\x20-\x7e]*$",
        description = "de-duplicates retries for 24 h")),
    responses((status = 200, body = Message), (status = 400), (status = 403), (status = 404), (status = 422)))]
async fn send(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    headers: HeaderMap,
    JsonBody(outgoing): JsonBody<OutgoingMessage>,
) -> Result<Json<Message>, ApiError> {
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            Error::invalid(
                "invalid_idempotency_key",
                "Idempotency-Key must be visible ASCII",
            )
            .on("Idempotency-Key")
        })?),
    };
    Ok(Json(state.network.send(&agent.id, outgoing, key).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamParams {
    /// Seconds to wait, 1 to 60 (default 30).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 60)]
    timeout: Option<String>,
}

/// Long-poll: answers as soon as anything is pending, else empty after `timeout` seconds.
///
/// NB: not an `async fn`: its future is what every waiting poll keeps, and an `async fn`'s
/// would hold its arguments twice (as passed and as moved) beside the wait. This one keeps
/// only what the wait needs: 0.8 KiB less per waiting poll (benches/README.md).
#[utoipa::path(get, path = "/messages/stream", tag = "messages", security(("api_key" = [])),
    params(StreamParams), responses((status = 200, body = Inbox), (status = 422)))]
fn stream(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Params(params): Params<StreamParams>,
) -> impl Future<Output = Result<Json<Inbox>, ApiError>> {
    let seconds = bounded(
        "timeout",
        params.timeout.as_deref(),
        DEFAULT_POLL_SECONDS,
        MAX_POLL_SECONDS,
    );
    let AppState {
        network, shutdown, ..
    } = state;
    let agent = agent.id;
    async move {
        let wait = Duration::from_secs(seconds?);
        let delivery = network.poll(&agent, wait, &shutdown).await?;
        Ok(Json(delivery.into()))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct InboxParams {
    /// Messages to return at most, 1 to 200 (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// What is pending now, without waiting.
#[utoipa::path(get, path = "/messages/inbox", tag = "messages", security(("api_key" = [])),
    params(InboxParams), responses((status = 200, body = Inbox), (status = 422)))]
async fn inbox(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Params(params): Params<InboxParams>,
) -> Result<Json<Inbox>, ApiError> {
    let limit = bounded(
        "limit",
        params.limit.as_deref(),
        DEFAULT_INBOX_LIMIT as u64,
        MAX_INBOX_LIMIT as u64,
    )?;
    Ok(Json(state.network.inbox(&agent.id, limit as usize).await?))
}

#[derive(Serialize, ToSchema)]
struct Acknowledged {
    /// Always `acknowledged`.
    status: &'static str,
}

/// Mark a message read.
#[utoipa::path(post, path = "/messages/{id}/ack", tag = "messages", security(("api_key" = [])),
    responses((status = 200, body = Acknowledged), (status = 404), (status = 403)))]
async fn acknowledge(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Path(id): Path<String>,
) -> Result<Json<Acknowledged>, ApiError> {
    state.network.acknowledge(&agent.id, &id).await?;
    Ok(Json(Acknowledged {
        status: "acknowledged",
    }))
}

/// Threads of the caller's active connections, most recent activity first.
#[utoipa::path(get, path = "/messages/threads", tag = "messages", security(("api_key" = [])),
    responses((status = 200, body = [Thread])))]
async fn threads(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
) -> Result<Json<Vec<Thread>>, ApiError> {
    Ok(Json(state.network.threads(&agent.id).await?))
}

/// A thread and all its messages, oldest first.
#[utoipa::path(get, path = "/messages/thread/{id}", tag = "messages", security(("api_key" = [])),
    responses((status = 200, body = ThreadWithMessages), (status = 404), (status = 403)))]
async fn thread(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Path(id): Path<String>,
) -> Result<Json<ThreadWithMessages>, ApiError> {
    Ok(Json(state.network.thread(&agent.id, &id).await?))
}

/// An integer query parameter in `1..=max`, `default` when absent.
fn bounded(field: &str, raw: Option<&str>, default: u64, max: u64) -> Result<u64> {
    let Some(raw) = raw else { return Ok(default) };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            Error::malformed(field, format!("{field} must be an integer from 1 to {max}"))
        })
}
