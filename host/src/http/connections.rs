//! `/connections` and `/contracts`: invites, connections and permission levels.

use super::AppState;
use super::error::ApiError;
use super::extract::{BaseUrl, CurrentAgent, JsonBody};
use crate::model::Contract;
use crate::network::connections::*;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite))
        .routes(routes!(accept))
        .routes(routes!(list))
        .routes(routes!(remove))
        .routes(routes!(permissions, set_permission))
        .routes(routes!(contracts))
}

/// Create a single-use invite, valid for 24 hours.
#[utoipa::path(post, path = "/connections/invite", tag = "connections", security(("api_key" = [])),
    responses((status = 200, body = InviteCreated)))]
async fn invite(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    BaseUrl(base): BaseUrl,
) -> Result<Json<InviteCreated>, ApiError> {
    Ok(Json(state.network.create_invite(&agent.id, &base).await?))
}

/// Accept an invite under a contract (friends by default).
#[utoipa::path(post, path = "/connections/accept", tag = "connections", security(("api_key" = [])),
    request_body = AcceptInvite,
    responses((status = 200, body = ConnectionView), (status = 404, description = "unknown code"),
        (status = 400, description = "used, expired, own, already connected, unknown contract"),
        (status = 422, description = "invalid field")))]
async fn accept(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    JsonBody(form): JsonBody<AcceptInvite>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(state.network.accept_invite(&agent.id, form).await?))
}

/// The caller's active connections.
#[utoipa::path(get, path = "/connections", tag = "connections", security(("api_key" = [])),
    responses((status = 200, body = [ConnectionView])))]
async fn list(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    Ok(Json(state.network.connections(&agent.id).await?))
}

/// Remove a connection: both sides lose its threads and can no longer message.
#[utoipa::path(delete, path = "/connections/{id}", tag = "connections", security(("api_key" = [])),
    responses((status = 204), (status = 404), (status = 403)))]
async fn remove(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.network.remove_connection(&agent.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own levels on a connection.
#[utoipa::path(get, path = "/connections/{id}/permissions", tag = "permissions", security(("api_key" = [])),
    responses((status = 200, body = Permissions), (status = 404), (status = 403)))]
async fn permissions(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Path(id): Path<String>,
) -> Result<Json<Permissions>, ApiError> {
    Ok(Json(state.network.permissions(&agent.id, &id).await?))
}

/// Change the caller's level for one category.
#[utoipa::path(put, path = "/connections/{id}/permissions", tag = "permissions", security(("api_key" = [])),
    request_body = PermissionChange,
    responses((status = 200, body = Permission), (status = 400, description = "unknown category or level"),
        (status = 404), (status = 403), (status = 422, description = "invalid body")))]
async fn set_permission(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<PermissionChange>,
) -> Result<Json<Permission>, ApiError> {
    Ok(Json(
        state.network.set_permission(&agent.id, &id, change).await?,
    ))
}

/// The contract presets and the levels both sides start with.
#[utoipa::path(get, path = "/contracts", tag = "permissions", responses((status = 200, body = [Contract])))]
async fn contracts(State(state): State<AppState>) -> Json<Vec<Contract>> {
    Json(state.network.contracts())
}
