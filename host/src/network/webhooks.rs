//! Webhook deliveries as their agent sees them: the signing secret, the outbox's records
//! (pending, delivered, dead) and replay. Sending them is [`crate::webhooks`]' job.

use super::{Error, Network, Result};
use crate::store::StoreError;
use crate::store::outbox::OUTBOX_TOPIC;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Secrets are `whsec_` + 64 hex digits: 256 random bits.
pub const SECRET_PREFIX: &str = "whsec_";

/// Where a delivery is in its life: retried while `pending`, then `delivered` or `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up on after the retry window; kept for the agent to see and replay.
    Dead,
}

/// What a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// The body is the message JSON, as `GET /messages/thread/{id}` shows it.
    Message,
    /// The body is the announcement JSON.
    Announcement,
}

impl WebhookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Message => "message",
            WebhookEvent::Announcement => "announcement",
        }
    }
}

/// One POST to make (or made) to an agent's webhook, retried under one id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookDelivery {
    /// Sent as `X-Agentx-Delivery`: the same on every retry and replay, so receivers can
    /// de-duplicate.
    pub id: String,
    pub agent_id: String,
    pub event: WebhookEvent,
    /// The message or announcement delivered.
    pub subject_id: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// Start of the current retry window: creation, or the last replay.
    pub window_start: DateTime<Utc>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// A freshly made or rotated signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    /// HMAC-SHA256 key of `X-Agentx-Signature`; the previous one stops working at once.
    pub webhook_secret: String,
}

/// Deliveries listed at most per request.
pub const MAX_LISTED: usize = 200;

impl Network {
    /// The agent's signing secret, made on first use.
    pub async fn webhook_secret(&self, agent: &str) -> Result<String> {
        Ok(self.store.webhook_secret(agent, None).await?)
    }

    /// Replaces the agent's signing secret; pending deliveries are signed with the new one.
    pub async fn rotate_webhook_secret(&self, agent: &str) -> Result<WebhookSecret> {
        let secret = new_secret();
        self.store
            .webhook_secret(agent, Some(secret.clone()))
            .await?;
        tracing::info!(agent, "webhook secret rotated");
        Ok(WebhookSecret {
            webhook_secret: secret,
        })
    }

    /// The agent's deliveries, newest first; `status` filters (pending, delivered, dead).
    pub async fn deliveries(
        &self,
        agent: &str,
        status: Option<&str>,
    ) -> Result<Vec<WebhookDelivery>> {
        let status = match status {
            None => None,
            Some("pending") => Some(DeliveryStatus::Pending),
            Some("delivered") => Some(DeliveryStatus::Delivered),
            Some("dead") => Some(DeliveryStatus::Dead),
            Some(other) => {
                return Err(Error::malformed(
                    "status",
                    format!("status must be one of: pending, delivered, dead (got {other:?})"),
                ));
            }
        };
        Ok(self.store.deliveries_of(agent, status, MAX_LISTED).await?)
    }

    /// Queues a delivery again, now, with a fresh retry window and the same id. A pending
    /// delivery is left as it is.
    pub async fn replay_delivery(&self, agent: &str, id: &str) -> Result<WebhookDelivery> {
        match self.store.replay_delivery(agent, id, self.now()).await {
            // Someone else's delivery is reported as missing: ids are not to be probed.
            Err(StoreError::Rejected(_)) => {
                Err(Error::not_found("delivery_not_found", "Delivery not found"))
            }
            other => {
                self.notifier.wake(OUTBOX_TOPIC);
                Ok(other?)
            }
        }
    }
}

pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()))
}
