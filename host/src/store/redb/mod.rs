//! The embedded store: one redb file, written through a group-commit writer.
//!
//! - `writer`: the thread that owns every write and makes batches durable with one fsync.
//! - `txn`: a batch's write transaction, which keeps the sequence counter while it is open.
//! - `tables`: the file's layout, its schema version and the row codecs.
//! - One file per record family with the transactions of its commands and reads:
//!   `accounts`, `connections`, `messages`, `announcements`, `memory`, `tokens`,
//!   `chats` and the webhook `outbox`.
//! - `export`: everything, as records to copy to another backend (`agentx migrate`).
//! - `token_cache`: the tokens found by hash, kept until a write to the tokens.
//!
//! This file only routes each `Store` method to its transaction: a write through the
//! writer, a read on a snapshot (in place for a point lookup, else off the async runtime).

use super::{Lease, MemoryQuota, NewMessage, Page, Paged, Result, Sent, Store, StoreError};
use crate::error::context;
use crate::model::*;
use crate::notify::Notifier;
use crate::notify::Topic;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{Database, ReadTransaction, ReadableDatabase};
use std::io::Seek;
use std::path::Path;
use std::sync::Arc;
use writer::Writer;

mod a2a;
mod accounts;
mod announcements;
mod chats;
mod connections;
mod disk;
mod export;
mod memory;
mod messages;
mod outbox;
mod tables;
mod token_cache;
mod tokens;
mod txn;
mod writer;

/// The database file's name in its data directory.
const FILE_NAME: &str = "agentx.redb";

pub struct RedbStore {
    db: Arc<Database>,
    writer: Writer,
    tokens: Arc<token_cache::TokenCache>,
    /// The database file (none for a database on another backend, in tests).
    file: Option<std::path::PathBuf>,
}

impl RedbStore {
    /// Opens (or creates) `<dir>/agentx.redb`, checks its schema version and starts the writer.
    pub fn open(dir: &Path, notifier: Arc<dyn Notifier>) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(context(format!("create {}", dir.display()), e)))?;
        let file = dir.join(FILE_NAME);
        let db = Database::builder().create_with_backend(disk::FilledFile::open(&file)?)?;
        let mut store = Self::with_database(db, notifier)?;
        store.file = Some(file);
        Ok(store)
    }

    /// Opens the store `dir` already holds; unlike [`Self::open`], never makes a new one
    /// (a mistyped directory must not read as an empty store).
    pub fn open_existing(dir: &Path, notifier: Arc<dyn Notifier>) -> Result<Self> {
        if !dir.join(FILE_NAME).is_file() {
            return Err(StoreError::backend(format!(
                "{} holds no agentx store ({FILE_NAME})",
                dir.display()
            )));
        }
        Self::open(dir, notifier)
    }

    /// Checks the schema version of an opened database and starts the writer.
    fn with_database(db: Database, notifier: Arc<dyn Notifier>) -> Result<Self> {
        let db = Arc::new(db);
        tables::init_schema(&db)?;
        let writer = Writer::start(db.clone(), notifier)?;
        Ok(Self {
            db,
            writer,
            tokens: Arc::new(token_cache::TokenCache::new()),
            file: None,
        })
    }

    /// Installs `backup` (a file `backup` made) as the store of `dir`, which must hold no
    /// store yet unless `replace`. The copy is opened and checked (schema version, and
    /// redb's recovery of a file copied while open) before it takes the store's name, so
    /// a bad file leaves `dir` as it was.
    pub fn restore(backup: &Path, dir: &Path, replace: bool) -> Result<()> {
        let target = dir.join(FILE_NAME);
        if target.exists() && !replace {
            return Err(StoreError::backend(format!(
                "{} already holds a store",
                dir.display()
            )));
        }
        let io = |what: String| move |e: std::io::Error| StoreError::Backend(context(what, e));
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        let staged = dir.join(format!("{FILE_NAME}.restoring"));
        std::fs::copy(backup, &staged).map_err(io(format!("copy {}", backup.display())))?;
        let checked = Database::create(&staged)
            .map_err(StoreError::from)
            .and_then(|db| tables::init_schema(&db));
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
        std::fs::rename(&staged, &target).map_err(io(format!("install {}", target.display())))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("sync {}", dir.display())))
    }

    /// Runs `op` in the next group commit; resolves once it is durable (or failed alone).
    /// `op` may run more than once, each time in a new transaction (see `writer`).
    async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&txn::Txn, &mut Vec<Topic>) -> Result<T> + Send + 'static,
    {
        self.writer.write(op).await
    }

    /// What a write to the tokens does once durable, before its caller is answered: the
    /// cached lookups are forgotten (see `token_cache`).
    fn forget_tokens(&self) -> impl FnOnce() + Send + 'static {
        let tokens = self.tokens.clone();
        move || tokens.invalidate()
    }

    /// Runs `op` on a consistent snapshot, off the async runtime: for reads whose size no
    /// key bounds (lists, scans). Answers once everything the snapshot saw is durable: no
    /// caller acts on a write a crash could undo.
    async fn read<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    {
        let (db, marks) = (self.db.clone(), self.writer.marks.clone());
        let (value, mark) = tokio::task::spawn_blocking(move || snapshot(&db, &marks, op))
            .await
            .map_err(|e| StoreError::Backend(context("read task", e)))??;
        self.writer.marks.durable(mark).await?;
        Ok(value)
    }

    /// [`RedbStore::read`] for a point lookup (one record by its key), run in place: it
    /// reads a few B-tree pages redb keeps cached, a few microseconds, where handing it to
    /// the blocking pool costs a thread wake-up and a context switch each way, more than
    /// the read (a send cost 26% less CPU in place: benches/README.md, "Point lookups in
    /// place").
    async fn lookup<T>(&self, op: impl FnOnce(&ReadTransaction) -> Result<T>) -> Result<T> {
        let (value, mark) = snapshot(&self.db, &self.writer.marks, op)?;
        self.writer.marks.durable(mark).await?;
        Ok(value)
    }
}

/// `op` on a new read transaction, with the writer's mark of what that snapshot can see.
fn snapshot<T>(
    db: &Database,
    marks: &writer::Marks,
    op: impl FnOnce(&ReadTransaction) -> Result<T>,
) -> Result<(T, u64)> {
    let txn = db.begin_read()?;
    let mark = marks.begin_read();
    op(&txn).map(|value| (value, mark))
}

#[async_trait]
impl Store for RedbStore {
    async fn lease(
        &self,
        _name: &str,
        _lost: tokio_util::sync::CancellationToken,
    ) -> Result<Lease> {
        // The redb file is locked by this process: no other node shares the store.
        Ok(Lease::sole())
    }

    async fn lease_is_held(&self, _name: &str) -> Result<bool> {
        // No other node shares the store (see `lease`).
        Ok(false)
    }

    async fn secret(&self, name: &'static str) -> Result<Vec<u8>> {
        self.write(move |txn, _| tables::secret(txn, name)).await
    }

    async fn insert_account(&self, user: User, agent: Agent, key_hash: [u8; 32]) -> Result<()> {
        self.write(move |txn, _| accounts::insert_account(txn, &user, &agent, key_hash))
            .await
    }

    async fn ensure_hosted_agents(&self, agents: Vec<Agent>) -> Result<()> {
        self.write(move |txn, _| {
            agents
                .iter()
                .try_for_each(|agent| accounts::ensure_hosted_agent(txn, agent.clone()))
        })
        .await
    }

    async fn agent(&self, id: &str) -> Result<Option<Agent>> {
        self.lookup(|txn| accounts::agent(txn, id)).await
    }

    async fn agents(&self, page: Page) -> Result<Paged<Agent>> {
        self.read(move |txn| accounts::agents(txn, page)).await
    }

    async fn agent_by_key_hash(&self, key_hash: [u8; 32]) -> Result<Option<Agent>> {
        self.lookup(|txn| accounts::agent_by_key_hash(txn, key_hash))
            .await
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<(User, Agent, [u8; 32])>> {
        let email = email.to_lowercase();
        self.lookup(|txn| accounts::account_by_email(txn, &email))
            .await
    }

    async fn set_webhook(&self, agent: &str, url: Option<String>) -> Result<Agent> {
        let id = agent.to_owned();
        self.write(move |txn, _| accounts::set_webhook(txn, &id, url.clone()))
            .await
    }

    async fn record_last_seen(&self, seen: Vec<(AgentId, DateTime<Utc>)>) -> Result<()> {
        self.write(move |txn, _| accounts::record_last_seen(txn, seen.clone()))
            .await
    }

    async fn insert_invite(&self, invite: Invite) -> Result<()> {
        self.write(move |txn, _| connections::insert_invite(txn, &invite))
            .await
    }

    async fn invite(&self, code: &str) -> Result<Option<Invite>> {
        self.lookup(|txn| connections::invite(txn, code)).await
    }

    async fn accept_invite(&self, code: &str, connection: Connection) -> Result<Connection> {
        let code = code.to_owned();
        self.write(move |txn, _| connections::accept_invite(txn, &code, connection.clone()))
            .await
    }

    async fn connection(&self, id: &str) -> Result<Option<Connection>> {
        self.lookup(|txn| connections::connection(txn, id)).await
    }

    async fn connections_of(&self, agent: &str) -> Result<Vec<Connection>> {
        let agent = agent.to_owned();
        self.read(move |txn| connections::connections_of(txn, &agent))
            .await
    }

    async fn remove_connection(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |txn, _| connections::remove_connection(txn, &id))
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
        self.write(move |txn, _| connections::set_level(txn, &id, &agent, category, level))
            .await
    }

    async fn thread(&self, id: &str) -> Result<Option<Thread>> {
        self.lookup(|txn| messages::thread(txn, id)).await
    }

    async fn threads_of(&self, connection: &str) -> Result<Vec<Thread>> {
        let connection = connection.to_owned();
        self.read(move |txn| messages::threads_of(txn, &connection))
            .await
    }

    async fn thread_messages(&self, thread: &str) -> Result<Vec<Message>> {
        let thread = thread.to_owned();
        self.read(move |txn| messages::thread_messages(txn, &thread))
            .await
    }

    async fn send_message(&self, new: NewMessage) -> Result<Sent> {
        self.write(move |txn, wakes| messages::send_message(txn, wakes, new.clone()))
            .await
    }

    async fn message(&self, id: &str) -> Result<Option<Message>> {
        self.lookup(|txn| messages::message(txn, id)).await
    }

    async fn idempotent_message(
        &self,
        agent: &str,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>> {
        self.lookup(|txn| messages::idempotent_message(txn, agent, key, since))
            .await
    }

    async fn take_pending(&self, agent: &str, limit: usize) -> Result<Delivery> {
        // A read on a snapshot keeps empty polls (the common case) off the single writer;
        // one that finds something re-reads the queue inside the write, so nothing is
        // handed over twice.
        if !self.lookup(|txn| messages::has_pending(txn, agent)).await? {
            return Ok(Delivery::default());
        }
        let agent = agent.to_owned();
        self.write(move |txn, _| messages::take_pending(txn, &agent, limit))
            .await
    }

    async fn acknowledge(&self, message: &str, agent: &str, at: DateTime<Utc>) -> Result<Message> {
        let (id, agent) = (message.to_owned(), agent.to_owned());
        self.write(move |txn, _| messages::acknowledge(txn, &id, &agent, at))
            .await
    }

    async fn memory_get(&self, agent: &str, key: &str) -> Result<Option<String>> {
        self.lookup(|txn| memory::get(txn, agent, key)).await
    }

    async fn memory_set(
        &self,
        agent: &str,
        conversation: &str,
        key: &str,
        value: &str,
        quota: MemoryQuota,
    ) -> Result<()> {
        let (agent, conversation) = (agent.to_owned(), conversation.to_owned());
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |txn, _| memory::set(txn, &agent, &conversation, &key, &value, quota))
            .await
    }

    async fn memory_delete(&self, agent: &str, key: &str) -> Result<bool> {
        let (agent, key) = (agent.to_owned(), key.to_owned());
        self.write(move |txn, _| memory::delete(txn, &agent, &key))
            .await
    }

    async fn memory_keys(&self, agent: &str, prefix: &str) -> Result<Vec<String>> {
        let (agent, prefix) = (agent.to_owned(), prefix.to_owned());
        self.read(move |txn| memory::keys(txn, &agent, &prefix))
            .await
    }

    async fn insert_announcement(&self, announcement: Announcement) -> Result<()> {
        self.write(move |txn, wakes| announcements::insert_announcement(txn, wakes, &announcement))
            .await
    }

    async fn announcements(&self, page: Page) -> Result<Paged<Announcement>> {
        self.read(move |txn| announcements::announcements(txn, page))
            .await
    }

    async fn insert_token(&self, token: ApiToken, hash: [u8; 32]) -> Result<()> {
        self.writer
            .write_then(
                move |txn, _| tokens::insert_token(txn, &token, hash),
                self.forget_tokens(),
            )
            .await
    }

    async fn token_by_hash(&self, hash: [u8; 32]) -> Result<Option<ApiToken>> {
        if let Some(token) = self.tokens.get(&hash) {
            return Ok(Some(token));
        }
        let generation = self.tokens.generation();
        let found = self.lookup(|txn| tokens::token_by_hash(txn, hash)).await?;
        if let Some(token) = &found {
            self.tokens.insert(hash, generation, token.clone());
        }
        Ok(found)
    }

    async fn tokens(&self, page: Page) -> Result<Paged<ApiToken>> {
        self.read(move |txn| tokens::tokens(txn, page)).await
    }

    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<ApiToken> {
        let id = id.to_owned();
        self.writer
            .write_then(
                move |txn, _| tokens::revoke_token(txn, &id, at),
                self.forget_tokens(),
            )
            .await
    }

    async fn append_chat(&self, agent: &str, chat: &str, turns: Vec<ChatTurn>) -> Result<()> {
        let (agent, chat) = (agent.to_owned(), chat.to_owned());
        self.write(move |txn, _| chats::append_chat(txn, &agent, &chat, &turns))
            .await
    }

    /// The file as the last durable commit left it, copied while the writer holds every
    /// later write (they wait for the copy: about a second per GB).
    async fn backup(&self) -> Result<std::fs::File> {
        let Some(file) = self.file.clone() else {
            return Err(StoreError::backend("this store has no file to back up"));
        };
        self.writer
            .exclusive(move |_| {
                let dir = file.parent().unwrap_or(Path::new("."));
                let io = |e: std::io::Error| StoreError::Backend(context("backup copy", e));
                let mut copy = tempfile::tempfile_in(dir).map_err(io)?;
                std::io::copy(&mut std::fs::File::open(&file).map_err(io)?, &mut copy)
                    .map_err(io)?;
                copy.rewind().map_err(io)?;
                Ok(copy)
            })
            .await
    }

    async fn chat_turns(&self, agent: &str, chat: &str, limit: usize) -> Result<Vec<ChatTurn>> {
        let (agent, chat) = (agent.to_owned(), chat.to_owned());
        self.read(move |txn| chats::chat_turns(txn, &agent, &chat, limit))
            .await
    }

    async fn insert_a2a_task(&self, task: A2aTask) -> Result<A2aTask> {
        self.write(move |txn, _| a2a::insert_task(txn, task.clone()))
            .await
    }

    async fn update_a2a_task(&self, task: A2aTask) -> Result<()> {
        self.write(move |txn, _| a2a::update_task(txn, &task)).await
    }

    async fn a2a_task(&self, token_id: &str, id: &str) -> Result<Option<A2aTask>> {
        self.lookup(|txn| a2a::task(txn, token_id, id)).await
    }

    async fn working_a2a_tasks(&self) -> Result<Vec<A2aTask>> {
        self.read(a2a::working_tasks).await
    }

    async fn a2a_tasks(&self, token_id: &str, agent: &str) -> Result<Vec<A2aTask>> {
        let (token_id, agent) = (token_id.to_owned(), agent.to_owned());
        self.read(move |txn| a2a::tasks(txn, &token_id, &agent))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::LocalNotifier;
    use crate::store::outbox::Outbox;
    use crate::store::{MemoryQuota, Page, Rejection};
    use redb::StorageBackend;
    use redb::backends::InMemoryBackend;
    use std::pin::Pin;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    /// An in-memory file whose fsyncs wait for the gate's permits: a disk caught mid-sync.
    #[derive(Debug, Default)]
    struct GatedDisk {
        file: InMemoryBackend,
        gate: Arc<(Mutex<u64>, Condvar)>,
    }

    impl StorageBackend for GatedDisk {
        fn len(&self) -> std::result::Result<u64, std::io::Error> {
            self.file.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::result::Result<(), std::io::Error> {
            self.file.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::result::Result<(), std::io::Error> {
            self.file.set_len(len)
        }
        fn sync_data(&self) -> std::result::Result<(), std::io::Error> {
            let (permits, granted) = &*self.gate;
            let mut permits = granted
                .wait_while(permits.lock().unwrap(), |permits| *permits == 0)
                .unwrap();
            *permits -= 1;
            self.file.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::result::Result<(), std::io::Error> {
            self.file.write(offset, data)
        }
    }

    /// Lets `syncs` more fsyncs through (`u64::MAX`: all of them).
    fn grant(gate: &(Mutex<u64>, Condvar), syncs: u64) {
        let mut permits = gate.0.lock().unwrap();
        *permits = permits.saturating_add(syncs);
        gate.1.notify_all();
    }

    /// Opens the gate for good when dropped, so a failing test ends instead of leaving the
    /// store's writer (joined on drop) waiting in an fsync.
    struct OpenOnDrop(Arc<(Mutex<u64>, Condvar)>);

    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            grant(&self.0, u64::MAX);
        }
    }

    /// A store on a [`GatedDisk`] whose fsyncs are held from now on.
    fn gated_store() -> (Arc<RedbStore>, Arc<(Mutex<u64>, Condvar)>) {
        let disk = GatedDisk::default();
        let gate = disk.gate.clone();
        grant(&gate, u64::MAX);
        let db = Database::builder().create_with_backend(disk).unwrap();
        let store =
            Arc::new(RedbStore::with_database(db, Arc::new(LocalNotifier::default())).unwrap());
        *gate.0.lock().unwrap() = 0;
        (store, gate)
    }

    /// A send that fails half-way in the writer: its thread is indexed under its connection
    /// before the connection is found missing.
    fn send_without_connection(
        store: &Arc<RedbStore>,
    ) -> impl Future<Output = Result<Sent>> + Send + 'static {
        let store = store.clone();
        let now = Utc::now();
        let thread = Thread {
            id: "thread".into(),
            connection_id: "no-such-connection".into(),
            subject: "s".into(),
            status: "active".into(),
            created_at: now,
            last_message_at: now,
        };
        let message = Message {
            id: "message".into(),
            thread_id: thread.id.clone(),
            from_agent_id: "bob".into(),
            to_agent_id: "cy".into(),
            message_type: MessageType::Text,
            category: None,
            content: "hi".into(),
            status: MessageStatus::Sent,
            created_at: now,
            acknowledged_at: None,
            permission: None,
        };
        async move {
            let new = NewMessage {
                message,
                new_thread: Some(thread),
                idempotency: None,
            };
            store.send_message(new).await
        }
    }

    /// Polls `write` once, which queues its job for the writer (so jobs queue in the order
    /// written here), and hands it back to be awaited.
    fn queued<T>(
        write: impl Future<Output = T> + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = T> + Send>> {
        let mut write: Pin<Box<dyn Future<Output = T> + Send>> = Box::pin(write);
        assert!(pending(&mut write), "a write waits for its fsync");
        write
    }

    /// Whether `write` is still waiting (polled once, without a waker to call).
    fn pending<T>(write: &mut Pin<Box<dyn Future<Output = T> + Send>>) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        write.as_mut().poll(&mut cx).is_pending()
    }

    /// Waits up to 5 s for `done`.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Group commit (issues 11 and 16): a write is not acknowledged before its fsync, and
    /// a read never answers with a write a crash could undo, yet does not wait for an fsync
    /// of writes it cannot see. A job failing in a batch rolls back alone, its half-done
    /// writes included; the jobs before and after it in the batch are committed, and while
    /// their commit is not yet durable a read that can see it waits for the fsync.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_are_durable_before_anyone_sees_them_and_a_failure_rolls_back_alone() {
        let (store, gate) = gated_store();
        let _open = OpenOnDrop(gate.clone());
        let quota = MemoryQuota {
            per_agent: 10,
            per_conversation: 10,
        };
        let set = |agent: &'static str| {
            let store = store.clone();
            queued(async move { store.memory_set(agent, "c", "k", "v", quota).await })
        };
        let visible = |agent: &str| {
            let txn = store.db.begin_read().unwrap();
            memory::get(&txn, agent, "k").unwrap().is_some()
        };

        // A batch of one, held in its fsync: nobody sees it, and reads do not wait for it.
        let mut first = set("ada");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(pending(&mut first), "not acknowledged before its fsync");
        let started = std::time::Instant::now();
        assert_eq!(store.memory_get("ada", "k").await.unwrap(), None);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the read did not wait"
        );

        // Queued behind it, so taken as one batch: a write, one that fails half-way, another
        // write.
        let mut before = set("bob");
        let failing = queued(send_without_connection(&store));
        let mut after = set("cy");

        // The first fsync goes through; the batch's own is held.
        grant(&gate, 1);
        let synced = tokio::time::timeout(Duration::from_secs(5), first).await;
        synced.expect("one fsync per batch").unwrap();
        // The failure made the writes before it commit without an fsync (then replayed):
        // visible to a bare snapshot, but a store read that sees them waits.
        eventually("bob's write was committed", || visible("bob")).await;
        let reading = tokio::spawn({
            let store = store.clone();
            async move { store.memory_get("bob", "k").await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!reading.is_finished(), "the read waits for the fsync");
        assert!(
            pending(&mut before),
            "the write is not acknowledged before it"
        );
        assert!(pending(&mut after));

        grant(&gate, u64::MAX);
        assert_eq!(reading.await.unwrap().unwrap().as_deref(), Some("v"));
        before.await.unwrap();
        after.await.unwrap();
        let refused = failing.await.unwrap_err();
        assert!(
            matches!(refused, StoreError::Rejected(Rejection::NotFound)),
            "{refused:?}"
        );
        assert_eq!(
            store.memory_get("cy", "k").await.unwrap().as_deref(),
            Some("v")
        );
        assert!(
            store
                .threads_of("no-such-connection")
                .await
                .unwrap()
                .is_empty(),
            "the failed job's half-done write was rolled back"
        );
        // With nothing in flight, reads answer at once.
        let started = std::time::Instant::now();
        store.memory_get("bob", "k").await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// The sequence counter a batch keeps while its transaction is open (see `txn`) is
    /// written back when a replay commits too: a job after the failure, in the same batch,
    /// takes numbers after those of the replayed jobs (one taken twice would overwrite the
    /// chat turn stored under it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sequence_numbers_stay_unique_across_a_replay() {
        let (store, gate) = gated_store();
        let _open = OpenOnDrop(gate.clone());
        let turn = |content: &'static str| {
            let store = store.clone();
            let turn = ChatTurn {
                role: ChatRole::Incoming,
                sender: "ada".into(),
                content: content.into(),
                at: Utc::now(),
            };
            queued(async move { store.append_chat("echo", "chat", vec![turn]).await })
        };

        // The first batch is held in its fsync, so the next three are taken as one.
        let first = turn("first");
        let before = turn("before");
        let failing = queued(send_without_connection(&store));
        let after = turn("after");
        grant(&gate, u64::MAX);
        for write in [first, before, after] {
            write.await.unwrap();
        }
        assert!(failing.await.is_err());

        let turns = store.chat_turns("echo", "chat", 10).await.unwrap();
        let contents: Vec<_> = turns.iter().map(|t| t.content.as_str()).collect();
        assert_eq!(contents, ["first", "before", "after"]);
    }

    /// A file written before its indexes existed (the webhook deliveries by agent, the
    /// operator's lists by age) is indexed when opened: deliveries pending across the
    /// upgrade are still due, and the lists still hold every agent and token, in order.
    #[tokio::test]
    async fn indexes_an_older_file_lacks_are_built_when_it_is_opened() {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .unwrap();
        let store = RedbStore::with_database(db, Arc::new(LocalNotifier::default())).unwrap();
        let start = Utc::now();
        for (n, name) in ["bob", "ada"].into_iter().enumerate() {
            let created_at = start + chrono::Duration::seconds(n as i64);
            let user = User {
                id: format!("user-{name}"),
                email: format!("{name}@example.com"),
                name: name.into(),
                created_at,
            };
            let agent = Agent {
                id: name.into(),
                user_id: user.id.clone(),
                name: name.into(),
                framework: Framework::Custom,
                webhook_url: Some(format!("https://{name}.example.com/hook")),
                created_at,
                last_seen_at: None,
            };
            let hash = [n as u8; 32];
            store.insert_account(user, agent, hash).await.unwrap();
            let token = ApiToken {
                id: format!("token-{name}"),
                name: name.into(),
                scopes: vec![Scope::AnyAgent],
                created_at,
                expires_at: None,
                revoked_at: None,
            };
            store.insert_token(token, hash).await.unwrap();
        }
        let announcement = Announcement {
            id: "news".into(),
            title: "t".into(),
            content: "c".into(),
            version: serde_json::json!(1),
            created_at: start,
            source: "admin".into(),
        };
        store.insert_announcement(announcement).await.unwrap();

        // What an older version's file holds: the rows, not the indexes.
        let txn = store.db.begin_write().unwrap();
        for index in [tables::AGENTS_BY_AGE, tables::TOKENS_BY_AGE] {
            assert!(txn.delete_table(index).unwrap());
        }
        assert!(txn.delete_table(outbox::AGENT_DUE).unwrap());
        txn.commit().unwrap();
        tables::init_schema(&store.db).unwrap();

        let agents = store.agents(Page::ALL).await.unwrap();
        let ids: Vec<_> = agents.items.iter().map(|a| a.id.as_str()).collect();
        assert_eq!((ids, agents.total), (vec!["bob", "ada"], 2));
        let tokens = store.tokens(Page::ALL).await.unwrap();
        let ids: Vec<_> = tokens.items.iter().map(|t| t.id.as_str()).collect();
        assert_eq!((ids, tokens.total), (vec!["token-bob", "token-ada"], 2));
        let query = crate::store::outbox::DueQuery {
            now: start + chrono::Duration::hours(1),
            after: None,
            per_agent: 10,
            skip: Default::default(),
            limit: 10,
        };
        let due = store.deliveries_due(query).await.unwrap();
        let mut agents: Vec<_> = due.iter().map(|d| d.delivery.agent_id.as_str()).collect();
        agents.sort_unstable();
        assert_eq!(agents, ["ada", "bob"], "each agent's delivery is due again");
    }
}
