//! The webhook outbox: deliveries queued in the same write as the message or announcement
//! they carry, so none is lost, and kept until delivered or given up on.

use super::Result;
use crate::model::{DeliveryStatus, WebhookDelivery, WebhookEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

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

impl AttemptOutcome {
    /// What the attempt came to, in a word (the outcome label of the delivery metric).
    pub fn name(&self) -> &'static str {
        match self {
            AttemptOutcome::Delivered { .. } => "delivered",
            AttemptOutcome::Retry { .. } => "retry",
            AttemptOutcome::Dead { .. } => "dead",
        }
    }

    /// Records this attempt, made at `at`, on a pending delivery.
    pub(super) fn apply(self, d: &mut WebhookDelivery, at: DateTime<Utc>) {
        d.next_attempt_at = None;
        d.attempts += 1;
        d.last_attempt_at = Some(at);
        match self {
            AttemptOutcome::Delivered { status_code } => {
                d.status = DeliveryStatus::Delivered;
                d.delivered_at = Some(at);
                d.last_status_code = Some(status_code);
                d.last_error = None;
            }
            AttemptOutcome::Retry {
                next_at,
                status_code,
                error,
            } => {
                d.next_attempt_at = Some(next_at);
                d.last_status_code = status_code;
                d.last_error = Some(error);
            }
            AttemptOutcome::Dead { status_code, error } => {
                d.status = DeliveryStatus::Dead;
                d.last_status_code = status_code;
                d.last_error = Some(error);
            }
        }
    }
}

/// A new delivery to `agent` of `event` about `subject_id`, due at once.
pub(super) fn new_delivery(
    agent: &str,
    event: WebhookEvent,
    subject_id: &str,
    now: DateTime<Utc>,
) -> WebhookDelivery {
    WebhookDelivery {
        id: crate::model::new_id(),
        agent_id: agent.to_owned(),
        event,
        subject_id: subject_id.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        created_at: now,
        window_start: now,
        next_attempt_at: Some(now),
        last_attempt_at: None,
        delivered_at: None,
        last_status_code: None,
        last_error: None,
    }
}

/// Makes a settled delivery pending again, due at `now`, with a new retry window.
pub(super) fn replay(d: &mut WebhookDelivery, now: DateTime<Utc>) {
    d.status = DeliveryStatus::Pending;
    d.window_start = now;
    d.next_attempt_at = Some(now);
}

/// Which due deliveries to read: agents in turn, so that one agent's backlog cannot keep
/// another's deliveries waiting.
#[derive(Debug, Clone)]
pub struct DueQuery {
    pub now: DateTime<Utc>,
    /// Agents are taken in id order starting after this one, wrapping round: the deliverer
    /// passes the last agent it was given, so every agent gets its turn.
    pub after: Option<String>,
    /// At most this many of each agent's deliveries, its earliest.
    pub per_agent: usize,
    /// Agents to pass over (they have all the attempts they may have in flight).
    pub skip: HashSet<String>,
    /// At most this many deliveries in all.
    pub limit: usize,
}

#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// The agent's webhook signing secret: `Some` replaces it; `None` reads it, making one
    /// on first use.
    async fn webhook_secret(&self, agent: &str, replace: Option<String>) -> Result<String>;
    /// Pending deliveries due at `query.now`, grouped by agent, agents in turn (see
    /// [`DueQuery`]), each agent's earliest first.
    async fn deliveries_due(&self, query: DueQuery) -> Result<Vec<Outgoing>>;
    /// Claims a delivery due at `now` for one attempt until `until`: it is not due, to this
    /// node or any other, in between. False when it is not due (another node claimed it, or
    /// it was settled). A claim never finished (its node died) lapses at `until`, and the
    /// delivery is attempted again under the same id.
    async fn claim_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;
    /// When the earliest pending delivery due after `now` is due.
    async fn next_delivery_after(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;
    /// How many deliveries are pending (due now or waiting to retry): the outbox's depth.
    async fn pending_deliveries(&self) -> Result<u64>;
    /// Records an attempt at a pending delivery.
    async fn finish_attempt(
        &self,
        id: &str,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> Result<()>;
    /// Moves a pending delivery's next attempt to `until` without counting an attempt (its
    /// receiver's circuit breaker is open); anything else is left as it is.
    async fn defer_delivery(&self, id: &str, until: DateTime<Utc>) -> Result<()>;
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
