//! Wake-ups for long-polls and event streams.
//!
//! The store calls [`Notifier::wake`] after a commit that gives an agent something new;
//! waiters [`Notifier::subscribe`] *before* they read, so a write landing between the read and
//! the wait still wakes them. The trait is the seam for a multi-node backend, where a wake
//! crosses nodes (e.g. PostgreSQL `NOTIFY`) and each node fans it out locally.

use crate::model::AgentId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// What a wake-up is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Something new for one agent (a message, a withdrawn one).
    Inbox(AgentId),
    /// Something new for every agent (an announcement); wakes every [`Topic::Inbox`] too.
    AllInboxes,
    /// A webhook delivery became due now (a new one, a replay).
    Outbox,
}

impl Topic {
    /// The topic as the payload of one PostgreSQL `NOTIFY` on a fixed channel: short ASCII
    /// (agent ids are UUIDs or config keys of `a-z0-9-_`), far under NOTIFY's 8000 bytes.
    pub fn payload(&self) -> String {
        match self {
            Topic::Inbox(agent) => format!("inbox:{agent}"),
            Topic::AllInboxes => "inboxes".into(),
            Topic::Outbox => "outbox".into(),
        }
    }

    /// The topic a payload names, as a node receiving a `NOTIFY` reads it.
    pub fn from_payload(payload: &str) -> Option<Topic> {
        match payload {
            "inboxes" => Some(Topic::AllInboxes),
            "outbox" => Some(Topic::Outbox),
            _ => payload
                .strip_prefix("inbox:")
                .filter(|agent| !agent.is_empty())
                .map(|agent| Topic::Inbox(agent.to_owned())),
        }
    }
}

pub trait Notifier: Send + Sync + 'static {
    /// Starts watching `topic`; changes from this moment on resolve [`Subscription::changed`].
    fn subscribe(&self, topic: &Topic) -> Subscription;
    /// Something new about `topic`.
    fn wake(&self, topic: &Topic);
}

/// A waiter's view of one topic's wake-ups (and, for an inbox, the broadcast ones).
pub struct Subscription {
    topic: watch::Receiver<()>,
    all: Option<watch::Receiver<()>>,
}

impl Subscription {
    /// Resolves at the next wake-up after the subscription (or the previous `changed`).
    pub async fn changed(&mut self) {
        // A closed sender means the notifier is gone (shutdown): waking is then correct,
        // the caller re-reads and returns.
        match &mut self.all {
            Some(all) => tokio::select! {
                _ = self.topic.changed() => {}
                _ = all.changed() => {}
            },
            None => {
                let _ = self.topic.changed().await;
            }
        }
    }
}

/// Wake-ups within one process: one `watch` channel per topic that anyone waits on.
///
/// A `watch` sender costs a small allocation and waiting receivers cost nothing but their
/// task, so thousands of idle long-polls are cheap. Channels nobody listens to are dropped on
/// the next wake, keeping the map as small as the set of live waiters.
pub struct LocalNotifier {
    // NB: std Mutex, not tokio's: the critical sections are short and never await.
    topics: Mutex<HashMap<Topic, watch::Sender<()>>>,
    all: watch::Sender<()>,
}

impl Default for LocalNotifier {
    fn default() -> Self {
        Self {
            topics: Mutex::default(),
            all: watch::Sender::new(()),
        }
    }
}

impl Notifier for LocalNotifier {
    fn subscribe(&self, topic: &Topic) -> Subscription {
        if *topic == Topic::AllInboxes {
            return Subscription {
                topic: self.all.subscribe(),
                all: None,
            };
        }
        let mut topics = self.topics.lock().expect("notifier lock");
        let sender = topics
            .entry(topic.clone())
            .or_insert_with(|| watch::Sender::new(()));
        Subscription {
            topic: sender.subscribe(),
            all: matches!(topic, Topic::Inbox(_)).then(|| self.all.subscribe()),
        }
    }

    fn wake(&self, topic: &Topic) {
        if *topic == Topic::AllInboxes {
            self.all.send_replace(());
            return;
        }
        let mut topics = self.topics.lock().expect("notifier lock");
        if let Some(sender) = topics.get(topic) {
            if sender.receiver_count() == 0 {
                topics.remove(topic);
            } else {
                sender.send_replace(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn inbox(agent: &str) -> Topic {
        Topic::Inbox(agent.into())
    }

    #[test]
    fn topics_round_trip_through_notify_payloads() {
        for topic in [
            inbox("3f2a-b"),
            inbox("support_1"),
            Topic::AllInboxes,
            Topic::Outbox,
        ] {
            let payload = topic.payload();
            assert!(payload.is_ascii() && payload.len() < 8000, "{payload}");
            assert_eq!(Topic::from_payload(&payload), Some(topic));
        }
        assert_eq!(Topic::from_payload("inbox:"), None);
        assert_eq!(Topic::from_payload("other"), None);
    }

    /// The outbox is woken by its own topic only, not by an inbox's or a broadcast.
    #[tokio::test]
    async fn the_outbox_topic_is_apart() {
        let n = LocalNotifier::default();
        let mut sub = n.subscribe(&Topic::Outbox);
        n.wake(&inbox("a"));
        n.wake(&Topic::AllInboxes);
        let quiet = tokio::time::timeout(Duration::from_millis(50), sub.changed()).await;
        assert!(quiet.is_err());
        n.wake(&Topic::Outbox);
        tokio::time::timeout(Duration::from_secs(1), sub.changed())
            .await
            .expect("woken");
    }

    /// A wake between subscribe and wait is not lost: the waiter sees it.
    #[tokio::test]
    async fn wake_after_subscribe_is_seen() {
        let n = LocalNotifier::default();
        let mut sub = n.subscribe(&inbox("a"));
        n.wake(&inbox("a"));
        tokio::time::timeout(Duration::from_secs(1), sub.changed())
            .await
            .expect("woken");
    }

    /// Another agent's wake does not wake this one; a broadcast does.
    #[tokio::test]
    async fn wakes_are_per_agent_and_broadcast() {
        let n = LocalNotifier::default();
        let mut sub = n.subscribe(&inbox("a"));
        n.wake(&inbox("b"));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), sub.changed())
                .await
                .is_err()
        );
        n.wake(&Topic::AllInboxes);
        tokio::time::timeout(Duration::from_secs(1), sub.changed())
            .await
            .expect("woken by broadcast");
    }

    /// Channels without waiters are pruned so the map does not grow with every agent ever seen.
    #[test]
    fn idle_channels_are_pruned() {
        let n = LocalNotifier::default();
        drop(n.subscribe(&inbox("a")));
        n.wake(&inbox("a"));
        assert!(n.topics.lock().unwrap().is_empty());
    }
}
