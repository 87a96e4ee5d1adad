//! Everything the file holds, as [`Record`]s, read on one snapshot (`agentx migrate`).

use super::RedbStore;
use super::messages::{IdempotencyRecord, StoredMessage};
use super::outbox::{AGENT_DELIVERIES, DELIVERIES, StoredDelivery, WEBHOOK_SECRETS};
use super::tables::{
    A2A_TASKS, AGENT_KEYS, AGENTS, ANNOUNCEMENT_CURSORS, ANNOUNCEMENTS, CHATS, CONNECTIONS, EMAILS,
    IDEMPOTENCY, INVITES, MEMORY, MEMORY_OWNERS, MESSAGES, META, PENDING, SECRET_KEY_PREFIX,
    THREADS, TOKEN_HASHES, TOKENS, USERS, get_json, require,
};
use crate::error::context;
use crate::store::copy::{Item, Record};
use crate::store::{Result, StoreError};
use redb::{ReadTransaction, ReadableDatabase, ReadableTable};
use tokio::sync::mpsc::Sender;

impl RedbStore {
    /// Sends every record to `sink`, then [`Item::End`]. Stops quietly, without `End`, when
    /// the receiving side hangs up (it failed, and says why).
    pub async fn export(&self, sink: Sender<Item>) -> Result<()> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read()?;
            let mut emit = |record| {
                sink.blocking_send(Item::Record(Box::new(record)))
                    .map_err(|_| StoreError::backend("the copy's writer stopped"))
            };
            match export(&txn, &mut emit) {
                Err(_) if sink.is_closed() => Ok(()),
                Err(e) => Err(e),
                Ok(()) => {
                    let _ = sink.blocking_send(Item::End);
                    Ok(())
                }
            }
        })
        .await
        .map_err(|e| StoreError::Backend(context("export task", e)))?
    }
}

type Emit<'a> = dyn FnMut(Record) -> Result<()> + 'a;

fn export(txn: &ReadTransaction, emit: &mut Emit<'_>) -> Result<()> {
    for entry in txn.open_table(META)?.iter()? {
        let (key, value) = entry?;
        if let Some(name) = key.value().strip_prefix(SECRET_KEY_PREFIX) {
            emit(Record::Secret {
                name: name.to_owned(),
                value: value.value().to_vec(),
            })?;
        }
    }
    for entry in txn.open_table(USERS)?.iter()? {
        emit(Record::User(serde_json::from_slice(entry?.1.value())?))?;
    }
    for entry in txn.open_table(AGENTS)?.iter()? {
        emit(Record::Agent(serde_json::from_slice(entry?.1.value())?))?;
    }
    for entry in txn.open_table(EMAILS)?.iter()? {
        let (email, agent) = entry?;
        emit(Record::Email {
            email: email.value().to_owned(),
            agent: agent.value().to_owned(),
        })?;
    }
    for entry in txn.open_table(AGENT_KEYS)?.iter()? {
        let (agent, hash) = entry?;
        emit(Record::ApiKey {
            agent: agent.value().to_owned(),
            hash: hash_of(hash.value())?,
        })?;
    }
    for entry in txn.open_table(INVITES)?.iter()? {
        emit(Record::Invite(serde_json::from_slice(entry?.1.value())?))?;
    }
    for entry in txn.open_table(CONNECTIONS)?.iter()? {
        emit(Record::Connection(serde_json::from_slice(
            entry?.1.value(),
        )?))?;
    }
    for entry in txn.open_table(THREADS)?.iter()? {
        emit(Record::Thread(serde_json::from_slice(entry?.1.value())?))?;
    }
    messages(txn, emit)?;
    for entry in txn.open_table(ANNOUNCEMENTS)?.iter()? {
        let (seq, announcement) = entry?;
        emit(Record::Announcement {
            seq: seq.value(),
            announcement: serde_json::from_slice(announcement.value())?,
        })?;
    }
    for entry in txn.open_table(ANNOUNCEMENT_CURSORS)?.iter()? {
        let (agent, seq) = entry?;
        emit(Record::AnnouncementCursor {
            agent: agent.value().to_owned(),
            seq: seq.value(),
        })?;
    }
    memory(txn, emit)?;
    tokens(txn, emit)?;
    for entry in txn.open_table(CHATS)?.iter()? {
        let (key, turn) = entry?;
        let (agent, chat, seq) = key.value();
        emit(Record::ChatTurn {
            agent: agent.to_owned(),
            chat: chat.to_owned(),
            seq,
            turn: serde_json::from_slice(turn.value())?,
        })?;
    }
    for entry in txn.open_table(A2A_TASKS)?.iter()? {
        emit(Record::A2aTask(serde_json::from_slice(entry?.1.value())?))?;
    }
    for entry in txn.open_table(WEBHOOK_SECRETS)?.iter()? {
        let (agent, secret) = entry?;
        emit(Record::WebhookSecret {
            agent: agent.value().to_owned(),
            secret: secret.value().to_owned(),
        })?;
    }
    deliveries(txn, emit)
}

/// Messages, each marked queued when a poll has not taken it yet; then the idempotency keys.
fn messages(txn: &ReadTransaction, emit: &mut Emit<'_>) -> Result<()> {
    let pending = txn.open_table(PENDING)?;
    for entry in txn.open_table(MESSAGES)?.iter()? {
        let stored: StoredMessage = serde_json::from_slice(entry?.1.value())?;
        let queue_entry = (stored.message.to_agent_id.as_str(), stored.seq);
        emit(Record::Message {
            seq: stored.seq,
            queued: pending.get(queue_entry)?.is_some(),
            message: stored.message,
        })?;
    }
    for entry in txn.open_table(IDEMPOTENCY)?.iter()? {
        let (key, record) = entry?;
        let (sender, key) = key.value();
        let record: IdempotencyRecord = serde_json::from_slice(record.value())?;
        emit(Record::IdempotencyKey {
            sender: sender.to_owned(),
            key: key.to_owned(),
            message: record.message_id,
            created_at: record.created_at,
        })?;
    }
    Ok(())
}

fn memory(txn: &ReadTransaction, emit: &mut Emit<'_>) -> Result<()> {
    let owners = txn.open_table(MEMORY_OWNERS)?;
    for entry in txn.open_table(MEMORY)?.iter()? {
        let (key, value) = entry?;
        let (agent, key) = key.value();
        let conversation = owners.get((agent, key))?.map(|c| c.value().to_owned());
        emit(Record::Memory {
            agent: agent.to_owned(),
            key: key.to_owned(),
            conversation,
            value: value.value().to_owned(),
        })?;
    }
    Ok(())
}

fn tokens(txn: &ReadTransaction, emit: &mut Emit<'_>) -> Result<()> {
    let tokens = txn.open_table(TOKENS)?;
    for entry in txn.open_table(TOKEN_HASHES)?.iter()? {
        let (hash, id) = entry?;
        let token = require(get_json(&tokens, id.value())?)?;
        emit(Record::Token {
            token,
            hash: hash_of(hash.value())?,
        })?;
    }
    Ok(())
}

/// Every delivery, with its sequence number among its agent's deliveries.
fn deliveries(txn: &ReadTransaction, emit: &mut Emit<'_>) -> Result<()> {
    let deliveries = txn.open_table(DELIVERIES)?;
    for entry in txn.open_table(AGENT_DELIVERIES)?.iter()? {
        let (key, id) = entry?;
        if let Some(stored) = get_json::<StoredDelivery>(&deliveries, id.value())? {
            emit(Record::Delivery {
                seq: key.value().1,
                delivery: stored.delivery,
                body: stored.body,
            })?;
        }
    }
    Ok(())
}

fn hash_of(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::backend("malformed hash"))
}
