//! Records copied from another backend (`agentx migrate`), written in one transaction into
//! a database that holds nothing yet.

use super::PgStore;
use super::db::{self, json, nanos};
use super::{connections, outbox};
use crate::store::copy::{Counts, Item, Record};
use crate::store::{Result, StoreError};
use deadpool_postgres::Transaction;
use tokio::sync::mpsc::Receiver;

/// The tables whose `seq` column numbers new rows: after the copy, their sequences must go
/// on from the copied numbers.
const NUMBERED: &[&str] = &[
    "messages",
    "announcements",
    "chat_turns",
    "webhook_deliveries",
];

impl PgStore {
    /// Writes every record `items` brings, up to [`Item::End`], then commits; refuses (and
    /// writes nothing) when the database already holds anything. `progress` sees the counts
    /// after each record.
    pub async fn import(
        &self,
        mut items: Receiver<Item>,
        mut progress: impl FnMut(&Counts) + Send,
    ) -> Result<Counts> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        refuse_unless_empty(&tx).await?;
        let mut counts = Counts::new();
        loop {
            match items.recv().await {
                Some(Item::Record(record)) => {
                    *counts.entry(record.kind()).or_default() += 1;
                    insert(&tx, *record).await?;
                    progress(&counts);
                }
                Some(Item::End) => break,
                // The reader failed (and says why): the transaction rolls back.
                None => return Err(StoreError::backend("the copy's reader stopped early")),
            }
        }
        for table in NUMBERED {
            tx.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'seq'),
                               COALESCE((SELECT max(seq) FROM {table}), 0) + 1, false)"
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}

/// Locks every table of the schema against writes (a node starting meanwhile waits, then
/// finds the copy) and refuses, naming what it found, unless all are empty.
async fn refuse_unless_empty(tx: &Transaction<'_>) -> Result<()> {
    let rows = db::rows(
        tx,
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
           AND table_name <> 'agentx_schema'
         ORDER BY table_name",
        &[],
    )
    .await?;
    let tables: Vec<String> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let quoted: Vec<String> = tables.iter().map(|t| format!("\"{t}\"")).collect();
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        quoted.join(", ")
    ))
    .await?;
    let mut held = Vec::new();
    for (table, quoted) in tables.iter().zip(&quoted) {
        let rows: i64 = db::row(tx, &format!("SELECT count(*) FROM {quoted}"), &[])
            .await?
            .map_or(Ok(0), |r| r.try_get(0))?;
        if rows > 0 {
            held.push(format!("{rows} in {table}"));
        }
    }
    if held.is_empty() {
        return Ok(());
    }
    Err(StoreError::NotEmpty(format!(
        "the database already holds agentx data ({}); migrate only into a new, empty database \
         (one no node has started on: a node creates its secrets at once)",
        held.join(", ")
    )))
}

async fn insert(tx: &Transaction<'_>, record: Record) -> Result<()> {
    match record {
        Record::Secret { name, value } => {
            db::exec(
                tx,
                "INSERT INTO secrets (name, value) VALUES ($1, $2)",
                &[&name, &value],
            )
            .await?
        }
        Record::User(user) => {
            db::exec(
                tx,
                "INSERT INTO users (id, doc) VALUES ($1, $2)",
                &[&user.id, &json(&user)?],
            )
            .await?
        }
        Record::Agent(agent) => {
            db::exec(
                tx,
                "INSERT INTO agents (id, created_at_ns, doc) VALUES ($1, $2, $3)",
                &[&agent.id, &nanos(agent.created_at), &json(&agent)?],
            )
            .await?
        }
        Record::Email { email, agent } => {
            db::exec(
                tx,
                "INSERT INTO emails (email, agent_id) VALUES ($1, $2)",
                &[&email, &agent],
            )
            .await?
        }
        Record::ApiKey { agent, hash } => {
            db::exec(
                tx,
                "INSERT INTO api_keys (agent_id, key_hash) VALUES ($1, $2)",
                &[&agent, &hash.as_slice()],
            )
            .await?
        }
        Record::Invite(invite) => {
            db::exec(
                tx,
                "INSERT INTO invites (code, doc) VALUES ($1, $2)",
                &[&invite.code, &json(&invite)?],
            )
            .await?
        }
        Record::Connection(connection) => {
            connections::insert(tx, &connection).await?;
            0
        }
        Record::Thread(thread) => {
            db::exec(
                tx,
                "INSERT INTO threads (id, connection_id, doc) VALUES ($1, $2, $3)",
                &[&thread.id, &thread.connection_id, &json(&thread)?],
            )
            .await?
        }
        Record::Message {
            seq,
            queued,
            message,
        } => {
            db::exec(
                tx,
                "INSERT INTO messages (id, seq, thread_id, to_agent_id, queued, doc)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &message.id,
                    &(seq as i64),
                    &message.thread_id,
                    &message.to_agent_id,
                    &queued,
                    &json(&message)?,
                ],
            )
            .await?
        }
        Record::IdempotencyKey {
            sender,
            key,
            message,
            created_at,
        } => {
            db::exec(
                tx,
                "INSERT INTO idempotency_keys (sender, key, message_id, created_at_ns)
                 VALUES ($1, $2, $3, $4)",
                &[&sender, &key, &message, &nanos(created_at)],
            )
            .await?
        }
        Record::Announcement { seq, announcement } => {
            db::exec(
                tx,
                "INSERT INTO announcements (seq, doc) VALUES ($1, $2)",
                &[&(seq as i64), &json(&announcement)?],
            )
            .await?
        }
        Record::AnnouncementCursor { agent, seq } => {
            db::exec(
                tx,
                "INSERT INTO announcement_cursors (agent_id, seq) VALUES ($1, $2)",
                &[&agent, &(seq as i64)],
            )
            .await?
        }
        Record::Memory {
            agent,
            key,
            conversation,
            value,
        } => {
            // A key older than per-conversation quotas counts toward no conversation's.
            let conversation = conversation.unwrap_or_default();
            db::exec(
                tx,
                "INSERT INTO plugin_memory (agent_id, key, conversation, value)
                 VALUES ($1, $2, $3, $4)",
                &[&agent, &key, &conversation, &value],
            )
            .await?
        }
        Record::Token { token, hash } => {
            db::exec(
                tx,
                "INSERT INTO tokens (id, hash, created_at_ns, doc) VALUES ($1, $2, $3, $4)",
                &[
                    &token.id,
                    &hash.as_slice(),
                    &nanos(token.created_at),
                    &json(&token)?,
                ],
            )
            .await?
        }
        Record::ChatTurn {
            agent,
            chat,
            seq,
            turn,
        } => {
            db::exec(
                tx,
                "INSERT INTO chat_turns (agent_id, chat_id, seq, doc) VALUES ($1, $2, $3, $4)",
                &[&agent, &chat, &(seq as i64), &json(&turn)?],
            )
            .await?
        }
        Record::A2aTask(task) => {
            db::exec(
                tx,
                "INSERT INTO a2a_tasks (token_id, id, agent, message_id, created_at_ns, doc)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &task.token_id,
                    &task.id,
                    &task.agent,
                    &task.message_id,
                    &nanos(task.created_at),
                    &json(&task)?,
                ],
            )
            .await?
        }
        Record::WebhookSecret { agent, secret } => {
            db::exec(
                tx,
                "INSERT INTO webhook_secrets (agent_id, secret) VALUES ($1, $2)",
                &[&agent, &secret],
            )
            .await?
        }
        Record::Delivery {
            seq,
            delivery,
            body,
        } => {
            db::exec(
                tx,
                "INSERT INTO webhook_deliveries (id, agent_id, seq, status, due_ms, doc, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &delivery.id,
                    &delivery.agent_id,
                    &(seq as i64),
                    &outbox::status(delivery.status)?,
                    &outbox::due(&delivery),
                    &json(&delivery)?,
                    &body,
                ],
            )
            .await?
        }
    };
    Ok(())
}
