//! Webhook deliveries as their agent sees them: the signing secret, the outbox's records
//! (pending, delivered, dead) and replay. Sending them is [`crate::webhooks`]' job.

use super::Network;
use crate::error::{Error, Result};
use crate::model::{DeliveryStatus, WebhookDelivery, new_secret};
use crate::notify::Topic;
use crate::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

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
                self.notifier.wake(&Topic::Outbox);
                Ok(other?)
            }
        }
    }
}
