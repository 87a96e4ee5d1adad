//! The shared store for several nodes: one PostgreSQL database.
//!
//! - `schema`: versioned migrations, run by every node at start.
//! - `db`: cached prepared statements, JSON documents, error mapping.
//! - `lease`: leases across nodes (session advisory locks), for what must run on one node.
//! - `listener`: the [`PgNotifier`], which carries wake-ups between nodes over
//!   `LISTEN`/`NOTIFY`.
//! - One file per record family with the SQL of its commands and reads, as in the embedded
//!   store: `accounts`, `connections`, `messages`, `announcements`, `memory`, `tokens`,
//!   `chats`, `a2a` tasks and the webhook `outbox`.
//! - `import`: records copied from the embedded store (`agentx migrate`).
//!
//! Truth is in the database and a `2xx` means committed. Each command is one transaction
//! that takes row locks in one order (thread, then connection) so that concurrent commands
//! on any nodes serialize instead of deadlocking; queues are drained with
//! `FOR UPDATE SKIP LOCKED`, so concurrent polls on several nodes never take one message
//! twice. A commit that gives an agent something new also sends a `NOTIFY` (delivered by
//! PostgreSQL only if the transaction commits), and wakes this node's waiters directly.

use super::{Lease, MemoryQuota, NewMessage, Page, Paged, Result, Sent, Store, StoreError};
use crate::model::*;
use crate::notify::{Notifier, Topic};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use std::sync::Arc;

mod a2a;
mod accounts;
mod announcements;
mod chats;
mod connections;
mod db;
mod import;
mod lease;
mod listener;
mod memory;
mod messages;
mod outbox;
mod schema;
mod tokens;

pub use listener::PgNotifier;

/// Connections one node keeps open at most: enough for its concurrent commands (each holds
/// one for a few milliseconds), few enough that many nodes stay under PostgreSQL's
/// `max_connections` (100 by default).
const POOL_SIZE: usize = 16;

/// The channel every node `LISTEN`s on; each payload is one [`Topic`].
const CHANNEL: &str = "agentx";

pub struct PgStore {
    pool: Pool,
    /// For connections of their own (leases).
    config: tokio_postgres::Config,
    notifier: Arc<dyn Notifier>,
}

/// A database URL that does not parse.
pub fn config(url: &str) -> Result<tokio_postgres::Config> {
    url.parse()
        .map_err(|e| StoreError::Backend(crate::error::context("database URL", e)))
}

impl PgStore {
    /// Connects to the database at `url` and creates or migrates its schema.
    pub async fn open(url: &str, notifier: Arc<dyn Notifier>) -> Result<Self> {
        let config = config(url)?;
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(StoreError::backend)?;
        let store = Self {
            pool,
            config,
            notifier,
        };
        schema::migrate(&mut store.client().await?).await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }

    /// Commits `tx`, telling every node (this one through its listener too) about `wakes`
    /// in the same commit, then wakes this node's waiters at once.
    async fn commit(&self, tx: Transaction<'_>, mut wakes: Vec<Topic>) -> Result<()> {
        wakes.dedup();
        for topic in &wakes {
            db::exec(
                &tx,
                "SELECT pg_notify($1, $2)",
                &[&CHANNEL, &topic.payload()],
            )
            .await?;
        }
        timed_commit(tx).await?;
        for topic in &wakes {
            self.notifier.wake(topic);
        }
        Ok(())
    }
}

/// Commits `tx`, counted and timed as one durable commit of one write.
pub(super) async fn timed_commit(tx: Transaction<'_>) -> Result<()> {
    let committing = std::time::Instant::now();
    tx.commit().await?;
    crate::telemetry::store_commit("postgres", 1, committing.elapsed());
    Ok(())
}

/// Runs `$body` in a transaction on a pooled connection, naming it `$tx`, and commits it
/// with the wake-ups the body pushed onto `$wakes` (or rolls back on an error).
macro_rules! transaction {
    ($store:expr, |$tx:ident, $wakes:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client.transaction().await?;
        #[allow(unused_mut)]
        let mut $wakes: Vec<Topic> = Vec::new();
        let value = $body;
        $store.commit($tx, $wakes).await?;
        Ok(value)
    }};
}

#[async_trait]
impl Store for PgStore {
    async fn lease(&self, name: &str, lost: tokio_util::sync::CancellationToken) -> Result<Lease> {
        lease::lease(&self.config, name, lost).await
    }

    async fn lease_is_held(&self, name: &str) -> Result<bool> {
        lease::is_held(&*self.client().await?, name).await
    }

    async fn secret(&self, name: &'static str) -> Result<Vec<u8>> {
        accounts::secret(&*self.client().await?, name).await
    }

    async fn insert_account(&self, user: User, agent: Agent, key_hash: [u8; 32]) -> Result<()> {
        transaction!(self, |tx, wakes| accounts::insert_account(
            &tx, &user, &agent, key_hash
        )
        .await?)
    }

    async fn ensure_hosted_agents(&self, agents: Vec<Agent>) -> Result<()> {
        transaction!(self, |tx, wakes| for agent in agents {
            accounts::ensure_hosted_agent(&tx, agent).await?
        })
    }

    async fn agent(&self, id: &str) -> Result<Option<Agent>> {
        accounts::agent(&*self.client().await?, id).await
    }

    async fn agents(&self, page: Page) -> Result<Paged<Agent>> {
        accounts::agents(&*self.client().await?, page).await
    }

    async fn agent_by_key_hash(&self, key_hash: [u8; 32]) -> Result<Option<Agent>> {
        accounts::agent_by_key_hash(&*self.client().await?, key_hash).await
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<(User, Agent, [u8; 32])>> {
        accounts::account_by_email(&*self.client().await?, &email.to_lowercase()).await
    }

    async fn set_webhook(&self, agent: &str, url: Option<String>) -> Result<Agent> {
        transaction!(self, |tx, wakes| accounts::set_webhook(&tx, agent, url)
            .await?)
    }

    async fn record_last_seen(&self, seen: Vec<(AgentId, DateTime<Utc>)>) -> Result<()> {
        transaction!(self, |tx, wakes| accounts::record_last_seen(&tx, seen)
            .await?)
    }

    async fn insert_invite(&self, invite: Invite) -> Result<()> {
        connections::insert_invite(&*self.client().await?, &invite).await
    }

    async fn invite(&self, code: &str) -> Result<Option<Invite>> {
        connections::invite(&*self.client().await?, code).await
    }

    async fn accept_invite(&self, code: &str, connection: Connection) -> Result<Connection> {
        transaction!(self, |tx, wakes| connections::accept_invite(
            &tx, code, connection
        )
        .await?)
    }

    async fn connection(&self, id: &str) -> Result<Option<Connection>> {
        connections::connection(&*self.client().await?, id).await
    }

    async fn connections_of(&self, agent: &str) -> Result<Vec<Connection>> {
        connections::connections_of(&*self.client().await?, agent).await
    }

    async fn remove_connection(&self, id: &str) -> Result<()> {
        transaction!(self, |tx, wakes| connections::remove_connection(&tx, id)
            .await?)
    }

    async fn set_level(
        &self,
        connection: &str,
        agent: &str,
        category: Category,
        level: Level,
    ) -> Result<Connection> {
        transaction!(self, |tx, wakes| connections::set_level(
            &tx, connection, agent, category, level
        )
        .await?)
    }

    async fn thread(&self, id: &str) -> Result<Option<Thread>> {
        messages::thread(&*self.client().await?, id).await
    }

    async fn threads_of(&self, connection: &str) -> Result<Vec<Thread>> {
        messages::threads_of(&*self.client().await?, connection).await
    }

    async fn thread_messages(&self, thread: &str) -> Result<Vec<Message>> {
        messages::thread_messages(&*self.client().await?, thread).await
    }

    async fn send_message(&self, new: NewMessage) -> Result<Sent> {
        transaction!(self, |tx, wakes| messages::send_message(
            &tx, &mut wakes, new
        )
        .await?)
    }

    async fn message(&self, id: &str) -> Result<Option<Message>> {
        messages::message(&*self.client().await?, id).await
    }

    async fn idempotent_message(
        &self,
        agent: &str,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>> {
        messages::idempotent_message(&*self.client().await?, agent, key, since).await
    }

    async fn take_pending(&self, agent: &str, limit: usize) -> Result<Delivery> {
        // Empty polls (the common case) are one read without a transaction; one that finds
        // something takes the queue with row locks, so nothing is handed over twice.
        let mut client = self.client().await?;
        if !messages::has_pending(&*client, agent).await? {
            return Ok(Delivery::default());
        }
        let tx = client.transaction().await?;
        let delivery = messages::take_pending(&tx, agent, limit).await?;
        timed_commit(tx).await?;
        Ok(delivery)
    }

    async fn acknowledge(&self, message: &str, agent: &str, at: DateTime<Utc>) -> Result<Message> {
        transaction!(self, |tx, wakes| messages::acknowledge(
            &tx, message, agent, at
        )
        .await?)
    }

    async fn memory_get(&self, agent: &str, key: &str) -> Result<Option<String>> {
        memory::get(&*self.client().await?, agent, key).await
    }

    async fn memory_set(
        &self,
        agent: &str,
        conversation: &str,
        key: &str,
        value: &str,
        quota: MemoryQuota,
    ) -> Result<()> {
        transaction!(self, |tx, wakes| memory::set(
            &tx,
            agent,
            conversation,
            key,
            value,
            quota
        )
        .await?)
    }

    async fn memory_delete(&self, agent: &str, key: &str) -> Result<bool> {
        memory::delete(&*self.client().await?, agent, key).await
    }

    async fn memory_keys(&self, agent: &str, prefix: &str) -> Result<Vec<String>> {
        memory::keys(&*self.client().await?, agent, prefix).await
    }

    async fn insert_announcement(&self, announcement: Announcement) -> Result<()> {
        transaction!(self, |tx, wakes| announcements::insert_announcement(
            &tx,
            &mut wakes,
            &announcement
        )
        .await?)
    }

    async fn announcements(&self, page: Page) -> Result<Paged<Announcement>> {
        announcements::announcements(&*self.client().await?, page).await
    }

    async fn insert_token(&self, token: ApiToken, hash: [u8; 32]) -> Result<()> {
        tokens::insert_token(&*self.client().await?, &token, hash).await
    }

    async fn token_by_hash(&self, hash: [u8; 32]) -> Result<Option<ApiToken>> {
        tokens::token_by_hash(&*self.client().await?, hash).await
    }

    async fn tokens(&self, page: Page) -> Result<Paged<ApiToken>> {
        tokens::tokens(&*self.client().await?, page).await
    }

    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<ApiToken> {
        transaction!(self, |tx, wakes| tokens::revoke_token(&tx, id, at).await?)
    }

    async fn append_chat(&self, agent: &str, chat: &str, turns: Vec<ChatTurn>) -> Result<()> {
        transaction!(self, |tx, wakes| chats::append_chat(
            &tx, agent, chat, &turns
        )
        .await?)
    }

    async fn chat_turns(&self, agent: &str, chat: &str, limit: usize) -> Result<Vec<ChatTurn>> {
        chats::chat_turns(&*self.client().await?, agent, chat, limit).await
    }

    async fn insert_a2a_task(&self, task: A2aTask) -> Result<A2aTask> {
        a2a::insert_task(&*self.client().await?, task).await
    }

    async fn update_a2a_task(&self, task: A2aTask) -> Result<()> {
        a2a::update_task(&*self.client().await?, &task).await
    }

    async fn a2a_task(&self, token_id: &str, id: &str) -> Result<Option<A2aTask>> {
        a2a::task(&*self.client().await?, token_id, id).await
    }

    async fn working_a2a_tasks(&self) -> Result<Vec<A2aTask>> {
        a2a::working_tasks(&*self.client().await?).await
    }

    async fn a2a_tasks(&self, token_id: &str, agent: &str) -> Result<Vec<A2aTask>> {
        a2a::tasks(&*self.client().await?, token_id, agent).await
    }

    async fn backup(&self) -> Result<std::fs::File> {
        Err(StoreError::Unsupported(
            "a PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump), not agentx backup",
        ))
    }
}
