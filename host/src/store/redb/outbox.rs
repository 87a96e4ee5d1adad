//! The webhook outbox in redb. Deliveries are queued inside the transaction that stores
//! their message or announcement, so a committed message always has its delivery.

use super::RedbStore;
use super::tables::{AGENTS, get_json, put_json, require};
use super::txn::Txn;
use crate::model::{
    Agent, Announcement, DeliveryStatus, Message, WebhookDelivery, WebhookEvent, new_secret,
};
use crate::notify::Topic;
use crate::store::outbox::{self as store_outbox, AttemptOutcome, DueQuery, Outbox, Outgoing};
use crate::store::{Rejection, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

/// Agent → its webhook signing secret. Kept in the clear: signing needs the secret itself.
pub(super) const WEBHOOK_SECRETS: TableDefinition<&str, &str> =
    TableDefinition::new("webhook_secrets");
/// Delivery id → the delivery and its body.
pub(super) const DELIVERIES: TableDefinition<&str, &[u8]> =
    TableDefinition::new("webhook_deliveries");
/// (due time in ms since the epoch, delivery id): the pending deliveries, earliest first.
const DUE: TableDefinition<(u64, &str), ()> = TableDefinition::new("webhook_due");
/// (agent, due time in ms, delivery id): the same pending deliveries by agent, so that the
/// deliverer can take agents in turn (see [`DueQuery`]).
pub(super) const AGENT_DUE: TableDefinition<(&str, u64, &str), ()> =
    TableDefinition::new("webhook_agent_due");
/// (agent, seq) → delivery id: an agent's deliveries in the order they were queued.
pub(super) const AGENT_DELIVERIES: TableDefinition<(&str, u64), &str> =
    TableDefinition::new("agent_webhook_deliveries");

#[derive(Serialize, Deserialize)]
pub(super) struct StoredDelivery {
    #[serde(flatten)]
    pub(super) delivery: WebhookDelivery,
    pub(super) body: String,
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(WEBHOOK_SECRETS)?;
    txn.open_table(DELIVERIES)?;
    txn.open_table(AGENT_DELIVERIES)?;
    index_due_by_agent(txn)
}

/// Fills [`AGENT_DUE`] from [`DUE`] in a store written before it existed, so deliveries
/// pending across the upgrade are still delivered.
fn index_due_by_agent(txn: &WriteTransaction) -> Result<()> {
    let due = txn.open_table(DUE)?;
    let mut by_agent = txn.open_table(AGENT_DUE)?;
    if !by_agent.is_empty()? {
        return Ok(());
    }
    let deliveries = txn.open_table(DELIVERIES)?;
    for entry in due.iter()? {
        let (key, _) = entry?;
        let (ms, id) = key.value();
        if let Some(stored) = get_json::<StoredDelivery>(&deliveries, id)? {
            by_agent.insert((stored.delivery.agent_id.as_str(), ms, id), ())?;
        }
    }
    Ok(())
}

/// Moves a delivery in the due indexes from `from` to `to` (`None`: not due).
fn move_due(
    txn: &WriteTransaction,
    delivery: &WebhookDelivery,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<()> {
    let (agent, id) = (delivery.agent_id.as_str(), delivery.id.as_str());
    let mut due = txn.open_table(DUE)?;
    let mut by_agent = txn.open_table(AGENT_DUE)?;
    if let Some(from) = from {
        due.remove((millis(from), id))?;
        by_agent.remove((agent, millis(from), id))?;
    }
    if let Some(to) = to {
        due.insert((millis(to), id), ())?;
        by_agent.insert((agent, millis(to), id), ())?;
    }
    Ok(())
}

/// Appends to `out` the earliest (up to `query.per_agent`) deliveries due of each agent
/// from `first` (inclusive) on, up to `last` (inclusive) if given; false once `out` holds
/// `query.limit`. One seek per agent: agents with nothing due cost no scan.
fn due_of_agents(
    by_agent: &impl ReadableTable<(&'static str, u64, &'static str), ()>,
    deliveries: &impl ReadableTable<&'static str, &'static [u8]>,
    query: &DueQuery,
    first: String,
    last: Option<&str>,
    out: &mut Vec<Outgoing>,
) -> Result<bool> {
    let now = millis(query.now);
    let mut from = first;
    loop {
        let Some(entry) = by_agent.range((from.as_str(), 0, "")..)?.next() else {
            return Ok(true);
        };
        let agent = entry?.0.value().0.to_owned();
        if last.is_some_and(|last| agent.as_str() > last) {
            return Ok(true);
        }
        if !query.skip.contains(&agent) {
            let range = (agent.as_str(), 0, "")..(agent.as_str(), now + 1, "");
            for entry in by_agent.range(range)?.take(query.per_agent) {
                if out.len() >= query.limit {
                    return Ok(false);
                }
                let (key, _) = entry?;
                if let Some(stored) = get_json::<StoredDelivery>(deliveries, key.value().2)? {
                    out.push(Outgoing {
                        delivery: stored.delivery,
                        body: stored.body,
                    });
                }
            }
        }
        // The least id above `agent`: the next agent's first key.
        from = format!("{agent}\0");
    }
}

/// Queues the message for its recipient's webhook, if it has one.
pub(super) fn queue_message(txn: &Txn, message: &Message, wakes: &mut Vec<Topic>) -> Result<()> {
    let recipient: Option<Agent> = get_json(&txn.open_table(AGENTS)?, &message.to_agent_id)?;
    if recipient.is_some_and(|a| a.webhook_url.is_some()) {
        let body = serde_json::to_string(message)?;
        let (agent, at) = (&message.to_agent_id, message.created_at);
        queue(txn, agent, WebhookEvent::Message, &message.id, body, at)?;
        wakes.push(Topic::Outbox);
    }
    Ok(())
}

/// Queues the announcement for every agent with a webhook.
pub(super) fn queue_announcement(
    txn: &Txn,
    announcement: &Announcement,
    wakes: &mut Vec<Topic>,
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
        wakes.push(Topic::Outbox);
    }
    Ok(())
}

fn queue(
    txn: &Txn,
    agent: &str,
    event: WebhookEvent,
    subject_id: &str,
    body: String,
    now: DateTime<Utc>,
) -> Result<()> {
    let delivery = store_outbox::new_delivery(agent, event, subject_id, now);
    let seq = txn.next_seq()?;
    txn.open_table(AGENT_DELIVERIES)?
        .insert((agent, seq), delivery.id.as_str())?;
    move_due(txn, &delivery, None, Some(now))?;
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
            let secret = match replace.clone() {
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

    async fn deliveries_due(&self, query: DueQuery) -> Result<Vec<Outgoing>> {
        self.read(move |txn| {
            let by_agent = txn.open_table(AGENT_DUE)?;
            let deliveries = txn.open_table(DELIVERIES)?;
            let mut out = Vec::new();
            let first = query.after.as_ref().map(|a| format!("{a}\0"));
            let more = due_of_agents(
                &by_agent,
                &deliveries,
                &query,
                first.unwrap_or_default(),
                None,
                &mut out,
            )?;
            // Round again from the first agent, up to where this turn began.
            if more && let Some(after) = &query.after {
                due_of_agents(
                    &by_agent,
                    &deliveries,
                    &query,
                    String::new(),
                    Some(after),
                    &mut out,
                )?;
            }
            Ok(out)
        })
        .await
    }

    async fn claim_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |txn, _| {
            let mut deliveries = txn.open_table(DELIVERIES)?;
            let Some(mut stored) = get_json::<StoredDelivery>(&deliveries, &id)? else {
                return Ok(false);
            };
            let d = &mut stored.delivery;
            let due = d.status == DeliveryStatus::Pending
                && d.next_attempt_at
                    .is_some_and(|at| millis(at) <= millis(now));
            if !due {
                return Ok(false);
            }
            let was = d.next_attempt_at.replace(until);
            move_due(txn, d, was, Some(until))?;
            put_json(&mut deliveries, &id, &stored)?;
            Ok(true)
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

    async fn pending_deliveries(&self) -> Result<u64> {
        // Every pending delivery, and only those, has its entry in DUE.
        self.read(|txn| Ok(txn.open_table(DUE)?.len()?)).await
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
            let was = d.next_attempt_at;
            outcome.clone().apply(d, at);
            move_due(txn, d, was, d.next_attempt_at)?;
            put_json(&mut deliveries, &id, &stored)
        })
        .await
    }

    async fn defer_delivery(&self, id: &str, until: DateTime<Utc>) -> Result<()> {
        let id = id.to_owned();
        self.write(move |txn, _| {
            let mut deliveries = txn.open_table(DELIVERIES)?;
            let Some(mut stored) = get_json::<StoredDelivery>(&deliveries, &id)? else {
                return Ok(());
            };
            let d = &mut stored.delivery;
            if d.status != DeliveryStatus::Pending {
                return Ok(());
            }
            let was = d.next_attempt_at.replace(until);
            move_due(txn, d, was, Some(until))?;
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
            store_outbox::replay(d, now);
            move_due(txn, d, None, Some(now))?;
            put_json(&mut deliveries, &id, &stored)?;
            wakes.push(Topic::Outbox);
            Ok(stored.delivery)
        })
        .await
    }
}
