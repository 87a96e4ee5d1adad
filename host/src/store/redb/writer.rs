//! The group-commit writer: one thread owns every write to the redb file.
//!
//! A 2xx must not be sent before its write is on disk, but an fsync per request would cap
//! the whole server at the disk's fsync rate. So the writer takes every job queued while the
//! previous fsync ran, commits each in its own *non-durable* transaction (so a job that fails
//! rolls back alone), then makes the whole batch durable with one `Durability::Immediate`
//! commit, and only then answers the callers and wakes the agents the batch gave something
//! to. Under load, N concurrent writers share one fsync.
//!
//! Readers must not act on a commit that is not yet durable (an idempotency check answering
//! 200 for a message a crash then erases, a webhook POSTed for it). redb shows readers every
//! commit, durable or not, so the writer keeps a high-water mark: [`Marks::begin_read`]
//! notes how far commits may have gone when a read starts, and the read's result is
//! handed out only once the durable mark has caught up (at once when nothing is in
//! flight, otherwise after the current batch's fsync).

use crate::error::context;
use crate::notify::{Notifier, Topic};
use crate::store::{Result, StoreError};
use crate::telemetry;
use redb::{Database, Durability, WriteTransaction};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// Jobs taken into one batch at most, so a flood cannot delay its first caller unboundedly.
const MAX_BATCH: usize = 512;

type Finish = Box<dyn FnOnce(Result<()>, &dyn Notifier) + Send>;
type Job = Box<dyn FnOnce(&Database, &Marks) -> Finish + Send>;

/// How long a read waits for the writes it saw to become durable before it fails: only a
/// disk that keeps failing its fsync makes it wait that long.
const DURABLE_WAIT: Duration = Duration::from_secs(30);

/// The writer's high-water marks: transactions possibly committed, and those durable.
pub(super) struct Marks {
    /// Raised *before* each commit, so a reader that sees a commit also sees its mark.
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
    pub(super) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &mut Vec<Topic>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |db, marks| {
            let mut wakes = Vec::new();
            let outcome = commit_alone(db, marks, |txn| op(txn, &mut wakes));
            Box::new(move |synced, notifier| {
                let result = outcome.and_then(|value| synced.map(|()| value));
                if result.is_ok() {
                    for topic in &wakes {
                        notifier.wake(topic);
                    }
                }
                // The caller may have gone (client disconnected); the write stands regardless.
                let _ = reply.send(result);
            })
        });
        self.submit(job, answer).await
    }

    /// Runs `op` alone, once every earlier write is durable and before any later one
    /// starts: it sees the file exactly as the last durable commit left it.
    pub(super) async fn exclusive<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |db, _| {
            let outcome = make_durable(db).and_then(|()| op(db));
            Box::new(move |_, _| {
                let _ = reply.send(outcome);
            })
        });
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
    while let Ok(first) = queue.recv() {
        let mut finishes = vec![first(db, marks)];
        while finishes.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => finishes.push(job(db, marks)),
                Err(_) => break,
            }
        }
        let batch_mark = marks.committed.load(Ordering::SeqCst);
        let syncing = Instant::now();
        let synced = make_durable(db);
        match &synced {
            Ok(()) => {
                telemetry::store_commit("redb", finishes.len(), syncing.elapsed());
                marks.durable.send_replace(batch_mark);
            }
            Err(e) => {
                tracing::error!(error = %e, batch = finishes.len(), "group commit failed to sync")
            }
        }
        for finish in finishes {
            finish(synced.clone(), notifier);
        }
    }
}

/// Commits `op` without an fsync; an error aborts this transaction only.
fn commit_alone<T>(
    db: &Database,
    marks: &Marks,
    op: impl FnOnce(&WriteTransaction) -> Result<T>,
) -> Result<T> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::None)?;
    match op(&txn) {
        Ok(value) => {
            marks.committed.fetch_add(1, Ordering::SeqCst);
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
