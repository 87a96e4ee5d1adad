//! Dropping finished plugin stores in the machine's idle time rather than on the request.
//!
//! Dropping a call's `Store` resets its instance's memory in place for the next call
//! (wasmtime's `PAGEMAP_SCAN` walk, then the dirty pages copied back): about 5 µs, an eighth
//! of a public call's time on a tokio worker. Nothing waits for it but the pool slot, so
//! under load (the runtime decides when: `PluginRuntime::call`) a thread of the kernel's
//! idle class (`SCHED_IDLE`: it runs only when a core has nothing else to run) does it
//! instead, while every call in flight waits on the store's fsync: cores the group commit
//! would otherwise leave idle (benches/README.md, "Stores dropped in idle time, the group
//! commit paced").
//!
//! Nothing a call can see changes: what is handed over is the store *with its slot's
//! permit*, so its pool slot stays taken, and no other instance gets that memory, until the
//! reset is done. The queue is short: once it is full (the cores busy with other work, so
//! the idle thread rarely runs), stores are dropped in place as before, and a slow reaper
//! holds [`QUEUE`] slots at most. Where the idle class cannot be had (another OS, a sandbox
//! refusing it), there is no thread and every store is dropped in place: a thread competing
//! at normal priority would only move the work to a core where the store's pages are cold.

use std::sync::mpsc::{self, SyncSender};

/// Finished stores waiting for the idle thread, at most: about a group commit's worth of
/// calls, which the thread drops in the commit's next fsync.
const QUEUE: usize = 32;

/// Drops what it is given on an idle-class thread, or in place when it cannot.
pub(super) struct Reaper<T> {
    /// `None` when there is no idle-class thread.
    queue: Option<SyncSender<T>>,
}

impl<T: Send + 'static> Reaper<T> {
    /// Starts the idle-class thread; it ends once the reaper is dropped and its queue drained.
    pub(super) fn start() -> Self {
        Self::with_queue(QUEUE)
    }

    fn with_queue(capacity: usize) -> Self {
        let (queue, finished) = mpsc::sync_channel::<T>(capacity);
        let (started, idle) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("agentx-reaper".into())
            .spawn(move || {
                let ok = enter_idle_class();
                let _ = started.send(ok);
                if ok {
                    // Each item is dropped as it is taken: that is the work.
                    while finished.recv().is_ok() {}
                }
            });
        let idle = spawned.is_ok() && idle.recv().unwrap_or(false);
        if !idle {
            tracing::debug!("no idle-class thread: finished plugin stores are dropped in place");
        }
        Self {
            queue: idle.then_some(queue),
        }
    }

    /// Hands `item` to the idle thread, or drops it here when there is none or its queue is
    /// full.
    pub(super) fn reap(&self, item: T) {
        let Some(queue) = &self.queue else {
            return;
        };
        // Refused, the item comes back in the error, and is dropped with it.
        let _ = queue.try_send(item);
    }
}

/// Puts the calling thread in the idle scheduling class; whether it could.
#[cfg(target_os = "linux")]
fn enter_idle_class() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` on the calling thread (pid 0) with a valid, initialised
    // parameter; lowering one's own class needs no privilege, and a refusal is only an error
    // code.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn enter_idle_class() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// Counts its drops, and where they happened.
    struct Counted {
        drops: Arc<AtomicUsize>,
        in_place: Arc<AtomicUsize>,
        owner: std::thread::ThreadId,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            if std::thread::current().id() == self.owner {
                self.in_place.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn counted(n: usize) -> (Vec<Counted>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (drops, in_place) = (Arc::default(), Arc::default());
        let items = (0..n)
            .map(|_| Counted {
                drops: Arc::clone(&drops),
                in_place: Arc::clone(&in_place),
                owner: std::thread::current().id(),
            })
            .collect();
        (items, drops, in_place)
    }

    fn wait_for(what: &AtomicUsize, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while what.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "only {what:?} of {n} dropped");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Everything handed over is dropped, off the caller's thread where the idle class is
    /// available (on Linux it always is for lowering one's own thread), and beyond a full
    /// queue in place: nothing is kept, whatever the reaper's pace.
    #[test]
    fn everything_handed_over_is_dropped() {
        let reaper = Reaper::with_queue(4);
        let (items, drops, in_place) = counted(1_000);
        for item in items {
            reaper.reap(item);
        }
        wait_for(&drops, 1_000);
        if cfg!(target_os = "linux") {
            assert!(reaper.queue.is_some(), "no idle-class thread on Linux");
            assert!(
                in_place.load(Ordering::SeqCst) < 1_000,
                "all dropped in place"
            );
        }
    }

    /// What is queued when the reaper itself is dropped is still dropped, by its thread.
    #[test]
    fn the_queue_is_drained_when_the_reaper_goes() {
        let reaper = Reaper::with_queue(64);
        let (items, drops, _) = counted(64);
        for item in items {
            reaper.reap(item);
        }
        drop(reaper);
        wait_for(&drops, 64);
    }
}
