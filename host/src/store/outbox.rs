//! The webhook outbox: deliveries queued in the same write as the message or announcement
//! they carry, so none is lost, and kept until delivered or given up on.

use super::Result;
use crate::model::{DeliveryStatus, WebhookDelivery};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The [`crate::notify::Notifier`] key woken when a delivery becomes due now (a new one, a
/// replay). Not an agent id: those are UUIDs or config keys of `a-z0-9-_`.
pub const OUTBOX_TOPIC: &str = "\0webhook-outbox";

/// A delivery with the exact body to POST (frozen when it was queued).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery: WebhookDelivery,
    pub body: String,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Delivered {
        status_code: u16,
    },
    Retry {
        next_at: DateTime<Utc>,
        status_code: Option<u16>,
        error: String,
    },
    Dead {
        status_code: Option<u16>,
        error: String,
    },
}

#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// The agent's webhook signing secret: `Some` replaces it; `None` reads it, making one
    /// on first use.
    async fn webhook_secret(&self, agent: &str, replace: Option<String>) -> Result<String>;
    /// Up to `limit` pending deliveries due at `now`, earliest first.
    async fn deliveries_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Outgoing>>;
    /// When the earliest pending delivery due after `now` is due.
    async fn next_delivery_after(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;
    /// Records an attempt at a pending delivery.
    async fn finish_attempt(
        &self,
        id: &str,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> Result<()>;
    /// The agent's deliveries, newest first.
    async fn deliveries_of(
        &self,
        agent: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>>;
    /// Makes the agent's delivery pending and due at `now` with a new retry window; one
    /// already pending is returned unchanged. `NotFound` for another agent's.
    async fn replay_delivery(
        &self,
        agent: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<WebhookDelivery>;
}
