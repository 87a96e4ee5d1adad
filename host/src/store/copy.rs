//! Moving everything a store holds to another backend (`agentx migrate`): the embedded
//! store lists its contents as [`Record`]s, on one snapshot, and the PostgreSQL store
//! writes them, in one transaction, into a database that holds nothing yet.
//!
//! Not through [`super::Store`]'s commands: those make new state (a sent message is queued
//! and gets a delivery, an announcement is numbered anew), while a copy must keep the
//! state that was reached — statuses, queues, cursors, attempts, sequence numbers — and the
//! secrets, since API keys are hashed with the pepper and sessions signed with the JWT key.

use super::Result;
use super::postgres::PgStore;
use super::redb::RedbStore;
use crate::model::*;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// One stored thing, with the store-internal facts (sequence numbers, queue membership,
/// hashes) a copy keeps. Indexes a backend derives from these (an agent's connections, a
/// thread's messages, the due deliveries) are not records of their own.
#[derive(Debug)]
pub enum Record {
    /// A named secret: the API key pepper, the dashboard signing key.
    Secret {
        name: String,
        value: Vec<u8>,
    },
    User(User),
    Agent(Agent),
    /// A registered agent's lower-cased email.
    Email {
        email: String,
        agent: AgentId,
    },
    /// The keyed hash of a registered agent's API key.
    ApiKey {
        agent: AgentId,
        hash: [u8; 32],
    },
    Invite(Invite),
    Connection(Connection),
    Thread(Thread),
    /// `seq` orders messages (in threads and queues); `queued` means still in the
    /// recipient's queue, waiting for a poll.
    Message {
        seq: u64,
        queued: bool,
        message: Message,
    },
    /// The message `sender` first sent with Idempotency-Key `key`.
    IdempotencyKey {
        sender: AgentId,
        key: String,
        message: String,
        created_at: DateTime<Utc>,
    },
    /// `seq` orders announcements; cursors count in it.
    Announcement {
        seq: u64,
        announcement: Announcement,
    },
    /// The `seq` of the last announcement handed to `agent`.
    AnnouncementCursor {
        agent: AgentId,
        seq: u64,
    },
    /// A plugin memory key; `conversation` is the one that created it (none for keys
    /// older than per-conversation quotas).
    Memory {
        agent: AgentId,
        key: String,
        conversation: Option<String>,
        value: String,
    },
    Token {
        token: ApiToken,
        hash: [u8; 32],
    },
    ChatTurn {
        agent: AgentId,
        chat: String,
        seq: u64,
        turn: ChatTurn,
    },
    A2aTask(A2aTask),
    WebhookSecret {
        agent: AgentId,
        secret: String,
    },
    /// `seq` orders an agent's deliveries; `body` is the exact body to POST.
    Delivery {
        seq: u64,
        delivery: WebhookDelivery,
        body: String,
    },
}

impl Record {
    /// What the progress output and the summary count this record as.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Secret { .. } => "secrets",
            Record::User(_) => "users",
            Record::Agent(_) => "agents",
            Record::Email { .. } => "emails",
            Record::ApiKey { .. } => "api_keys",
            Record::Invite(_) => "invites",
            Record::Connection(_) => "connections",
            Record::Thread(_) => "threads",
            Record::Message { .. } => "messages",
            Record::IdempotencyKey { .. } => "idempotency_keys",
            Record::Announcement { .. } => "announcements",
            Record::AnnouncementCursor { .. } => "announcement_cursors",
            Record::Memory { .. } => "plugin_memory",
            Record::Token { .. } => "tokens",
            Record::ChatTurn { .. } => "chat_turns",
            Record::A2aTask(_) => "a2a_tasks",
            Record::WebhookSecret { .. } => "webhook_secrets",
            Record::Delivery { .. } => "webhook_deliveries",
        }
    }
}

/// How many records of each kind have been copied.
pub type Counts = BTreeMap<&'static str, u64>;

/// What the reading side sends the writing side: every record, then `End`. A channel that
/// closes without `End` means the reader failed, and the writer commits nothing.
#[derive(Debug)]
pub enum Item {
    /// Boxed: records are large, and the channel holds items of the largest's size.
    Record(Box<Record>),
    End,
}

/// Records in flight between the reading snapshot and the writing transaction: enough to
/// keep both busy, few enough that a large store is never held in memory.
const IN_FLIGHT: usize = 1024;

/// Copies everything `from` holds into `to`, which must hold nothing (else nothing is
/// written and the error says what it holds). `progress` sees the counts after each
/// record; the result is the final counts. Either everything is copied or nothing is.
pub async fn redb_to_postgres(
    from: &RedbStore,
    to: &PgStore,
    progress: impl FnMut(&Counts) + Send,
) -> Result<Counts> {
    let (sink, items) = tokio::sync::mpsc::channel(IN_FLIGHT);
    // NB: both sides run together, so a full channel never stalls the reader for good. A
    // writer that fails drops the channel and the reader stops quietly: the writer's error
    // says why. A reader that fails ends the channel without `End`: its error says why.
    let (read, written) = tokio::join!(from.export(sink), to.import(items, progress));
    read?;
    written
}
