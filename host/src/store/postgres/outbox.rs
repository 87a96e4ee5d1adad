//! The webhook outbox in PostgreSQL. Deliveries are queued inside the transaction that
//! stores their message or announcement, so a committed message always has its delivery.

use super::PgStore;
use super::db::{self, Conn, doc, docs, json, require};
use crate::model::{
    Agent, Announcement, DeliveryStatus, Message, WebhookDelivery, WebhookEvent, new_secret,
};
use crate::notify::Topic;
use crate::store::outbox::{self as store_outbox, AttemptOutcome, DueQuery, Outbox, Outgoing};
use crate::store::{Rejection, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

/// Queues the message for its recipient's webhook, if it has one.
pub(super) async fn queue_message(
    tx: &Transaction<'_>,
    message: &Message,
    wakes: &mut Vec<Topic>,
) -> Result<()> {
    let row = db::row(
        tx,
        "SELECT doc FROM agents WHERE id = $1",
        &[&message.to_agent_id],
    )
    .await?;
    let recipient: Option<Agent> = row.map(|r| doc(&r, 0)).transpose()?;
    if recipient.is_some_and(|a| a.webhook_url.is_some()) {
        let body = serde_json::to_string(message)?;
        let (agent, at) = (&message.to_agent_id, message.created_at);
        queue(tx, agent, WebhookEvent::Message, &message.id, body, at).await?;
        wakes.push(Topic::Outbox);
    }
    Ok(())
}

/// Queues the announcement for every agent with a webhook.
pub(super) async fn queue_announcement(
    tx: &Transaction<'_>,
    announcement: &Announcement,
    wakes: &mut Vec<Topic>,
) -> Result<()> {
    let body = serde_json::to_string(announcement)?;
    let agents: Vec<Agent> = docs(&db::rows(tx, "SELECT doc FROM agents ORDER BY id", &[]).await?)?;
    let mut queued = false;
    for agent in agents.iter().filter(|a| a.webhook_url.is_some()) {
        let (id, at) = (&announcement.id, announcement.created_at);
        queue(
            tx,
            &agent.id,
            WebhookEvent::Announcement,
            id,
            body.clone(),
            at,
        )
        .await?;
        queued = true;
    }
    if queued {
        wakes.push(Topic::Outbox);
    }
    Ok(())
}

async fn queue(
    tx: &Transaction<'_>,
    agent: &str,
    event: WebhookEvent,
    subject_id: &str,
    body: String,
    now: DateTime<Utc>,
) -> Result<()> {
    let delivery = store_outbox::new_delivery(agent, event, subject_id, now);
    db::exec(
        tx,
        "INSERT INTO webhook_deliveries (id, agent_id, status, due_ms, doc, body)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &delivery.id,
            &delivery.agent_id,
            &status(delivery.status)?,
            &due(&delivery),
            &json(&delivery)?,
            &body,
        ],
    )
    .await?;
    Ok(())
}

/// When a delivery is next due, in ms since the epoch, as the due index holds it.
pub(super) fn due(delivery: &WebhookDelivery) -> Option<i64> {
    delivery.next_attempt_at.map(millis)
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().max(0)
}

pub(super) fn status(status: DeliveryStatus) -> Result<String> {
    Ok(serde_json::to_value(status)?
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// The delivery, locked until the transaction ends.
async fn locked(tx: &Transaction<'_>, id: &str) -> Result<Option<WebhookDelivery>> {
    let row = db::row(
        tx,
        "SELECT doc FROM webhook_deliveries WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?;
    row.map(|r| doc(&r, 0)).transpose()
}

async fn put(tx: &Transaction<'_>, delivery: &WebhookDelivery) -> Result<()> {
    db::exec(
        tx,
        "UPDATE webhook_deliveries SET status = $2, due_ms = $3, doc = $4 WHERE id = $1",
        &[
            &delivery.id,
            &status(delivery.status)?,
            &due(delivery),
            &json(delivery)?,
        ],
    )
    .await?;
    Ok(())
}

async fn secret_of(c: &impl Conn, agent: &str) -> Result<Option<String>> {
    let row = db::row(
        c,
        "SELECT secret FROM webhook_secrets WHERE agent_id = $1",
        &[&agent],
    )
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

#[async_trait]
impl Outbox for PgStore {
    async fn webhook_secret(&self, agent: &str, replace: Option<String>) -> Result<String> {
        let client = self.client().await?;
        match replace {
            Some(secret) => {
                db::exec(
                    &*client,
                    "INSERT INTO webhook_secrets (agent_id, secret) VALUES ($1, $2)
                     ON CONFLICT (agent_id) DO UPDATE SET secret = EXCLUDED.secret",
                    &[&agent, &secret],
                )
                .await?;
                Ok(secret)
            }
            None => {
                if let Some(secret) = secret_of(&*client, agent).await? {
                    return Ok(secret);
                }
                // Made on first use; a concurrent first use (on any node) may win.
                db::exec(
                    &*client,
                    "INSERT INTO webhook_secrets (agent_id, secret) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                    &[&agent, &new_secret()],
                )
                .await?;
                require(secret_of(&*client, agent).await?)
            }
        }
    }

    async fn deliveries_due(&self, query: DueQuery) -> Result<Vec<Outgoing>> {
        let skip: Vec<&str> = query.skip.iter().map(String::as_str).collect();
        // Each agent's earliest `per_agent`; agents in id order from just after `after`,
        // wrapping round to those up to it.
        let rows = db::rows(
            &*self.client().await?,
            "SELECT doc, body FROM (
                 SELECT doc, body, agent_id, due_ms, id,
                        row_number() OVER (PARTITION BY agent_id ORDER BY due_ms, id) AS turn
                 FROM webhook_deliveries
                 WHERE due_ms <= $1 AND NOT (agent_id = ANY($2))
             ) due
             WHERE turn <= $3
             ORDER BY ($4::text IS NOT NULL AND agent_id <= $4), agent_id, due_ms, id
             LIMIT $5",
            &[
                &millis(query.now),
                &skip,
                &(query.per_agent as i64),
                &query.after,
                &(query.limit as i64),
            ],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Outgoing {
                    delivery: doc(r, 0)?,
                    body: r.try_get(1)?,
                })
            })
            .collect()
    }

    async fn claim_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A concurrent claim (another node) waits for this one, then finds it not due.
        let Some(mut delivery) = locked(&tx, id).await? else {
            return Ok(false);
        };
        if delivery.status != DeliveryStatus::Pending
            || due(&delivery).is_none_or(|at| at > millis(now))
        {
            return Ok(false);
        }
        delivery.next_attempt_at = Some(until);
        put(&tx, &delivery).await?;
        super::timed_commit(tx).await?;
        Ok(true)
    }

    async fn next_delivery_after(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let row = db::row(
            &*self.client().await?,
            "SELECT min(due_ms) FROM webhook_deliveries WHERE due_ms > $1",
            &[&millis(now)],
        )
        .await?;
        let next: Option<i64> = row.map(|r| r.try_get(0)).transpose()?.flatten();
        Ok(next.and_then(DateTime::from_timestamp_millis))
    }

    async fn pending_deliveries(&self) -> Result<u64> {
        let row = db::row(
            &*self.client().await?,
            "SELECT count(*) FROM webhook_deliveries WHERE due_ms IS NOT NULL",
            &[],
        )
        .await?;
        let pending: i64 = row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        Ok(pending.try_into().unwrap_or(0))
    }

    async fn finish_attempt(
        &self,
        id: &str,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut delivery = require(locked(&tx, id).await?)?;
        if delivery.status == DeliveryStatus::Pending {
            outcome.apply(&mut delivery, at);
            put(&tx, &delivery).await?;
        }
        super::timed_commit(tx).await?;
        Ok(())
    }

    async fn defer_delivery(&self, id: &str, until: DateTime<Utc>) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(mut delivery) = locked(&tx, id).await?
            && delivery.status == DeliveryStatus::Pending
        {
            delivery.next_attempt_at = Some(until);
            put(&tx, &delivery).await?;
        }
        super::timed_commit(tx).await?;
        Ok(())
    }

    async fn deliveries_of(
        &self,
        agent: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>> {
        let status = status.map(self::status).transpose()?;
        docs(
            &db::rows(
                &*self.client().await?,
                "SELECT doc FROM webhook_deliveries
                 WHERE agent_id = $1 AND ($2::text IS NULL OR status = $2)
                 ORDER BY seq DESC LIMIT $3",
                &[&agent, &status, &(limit as i64)],
            )
            .await?,
        )
    }

    async fn replay_delivery(
        &self,
        agent: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<WebhookDelivery> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut delivery = require(locked(&tx, id).await?)?;
        if delivery.agent_id != agent {
            return Err(Rejection::NotFound.into());
        }
        if delivery.status == DeliveryStatus::Pending {
            return Ok(delivery);
        }
        store_outbox::replay(&mut delivery, now);
        put(&tx, &delivery).await?;
        self.commit(tx, vec![Topic::Outbox]).await?;
        Ok(delivery)
    }
}
