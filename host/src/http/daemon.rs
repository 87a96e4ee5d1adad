//! The daemon listener's operator routes (loopback only, so no credentials): connecting
//! hosted agents with anyone. Errors here are `{"error": "..."}`, as the contract says for
//! daemon routes.

use super::AppState;
use super::extract::JsonBody;
use crate::hosted::HostedAgent;
use crate::network::connections::{AcceptInvite, ConnectionView};
use crate::network::{Error, ErrorKind};
use crate::plugins::log::LogEntry;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agents/{id}/invite", post(invite))
        .route("/agents/{id}/accept", post(accept))
        .route("/agents/{id}/plugins", get(plugins))
}

/// A domain error in the daemon's shape.
pub struct DaemonError(Error);

impl From<Error> for DaemonError {
    fn from(e: Error) -> Self {
        DaemonError(e)
    }
}

impl From<super::error::ApiError> for DaemonError {
    fn from(e: super::error::ApiError) -> Self {
        match e {
            super::error::ApiError::Domain(e) => DaemonError(e),
            other => DaemonError(Error::new(
                ErrorKind::Malformed,
                "invalid_request",
                format!("{other:?}"),
            )),
        }
    }
}

impl IntoResponse for DaemonError {
    fn into_response(self) -> Response {
        let status = super::error::status_of(self.0.kind);
        let detail = if self.0.kind == ErrorKind::Internal {
            tracing::error!(error = %self.0.detail, "internal error");
            "Internal server error".to_owned()
        } else {
            self.0.detail
        };
        (status, Json(serde_json::json!({"error": detail}))).into_response()
    }
}

fn hosted<'a>(state: &'a AppState, id: &str) -> Result<&'a HostedAgent, DaemonError> {
    state.hosted.get(id).ok_or_else(|| {
        Error::not_found(
            "agent_not_found",
            format!("No hosted agent {id:?} in the configuration"),
        )
        .into()
    })
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
) -> Result<Json<serde_json::Value>, DaemonError> {
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
) -> Result<Json<Invite>, DaemonError> {
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
    body: Result<JsonBody<AcceptInvite>, super::error::ApiError>,
) -> Result<Json<ConnectionView>, DaemonError> {
    hosted(&state, &id)?;
    let JsonBody(form) = body?;
    Ok(Json(state.network.accept_invite(&id, form).await?))
}
