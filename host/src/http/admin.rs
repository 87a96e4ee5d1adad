//! `/admin`: announcements, and the operator's read-only views of agents and tokens, behind
//! the admin key. Creating and revoking tokens stays on the loopback daemon.

use super::AppState;
use super::error::ApiError;
use super::extract::{Admin, JsonBody};
use crate::model::Announcement;
use crate::model::ApiToken;
use crate::network::agents::AgentOverview;
use crate::network::announcements::NewAnnouncement;
use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(announce, list))
        .routes(routes!(agents))
        .routes(routes!(tokens))
}

/// Publish an announcement to every agent (once each, by inbox or stream).
#[utoipa::path(post, path = "/admin/announcements", tag = "admin", security(("admin_key" = []), ("agx_live" = [])),
    request_body = NewAnnouncement,
    responses((status = 200, body = Announcement), (status = 403, description = "wrong or unset admin key"),
        (status = 422, description = "missing X-Admin-Key or invalid field")))]
async fn announce(
    State(state): State<AppState>,
    _: Admin,
    JsonBody(form): JsonBody<NewAnnouncement>,
) -> Result<Json<Announcement>, ApiError> {
    Ok(Json(state.network.announce(form).await?))
}

/// All announcements, newest first.
#[utoipa::path(get, path = "/admin/announcements", tag = "admin", security(("admin_key" = []), ("agx_live" = [])),
    responses((status = 200, body = [Announcement]), (status = 403, description = "wrong or unset admin key"),
        (status = 422, description = "missing X-Admin-Key")))]
async fn list(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<Announcement>>, ApiError> {
    Ok(Json(state.network.announcements().await?))
}

/// Every agent of the network, registered and hosted, oldest first (never a key or a hash).
#[utoipa::path(get, path = "/admin/agents", tag = "admin", security(("admin_key" = []), ("agx_live" = [])),
    responses((status = 200, body = [AgentOverview]), (status = 403, description = "wrong or unset admin key"),
        (status = 422, description = "missing X-Admin-Key")))]
async fn agents(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<AgentOverview>>, ApiError> {
    Ok(Json(state.network.all_agents().await?))
}

/// Every `agx_live_` token, revoked and expired ones included, oldest first: the daemon's
/// `GET /tokens`, never the token itself. Create and revoke them on the daemon.
#[utoipa::path(get, path = "/admin/tokens", tag = "admin", security(("admin_key" = []), ("agx_live" = [])),
    responses((status = 200, body = [ApiToken]), (status = 403, description = "wrong or unset admin key"),
        (status = 422, description = "missing X-Admin-Key")))]
async fn tokens(State(state): State<AppState>, _: Admin) -> Result<Json<Vec<ApiToken>>, ApiError> {
    Ok(Json(state.tokens.list().await?))
}
