//! `/auth`: registration, login and the agent's profile.

use super::AppState;
use super::error::ApiError;
use super::extract::{CurrentAgent, JsonBody};
use super::rate_limit::Client;
use crate::network::agents::{Credentials, Profile, ProfileUpdate, Registered, Registration};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(me, update_me))
}

/// Register an account and its agent; the API key is shown only in this answer. Each
/// client address may try `server.limits.registrations_per_hour` times an hour.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = Registration,
    responses((status = 200, body = Registered), (status = 400, description = "bad webhook_url"),
        (status = 409, description = "email taken"), (status = 422, description = "invalid field"),
        (status = 429, description = "too many registrations from this address this hour")))]
async fn register(
    State(state): State<AppState>,
    client: Client,
    JsonBody(form): JsonBody<Registration>,
) -> Result<Json<Registered>, ApiError> {
    client.register()?;
    Ok(Json(state.network.register(form).await?))
}

#[derive(Serialize, ToSchema)]
struct Session {
    /// HS256 JWT for the dashboard pages (also accepted as a Bearer token by the API).
    token: String,
    user_id: String,
    name: String,
}

/// Log in with email and API key; returns a dashboard session token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = Session), (status = 401, description = "unknown email or wrong key"),
        (status = 422, description = "invalid field")))]
async fn login(
    State(state): State<AppState>,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Json<Session>, ApiError> {
    let (user, agent) = state.network.login(credentials).await?;
    let token = state
        .sessions
        .issue(&user.id, &agent.id, state.network.clock().now());
    Ok(Json(Session {
        token,
        user_id: user.id,
        name: user.name,
    }))
}

/// The calling agent's profile.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("api_key" = [])),
    responses((status = 200, body = Profile), (status = 401)))]
async fn me(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(state.network.profile(&agent.id).await?))
}

/// Update the profile; `webhook_url: ""` clears the webhook.
#[utoipa::path(put, path = "/auth/me", tag = "auth", security(("api_key" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = Profile), (status = 400, description = "bad webhook_url"),
        (status = 422, description = "invalid field")))]
async fn update_me(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    JsonBody(update): JsonBody<ProfileUpdate>,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(state.network.update_profile(&agent.id, update).await?))
}
