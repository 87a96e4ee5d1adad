//! The group-commit writer: one thread owns every write to the redb file.
//!
//! A 2xx must not be sent before its write is on disk, but an fsync per request would cap
//! the whole server at the disk's fsync rate. So the writer takes every job queued while the
//! previous batch was written, applies them one after the other in **one** write
//! transaction, commits it with `Durability::Immediate` (one fsync), and only then answers
//! the callers and wakes the agents the batch gave something to. Under load, N concurrent
//! writers share one transaction and one fsync: redb's per-commit work (copying the B-tree
//! paths, the allocator state) is paid once per batch, not once per job.
//!
//! A job that fails must roll back alone, and redb cannot undo part of a transaction (its
//! savepoints need a transaction nothing was written in yet). So a failing job aborts the
//! shared transaction and the jobs it had applied are *replayed* without it in a new one
//! (each job is re-runnable: [`Writer::write`] takes an `FnMut`, and a replay sees exactly
//! the state the first run saw: the same jobs before it, in the same order; only the
//! outcome of the run that is committed is handed back). That replayed part is committed at
//! once without an fsync, and the batch goes on in a new transaction, so a job is replayed
//! at most once however many fail after it; the batch's final immediate commit makes those
//! earlier commits durable too.
//!
//! Readers must not act on a commit that is not yet durable (an idempotency check answering
//! 200 for a message a crash then erases, a webhook POSTed for it). redb publishes an
//! immediate commit to readers only once its fsync has returned (redb 4.6,
//! `TransactionalMemory::commit` replaces the in-memory header after `storage.flush()`), but
//! shows a non-durable one at once. So the writer keeps high-water marks of the non-durable
//! commits: [`Marks::begin_read`] notes how far they may have gone when a read starts, and
//! the read's result is handed out only once the durable mark has caught up. Only a batch
//! in which a job failed makes a non-durable commit; otherwise reads never wait.

use super::txn::Txn;
use crate::error::context;
use crate::notify::{Notifier, Topic};
use crate::store::{Result, StoreError};
use crate::telemetry;
use redb::{Database, Durability};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// Jobs taken into one batch at most, so a flood cannot delay its first caller unboundedly.
const MAX_BATCH: usize = 512;

/// What the writer thread is asked to do.
enum Job {
    /// A command, applied in the batch's shared transaction.
    Write(Box<dyn Command>),
    /// An operation on the whole database, run between batches (see [`Writer::exclusive`]).
    Exclusive(Box<dyn FnOnce(&Database) + Send>),
}

/// A write command of a batch, holding its caller's reply.
trait Command: Send {
    /// Runs the command in `txn` and keeps its outcome; `false` when it failed (and its
    /// changes must be rolled back). May run again in a new transaction (a replay).
    fn apply(&mut self, txn: &Txn) -> bool;
    /// Answers the caller with the kept outcome, once `synced` says whether its
    /// transaction is durable.
    fn finish(self: Box<Self>, synced: Result<()>, notifier: &dyn Notifier);
}

/// A [`Writer::write`] command: the operation, its last outcome and the caller's reply.
struct Write<F, T> {
    op: F,
    outcome: Option<Result<T>>,
    /// Topics to wake once durable, from the run whose outcome is kept.
    wakes: Vec<Topic>,
    /// Run once the batch has ended, before the reply (see [`Writer::write_then`]).
    then: Option<Box<dyn FnOnce() + Send>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, T> Command for Write<F, T>
where
    T: Send,
    F: FnMut(&Txn, &mut Vec<Topic>) -> Result<T> + Send,
{
    fn apply(&mut self, txn: &Txn) -> bool {
        self.wakes.clear();
        let outcome = (self.op)(txn, &mut self.wakes);
        let applied = outcome.is_ok();
        self.outcome = Some(outcome);
        applied
    }

    fn finish(self: Box<Self>, synced: Result<()>, notifier: &dyn Notifier) {
        let outcome = self
            .outcome
            .expect("a command is applied before it is finished");
        let result = outcome.and_then(|value| synced.map(|()| value));
        if result.is_ok() {
            for topic in &self.wakes {
                notifier.wake(topic);
            }
        }
        if let Some(then) = self.then {
            then();
        }
        // The caller may have gone (client disconnected); the write stands regardless.
        let _ = self.reply.send(result);
    }
}

/// How long a read waits for the writes it saw to become durable before it fails: only a
/// disk that keeps failing its fsync makes it wait that long.
const DURABLE_WAIT: Duration = Duration::from_secs(30);

/// The writer's high-water marks: non-durable commits possibly made, and those durable.
pub(super) struct Marks {
    /// Raised *before* each non-durable commit, so a reader that sees one also sees its mark.
    committed: AtomicU64,
    durable: watch::Sender<u64>,
}

impl Marks {
    fn new() -> Self {
        Self {
            committed: AtomicU64::new(0),
            durable: watch::Sender::new(0),
        }
    }

    /// Called right after a read transaction began: every commit it can see is at or
    /// below the returned mark.
    pub(super) fn begin_read(&self) -> u64 {
        self.committed.load(Ordering::SeqCst)
    }

    /// Resolves once every commit up to `mark` is on disk.
    pub(super) async fn durable(&self, mark: u64) -> Result<()> {
        let mut durable = self.durable.subscribe();
        let reached = durable.wait_for(|d| *d >= mark);
        match tokio::time::timeout(DURABLE_WAIT, reached).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(StoreError::backend("store writer has stopped")),
            Err(_) => Err(StoreError::backend(
                "the store could not make its writes durable",
            )),
        }
    }
}

pub(super) struct Writer {
    pub(super) marks: Arc<Marks>,
    /// Jobs for the writer thread. Dropping it (in `Drop`) lets the thread finish what was
    /// queued and end.
    jobs: Option<mpsc::Sender<Job>>,
    /// Joined in `Drop`, so that once the store is dropped every write is durable and the
    /// file is closed: a restart in the same process can reopen it at once.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

impl Writer {
    pub(super) fn start(db: Arc<Database>, notifier: Arc<dyn Notifier>) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let marks = Arc::new(Marks::new());
        let writer_marks = marks.clone();
        let thread = std::thread::Builder::new()
            .name("agentx-store-writer".into())
            .spawn(move || run(&db, &queue, &*notifier, &writer_marks))
            .map_err(|e| StoreError::Backend(context("spawn writer", e)))?;
        Ok(Self {
            marks,
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `op` in the next group commit; resolves once it is durable (or failed alone).
    /// `op` may run more than once (when another job of its batch fails, see the module
    /// docs): it must depend only on what it captured and on the transaction.
    pub(super) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Txn, &mut Vec<Topic>) -> Result<T> + Send + 'static,
    {
        self.submit_write(op, None).await
    }

    /// [`Writer::write`], then `then` on the writer thread once the batch has ended
    /// (durable, or failed), before the caller is answered: it runs even if the caller
    /// has gone meanwhile, as the write stands regardless.
    pub(super) async fn write_then<T, F>(
        &self,
        op: F,
        then: impl FnOnce() + Send + 'static,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Txn, &mut Vec<Topic>) -> Result<T> + Send + 'static,
    {
        self.submit_write(op, Some(Box::new(then))).await
    }

    async fn submit_write<T, F>(&self, op: F, then: Option<Box<dyn FnOnce() + Send>>) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Txn, &mut Vec<Topic>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let command = Write {
            op,
            outcome: None,
            wakes: Vec::new(),
            then,
            reply,
        };
        self.submit(Job::Write(Box::new(command)), answer).await
    }

    /// Runs `op` alone, once every earlier write is durable and before any later one
    /// starts: it sees the file exactly as the last durable commit left it.
    pub(super) async fn exclusive<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job::Exclusive(Box::new(move |db| {
            let _ = reply.send(make_durable(db).and_then(|()| op(db)));
        }));
        self.submit(job, answer).await
    }

    /// Queues `job` for the writer thread and waits for the answer it sends.
    async fn submit<T>(&self, job: Job, answer: oneshot::Receiver<Result<T>>) -> Result<T> {
        self.jobs
            .as_ref()
            .expect("present until drop")
            .send(job)
            .map_err(|_| StoreError::backend("store writer has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::backend("store writer dropped a job"))?
    }
}

fn run(db: &Database, queue: &mpsc::Receiver<Job>, notifier: &dyn Notifier, marks: &Marks) {
    // An exclusive job met while a batch was being gathered: it runs once that batch is done.
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let command = match first {
            Job::Exclusive(op) => {
                op(db);
                continue;
            }
            Job::Write(command) => command,
        };
        // NB: jobs are applied as they are taken, so those queued meanwhile join the batch.
        let mut batch = Batch::new(db, marks);
        batch.apply(command);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Job::Write(command)) => batch.apply(command),
                Ok(exclusive) => {
                    next = Some(exclusive);
                    break;
                }
                Err(_) => break,
            }
        }
        batch.commit(notifier);
    }
}

/// The jobs of one group commit and its transaction.
struct Batch<'a> {
    db: &'a Database,
    marks: &'a Marks,
    /// Open once a command has been applied and until a failure aborts it, a replay
    /// commits it, or the batch commits.
    txn: Option<Txn>,
    /// Commands applied in `txn`, in order.
    applied: Vec<Box<dyn Command>>,
    /// Commands committed without an fsync (replayed after a failure): durable once the
    /// batch's final commit is.
    committed: Vec<Box<dyn Command>>,
    /// Commands settled apart from the batch's commit: each failed alone (its outcome is its
    /// error), or with the error that stopped its transaction.
    settled: Vec<(Box<dyn Command>, Result<()>)>,
}

impl<'a> Batch<'a> {
    fn new(db: &'a Database, marks: &'a Marks) -> Self {
        Self {
            db,
            marks,
            txn: None,
            applied: Vec::new(),
            committed: Vec::new(),
            settled: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.applied.len() + self.committed.len() + self.settled.len()
    }

    fn apply(&mut self, mut command: Box<dyn Command>) {
        let txn = match self.txn.take().map_or_else(|| Txn::begin(self.db), Ok) {
            Ok(txn) => txn,
            Err(e) => return self.settled.push((command, Err(e))),
        };
        if command.apply(&txn) {
            self.txn = Some(txn);
            self.applied.push(command);
            return;
        }
        self.settled.push((command, Ok(())));
        self.replay(txn);
    }

    /// Aborts `failed`, which the last command left half-written, applies the commands that
    /// had succeeded in it again in a new transaction and commits that without an fsync.
    /// One failing now (an operation that does not behave the same twice) is settled like
    /// the first, and the rest replayed again.
    fn replay(&mut self, failed: Txn) {
        let mut aborted = failed.abort();
        loop {
            if self.applied.is_empty() {
                return;
            }
            let txn = match aborted.and_then(|()| Txn::begin(self.db)) {
                Ok(txn) => txn,
                Err(e) => return self.stop(&e),
            };
            match self.applied.iter_mut().position(|c| !c.apply(&txn)) {
                None => return self.commit_replayed(txn),
                Some(failing) => {
                    let command = self.applied.remove(failing);
                    self.settled.push((command, Ok(())));
                    aborted = txn.abort();
                }
            }
        }
    }

    fn commit_replayed(&mut self, txn: Txn) {
        // NB: the mark is raised before the commit, so a reader that sees the commit also
        // sees its mark and waits for the batch's fsync.
        self.marks.committed.fetch_add(1, Ordering::SeqCst);
        match txn.commit(Durability::None) {
            Ok(()) => self.committed.append(&mut self.applied),
            Err(e) => self.stop(&e),
        }
    }

    /// Settles the commands applied in the open transaction with `error`.
    fn stop(&mut self, error: &StoreError) {
        let stopped = self.applied.drain(..).map(|c| (c, Err(error.clone())));
        self.settled.extend(stopped);
    }

    /// Commits the batch durably, then answers every command.
    fn commit(self, notifier: &dyn Notifier) {
        let Batch {
            db,
            marks,
            txn,
            mut applied,
            mut committed,
            settled,
        } = self;
        // Every non-durable commit made so far is persisted by the next immediate one.
        let mark = marks.committed.load(Ordering::SeqCst);
        let syncing = Instant::now();
        let synced = match txn {
            Some(txn) => txn.commit(Durability::Immediate),
            None if !committed.is_empty() => make_durable(db),
            None => Ok(()),
        };
        committed.append(&mut applied);
        match &synced {
            Ok(()) => {
                if !committed.is_empty() {
                    telemetry::store_commit("redb", committed.len(), syncing.elapsed());
                }
                marks.durable.send_replace(mark);
            }
            Err(e) => tracing::error!(error = %e, batch = committed.len(), "group commit failed"),
        }
        for (command, result) in settled {
            command.finish(result, notifier);
        }
        for command in committed {
            command.finish(synced.clone(), notifier);
        }
    }
}

/// An empty immediate commit: redb then persists every non-durable commit before it.
fn make_durable(db: &Database) -> Result<()> {
    Txn::begin(db)?.commit(Durability::Immediate)
}
