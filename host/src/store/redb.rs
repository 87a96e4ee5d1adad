//! The embedded store: one redb file, written through a group-commit writer.
//!
//! # Group commit
//! A 2xx must not be sent before its write is on disk, but an fsync per request would cap
//! the whole server at the disk's fsync rate. So one writer thread owns all writes: it takes
//! every job queued while the previous fsync ran, commits each in its own *non-durable*
//! transaction (so a job that fails rolls back alone), then makes the whole batch durable
//! with one `Durability::Immediate` commit, and only then answers the callers and wakes the
//! agents the batch gave something to. Under load, N concurrent writers share one fsync.

use super::{NewMessage, Rejection, Result, Sent, Store, StoreError};
use crate::auth::ApiToken;
use crate::network::model::*;
use crate::notify::Notifier;
use crate::tasks::ChatTurn;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{
    Database, Durability, MultimapTableDefinition, ReadTransaction, ReadableDatabase,
    ReadableTable, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

mod outbox;

/// Bumped whenever a table's layout changes; a data dir of another version is refused at
/// start rather than misread.
pub const SCHEMA_VERSION: u64 = 1;

/// Jobs taken into one batch at most, so a flood cannot delay its first caller unboundedly.
const MAX_BATCH: usize = 512;

// Values are JSON: records evolve by adding fields, and serde's defaults read old rows.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// Lower-cased email → agent id.
const EMAILS: TableDefinition<&str, &str> = TableDefinition::new("emails");
const AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("agents");
/// Keyed hash of an API key → agent id; the key itself is never stored.
const KEYS: TableDefinition<&[u8], &str> = TableDefinition::new("api_keys");
/// Agent id → keyed hash of its API key, for login.
const AGENT_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("agent_keys");
const INVITES: TableDefinition<&str, &[u8]> = TableDefinition::new("invites");
const CONNECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("connections");
const AGENT_CONNECTIONS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("agent_connections");
const THREADS: TableDefinition<&str, &[u8]> = TableDefinition::new("threads");
const CONNECTION_THREADS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("connection_threads");
const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("messages");
/// (thread, seq) → message id: a thread's messages in send order.
const THREAD_MESSAGES: TableDefinition<(&str, u64), &str> = TableDefinition::new("thread_messages");
/// (recipient, seq) → message id: the queue that polls drain.
const PENDING: TableDefinition<(&str, u64), &str> = TableDefinition::new("pending");
/// (sender, Idempotency-Key) → the message it created.
const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("idempotency");
/// seq → announcement.
const ANNOUNCEMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("announcements");
/// Agent → seq of the last announcement handed to it.
const ANNOUNCEMENT_CURSORS: TableDefinition<&str, u64> =
    TableDefinition::new("announcement_cursors");

/// (agent, key) → value: plugin memory.
const MEMORY: TableDefinition<(&str, &str), &str> = TableDefinition::new("plugin_memory");

/// Token id → token record (`agx_live_` tokens; the token itself is never stored).
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
/// SHA-256 of a token → its id.
const TOKEN_HASHES: TableDefinition<&[u8], &str> = TableDefinition::new("token_hashes");
/// (agent, chat id, seq) → turn: chat sessions of public-api and daemon tasks.
const CHATS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("chats");

const SCHEMA_KEY: &str = "schema_version";
const SEQ_KEY: &str = "next_seq";

#[derive(Serialize, Deserialize)]
struct StoredMessage {
    seq: u64,
    #[serde(flatten)]
    message: Message,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyRecord {
    message_id: String,
    created_at: DateTime<Utc>,
}

/// Who to wake once a job's batch is durable.
enum Wake {
    Agent(AgentId),
    All,
}

type Finish = Box<dyn FnOnce(Result<()>, &dyn Notifier) + Send>;
type Job = Box<dyn FnOnce(&Database) -> Finish + Send>;

pub struct RedbStore {
    db: Arc<Database>,
    /// Jobs for the writer thread. Dropping it (in `Drop`) lets the thread finish what was
    /// queued and end.
    jobs: Option<mpsc::Sender<Job>>,
    /// Joined in `Drop`, so that once the store is dropped every write is durable and the
    /// file is closed: a restart in the same process can reopen it at once.
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

macro_rules! backend_errors {
    ($($t:ty),+) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Backend(e.to_string()) }
        }
    )+};
}
backend_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
    serde_json::Error
);

impl RedbStore {
    /// Opens (or creates) `<dir>/agentx.redb`, checks its schema version and starts the writer.
    pub fn open(dir: &Path, notifier: Arc<dyn Notifier>) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", dir.display())))?;
        let db = Arc::new(Database::create(dir.join("agentx.redb"))?);
        init_schema(&db)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let writer_db = db.clone();
        let writer = std::thread::Builder::new()
            .name("agentx-store-writer".into())
            .spawn(move || run_writer(&writer_db, &queue, &*notifier))
            .map_err(|e| StoreError::Backend(format!("spawn writer: {e}")))?;
        Ok(Self {
            db,
            jobs: Some(jobs),
            writer: Some(writer),
        })
    }

    /// Runs `op` in the next group commit; resolves once it is durable (or failed alone).
    async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &mut Vec<Wake>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |db| {
            let mut wakes = Vec::new();
            let outcome = commit_alone(db, |txn| op(txn, &mut wakes));
            Box::new(move |synced, notifier| {
                let result = outcome.and_then(|value| synced.map(|()| value));
                if result.is_ok() {
                    for wake in &wakes {
                        match wake {
                            Wake::Agent(agent) => notifier.wake(agent),
                            Wake::All => notifier.wake_all(),
                        }
                    }
                }
                // The caller may have gone (client disconnected); the write stands regardless.
                let _ = reply.send(result);
            })
        });
        self.jobs
            .as_ref()
            .expect("present until drop")
            .send(job)
            .map_err(|_| StoreError::Backend("store writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("store writer dropped a job".into()))?
    }

    /// Runs `op` on a consistent snapshot, off the async runtime.
    async fn read<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || op(&db.begin_read()?))
            .await
            .map_err(|e| StoreError::Backend(format!("read task: {e}")))?
    }
}

fn init_schema(db: &Database) -> Result<()> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get(SCHEMA_KEY)?.map(|v| decode_u64(v.value()));
        match found {
            Some(found) if found != SCHEMA_VERSION => {
                return Err(StoreError::SchemaMismatch {
                    found,
                    expected: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
            }
        }
        // Opening every table once means reads never meet a table that does not exist yet.
        txn.open_table(USERS)?;
        txn.open_table(EMAILS)?;
        txn.open_table(AGENTS)?;
        txn.open_table(KEYS)?;
        txn.open_table(AGENT_KEYS)?;
        txn.open_table(INVITES)?;
        txn.open_table(CONNECTIONS)?;
        txn.open_multimap_table(AGENT_CONNECTIONS)?;
        outbox::create_tables(&txn)?;
        txn.open_table(THREADS)?;
        txn.open_multimap_table(CONNECTION_THREADS)?;
        txn.open_table(MESSAGES)?;
        txn.open_table(THREAD_MESSAGES)?;
        txn.open_table(PENDING)?;
        txn.open_table(IDEMPOTENCY)?;
        txn.open_table(ANNOUNCEMENTS)?;
        txn.open_table(ANNOUNCEMENT_CURSORS)?;
        txn.open_table(MEMORY)?;
        txn.open_table(TOKENS)?;
        txn.open_table(TOKEN_HASHES)?;
        txn.open_table(CHATS)?;
    }
    txn.commit()?;
    Ok(())
}

fn run_writer(db: &Database, queue: &mpsc::Receiver<Job>, notifier: &dyn Notifier) {
    while let Ok(first) = queue.recv() {
        let mut finishes = vec![first(db)];
        while finishes.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => finishes.push(job(db)),
                Err(_) => break,
            }
        }
        let synced = make_durable(db);
        if let Err(e) = &synced {
            tracing::error!(error = %e, batch = finishes.len(), "group commit failed to sync");
        }
        for finish in finishes {
            finish(synced.clone(), notifier);
        }
    }
}

/// Commits `op` without an fsync; an error aborts this transaction only.
fn commit_alone<T>(db: &Database, op: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::None)?;
    match op(&txn) {
        Ok(value) => {
            txn.commit()?;
            Ok(value)
        }
        Err(e) => {
            txn.abort()?;
            Err(e)
        }
    }
}

/// An empty immediate commit: redb then persists every non-durable commit before it.
fn make_durable(db: &Database) -> Result<()> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    txn.commit()?;
    Ok(())
}

fn decode_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
}

fn next_seq(txn: &WriteTransaction) -> Result<u64> {
    let mut meta = txn.open_table(META)?;
    let seq = meta
        .get(SEQ_KEY)?
        .map(|v| decode_u64(v.value()))
        .unwrap_or(1);
    meta.insert(SEQ_KEY, (seq + 1).to_le_bytes().as_slice())?;
    Ok(seq)
}

fn get_json<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>> {
    match table.get(key)? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

fn put_json<T: Serialize>(
    table: &mut redb::Table<&'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<()> {
    table.insert(key, serde_json::to_vec(value)?.as_slice())?;
    Ok(())
}

fn require<T>(value: Option<T>) -> Result<T> {
    value.ok_or(StoreError::Rejected(Rejection::NotFound))
}

fn load_message(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<StoredMessage>> {
    get_json(table, id)
}

fn connections_of(
    connections: &impl ReadableTable<&'static str, &'static [u8]>,
    index: &impl redb::ReadableMultimapTable<&'static str, &'static str>,
    agent: &str,
) -> Result<Vec<Connection>> {
    let mut out = Vec::new();
    for id in index.get(agent)? {
        if let Some(c) = get_json(connections, id?.value())? {
            out.push(c);
        }
    }
    Ok(out)
}

fn idempotent_message(
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

fn has_pending(txn: &ReadTransaction, agent: &str) -> Result<bool> {
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

#[async_trait]
impl Store for RedbStore {
    async fn secret(&self, name: &'static str) -> Result<Vec<u8>> {
        let key = format!("secret:{name}");
        self.write(move |txn, _| {
            let mut meta = txn.open_table(META)?;
            if let Some(v) = meta.get(key.as_str())? {
                return Ok(v.value().to_vec());
            }
            let secret: [u8; 32] = rand::random();
            meta.insert(key.as_str(), secret.as_slice())?;
            Ok(secret.to_vec())
        })
        .await
    }

    async fn insert_account(&self, user: User, agent: Agent, key_hash: [u8; 32]) -> Result<()> {
        self.write(move |txn, _| {
            let email = user.email.to_lowercase();
            let mut emails = txn.open_table(EMAILS)?;
            if emails.get(email.as_str())?.is_some() {
                return Err(Rejection::EmailTaken.into());
            }
            emails.insert(email.as_str(), agent.id.as_str())?;
            put_json(&mut txn.open_table(USERS)?, &user.id, &user)?;
            put_json(&mut txn.open_table(AGENTS)?, &agent.id, &agent)?;
            txn.open_table(KEYS)?
                .insert(key_hash.as_slice(), agent.id.as_str())?;
            txn.open_table(AGENT_KEYS)?
                .insert(agent.id.as_str(), key_hash.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn ensure_hosted_agent(&self, agent: Agent) -> Result<()> {
        self.write(move |txn, _| {
            let mut agents = txn.open_table(AGENTS)?;
            let stored = match get_json::<Agent>(&agents, &agent.id)? {
                Some(existing) => Agent {
                    name: agent.name,
                    ..existing
                },
                None => agent,
            };
            put_json(&mut agents, &stored.id, &stored)
        })
        .await
    }

    async fn agent(&self, id: &str) -> Result<Option<Agent>> {
        let id = id.to_owned();
        self.read(move |txn| get_json(&txn.open_table(AGENTS)?, &id))
            .await
    }

    async fn agents(&self) -> Result<Vec<Agent>> {
        self.read(|txn| {
            let mut agents = txn
                .open_table(AGENTS)?
                .iter()?
                .map(|entry| Ok(serde_json::from_slice::<Agent>(entry?.1.value())?))
                .collect::<Result<Vec<_>>>()?;
            agents.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            Ok(agents)
        })
        .await
    }

    async fn agent_by_key_hash(&self, key_hash: [u8; 32]) -> Result<Option<Agent>> {
        self.read(move |txn| {
            let keys = txn.open_table(KEYS)?;
            match keys.get(key_hash.as_slice())? {
                Some(id) => get_json(&txn.open_table(AGENTS)?, id.value()),
                None => Ok(None),
            }
        })
        .await
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<(User, Agent, [u8; 32])>> {
        let email = email.to_lowercase();
        self.read(move |txn| {
            let Some(agent_id) = txn
                .open_table(EMAILS)?
                .get(email.as_str())?
                .map(|v| v.value().to_owned())
            else {
                return Ok(None);
            };
            let agent: Agent = require(get_json(&txn.open_table(AGENTS)?, &agent_id)?)?;
            let user: User = require(get_json(&txn.open_table(USERS)?, &agent.user_id)?)?;
            let hash = require(txn.open_table(AGENT_KEYS)?.get(agent_id.as_str())?)?;
            let hash: [u8; 32] = hash
                .value()
                .try_into()
                .map_err(|_| StoreError::Backend("malformed key hash".into()))?;
            Ok(Some((user, agent, hash)))
        })
        .await
    }

    async fn set_webhook(&self, agent: &str, url: Option<String>) -> Result<Agent> {
        let id = agent.to_owned();
        self.write(move |txn, _| {
            let mut agents = txn.open_table(AGENTS)?;
            let mut agent: Agent = require(get_json(&agents, &id)?)?;
            agent.webhook_url = url;
            put_json(&mut agents, &id, &agent)?;
            Ok(agent)
        })
        .await
    }

    async fn record_last_seen(&self, seen: Vec<(AgentId, DateTime<Utc>)>) -> Result<()> {
        self.write(move |txn, _| {
            let mut agents = txn.open_table(AGENTS)?;
            for (id, at) in seen {
                if let Some(mut agent) = get_json::<Agent>(&agents, &id)? {
                    agent.last_seen_at = agent.last_seen_at.max(Some(at));
                    put_json(&mut agents, &id, &agent)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn insert_invite(&self, invite: Invite) -> Result<()> {
        self.write(move |txn, _| put_json(&mut txn.open_table(INVITES)?, &invite.code, &invite))
            .await
    }

    async fn invite(&self, code: &str) -> Result<Option<Invite>> {
        let code = code.to_owned();
        self.read(move |txn| get_json(&txn.open_table(INVITES)?, &code))
            .await
    }

    async fn accept_invite(&self, code: &str, connection: Connection) -> Result<Connection> {
        let code = code.to_owned();
        self.write(move |txn, _| {
            let mut invites = txn.open_table(INVITES)?;
            let mut invite: Invite = require(get_json(&invites, &code)?)?;
            if invite.used_by.is_some() {
                return Err(Rejection::InviteUsed.into());
            }
            let [inviter, acceptor] = &connection.agents;
            let mut connections = txn.open_table(CONNECTIONS)?;
            let mut index = txn.open_multimap_table(AGENT_CONNECTIONS)?;
            let already = connections_of(&connections, &index, inviter)?
                .iter()
                .any(|c| c.is_active() && c.involves(acceptor));
            if already {
                return Err(Rejection::AlreadyConnected.into());
            }
            invite.used_by = Some(acceptor.clone());
            put_json(&mut invites, &code, &invite)?;
            put_json(&mut connections, &connection.id, &connection)?;
            index.insert(inviter.as_str(), connection.id.as_str())?;
            index.insert(acceptor.as_str(), connection.id.as_str())?;
            Ok(connection)
        })
        .await
    }

    async fn connection(&self, id: &str) -> Result<Option<Connection>> {
        let id = id.to_owned();
        self.read(move |txn| get_json(&txn.open_table(CONNECTIONS)?, &id))
            .await
    }

    async fn connections_of(&self, agent: &str) -> Result<Vec<Connection>> {
        let agent = agent.to_owned();
        self.read(move |txn| {
            connections_of(
                &txn.open_table(CONNECTIONS)?,
                &txn.open_multimap_table(AGENT_CONNECTIONS)?,
                &agent,
            )
        })
        .await
    }

    async fn remove_connection(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |txn, _| {
            let mut connections = txn.open_table(CONNECTIONS)?;
            let mut connection: Connection = require(get_json(&connections, &id)?)?;
            connection.status = ConnectionStatus::Removed;
            put_json(&mut connections, &id, &connection)
        })
        .await
    }

    async fn set_level(
        &self,
        connection: &str,
        agent: &str,
        category: Category,
        level: Level,
    ) -> Result<Connection> {
        let (id, agent) = (connection.to_owned(), agent.to_owned());
        self.write(move |txn, _| {
            let mut connections = txn.open_table(CONNECTIONS)?;
            let mut connection: Connection = require(get_json(&connections, &id)?)?;
            if !connection.is_active() {
                return Err(Rejection::ConnectionInactive.into());
            }
            require(connection.permissions.get_mut(&agent))?.set(category, level);
            put_json(&mut connections, &id, &connection)?;
            Ok(connection)
        })
        .await
    }

    async fn thread(&self, id: &str) -> Result<Option<Thread>> {
        let id = id.to_owned();
        self.read(move |txn| get_json(&txn.open_table(THREADS)?, &id))
            .await
    }

    async fn threads_of(&self, connection: &str) -> Result<Vec<Thread>> {
        let connection = connection.to_owned();
        self.read(move |txn| {
            let threads = txn.open_table(THREADS)?;
            let mut out = Vec::new();
            for id in txn
                .open_multimap_table(CONNECTION_THREADS)?
                .get(connection.as_str())?
            {
                out.extend(get_json::<Thread>(&threads, id?.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn thread_messages(&self, thread: &str) -> Result<Vec<Message>> {
        let thread = thread.to_owned();
        self.read(move |txn| {
            let messages = txn.open_table(MESSAGES)?;
            let mut out = Vec::new();
            for entry in txn
                .open_table(THREAD_MESSAGES)?
                .range((thread.as_str(), 0)..=(thread.as_str(), u64::MAX))?
            {
                let (_, id) = entry?;
                out.extend(load_message(&messages, id.value())?.map(|m| m.message));
            }
            Ok(out)
        })
        .await
    }

    async fn send_message(&self, new: NewMessage) -> Result<Sent> {
        self.write(move |txn, wakes| {
            let NewMessage {
                message,
                new_thread,
                idempotency,
            } = new;
            let mut messages = txn.open_table(MESSAGES)?;
            let mut keys = txn.open_table(IDEMPOTENCY)?;
            if let Some((key, since)) = &idempotency
                && let Some(first) =
                    idempotent_message(&keys, &messages, &message.from_agent_id, key, *since)?
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

            let seq = next_seq(txn)?;
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
            wakes.push(Wake::Agent(stored.message.to_agent_id.clone()));
            Ok(Sent {
                message: stored.message,
                replayed: false,
            })
        })
        .await
    }

    async fn message(&self, id: &str) -> Result<Option<Message>> {
        let id = id.to_owned();
        self.read(move |txn| Ok(load_message(&txn.open_table(MESSAGES)?, &id)?.map(|m| m.message)))
            .await
    }

    async fn idempotent_message(
        &self,
        agent: &str,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>> {
        let (agent, key) = (agent.to_owned(), key.to_owned());
        self.read(move |txn| {
            idempotent_message(
                &txn.open_table(IDEMPOTENCY)?,
                &txn.open_table(MESSAGES)?,
                &agent,
                &key,
                since,
            )
        })
        .await
    }

    async fn has_pending(&self, agent: &str) -> Result<bool> {
        let agent = agent.to_owned();
        self.read(move |txn| has_pending(txn, &agent)).await
    }

    async fn take_pending(&self, agent: &str, limit: usize) -> Result<Delivery> {
        let agent = agent.to_owned();
        self.write(move |txn, _| {
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
            for entry in pending.range((agent.as_str(), 0)..=(agent.as_str(), u64::MAX))? {
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
                pending.remove((agent.as_str(), seq))?;
            }
            for mut stored in handed {
                if stored.message.status == MessageStatus::Sent {
                    stored.message.status = MessageStatus::Delivered;
                    put_json(&mut messages, &stored.message.id.clone(), &stored)?;
                }
                delivery.messages.push(stored.message);
            }

            let mut cursors = txn.open_table(ANNOUNCEMENT_CURSORS)?;
            let cursor = cursors.get(agent.as_str())?.map(|v| v.value()).unwrap_or(0);
            let mut last = cursor;
            for entry in txn.open_table(ANNOUNCEMENTS)?.range(cursor + 1..)? {
                let (seq, value) = entry?;
                last = seq.value();
                delivery
                    .announcements
                    .push(serde_json::from_slice(value.value())?);
            }
            if last != cursor {
                cursors.insert(agent.as_str(), last)?;
            }
            Ok(delivery)
        })
        .await
    }

    async fn acknowledge(&self, message: &str, agent: &str, at: DateTime<Utc>) -> Result<Message> {
        let (id, agent) = (message.to_owned(), agent.to_owned());
        self.write(move |txn, _| {
            let mut messages = txn.open_table(MESSAGES)?;
            let mut stored = require(load_message(&messages, &id)?)?;
            if stored.message.to_agent_id != agent {
                return Err(Rejection::NotRecipient.into());
            }
            if stored.message.status != MessageStatus::Read {
                // Acked before any poll took it: it must not be handed out afterwards.
                txn.open_table(PENDING)?
                    .remove((agent.as_str(), stored.seq))?;
                stored.message.status = MessageStatus::Read;
                stored.message.acknowledged_at = Some(at);
                put_json(&mut messages, &id, &stored)?;
            }
            Ok(stored.message)
        })
        .await
    }

    async fn memory_get(&self, agent: &str, key: &str) -> Result<Option<String>> {
        let (agent, key) = (agent.to_owned(), key.to_owned());
        self.read(move |txn| {
            Ok(txn
                .open_table(MEMORY)?
                .get((agent.as_str(), key.as_str()))?
                .map(|v| v.value().to_owned()))
        })
        .await
    }

    async fn memory_set(&self, agent: &str, key: &str, value: &str, max_keys: usize) -> Result<()> {
        let (agent, key, value) = (agent.to_owned(), key.to_owned(), value.to_owned());
        self.write(move |txn, _| {
            let mut memory = txn.open_table(MEMORY)?;
            if memory.get((agent.as_str(), key.as_str()))?.is_none() {
                let held = memory
                    .range((agent.as_str(), "")..)?
                    .take_while(|e| e.as_ref().is_ok_and(|(k, _)| k.value().0 == agent));
                if held.count() >= max_keys {
                    return Err(Rejection::QuotaExceeded.into());
                }
            }
            memory.insert((agent.as_str(), key.as_str()), value.as_str())?;
            Ok(())
        })
        .await
    }

    async fn memory_delete(&self, agent: &str, key: &str) -> Result<bool> {
        let (agent, key) = (agent.to_owned(), key.to_owned());
        self.write(move |txn, _| {
            Ok(txn
                .open_table(MEMORY)?
                .remove((agent.as_str(), key.as_str()))?
                .is_some())
        })
        .await
    }

    async fn memory_keys(&self, agent: &str, prefix: &str) -> Result<Vec<String>> {
        let (agent, prefix) = (agent.to_owned(), prefix.to_owned());
        self.read(move |txn| {
            let mut keys = Vec::new();
            for entry in txn
                .open_table(MEMORY)?
                .range((agent.as_str(), prefix.as_str())..)?
            {
                let (k, _) = entry?;
                let (owner, key) = k.value();
                if owner != agent || !key.starts_with(&prefix) {
                    break;
                }
                keys.push(key.to_owned());
            }
            Ok(keys)
        })
        .await
    }

    async fn insert_announcement(&self, announcement: Announcement) -> Result<()> {
        self.write(move |txn, wakes| {
            let seq = next_seq(txn)?;
            txn.open_table(ANNOUNCEMENTS)?
                .insert(seq, serde_json::to_vec(&announcement)?.as_slice())?;
            outbox::queue_announcement(txn, &announcement, wakes)?;
            wakes.push(Wake::All);
            Ok(())
        })
        .await
    }

    async fn announcements(&self) -> Result<Vec<Announcement>> {
        self.read(|txn| {
            txn.open_table(ANNOUNCEMENTS)?
                .iter()?
                .rev()
                .map(|entry| Ok(serde_json::from_slice(entry?.1.value())?))
                .collect()
        })
        .await
    }

    async fn insert_token(&self, token: ApiToken, hash: [u8; 32]) -> Result<()> {
        self.write(move |txn, _| {
            put_json(&mut txn.open_table(TOKENS)?, &token.id, &token)?;
            txn.open_table(TOKEN_HASHES)?
                .insert(hash.as_slice(), token.id.as_str())?;
            Ok(())
        })
        .await
    }

    async fn token_by_hash(&self, hash: [u8; 32]) -> Result<Option<ApiToken>> {
        self.read(move |txn| {
            let Some(id) = txn.open_table(TOKEN_HASHES)?.get(hash.as_slice())? else {
                return Ok(None);
            };
            get_json(&txn.open_table(TOKENS)?, id.value())
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<ApiToken>> {
        self.read(|txn| {
            let mut tokens = txn
                .open_table(TOKENS)?
                .iter()?
                .map(|entry| Ok(serde_json::from_slice::<ApiToken>(entry?.1.value())?))
                .collect::<Result<Vec<_>>>()?;
            tokens.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            Ok(tokens)
        })
        .await
    }

    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<ApiToken> {
        let id = id.to_owned();
        self.write(move |txn, _| {
            let mut tokens = txn.open_table(TOKENS)?;
            let mut token: ApiToken = require(get_json(&tokens, &id)?)?;
            if token.revoked_at.is_none() {
                token.revoked_at = Some(at);
                put_json(&mut tokens, &id, &token)?;
            }
            Ok(token)
        })
        .await
    }

    async fn append_chat(&self, agent: &str, chat: &str, turns: Vec<ChatTurn>) -> Result<()> {
        let (agent, chat) = (agent.to_owned(), chat.to_owned());
        self.write(move |txn, _| {
            let mut chats = txn.open_table(CHATS)?;
            for turn in &turns {
                let seq = next_seq(txn)?;
                chats.insert(
                    (agent.as_str(), chat.as_str(), seq),
                    serde_json::to_vec(turn)?.as_slice(),
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn chat_turns(&self, agent: &str, chat: &str, limit: usize) -> Result<Vec<ChatTurn>> {
        let (agent, chat) = (agent.to_owned(), chat.to_owned());
        self.read(move |txn| {
            let chats = txn.open_table(CHATS)?;
            let range = chats.range(
                (agent.as_str(), chat.as_str(), 0)..=(agent.as_str(), chat.as_str(), u64::MAX),
            )?;
            let mut turns = range
                .rev()
                .take(limit)
                .map(|entry| Ok(serde_json::from_slice::<ChatTurn>(entry?.1.value())?))
                .collect::<Result<Vec<_>>>()?;
            turns.reverse();
            Ok(turns)
        })
        .await
    }
}
