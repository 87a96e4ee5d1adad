//! The webhook outbox in redb. Deliveries are queued inside the transaction that stores
//! their message or announcement, so a committed message always has its delivery.

use super::RedbStore;
use super::tables::{AGENTS, get_json, next_seq, put_json, require};
use super::writer::Wake;
use crate::model::{
    Agent, Announcement, DeliveryStatus, Message, WebhookDelivery, WebhookEvent, new_secret,
};
use crate::store::outbox::{AttemptOutcome, OUTBOX_TOPIC, Outbox, Outgoing};
use crate::store::{Rejection, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

/// Agent → its webhook signing secret. Kept in the clear: signing needs the secret itself.
const WEBHOOK_SECRETS: TableDefinition<&str, &str> = TableDefinition::new("webhook_secrets");
/// Delivery id → the delivery and its body.
const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("webhook_deliveries");
/// (due time in ms since the epoch, delivery id): the pending deliveries, earliest first.
const DUE: TableDefinition<(u64, &str), ()> = TableDefinition::new("webhook_due");
/// (agent, seq) → delivery id: an agent's deliveries in the order they were queued.
const AGENT_DELIVERIES: TableDefinition<(&str, u64), &str> =
    TableDefinition::new("agent_webhook_deliveries");

#[derive(Serialize, Deserialize)]
struct StoredDelivery {
    #[serde(flatten)]
    delivery: WebhookDelivery,
    body: String,
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(WEBHOOK_SECRETS)?;
    txn.open_table(DELIVERIES)?;
    txn.open_table(DUE)?;
    txn.open_table(AGENT_DELIVERIES)?;
    Ok(())
}

/// Queues the message for its recipient's webhook, if it has one.
pub(super) fn queue_message(
    txn: &WriteTransaction,
    message: &Message,
    wakes: &mut Vec<Wake>,
) -> Result<()> {
    let recipient: Option<Agent> = get_json(&txn.open_table(AGENTS)?, &message.to_agent_id)?;
    if recipient.is_some_and(|a| a.webhook_url.is_some()) {
        let body = serde_json::to_string(message)?;
        let (agent, at) = (&message.to_agent_id, message.created_at);
        queue(txn, agent, WebhookEvent::Message, &message.id, body, at)?;
        wakes.push(Wake::Agent(OUTBOX_TOPIC.into()));
    }
    Ok(())
}

/// Queues the announcement for every agent with a webhook.
pub(super) fn queue_announcement(
    txn: &WriteTransaction,
    announcement: &Announcement,
    wakes: &mut Vec<Wake>,
) -> Result<()> {
    let body = serde_json::to_string(announcement)?;
    let mut recipients = Vec::new();
    for entry in txn.open_table(AGENTS)?.iter()? {
        let (_, value) = entry?;
        let agent: Agent = serde_json::from_slice(value.value())?;
        if agent.webhook_url.is_some() {
            recipients.push(agent.id);
        }
    }
    for agent in &recipients {
        let (id, at) = (&announcement.id, announcement.created_at);
        queue(txn, agent, WebhookEvent::Announcement, id, body.clone(), at)?;
    }
    if !recipients.is_empty() {
        wakes.push(Wake::Agent(OUTBOX_TOPIC.into()));
    }
    Ok(())
}

fn queue(
    txn: &WriteTransaction,
    agent: &str,
    event: WebhookEvent,
    subject_id: &str,
    body: String,
    now: DateTime<Utc>,
) -> Result<()> {
    let delivery = WebhookDelivery {
        id: uuid::Uuid::new_v4().to_string(),
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
    };
    let seq = next_seq(txn)?;
    txn.open_table(AGENT_DELIVERIES)?
        .insert((agent, seq), delivery.id.as_str())?;
    txn.open_table(DUE)?
        .insert((millis(now), delivery.id.as_str()), ())?;
    let stored = StoredDelivery { delivery, body };
    put_json(
        &mut txn.open_table(DELIVERIES)?,
        &stored.delivery.id,
        &stored,
    )
}

fn millis(at: DateTime<Utc>) -> u64 {
    at.timestamp_millis().max(0) as u64
}

#[async_trait]
impl Outbox for RedbStore {
    async fn webhook_secret(&self, agent: &str, replace: Option<String>) -> Result<String> {
        let agent = agent.to_owned();
        if replace.is_none() {
            let id = agent.clone();
            let found = self
                .read(move |txn| {
                    Ok(txn
                        .open_table(WEBHOOK_SECRETS)?
                        .get(id.as_str())?
                        .map(|v| v.value().to_owned()))
                })
                .await?;
            if let Some(secret) = found {
                return Ok(secret);
            }
        }
        self.write(move |txn, _| {
            let mut secrets = txn.open_table(WEBHOOK_SECRETS)?;
            let secret = match replace {
                Some(secret) => secret,
                // Made on first use; a concurrent first use may have made it meanwhile.
                None => match secrets.get(agent.as_str())? {
                    Some(existing) => return Ok(existing.value().to_owned()),
                    None => new_secret(),
                },
            };
            secrets.insert(agent.as_str(), secret.as_str())?;
            Ok(secret)
        })
        .await
    }

    async fn deliveries_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Outgoing>> {
        self.read(move |txn| {
            let deliveries = txn.open_table(DELIVERIES)?;
            let mut out = Vec::new();
            for entry in txn.open_table(DUE)?.range(..(millis(now) + 1, ""))? {
                if out.len() >= limit {
                    break;
                }
                let (key, _) = entry?;
                if let Some(stored) = get_json::<StoredDelivery>(&deliveries, key.value().1)? {
                    out.push(Outgoing {
                        delivery: stored.delivery,
                        body: stored.body,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn next_delivery_after(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        self.read(move |txn| {
            let next = txn.open_table(DUE)?.range((millis(now) + 1, "")..)?.next();
            Ok(match next {
                Some(entry) => DateTime::from_timestamp_millis(entry?.0.value().0 as i64),
                None => None,
            })
        })
        .await
    }

    async fn finish_attempt(
        &self,
        id: &str,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> Result<()> {
        let id = id.to_owned();
        self.write(move |txn, _| {
            let mut deliveries = txn.open_table(DELIVERIES)?;
            let mut stored: StoredDelivery = require(get_json(&deliveries, &id)?)?;
            let d = &mut stored.delivery;
            if d.status != DeliveryStatus::Pending {
                return Ok(());
            }
            let mut due = txn.open_table(DUE)?;
            if let Some(was) = d.next_attempt_at {
                due.remove((millis(was), id.as_str()))?;
            }
            d.attempts += 1;
            d.last_attempt_at = Some(at);
            d.next_attempt_at = None;
            match outcome {
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
                    due.insert((millis(next_at), id.as_str()), ())?;
                }
                AttemptOutcome::Dead { status_code, error } => {
                    d.status = DeliveryStatus::Dead;
                    d.last_status_code = status_code;
                    d.last_error = Some(error);
                }
            }
            put_json(&mut deliveries, &id, &stored)
        })
        .await
    }

    async fn deliveries_of(
        &self,
        agent: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>> {
        let agent = agent.to_owned();
        self.read(move |txn| {
            let deliveries = txn.open_table(DELIVERIES)?;
            let mut out = Vec::new();
            for entry in txn
                .open_table(AGENT_DELIVERIES)?
                .range((agent.as_str(), 0)..=(agent.as_str(), u64::MAX))?
                .rev()
            {
                if out.len() >= limit {
                    break;
                }
                let (_, id) = entry?;
                if let Some(stored) = get_json::<StoredDelivery>(&deliveries, id.value())?
                    && status.is_none_or(|s| s == stored.delivery.status)
                {
                    out.push(stored.delivery);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn replay_delivery(
        &self,
        agent: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<WebhookDelivery> {
        let (agent, id) = (agent.to_owned(), id.to_owned());
        self.write(move |txn, wakes| {
            let mut deliveries = txn.open_table(DELIVERIES)?;
            let mut stored: StoredDelivery = require(get_json(&deliveries, &id)?)?;
            if stored.delivery.agent_id != agent {
                return Err(Rejection::NotFound.into());
            }
            if stored.delivery.status == DeliveryStatus::Pending {
                return Ok(stored.delivery);
            }
            let d = &mut stored.delivery;
            d.status = DeliveryStatus::Pending;
            d.window_start = now;
            d.next_attempt_at = Some(now);
            txn.open_table(DUE)?
                .insert((millis(now), id.as_str()), ())?;
            put_json(&mut deliveries, &id, &stored)?;
            wakes.push(Wake::Agent(OUTBOX_TOPIC.into()));
            Ok(stored.delivery)
        })
        .await
    }
}
