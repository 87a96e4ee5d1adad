//! Wake-ups for long-polls and event streams.
//!
//! The store calls [`Notifier::wake`] after a commit that gives an agent something new;
//! waiters [`Notifier::subscribe`] *before* they read, so a write landing between the read and
//! the wait still wakes them. The trait is the seam for a multi-node backend, where a wake
//! crosses nodes (e.g. PostgreSQL `NOTIFY`) and each node fans it out locally.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

pub trait Notifier: Send + Sync + 'static {
    /// Starts watching `agent`; changes from this moment on resolve [`Subscription::changed`].
    fn subscribe(&self, agent: &str) -> Subscription;
    /// Something new for `agent`.
    fn wake(&self, agent: &str);
    /// Something new for every agent (an announcement).
    fn wake_all(&self);
}

/// A waiter's view of one agent's wake-ups and the broadcast ones.
pub struct Subscription {
    agent: watch::Receiver<()>,
    all: watch::Receiver<()>,
}

impl Subscription {
    /// Resolves at the next wake-up after the subscription (or the previous `changed`).
    pub async fn changed(&mut self) {
        // A closed sender means the notifier is gone (shutdown): waking is then correct,
        // the caller re-reads and returns.
        tokio::select! {
            _ = self.agent.changed() => {}
            _ = self.all.changed() => {}
        }
    }
}

/// Wake-ups within one process: one `watch` channel per agent that anyone waits on.
///
/// A `watch` sender costs a small allocation and waiting receivers cost nothing but their
/// task, so thousands of idle long-polls are cheap. Channels nobody listens to are dropped on
/// the next wake, keeping the map as small as the set of live waiters.
pub struct LocalNotifier {
    // NB: std Mutex, not tokio's: the critical sections are short and never await.
    agents: Mutex<HashMap<String, watch::Sender<()>>>,
    all: watch::Sender<()>,
}

impl Default for LocalNotifier {
    fn default() -> Self {
        Self {
            agents: Mutex::default(),
            all: watch::Sender::new(()),
        }
    }
}

impl Notifier for LocalNotifier {
    fn subscribe(&self, agent: &str) -> Subscription {
        let mut agents = self.agents.lock().expect("notifier lock");
        let sender = agents
            .entry(agent.to_owned())
            .or_insert_with(|| watch::Sender::new(()));
        Subscription {
            agent: sender.subscribe(),
            all: self.all.subscribe(),
        }
    }

    fn wake(&self, agent: &str) {
        let mut agents = self.agents.lock().expect("notifier lock");
        if let Some(sender) = agents.get(agent) {
            if sender.receiver_count() == 0 {
                agents.remove(agent);
            } else {
                sender.send_replace(());
            }
        }
    }

    fn wake_all(&self) {
        self.all.send_replace(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A wake between subscribe and wait is not lost: the waiter sees it.
    #[tokio::test]
    async fn wake_after_subscribe_is_seen() {
        let n = LocalNotifier::default();
        let mut sub = n.subscribe("a");
        n.wake("a");
        tokio::time::timeout(Duration::from_secs(1), sub.changed())
            .await
            .expect("woken");
    }

    /// Another agent's wake does not wake this one; a broadcast does.
    #[tokio::test]
    async fn wakes_are_per_agent_and_broadcast() {
        let n = LocalNotifier::default();
        let mut sub = n.subscribe("a");
        n.wake("b");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), sub.changed())
                .await
                .is_err()
        );
        n.wake_all();
        tokio::time::timeout(Duration::from_secs(1), sub.changed())
            .await
            .expect("woken by broadcast");
    }

    /// Channels without waiters are pruned so the map does not grow with every agent ever seen.
    #[test]
    fn idle_channels_are_pruned() {
        let n = LocalNotifier::default();
        drop(n.subscribe("a"));
        n.wake("a");
        assert!(n.agents.lock().unwrap().is_empty());
    }
}
