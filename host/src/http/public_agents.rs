//! Public agents on the public listener: `POST /api/public/agents/{id}/messages` (an app
//! calling a hosted agent with an `agx_live_` token) and `GET /api/task/stream` (task events
//! for dashboards). Errors are `{"error": "..."}`.

use super::AppState;
use super::error::{ApiError, ErrorReply};
use super::extract::{Params, bearer_header};
use crate::auth::tokens::require_dashboard_read;
use crate::tasks::TaskResult;
use crate::tasks::events::TaskEvent;
use crate::tasks::public::PublicEndpoint;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub const MESSAGES_ROUTE: &str = "/api/public/agents/{id}/messages";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(MESSAGES_ROUTE, post(message_agent))
        .route("/api/task/stream", get(task_stream))
}

/// What the public-agent call needs: part of [`AppState`], or all the state of split mode's
/// public listener.
#[derive(Clone)]
pub struct PublicRoute {
    pub endpoint: Arc<dyn PublicEndpoint>,
    pub body_limit: usize,
}

impl FromRef<AppState> for PublicRoute {
    fn from_ref(state: &AppState) -> Self {
        PublicRoute {
            endpoint: state.public_agents.clone(),
            body_limit: state.body_limit,
        }
    }
}

/// Calls a public agent; blocks until it has answered (within its plugin's deadline).
pub(super) async fn message_agent(
    State(route): State<PublicRoute>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TaskResult>, ErrorReply> {
    let body = body.map_err(|rejection| too_large_or_bad(route.body_limit, rejection))?;
    let token = bearer_header(&headers);
    Ok(Json(route.endpoint.message(token, &id, &body).await?))
}

fn too_large_or_bad(limit: usize, rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge { limit }
    } else {
        crate::network::Error::invalid("invalid_body", rejection.body_text()).into()
    }
}

#[derive(Deserialize)]
struct StreamQuery {
    /// Only this agent's tasks.
    agent: Option<String>,
    /// The token, for browsers' `EventSource` (which cannot set headers).
    token: Option<String>,
}

/// Every task's events on every channel, for tokens with `dashboard:read`.
async fn task_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Params<StreamQuery>, ApiError>,
) -> Result<Response, ErrorReply> {
    let Params(query) = query?;
    let presented = bearer_header(&headers).or(query.token.as_deref());
    let token = state.tokens.authenticate(presented).await?;
    require_dashboard_read(&token)?;
    let events = state.tasks.events().subscribe();
    let agent = query.agent;
    let keep = move |e: &TaskEvent| agent.as_ref().is_none_or(|a| *a == e.task.agent);
    Ok(task_events(events, keep, false, state.shutdown.clone()).into_response())
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
