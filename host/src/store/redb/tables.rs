//! The redb file's layout (every table but the outbox's) and the codecs rows are read and
//! written with.

use crate::store::{Page, Paged, Rejection, Result, StoreError};
use chrono::{DateTime, Utc};
use redb::{
    Database, MultimapTableDefinition, ReadTransaction, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use serde::{Serialize, de::DeserializeOwned};

/// Bumped whenever a table's layout changes; a data dir of another version is refused at
/// start rather than misread.
pub const SCHEMA_VERSION: u64 = 1;

// Values are JSON: records evolve by adding fields, and serde's defaults read old rows.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(super) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// Lower-cased email → agent id.
pub(super) const EMAILS: TableDefinition<&str, &str> = TableDefinition::new("emails");
pub(super) const AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("agents");
/// (creation time in ns since the epoch, agent id): the agents oldest first, so a page of
/// the operator's list reads only its own rows.
pub(super) const AGENTS_BY_AGE: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("agents_by_age");
/// Keyed hash of an API key → agent id; the key itself is never stored.
pub(super) const KEYS: TableDefinition<&[u8], &str> = TableDefinition::new("api_keys");
/// Agent id → keyed hash of its API key, for login.
pub(super) const AGENT_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("agent_keys");
pub(super) const INVITES: TableDefinition<&str, &[u8]> = TableDefinition::new("invites");
pub(super) const CONNECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("connections");
pub(super) const AGENT_CONNECTIONS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("agent_connections");
pub(super) const THREADS: TableDefinition<&str, &[u8]> = TableDefinition::new("threads");
pub(super) const CONNECTION_THREADS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("connection_threads");
pub(super) const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("messages");
/// (thread, seq) → message id: a thread's messages in send order.
pub(super) const THREAD_MESSAGES: TableDefinition<(&str, u64), &str> =
    TableDefinition::new("thread_messages");
/// (recipient, seq) → message id: the queue that polls drain.
pub(super) const PENDING: TableDefinition<(&str, u64), &str> = TableDefinition::new("pending");
/// (sender, Idempotency-Key) → the message it created.
pub(super) const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("idempotency");
/// seq → announcement.
pub(super) const ANNOUNCEMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("announcements");
/// Agent → seq of the last announcement handed to it.
pub(super) const ANNOUNCEMENT_CURSORS: TableDefinition<&str, u64> =
    TableDefinition::new("announcement_cursors");

/// (agent, key) → value: plugin memory.
pub(super) const MEMORY: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("plugin_memory");
/// (agent, key) → the conversation that created the key, for per-conversation quotas
/// (keys older than this table have no row and count toward the agent's quota only).
pub(super) const MEMORY_OWNERS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("plugin_memory_owners");

/// Token id → token record (`agx_live_` tokens; the token itself is never stored).
pub(super) const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
/// (creation time in ns since the epoch, token id): the tokens oldest first, as
/// [`AGENTS_BY_AGE`].
pub(super) const TOKENS_BY_AGE: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("tokens_by_age");
/// SHA-256 of a token → its id.
pub(super) const TOKEN_HASHES: TableDefinition<&[u8], &str> = TableDefinition::new("token_hashes");
/// (agent, chat id, seq) → turn: chat sessions of public-api and daemon tasks.
pub(super) const CHATS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("chats");
/// (token id, task id) → A2A task: only the token that made a task can read it.
pub(super) const A2A_TASKS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("a2a_tasks");
/// (token id, agent, messageId) → the A2A task that message started.
pub(super) const A2A_MESSAGES: TableDefinition<(&str, &str, &str), &str> =
    TableDefinition::new("a2a_messages");

const SCHEMA_KEY: &str = "schema_version";
/// Named secrets are kept in [`META`] under this prefix.
pub(super) const SECRET_KEY_PREFIX: &str = "secret:";
const SEQ_KEY: &str = "next_seq";

macro_rules! backend_errors {
    ($($t:ty),+) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::backend(e) }
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

/// Refuses a file of another schema version, and creates every table of a new one.
pub(super) fn init_schema(db: &Database) -> Result<()> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get(SCHEMA_KEY)?.map(|v| decode_u64(v.value()));
        match found {
            Some(found) if found != SCHEMA_VERSION => {
                return Err(StoreError::SchemaMismatch {
                    holder: "the data directory",
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
        index_by_age::<crate::model::Agent>(&txn, AGENTS, AGENTS_BY_AGE, |a| a.created_at)?;
        txn.open_table(KEYS)?;
        txn.open_table(AGENT_KEYS)?;
        txn.open_table(INVITES)?;
        txn.open_table(CONNECTIONS)?;
        txn.open_multimap_table(AGENT_CONNECTIONS)?;
        super::outbox::create_tables(&txn)?;
        txn.open_table(THREADS)?;
        txn.open_multimap_table(CONNECTION_THREADS)?;
        txn.open_table(MESSAGES)?;
        txn.open_table(THREAD_MESSAGES)?;
        txn.open_table(PENDING)?;
        txn.open_table(IDEMPOTENCY)?;
        txn.open_table(ANNOUNCEMENTS)?;
        txn.open_table(ANNOUNCEMENT_CURSORS)?;
        txn.open_table(MEMORY)?;
        txn.open_table(MEMORY_OWNERS)?;
        index_by_age::<crate::model::ApiToken>(&txn, TOKENS, TOKENS_BY_AGE, |t| t.created_at)?;
        txn.open_table(TOKEN_HASHES)?;
        txn.open_table(CHATS)?;
        txn.open_table(A2A_TASKS)?;
        txn.open_table(A2A_MESSAGES)?;
    }
    txn.commit()?;
    Ok(())
}

/// Records that row `id` of a list kept oldest first was created `at`.
pub(super) fn index_age(
    txn: &WriteTransaction,
    index: TableDefinition<(i64, &str), ()>,
    at: DateTime<Utc>,
    id: &str,
) -> Result<()> {
    txn.open_table(index)?.insert((nanos(at), id), ())?;
    Ok(())
}

/// Fills `index` from `rows` when they differ in length: in a store written before the
/// index existed (or by such a version since), so its lists keep every row.
fn index_by_age<T: DeserializeOwned>(
    txn: &WriteTransaction,
    rows: TableDefinition<&str, &[u8]>,
    index: TableDefinition<(i64, &str), ()>,
    created_at: impl Fn(&T) -> DateTime<Utc>,
) -> Result<()> {
    let rows = txn.open_table(rows)?;
    let mut index = txn.open_table(index)?;
    if index.len()? == rows.len()? {
        return Ok(());
    }
    index.retain(|_, _| false)?;
    for entry in rows.iter()? {
        let (id, row) = entry?;
        let record: T = serde_json::from_slice(row.value())?;
        index.insert((nanos(created_at(&record)), id.value()), ())?;
    }
    Ok(())
}

/// `page` of a list kept oldest first by `index`, its rows read from `rows`, and the list's
/// length. Skipping reads only the index's keys; only the page's rows are decoded.
pub(super) fn page_by_age<T: DeserializeOwned>(
    txn: &ReadTransaction,
    rows: TableDefinition<&str, &[u8]>,
    index: TableDefinition<(i64, &str), ()>,
    page: Page,
) -> Result<Paged<T>> {
    let rows = txn.open_table(rows)?;
    let index = txn.open_table(index)?;
    let mut items = Vec::new();
    for entry in index.iter()?.skip(page.offset).take(page.limit) {
        let (key, _) = entry?;
        items.push(require(get_json(&rows, key.value().1)?)?);
    }
    Ok(Paged {
        items,
        total: index.len()? as usize,
    })
}

/// A time as an exactly comparable number (as the PostgreSQL backend orders by).
fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// The named secret, made on first use.
pub(super) fn secret(txn: &WriteTransaction, name: &str) -> Result<Vec<u8>> {
    let key = format!("{SECRET_KEY_PREFIX}{name}");
    let mut meta = txn.open_table(META)?;
    if let Some(v) = meta.get(key.as_str())? {
        return Ok(v.value().to_vec());
    }
    let secret: [u8; 32] = rand::random();
    meta.insert(key.as_str(), secret.as_slice())?;
    Ok(secret.to_vec())
}

fn decode_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
}

/// The next number of the file-wide sequence, as the last commit left it (see `txn`).
pub(super) fn stored_seq(txn: &WriteTransaction) -> Result<u64> {
    Ok(txn
        .open_table(META)?
        .get(SEQ_KEY)?
        .map(|v| decode_u64(v.value()))
        .unwrap_or(1))
}

/// Records `next` as the sequence's next number, for the commit of `txn` (see `txn`).
pub(super) fn store_seq(txn: &WriteTransaction, next: u64) -> Result<()> {
    txn.open_table(META)?
        .insert(SEQ_KEY, next.to_le_bytes().as_slice())?;
    Ok(())
}

pub(super) fn get_json<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>> {
    match table.get(key)? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

pub(super) fn put_json<T: Serialize>(
    table: &mut redb::Table<&'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<()> {
    table.insert(key, serde_json::to_vec(value)?.as_slice())?;
    Ok(())
}

pub(super) fn require<T>(value: Option<T>) -> Result<T> {
    value.ok_or(StoreError::Rejected(Rejection::NotFound))
}
