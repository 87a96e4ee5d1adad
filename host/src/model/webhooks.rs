//! Webhook deliveries: the outbox's records, and the secrets they are signed with.

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

/// A new signing secret.
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()))
}
