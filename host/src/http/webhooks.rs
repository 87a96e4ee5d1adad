//! `/auth/webhook-secret` and `/webhooks/deliveries`: the agent's signing secret and its
//! webhook deliveries (pending, delivered, dead), with replay.

use super::AppState;
use super::error::ApiError;
use super::extract::{CurrentAgent, Params};
use crate::model::WebhookDelivery;
use crate::network::webhooks::WebhookSecret;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rotate_secret))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
}

/// Replace the webhook signing secret; the old one stops working at once.
#[utoipa::path(post, path = "/auth/webhook-secret", tag = "webhooks", security(("api_key" = [])),
    responses((status = 200, body = WebhookSecret), (status = 401)))]
async fn rotate_secret(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
) -> Result<Json<WebhookSecret>, ApiError> {
    Ok(Json(state.network.rotate_webhook_secret(&agent.id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveryFilter {
    /// pending, delivered or dead; all when absent.
    #[param(value_type = Option<crate::model::DeliveryStatus>)]
    status: Option<String>,
}

/// The caller's webhook deliveries, newest first (at most 200).
#[utoipa::path(get, path = "/webhooks/deliveries", tag = "webhooks", security(("api_key" = [])),
    params(DeliveryFilter), responses((status = 200, body = [WebhookDelivery]), (status = 422)))]
async fn deliveries(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Params(filter): Params<DeliveryFilter>,
) -> Result<Json<Vec<WebhookDelivery>>, ApiError> {
    let status = filter.status.as_deref();
    Ok(Json(state.network.deliveries(&agent.id, status).await?))
}

/// Deliver again now, under the same delivery id, with a new retry window.
#[utoipa::path(post, path = "/webhooks/deliveries/{id}/replay", tag = "webhooks",
    security(("api_key" = [])), responses((status = 200, body = WebhookDelivery), (status = 404)))]
async fn replay(
    State(state): State<AppState>,
    CurrentAgent(agent): CurrentAgent,
    Path(id): Path<String>,
) -> Result<Json<WebhookDelivery>, ApiError> {
    Ok(Json(state.network.replay_delivery(&agent.id, &id).await?))
}
