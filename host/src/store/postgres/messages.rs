//! Threads, messages, the recipients' queues and idempotency keys.

use super::db::{self, Conn, doc, docs, json, nanos, require};
use super::outbox;
use crate::model::*;
use crate::notify::Topic;
use crate::store::{NewMessage, Rejection, Result, Sent};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

pub(super) async fn thread(c: &impl Conn, id: &str) -> Result<Option<Thread>> {
    let row = db::row(c, "SELECT doc FROM threads WHERE id = $1", &[&id]).await?;
    row.map(|r| doc(&r, 0)).transpose()
}

pub(super) async fn threads_of(c: &impl Conn, connection: &str) -> Result<Vec<Thread>> {
    docs(
        &db::rows(
            c,
            "SELECT doc FROM threads WHERE connection_id = $1 ORDER BY id",
            &[&connection],
        )
        .await?,
    )
}

pub(super) async fn thread_messages(c: &impl Conn, thread: &str) -> Result<Vec<Message>> {
    docs(
        &db::rows(
            c,
            "SELECT doc FROM messages WHERE thread_id = $1 ORDER BY seq",
            &[&thread],
        )
        .await?,
    )
}

pub(super) async fn send_message(
    tx: &Transaction<'_>,
    wakes: &mut Vec<Topic>,
    new: NewMessage,
) -> Result<Sent> {
    let NewMessage {
        message,
        new_thread,
        idempotency,
    } = new;
    if let Some((key, since)) = &idempotency {
        // The key's row is claimed first: a concurrent send with the same key, on any node,
        // waits here until this one commits, then finds it and replays it.
        let claimed = db::exec(
            tx,
            "INSERT INTO idempotency_keys (sender, key, message_id, created_at_ns)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (sender, key) DO UPDATE
                 SET message_id = EXCLUDED.message_id, created_at_ns = EXCLUDED.created_at_ns
                 WHERE idempotency_keys.created_at_ns < $5
             RETURNING 1",
            &[
                &message.from_agent_id,
                key,
                &message.id,
                &nanos(message.created_at),
                &nanos(*since),
            ],
        )
        .await?;
        if claimed == 0 {
            let first = idempotent_message(tx, &message.from_agent_id, key, *since).await?;
            return Ok(Sent {
                message: require(first)?,
                replayed: true,
            });
        }
    }

    // Locks in the one order every command takes them: thread, then connection (shared,
    // so sends proceed together while a removal waits for them).
    let thread = match new_thread {
        Some(thread) => thread,
        None => {
            let row = db::row(
                tx,
                "SELECT doc FROM threads WHERE id = $1 FOR UPDATE",
                &[&message.thread_id],
            )
            .await?;
            doc(&require(row)?, 0)?
        }
    };
    let row = db::row(
        tx,
        "SELECT doc FROM connections WHERE id = $1 FOR SHARE",
        &[&thread.connection_id],
    )
    .await?;
    let connection: Connection = doc(&require(row)?, 0)?;
    if !connection.is_active() {
        return Err(Rejection::ConnectionInactive.into());
    }
    let thread = Thread {
        last_message_at: message.created_at,
        ..thread
    };
    db::exec(
        tx,
        "INSERT INTO threads (id, connection_id, doc) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc",
        &[&thread.id, &thread.connection_id, &json(&thread)?],
    )
    .await?;
    db::exec(
        tx,
        "INSERT INTO messages (id, thread_id, to_agent_id, queued, doc) VALUES ($1, $2, $3, true, $4)",
        &[
            &message.id,
            &message.thread_id,
            &message.to_agent_id,
            &json(&message)?,
        ],
    )
    .await?;
    // NB: in the same transaction, so a stored message always has its delivery.
    outbox::queue_message(tx, &message, wakes).await?;
    wakes.push(Topic::Inbox(message.to_agent_id.clone()));
    Ok(Sent {
        message,
        replayed: false,
    })
}

pub(super) async fn message(c: &impl Conn, id: &str) -> Result<Option<Message>> {
    let row = db::row(c, "SELECT doc FROM messages WHERE id = $1", &[&id]).await?;
    row.map(|r| doc(&r, 0)).transpose()
}

pub(super) async fn idempotent_message(
    c: &impl Conn,
    agent: &str,
    key: &str,
    since: DateTime<Utc>,
) -> Result<Option<Message>> {
    let row = db::row(
        c,
        "SELECT m.doc FROM idempotency_keys i JOIN messages m ON m.id = i.message_id
         WHERE i.sender = $1 AND i.key = $2 AND i.created_at_ns >= $3",
        &[&agent, &key, &nanos(since)],
    )
    .await?;
    row.map(|r| doc(&r, 0)).transpose()
}

/// Whether a take would find anything: a queued message or an announcement not yet had.
pub(super) async fn has_pending(c: &impl Conn, agent: &str) -> Result<bool> {
    let row = db::row(
        c,
        "SELECT EXISTS (SELECT 1 FROM messages WHERE to_agent_id = $1 AND queued)
             OR COALESCE((SELECT max(seq) FROM announcements), 0)
                > COALESCE((SELECT seq FROM announcement_cursors WHERE agent_id = $1), 0)",
        &[&agent],
    )
    .await?;
    Ok(require(row)?.try_get(0)?)
}

pub(super) async fn take_pending(
    tx: &Transaction<'_>,
    agent: &str,
    limit: usize,
) -> Result<Delivery> {
    let mut delivery = Delivery::default();
    // Queue entries to drop, with the document to leave: those handed out now, and those
    // withdrawn because their connection was removed after the send (both sides lost
    // access to its threads). Withdrawn ones do not count toward `limit`.
    let (mut taken_ids, mut taken_docs) = (Vec::new(), Vec::new());
    let batch = limit as i64 + 16;
    let mut after = 0i64;
    'queue: loop {
        // SKIP LOCKED: entries a concurrent take (on any node) holds are its to hand over.
        let rows = db::rows(
            tx,
            "SELECT m.seq, m.doc, c.doc FROM messages m
             LEFT JOIN threads t ON t.id = m.thread_id
             LEFT JOIN connections c ON c.id = t.connection_id
             WHERE m.to_agent_id = $1 AND m.queued AND m.seq > $2
             ORDER BY m.seq LIMIT $3
             FOR UPDATE OF m SKIP LOCKED",
            &[&agent, &after, &batch],
        )
        .await?;
        for row in &rows {
            if delivery.messages.len() >= limit {
                break 'queue;
            }
            after = row.try_get(0)?;
            let mut message: Message = doc(row, 1)?;
            let open = match row.try_get::<_, Option<&str>>(2)? {
                Some(c) => serde_json::from_str::<Connection>(c)?.is_active(),
                None => false,
            };
            if open && message.status == MessageStatus::Sent {
                message.status = MessageStatus::Delivered;
            }
            taken_ids.push(message.id.clone());
            taken_docs.push(json(&message)?);
            if open {
                delivery.messages.push(message);
            }
        }
        if (rows.len() as i64) < batch {
            break;
        }
    }
    if !taken_ids.is_empty() {
        db::exec(
            tx,
            "UPDATE messages m SET queued = false, doc = t.doc
             FROM unnest($1::text[], $2::text[]) AS t(id, doc) WHERE m.id = t.id",
            &[&taken_ids, &taken_docs],
        )
        .await?;
    }

    // The agent's cursor row, locked: concurrent takes hand each announcement over once.
    let cursor: i64 = db::row(
        tx,
        "INSERT INTO announcement_cursors (agent_id, seq) VALUES ($1, 0)
         ON CONFLICT (agent_id) DO UPDATE SET seq = announcement_cursors.seq
         RETURNING seq",
        &[&agent],
    )
    .await?
    .map_or(Ok(0), |r| r.try_get(0))?;
    let rows = db::rows(
        tx,
        "SELECT seq, doc FROM announcements WHERE seq > $1 ORDER BY seq",
        &[&cursor],
    )
    .await?;
    if let Some(last) = rows.last() {
        let last: i64 = last.try_get(0)?;
        db::exec(
            tx,
            "UPDATE announcement_cursors SET seq = $2 WHERE agent_id = $1",
            &[&agent, &last],
        )
        .await?;
        for row in &rows {
            delivery.announcements.push(doc(row, 1)?);
        }
    }
    Ok(delivery)
}

pub(super) async fn acknowledge(
    tx: &Transaction<'_>,
    id: &str,
    agent: &str,
    at: DateTime<Utc>,
) -> Result<Message> {
    let row = db::row(
        tx,
        "SELECT doc FROM messages WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?;
    let mut message: Message = doc(&require(row)?, 0)?;
    if message.to_agent_id != agent {
        return Err(Rejection::NotRecipient.into());
    }
    if message.status != MessageStatus::Read {
        // Acked before any poll took it: it must not be handed out afterwards.
        message.status = MessageStatus::Read;
        message.acknowledged_at = Some(at);
        db::exec(
            tx,
            "UPDATE messages SET queued = false, doc = $2 WHERE id = $1",
            &[&id, &json(&message)?],
        )
        .await?;
    }
    Ok(message)
}
