//! The daemon listener's operator routes (loopback only): connecting hosted agents with
//! anyone, running tasks, reloading, and (behind the admin key) `agx_live_` tokens. Errors
//! here are `{"error": "..."}`, as the contract says for daemon routes.

use super::AppState;
use super::error::{ApiError, ErrorReply};
use super::extract::{JsonBody, check_admin_key};
use super::public_agents::{self, task_events};
use crate::auth::tokens::{CreatedToken, NewToken};
use crate::error::Error;
use crate::hosted::{HostedAgent, ReloadReport};
use crate::model::ApiToken;
use crate::network::connections::{AcceptInvite, ConnectionView};
use crate::plugins::log::LogEntry;
use crate::store::Page;
use crate::tasks::{ChatOwner, DAEMON, TaskContext, TaskResult};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agents/{id}/invite", post(invite))
        .route("/agents/{id}/accept", post(accept))
        .route("/agents/{id}/plugins", get(plugins))
        .route("/tokens", post(create_token).get(list_tokens))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/task", post(run_task))
        .route("/reload", post(reload))
        .route("/backup", post(backup))
        // Split mode's public listener forwards public-agent calls and task streams here;
        // the checks are made here, where the tokens and agents are.
        .merge(public_agents::daemon_routes())
}

fn hosted(state: &AppState, id: &str) -> Result<Arc<HostedAgent>, ErrorReply> {
    state.hosted.get(id).ok_or_else(|| {
        Error::not_found(
            "agent_not_found",
            format!("No hosted agent {id:?} in the configuration"),
        )
        .into()
    })
}

/// Passes only with the right `X-Admin-Key`: missing → 401, wrong or none configured → 403.
/// (Unlike the network's admin routes, the daemon owes no one a 422 for compatibility.)
pub struct DaemonAdmin;

impl FromRequestParts<AppState> for DaemonAdmin {
    type Rejection = ErrorReply;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ErrorReply> {
        let missing = || Error::unauthorized("X-Admin-Key header is required");
        check_admin_key(parts, state, missing)?;
        Ok(DaemonAdmin)
    }
}

#[derive(Serialize)]
struct PluginStatus {
    name: String,
    version: String,
    degraded: bool,
    log: Vec<LogEntry>,
}

/// A hosted agent's responder: its health and recent log (the plugin's own lines and the
/// host's notes on failed calls and denied capabilities).
async fn plugins(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ErrorReply> {
    let agent = hosted(&state, &id)?;
    let responder = agent.responder.as_ref().map(|p| PluginStatus {
        name: p.manifest.name.clone(),
        version: p.manifest.version.clone(),
        degraded: p.is_degraded(),
        log: p.log.entries(),
    });
    Ok(Json(
        serde_json::json!({"agent": id, "responder": responder}),
    ))
}

#[derive(Serialize)]
struct Invite {
    invite_code: String,
    join_url: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// An invite from hosted agent `id`, for anyone to accept.
async fn invite(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Invite>, ErrorReply> {
    hosted(&state, &id)?;
    let created = state
        .network
        .create_invite(&id, &state.listener_url)
        .await?;
    Ok(Json(Invite {
        invite_code: created.invite_code,
        join_url: created.join_url,
        expires_at: created.expires_at,
    }))
}

/// Hosted agent `id` accepts an invite.
async fn accept(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<JsonBody<AcceptInvite>, ApiError>,
) -> Result<Json<ConnectionView>, ErrorReply> {
    hosted(&state, &id)?;
    let JsonBody(form) = body?;
    Ok(Json(state.network.accept_invite(&id, form).await?))
}

/// A new `agx_live_` token; the only time the token itself is shown.
async fn create_token(
    _: DaemonAdmin,
    State(state): State<AppState>,
    body: Result<JsonBody<NewToken>, ApiError>,
) -> Result<Json<CreatedToken>, ErrorReply> {
    let JsonBody(form) = body?;
    Ok(Json(state.tokens.create(form).await?))
}

async fn list_tokens(
    _: DaemonAdmin,
    State(state): State<AppState>,
) -> Result<Json<Vec<ApiToken>>, ErrorReply> {
    // The operator's own loopback view of what only the operator creates: whole.
    Ok(Json(state.tokens.list(Page::ALL).await?.items))
}

async fn revoke_token(
    _: DaemonAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ErrorReply> {
    state.tokens.revoke(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A consistent snapshot of the store, streamed (`agentx backup FILE`): every write
/// acknowledged before the request is in it. Always behind the admin key: it holds
/// everything, key hashes included.
async fn backup(_: DaemonAdmin, State(state): State<AppState>) -> Result<Response, ErrorReply> {
    let file = state
        .network
        .store()
        .backup()
        .await
        .map_err(crate::error::Error::from)?;
    let length = file.metadata().map(|m| m.len()).unwrap_or_default();
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::CONTENT_LENGTH, length.to_string()),
    ];
    Ok((headers, body).into_response())
}

#[derive(Deserialize)]
struct TaskRequest {
    agent: String,
    message: String,
    #[serde(default, deserialize_with = "crate::network::validate::object")]
    context: Option<TaskContext>,
    /// Stream events instead of waiting for the result (as `Accept: text/event-stream`).
    #[serde(default)]
    stream: bool,
}

/// Runs a task; with `Accept: text/event-stream` or `"stream": true`, streams its events.
async fn run_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<JsonBody<TaskRequest>, ApiError>,
) -> Result<Response, ErrorReply> {
    let JsonBody(request) = body?;
    let context = request.context.unwrap_or_default();
    context.bounded()?;
    let streaming = request.stream || accepts_event_stream(&headers);
    let task = state
        .tasks
        .prepare(
            &request.agent,
            request.message,
            context,
            DAEMON,
            ChatOwner::Daemon,
        )
        .map_err(Error::from)?;
    if !streaming {
        let result: TaskResult = state.tasks.execute(task).await.map_err(Error::from)?;
        return Ok(Json(result).into_response());
    }
    // NB: subscribe before the task starts, so its `start` is not missed.
    let events = state.tasks.events().subscribe();
    let task_id = task.meta.task_id.clone();
    let tasks = state.tasks.clone();
    // Runs to the end even if the client goes away: its turns are part of the chat.
    tokio::spawn(async move { tasks.execute(task).await });
    Ok(task_events(
        events,
        move |e| e.task.task_id == task_id,
        true,
        state.shutdown.clone(),
    )
    .into_response())
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// Re-reads agentx.json and swaps changed plugins; refused plugins keep their old version.
async fn reload(State(state): State<AppState>) -> Result<Json<ReloadReport>, ErrorReply> {
    Ok(Json(state.reloader.reload().await.map_err(Error::from)?))
}
