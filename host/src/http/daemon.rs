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
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The operator's routes, each documented where it is handled: `/docs` lists them from
/// this router's OpenAPI, so the page cannot drift from what the daemon serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reload))
        .routes(routes!(run_task))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(invite))
        .routes(routes!(accept))
        .routes(routes!(plugins))
        .routes(routes!(backup))
        // Split mode's public listener forwards public-agent calls and task streams here;
        // the checks are made here, where the tokens and agents are. Plumbing between two
        // agentx processes, not an operator's route: served, not documented.
        .merge(public_agents::daemon_routes().into())
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
        check_admin_key(&parts.headers, state, missing)?;
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
#[utoipa::path(get, path = "/agents/{id}/plugins", params(("id" = String, Path)),
    responses((status = 200, description = "`{agent, responder: {name, version, degraded, log}}`"),
        (status = 404, description = "no hosted agent `id`")))]
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
#[utoipa::path(post, path = "/agents/{id}/invite", params(("id" = String, Path)),
    responses((status = 200, description = "`{invite_code, join_url, expires_at}`"),
        (status = 404, description = "no hosted agent `id`")))]
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

/// Hosted agent `id` accepts an invite: `{invite_code, contract?}`.
#[utoipa::path(post, path = "/agents/{id}/accept", params(("id" = String, Path)),
    request_body(content = serde_json::Value, description = "`{invite_code, contract?}`"),
    responses((status = 200, description = "the connection"),
        (status = 404, description = "no hosted agent `id`, or no such invite")))]
async fn accept(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<JsonBody<AcceptInvite>, ApiError>,
) -> Result<Json<ConnectionView>, ErrorReply> {
    hosted(&state, &id)?;
    let JsonBody(form) = body?;
    Ok(Json(state.network.accept_invite(&id, form).await?))
}

/// Admin key. Creates an `agx_live_` token: `{name, scopes, expires_days?}`; the token is
/// shown only in this answer.
#[utoipa::path(post, path = "/tokens",
    request_body(content = serde_json::Value, description = "`{name, scopes, expires_days?}`"),
    responses((status = 200, description = "the token, shown only in this answer"),
        (status = 401, description = "no `X-Admin-Key`"),
        (status = 403, description = "a wrong admin key, or none configured")))]
async fn create_token(
    _: DaemonAdmin,
    State(state): State<AppState>,
    body: Result<JsonBody<NewToken>, ApiError>,
) -> Result<Json<CreatedToken>, ErrorReply> {
    let JsonBody(form) = body?;
    Ok(Json(state.tokens.create(form).await?))
}

/// Admin key. Every token, never the token itself.
#[utoipa::path(get, path = "/tokens",
    responses((status = 200, description = "every token, never the token itself"),
        (status = 401, description = "no `X-Admin-Key`"),
        (status = 403, description = "a wrong admin key, or none configured")))]
async fn list_tokens(
    _: DaemonAdmin,
    State(state): State<AppState>,
) -> Result<Json<Vec<ApiToken>>, ErrorReply> {
    // The operator's own loopback view of what only the operator creates: whole.
    Ok(Json(state.tokens.list(Page::ALL).await?.items))
}

/// Admin key. Revokes a token, effective on its next use.
#[utoipa::path(delete, path = "/tokens/{id}", params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 401, description = "no `X-Admin-Key`"),
        (status = 403, description = "a wrong admin key, or none configured")))]
async fn revoke_token(
    _: DaemonAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ErrorReply> {
    state.tokens.revoke(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Admin key. A consistent snapshot of the store, streamed (what `agentx backup FILE` saves
/// and `agentx restore FILE --data-dir D` installs): every write acknowledged before the
/// request is in it. Always behind the admin key: it holds everything, key hashes included.
#[utoipa::path(post, path = "/backup",
    responses((status = 200, content_type = "application/octet-stream", description = "the snapshot"),
        (status = 401, description = "no `X-Admin-Key`"),
        (status = 403, description = "a wrong admin key, or none configured")))]
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

/// Runs a hosted agent: `{agent, message, context: {channel, sender, chatId}}` (`channel`
/// and `sender` at most 100 characters, `chatId` 128, else 422);
/// `Accept: text/event-stream` or `"stream": true` streams its events.
#[utoipa::path(post, path = "/task",
    request_body(content = serde_json::Value,
        description = "`{agent, message, context: {channel, sender, chatId}, stream?}`"),
    responses((status = 200, description = "the task result, or its events as SSE"),
        (status = 422, description = "a context field too long")))]
async fn run_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<JsonBody<TaskRequest>, ApiError>,
) -> Result<Response, ErrorReply> {
    let JsonBody(request) = body?;
    let context = request.context.unwrap_or_default();
    context.bounded()?;
    let streaming = request.stream || accepts_event_stream(&headers);
    let agent = hosted(&state, &request.agent)?;
    let task = state
        .tasks
        .prepare(&agent, request.message, context, DAEMON, ChatOwner::Daemon)
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

/// Re-reads agentx.json and swaps changed plugins; a failed plugin keeps its old version
/// serving.
#[utoipa::path(post, path = "/reload",
    responses((status = 200, description = "what was reloaded, kept and refused")))]
async fn reload(State(state): State<AppState>) -> Result<Json<ReloadReport>, ErrorReply> {
    Ok(Json(state.reloader.reload().await.map_err(Error::from)?))
}
