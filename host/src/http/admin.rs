//! `/admin`: announcements, behind the admin key.

use super::AppState;
use super::error::ApiError;
use super::extract::{Admin, JsonBody};
use crate::network::announcements::NewAnnouncement;
use crate::network::model::Announcement;
use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(announce, list))
}

/// Publish an announcement to every agent (once each, by inbox or stream).
#[utoipa::path(post, path = "/admin/announcements", tag = "admin", security(("admin_key" = [])),
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
#[utoipa::path(get, path = "/admin/announcements", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = [Announcement]), (status = 403), (status = 422)))]
async fn list(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<Announcement>>, ApiError> {
    Ok(Json(state.network.announcements().await?))
}
