//! Threads, messages, the recipients' queues and idempotency keys.

use super::outbox;
use super::tables::{
    ANNOUNCEMENT_CURSORS, ANNOUNCEMENTS, CONNECTION_THREADS, CONNECTIONS, IDEMPOTENCY, MESSAGES,
    PENDING, THREAD_MESSAGES, THREADS, get_json, put_json, require,
};
use super::txn::Txn;
use crate::model::*;
use crate::notify::Topic;
use crate::store::{NewMessage, Rejection, Result, Sent};
use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Serialize, Deserialize)]
pub(super) struct StoredMessage {
    pub(super) seq: u64,
    #[serde(flatten)]
    pub(super) message: Message,
}

#[derive(Serialize, Deserialize)]
pub(super) struct IdempotencyRecord {
    pub(super) message_id: String,
    pub(super) created_at: DateTime<Utc>,
}

fn load_message(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<StoredMessage>> {
    get_json(table, id)
}

pub(super) fn thread(txn: &ReadTransaction, id: &str) -> Result<Option<Thread>> {
    get_json(&txn.open_table(THREADS)?, id)
}

pub(super) fn threads_of(txn: &ReadTransaction, connection: &str) -> Result<Vec<Thread>> {
    let threads = txn.open_table(THREADS)?;
    let mut out = Vec::new();
    for id in txn
        .open_multimap_table(CONNECTION_THREADS)?
        .get(connection)?
    {
        out.extend(get_json::<Thread>(&threads, id?.value())?);
    }
    Ok(out)
}

pub(super) fn thread_messages(txn: &ReadTransaction, thread: &str) -> Result<Vec<Message>> {
    let messages = txn.open_table(MESSAGES)?;
    let mut out = Vec::new();
    for entry in txn
        .open_table(THREAD_MESSAGES)?
        .range((thread, 0)..=(thread, u64::MAX))?
    {
        let (_, id) = entry?;
        out.extend(load_message(&messages, id.value())?.map(|m| m.message));
    }
    Ok(out)
}

pub(super) fn send_message(txn: &Txn, wakes: &mut Vec<Topic>, new: NewMessage) -> Result<Sent> {
    let NewMessage {
        message,
        new_thread,
        idempotency,
    } = new;
    let mut messages = txn.open_table(MESSAGES)?;
    let mut keys = txn.open_table(IDEMPOTENCY)?;
    if let Some((key, since)) = &idempotency
        && let Some(first) = idempotent_in(&keys, &messages, &message.from_agent_id, key, *since)?
    {
        return Ok(Sent {
            message: first,
            replayed: true,
        });
    }

    let mut threads = txn.open_table(THREADS)?;
    let thread = match new_thread {
        Some(thread) => {
            txn.open_multimap_table(CONNECTION_THREADS)?
                .insert(thread.connection_id.as_str(), thread.id.as_str())?;
            thread
        }
        None => require(get_json(&threads, &message.thread_id)?)?,
    };
    let connection: Connection = require(get_json(
        &txn.open_table(CONNECTIONS)?,
        &thread.connection_id,
    )?)?;
    if !connection.is_active() {
        return Err(Rejection::ConnectionInactive.into());
    }
    let thread_id = thread.id.clone();
    put_json(
        &mut threads,
        &thread_id,
        &Thread {
            last_message_at: message.created_at,
            ..thread
        },
    )?;

    let seq = txn.next_seq()?;
    let id = message.id.as_str();
    txn.open_table(THREAD_MESSAGES)?
        .insert((message.thread_id.as_str(), seq), id)?;
    txn.open_table(PENDING)?
        .insert((message.to_agent_id.as_str(), seq), id)?;
    if let Some((key, _)) = &idempotency {
        let record = IdempotencyRecord {
            message_id: message.id.clone(),
            created_at: message.created_at,
        };
        keys.insert(
            (message.from_agent_id.as_str(), key.as_str()),
            serde_json::to_vec(&record)?.as_slice(),
        )?;
    }
    // NB: in the same transaction, so a stored message always has its delivery.
    outbox::queue_message(txn, &message, wakes)?;
    let stored = StoredMessage { seq, message };
    put_json(&mut messages, &stored.message.id, &stored)?;
    wakes.push(Topic::Inbox(stored.message.to_agent_id.clone()));
    Ok(Sent {
        message: stored.message,
        replayed: false,
    })
}

pub(super) fn message(txn: &ReadTransaction, id: &str) -> Result<Option<Message>> {
    Ok(load_message(&txn.open_table(MESSAGES)?, id)?.map(|m| m.message))
}

pub(super) fn idempotent_message(
    txn: &ReadTransaction,
    agent: &str,
    key: &str,
    since: DateTime<Utc>,
) -> Result<Option<Message>> {
    idempotent_in(
        &txn.open_table(IDEMPOTENCY)?,
        &txn.open_table(MESSAGES)?,
        agent,
        key,
        since,
    )
}

fn idempotent_in(
    keys: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    messages: &impl ReadableTable<&'static str, &'static [u8]>,
    agent: &str,
    key: &str,
    since: DateTime<Utc>,
) -> Result<Option<Message>> {
    let Some(record) = keys.get((agent, key))? else {
        return Ok(None);
    };
    let record: IdempotencyRecord = serde_json::from_slice(record.value())?;
    if record.created_at < since {
        return Ok(None);
    }
    Ok(load_message(messages, &record.message_id)?.map(|m| m.message))
}

pub(super) fn has_pending(txn: &ReadTransaction, agent: &str) -> Result<bool> {
    let pending = txn.open_table(PENDING)?;
    if pending
        .range((agent, 0)..=(agent, u64::MAX))?
        .next()
        .is_some()
    {
        return Ok(true);
    }
    let cursor = txn
        .open_table(ANNOUNCEMENT_CURSORS)?
        .get(agent)?
        .map(|v| v.value())
        .unwrap_or(0);
    let latest = txn
        .open_table(ANNOUNCEMENTS)?
        .last()?
        .map(|(k, _)| k.value())
        .unwrap_or(0);
    Ok(latest > cursor)
}

pub(super) fn take_pending(txn: &WriteTransaction, agent: &str, limit: usize) -> Result<Delivery> {
    let mut delivery = Delivery::default();
    let mut pending = txn.open_table(PENDING)?;
    let mut messages = txn.open_table(MESSAGES)?;
    let threads = txn.open_table(THREADS)?;
    let connections = txn.open_table(CONNECTIONS)?;
    // Whether each thread met so far belongs to an active connection.
    let mut open_threads: HashMap<String, bool> = HashMap::new();
    // Queue entries to drop: those handed out now, and those withdrawn because their
    // connection was removed after the send (both sides lost access to its threads).
    // Withdrawn ones do not count toward `limit`.
    let mut taken = Vec::new();
    let mut handed: Vec<StoredMessage> = Vec::new();
    for entry in pending.range((agent, 0)..=(agent, u64::MAX))? {
        if handed.len() >= limit {
            break;
        }
        let (key, id) = entry?;
        taken.push(key.value().1);
        let Some(stored) = load_message(&messages, id.value())? else {
            continue;
        };
        let thread = stored.message.thread_id.clone();
        let open = match open_threads.get(&thread) {
            Some(&open) => open,
            None => {
                let open = match get_json::<Thread>(&threads, &thread)? {
                    Some(t) => get_json::<Connection>(&connections, &t.connection_id)?
                        .is_some_and(|c| c.is_active()),
                    None => false,
                };
                open_threads.insert(thread, open);
                open
            }
        };
        if open {
            handed.push(stored);
        }
    }
    for seq in taken {
        pending.remove((agent, seq))?;
    }
    for mut stored in handed {
        if stored.message.status == MessageStatus::Sent {
            stored.message.status = MessageStatus::Delivered;
            put_json(&mut messages, &stored.message.id.clone(), &stored)?;
        }
        delivery.messages.push(stored.message);
    }

    let mut cursors = txn.open_table(ANNOUNCEMENT_CURSORS)?;
    let cursor = cursors.get(agent)?.map(|v| v.value()).unwrap_or(0);
    let mut last = cursor;
    for entry in txn.open_table(ANNOUNCEMENTS)?.range(cursor + 1..)? {
        let (seq, value) = entry?;
        last = seq.value();
        delivery
            .announcements
            .push(serde_json::from_slice(value.value())?);
    }
    if last != cursor {
        cursors.insert(agent, last)?;
    }
    Ok(delivery)
}

pub(super) fn acknowledge(
    txn: &WriteTransaction,
    id: &str,
    agent: &str,
    at: DateTime<Utc>,
) -> Result<Message> {
    let mut messages = txn.open_table(MESSAGES)?;
    let mut stored = require(load_message(&messages, id)?)?;
    if stored.message.to_agent_id != agent {
        return Err(Rejection::NotRecipient.into());
    }
    if stored.message.status != MessageStatus::Read {
        // Acked before any poll took it: it must not be handed out afterwards.
        txn.open_table(PENDING)?.remove((agent, stored.seq))?;
        stored.message.status = MessageStatus::Read;
        stored.message.acknowledged_at = Some(at);
        put_json(&mut messages, id, &stored)?;
    }
    Ok(stored.message)
}
