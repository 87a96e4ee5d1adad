//! The group-commit writer: one thread owns every write to the redb file.
//!
//! A 2xx must not be sent before its write is on disk, but an fsync per request would cap
//! the whole server at the disk's fsync rate. So the writer takes every job queued while the
//! previous fsync ran, commits each in its own *non-durable* transaction (so a job that fails
//! rolls back alone), then makes the whole batch durable with one `Durability::Immediate`
//! commit, and only then answers the callers and wakes the agents the batch gave something
//! to. Under load, N concurrent writers share one fsync.

use crate::error::context;
use crate::notify::{Notifier, Topic};
use crate::store::{Result, StoreError};
use redb::{Database, Durability, WriteTransaction};
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Jobs taken into one batch at most, so a flood cannot delay its first caller unboundedly.
const MAX_BATCH: usize = 512;

type Finish = Box<dyn FnOnce(Result<()>, &dyn Notifier) + Send>;
type Job = Box<dyn FnOnce(&Database) -> Finish + Send>;

pub(super) struct Writer {
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
        let thread = std::thread::Builder::new()
            .name("agentx-store-writer".into())
            .spawn(move || run(&db, &queue, &*notifier))
            .map_err(|e| StoreError::Backend(context("spawn writer", e)))?;
        Ok(Self {
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
        let job: Job = Box::new(move |db| {
            let mut wakes = Vec::new();
            let outcome = commit_alone(db, |txn| op(txn, &mut wakes));
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

fn run(db: &Database, queue: &mpsc::Receiver<Job>, notifier: &dyn Notifier) {
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
