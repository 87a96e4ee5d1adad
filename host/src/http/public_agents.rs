//! Public agents on the public listener: `POST /api/public/agents/{id}/messages` (an app
//! calling a hosted agent with an `agx_live_` token) and `GET /api/task/stream` (task events
//! for dashboards). Errors are `{"error": "..."}`.
//!
//! In split mode the public listener runs apart from the daemon and forwards both, so the
//! checks are made once, where the tokens are: the call as the protocols are forwarded
//! ([`super::forward`]), the stream from the daemon's own stream ([`forward_task_stream`]).

use super::AppState;
use super::error::{ApiError, ErrorReply};
use super::extract::{Authorization, LateJson, Params, bearer_header, live_token};
use super::rate_limit::Proof;
use crate::auth::tokens::require_dashboard_read;
use crate::error::Error;
use crate::tasks::TaskResult;
use crate::tasks::events::TaskEvent;
use crate::tasks::public::{DAEMON_STREAM_ROUTE, PublicMessage, RemoteDaemon};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub(super) const MESSAGES_ROUTE: &str = "/api/public/agents/{id}/messages";
const STREAM_ROUTE: &str = "/api/task/stream";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(message_agent))
        .routes(routes!(task_stream))
}

/// The call as the daemon listener serves it to split mode's public listener (under the
/// protocols' prefix, with them: see [`super::forward`]).
pub(super) fn call_route() -> Router<AppState> {
    Router::new().route(MESSAGES_ROUTE, post(message_agent))
}

/// The task stream as the daemon listener serves it to split mode's public listener.
pub fn daemon_routes() -> Router<AppState> {
    Router::new().route(DAEMON_STREAM_ROUTE, get(task_stream))
}

/// State of split mode's public listener.
#[derive(Clone)]
pub struct SplitState {
    pub daemon: Arc<RemoteDaemon>,
    pub body_limit: usize,
    pub shutdown: CancellationToken,
}

/// Split mode's public listener: the task stream, answered by the daemon (the call is
/// forwarded with the protocols).
pub fn split_routes() -> Router<SplitState> {
    Router::new().route(STREAM_ROUTE, get(forward_task_stream))
}

/// Call a public agent with an `agx_live_` token (scope `agent:<id>` or `agent:*`); blocks
/// until it has answered, within its plugin's deadline. Errors are `{"error": "..."}`.
#[utoipa::path(post, path = "/api/public/agents/{id}/messages", tag = "public agents",
    security(("agx_live" = [])),
    params(("id" = String, Path, description = "the hosted agent's id (its key in agentx.json)")),
    request_body = PublicMessage,
    responses(
        (status = 200, body = TaskResult, description = "the task result, as the daemon's POST /task"),
        (status = 400, description = "invalid JSON, `message` missing or not a string, or a `context` field too long"),
        (status = 401, description = "no token, or an unknown, revoked or expired one"),
        (status = 403, description = "the token lacks the agent's scope, or the agent is not public"),
        (status = 404, description = "no such agent in agentx.json"),
        (status = 413, description = "body over the limit"),
        (status = 502, description = "the plugin failed, or (split mode) the daemon is unreachable"),
        (status = 503, description = "the agent's plugin is degraded, or it has no responder")))]
async fn message_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    proof: Proof,
    authorization: Authorization,
    body: Result<LateJson<PublicMessage>, ApiError>,
) -> Result<Json<TaskResult>, ErrorReply> {
    let LateJson(request) = body?;
    let token = live_token(&state, authorization.bearer(), &proof).await?;
    let request = request.map_err(|e| {
        Error::invalid(
            "invalid_body",
            format!("Body must be JSON with a string `message`: {e}"),
        )
        .on("message")
    });
    Ok(Json(
        state.public_agents.message(&token, &id, request).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// Only this agent's tasks.
    agent: Option<String>,
    /// The token, for browsers' `EventSource` (which cannot set headers).
    token: Option<String>,
}

/// Every task's events on every channel (`start`, `text`, `done`, `error`), as Server-Sent
/// Events whose `event:` is the type and `data:` the event's JSON; for tokens with
/// `dashboard:read` (or `dashboard:write`), in the Authorization header or `?token=`.
#[utoipa::path(get, path = "/api/task/stream", tag = "public agents",
    security(("agx_live" = [])), params(StreamQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = TaskEvent,
            description = "one event per task event, until the client leaves"),
        (status = 401, description = "no token, or an unknown, revoked or expired one"),
        (status = 403, description = "the token lacks dashboard:read")))]
async fn task_stream(
    State(state): State<AppState>,
    proof: Proof,
    headers: HeaderMap,
    query: Result<Params<StreamQuery>, ApiError>,
) -> Result<Response, ErrorReply> {
    let Params(query) = query?;
    let presented = bearer_header(&headers).or(query.token.as_deref());
    let token = live_token(&state, presented, &proof).await?;
    require_dashboard_read(&token)?;
    let events = state.tasks.events().subscribe();
    let agent = query.agent;
    let keep = move |e: &TaskEvent| agent.as_ref().is_none_or(|a| *a == e.task.agent);
    Ok(task_events(events, keep, false, state.shutdown.clone()).into_response())
}

/// Split mode: the daemon's task stream, passed through byte for byte (its refusals too),
/// ended when this listener shuts down.
async fn forward_task_stream(
    State(state): State<SplitState>,
    headers: HeaderMap,
    query: Result<Params<StreamQuery>, ApiError>,
) -> Result<Response, ErrorReply> {
    let Params(query) = query?;
    let presented = bearer_header(&headers).or(query.token.as_deref());
    let events = state
        .daemon
        .task_stream(presented, query.agent.as_deref())
        .await?;
    let body = events.take_until(state.shutdown.cancelled_owned());
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// Task events as Server-Sent Events (`event:` is the event's type, `data:` its JSON),
/// those `keep` accepts; with `one_task`, the stream ends after the first `done` or
/// `error`. A subscriber that falls behind gets a `lagged` event saying how many it missed.
pub(super) fn task_events(
    events: broadcast::Receiver<TaskEvent>,
    keep: impl Fn(&TaskEvent) -> bool + Send + Sync + 'static,
    one_task: bool,
    shutdown: CancellationToken,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    struct Feed<F> {
        events: broadcast::Receiver<TaskEvent>,
        keep: Arc<F>,
        shutdown: CancellationToken,
        ended: bool,
    }
    let feed = Feed {
        events,
        keep: Arc::new(keep),
        shutdown,
        ended: false,
    };
    let stream = futures_util::stream::unfold(feed, move |mut feed| async move {
        if feed.ended {
            return None;
        }
        loop {
            let received = tokio::select! {
                received = feed.events.recv() => received,
                _ = feed.shutdown.cancelled() => return None,
            };
            match received {
                Ok(event) if (feed.keep)(&event) => {
                    feed.ended = one_task && event.kind.is_last();
                    let sse = Event::default()
                        .event(event.kind.name())
                        .json_data(&event)
                        .expect("task events serialise");
                    return Some((Ok(sse), feed));
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let sse = Event::default().event("lagged").data(missed.to_string());
                    return Some((Ok(sse), feed));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
