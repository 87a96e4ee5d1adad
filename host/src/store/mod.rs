//! Persistence behind one narrow interface.
//!
//! [`Store`] is a set of atomic commands and reads phrased in the network's own records; the
//! domain never sees a transaction. Each command re-checks, inside its transaction, the
//! invariants that a concurrent request could break (an invite used twice, a connection
//! removed mid-send); everything else is validated by the domain before it calls in.
//! A command that returns `Ok` is durable, and the agents it gives something new to have been
//! woken through the [`crate::notify::Notifier`] the store was built with.
//!
//! The embedded backend is [`redb::RedbStore`]; [`postgres::PgStore`] is the shared database
//! of several nodes; [`copy`] moves everything from the first to the second.

pub mod copy;
pub mod outbox;
mod postgres;
mod redb;
pub use postgres::{PgNotifier, PgStore};
pub use redb::RedbStore;

use crate::error::Source;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Why a command refused to change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("email already registered")]
    EmailTaken,
    #[error("not found")]
    NotFound,
    #[error("invite already used")]
    InviteUsed,
    #[error("already connected")]
    AlreadyConnected,
    #[error("connection is not active")]
    ConnectionInactive,
    #[error("not the recipient")]
    NotRecipient,
    #[error("quota exceeded")]
    QuotaExceeded,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The backend failed; the message names the cause, which is kept as the source.
    #[error("storage failure: {0}")]
    Backend(#[source] Source),
    /// This backend does not do what was asked; the message says what to use instead.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The store was written by another agentx version; `holder` names what holds it, as
    /// the operator knows it ("the data directory", "the PostgreSQL database").
    #[error("{holder} holds schema version {found}; this agentx reads version {expected}")]
    SchemaMismatch {
        holder: &'static str,
        found: u64,
        expected: u64,
    },
    /// A copy's destination already holds data; the message says what.
    #[error("{0}")]
    NotEmpty(String),
}

impl StoreError {
    /// A failure of the backend, keeping its cause (an error, or a message).
    pub fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Backend(crate::error::source(e))
    }
}

/// How the layers above see a store failure.
impl From<StoreError> for crate::error::Error {
    fn from(e: StoreError) -> Self {
        use crate::error::{Error, ErrorKind};
        match e {
            // Call sites map the rejections they expect; one reaching here is a lookup miss
            // or a race lost to a concurrent request, reported as such.
            StoreError::Rejected(Rejection::NotFound) => Error::not_found("not_found", "Not found"),
            StoreError::Rejected(r) => Error::new(ErrorKind::Conflict, "conflict", r.to_string()),
            StoreError::Unsupported(what) => Error::new(ErrorKind::Invalid, "unsupported", what),
            other => Error::new(ErrorKind::Internal, "internal", other.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A message to store, with the thread to open for it if it starts one.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: Message,
    pub new_thread: Option<Thread>,
    /// The sender's `Idempotency-Key`, and the oldest time a previous use still counts.
    pub idempotency: Option<(String, DateTime<Utc>)>,
}

/// How many plugin memory keys an agent may hold, and how many of them one conversation
/// may create: one caller cannot fill the space every caller shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryQuota {
    pub per_agent: usize,
    pub per_conversation: usize,
}

/// A lease held until dropped; see [`Store::lease`].
pub struct Lease {
    /// Dropped with the lease: the backend then releases it. `None` for a store only one
    /// node uses.
    release: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Lease {
    /// A lease released when `release`'s receiver sees it dropped.
    pub(crate) fn new(release: tokio::sync::oneshot::Sender<()>) -> Self {
        Self {
            release: Some(release),
        }
    }

    /// A lease of a store only one node uses: nobody else can want it.
    pub(crate) fn sole() -> Self {
        Self { release: None }
    }

    /// Whether other nodes share the store, and so may want this lease.
    pub fn is_shared(&self) -> bool {
        self.release.is_some()
    }
}

/// Which part of a list to read: skip `offset` entries, then at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

impl Page {
    /// The whole list (for the operator's loopback views, whose lists only the operator grows).
    pub const ALL: Page = Page {
        offset: 0,
        limit: usize::MAX,
    };
}

/// A page of a list, and how long the whole list is (read together, so they agree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: usize,
}

impl<T> Paged<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}

/// The outcome of storing a message: a new one, or the first one sent with the same key.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    pub replayed: bool,
}

#[async_trait]
/// Everything agentx keeps; the webhook outbox is its own trait ([`outbox::Outbox`]) to keep
/// this one readable.
pub trait Store: outbox::Outbox + Send + Sync + 'static {
    /// Waits until this node holds the lease `name` among every node on this store, and
    /// holds it until the returned [`Lease`] is dropped. Should it be lost meanwhile (the
    /// connection behind it failed), `lost` is cancelled: another node may take it then.
    async fn lease(&self, name: &str, lost: tokio_util::sync::CancellationToken) -> Result<Lease>;
    /// Whether another node may hold the lease `name` now: on a store nodes share, whether
    /// any node holds it; on a store only this node uses, never.
    async fn lease_is_held(&self, name: &str) -> Result<bool>;

    /// A random secret created on first use and kept forever (signing keys, peppers).
    async fn secret(&self, name: &'static str) -> Result<Vec<u8>>;

    async fn insert_account(&self, user: User, agent: Agent, key_hash: [u8; 32]) -> Result<()>;
    /// Creates or renames the agents hosted by agentx (they have no API key), all in one
    /// transaction: a server starting with a thousand of them commits once, not a thousand
    /// times.
    async fn ensure_hosted_agents(&self, agents: Vec<Agent>) -> Result<()>;
    async fn agent(&self, id: &str) -> Result<Option<Agent>>;
    /// `page` of every agent, registered and hosted, oldest first (the operator's
    /// dashboard); only the page is read.
    async fn agents(&self, page: Page) -> Result<Paged<Agent>>;
    async fn agent_by_key_hash(&self, key_hash: [u8; 32]) -> Result<Option<Agent>>;
    /// The account of an email (matched case-insensitively) and its agent's key hash.
    async fn account_by_email(&self, email: &str) -> Result<Option<(User, Agent, [u8; 32])>>;
    async fn set_webhook(&self, agent: &str, url: Option<String>) -> Result<Agent>;
    /// Persists last-seen times gathered in memory; unknown agents are skipped.
    async fn record_last_seen(&self, seen: Vec<(AgentId, DateTime<Utc>)>) -> Result<()>;

    async fn insert_invite(&self, invite: Invite) -> Result<()>;
    async fn invite(&self, code: &str) -> Result<Option<Invite>>;
    /// Marks the invite used and stores `connection`, unless the invite was used meanwhile
    /// or the pair became connected.
    async fn accept_invite(&self, code: &str, connection: Connection) -> Result<Connection>;
    async fn connection(&self, id: &str) -> Result<Option<Connection>>;
    /// Every connection the agent is part of, active or not.
    async fn connections_of(&self, agent: &str) -> Result<Vec<Connection>>;
    async fn remove_connection(&self, id: &str) -> Result<()>;
    async fn set_level(
        &self,
        connection: &str,
        agent: &str,
        category: Category,
        level: Level,
    ) -> Result<Connection>;

    async fn thread(&self, id: &str) -> Result<Option<Thread>>;
    async fn threads_of(&self, connection: &str) -> Result<Vec<Thread>>;
    /// The thread's messages, oldest first.
    async fn thread_messages(&self, thread: &str) -> Result<Vec<Message>>;

    /// Stores a message, opens its thread if new, queues it for the recipient and wakes them.
    async fn send_message(&self, new: NewMessage) -> Result<Sent>;
    async fn message(&self, id: &str) -> Result<Option<Message>>;
    /// The message `agent` sent with idempotency key `key`, if that was at or after `since`.
    async fn idempotent_message(
        &self,
        agent: &str,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>>;
    /// Hands over up to `limit` queued messages (marked delivered) and every announcement
    /// the agent has not had yet, atomically: each is handed over once, even to concurrent
    /// takers on several nodes. Queued messages whose connection has been removed since are
    /// withdrawn from the queue instead (and stay `sent`). Most polls find nothing, so a
    /// backend should answer an empty queue without taking a write lock.
    async fn take_pending(&self, agent: &str, limit: usize) -> Result<Delivery>;
    async fn acknowledge(&self, message: &str, agent: &str, at: DateTime<Utc>) -> Result<Message>;

    /// A plugin memory value of `agent`.
    async fn memory_get(&self, agent: &str, key: &str) -> Result<Option<String>>;
    /// Sets a memory value for `conversation` (the chat or thread a plugin call serves).
    /// A new key is refused with `QuotaExceeded` when the agent already holds
    /// `quota.per_agent` keys or `conversation` created `quota.per_conversation` of them;
    /// overwriting an existing key always passes.
    async fn memory_set(
        &self,
        agent: &str,
        conversation: &str,
        key: &str,
        value: &str,
        quota: MemoryQuota,
    ) -> Result<()>;
    /// Whether the key existed.
    async fn memory_delete(&self, agent: &str, key: &str) -> Result<bool>;
    async fn memory_keys(&self, agent: &str, prefix: &str) -> Result<Vec<String>>;

    async fn insert_announcement(&self, announcement: Announcement) -> Result<()>;
    /// `page` of all announcements, newest first; only the page is read.
    async fn announcements(&self, page: Page) -> Result<Paged<Announcement>>;

    /// Stores a new `agx_live_` token under the SHA-256 of its text.
    async fn insert_token(&self, token: ApiToken, hash: [u8; 32]) -> Result<()>;
    async fn token_by_hash(&self, hash: [u8; 32]) -> Result<Option<ApiToken>>;
    /// `page` of every token, revoked and expired ones included, oldest first; only the
    /// page is read.
    async fn tokens(&self, page: Page) -> Result<Paged<ApiToken>>;
    /// Marks a token revoked at `at` (a second revocation keeps the first time).
    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<ApiToken>;

    /// Appends turns to a hosted agent's chat session (public-api and daemon tasks).
    async fn append_chat(&self, agent: &str, chat: &str, turns: Vec<ChatTurn>) -> Result<()>;
    /// The last `limit` turns of a chat session, oldest first.
    async fn chat_turns(&self, agent: &str, chat: &str, limit: usize) -> Result<Vec<ChatTurn>>;

    /// Stores a new A2A task, unless its token already started one for the same agent with
    /// the same `message_id`: then that task is returned and nothing changes.
    async fn insert_a2a_task(&self, task: A2aTask) -> Result<A2aTask>;
    /// Replaces a stored A2A task (same token and id); `NotFound` when there is none.
    async fn update_a2a_task(&self, task: A2aTask) -> Result<()>;
    /// The token's A2A task `id`, if it has one.
    async fn a2a_task(&self, token_id: &str, id: &str) -> Result<Option<A2aTask>>;
    /// The token's A2A tasks with `agent`, newest first.
    async fn a2a_tasks(&self, token_id: &str, agent: &str) -> Result<Vec<A2aTask>>;
    /// Every A2A task still working, whichever its token (for the look for tasks whose
    /// runner died).
    async fn working_a2a_tasks(&self) -> Result<Vec<A2aTask>>;

    /// A consistent copy of everything, holding every write acknowledged before the call,
    /// as an unnamed temporary file (gone when closed) positioned at its start: what
    /// `agentx backup` downloads and `agentx restore` installs.
    async fn backup(&self) -> Result<std::fs::File>;
}
