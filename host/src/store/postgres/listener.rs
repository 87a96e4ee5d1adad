//! Wake-ups across nodes: every node `LISTEN`s on one channel and wakes its own waiters for
//! each `NOTIFY` a commit (on any node) sent.
//!
//! Notifications are hints, never the truth: one sent while this node's listening connection
//! was down is lost. So waiters are also woken every [`FALLBACK`] to re-read, and all of
//! them at once after the listener (re)connects.

use super::CHANNEL;
use crate::notify::{LocalNotifier, Notifier, Subscription, Topic};
use crate::store::Result;
use futures_util::StreamExt;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio_postgres::AsyncMessage;

/// How often every waiter re-reads even without a notification.
const FALLBACK: Duration = Duration::from_millis(1500);
/// The pause before reconnecting a listener that lost its connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A [`Notifier`] whose wake-ups reach every node on the database.
///
/// Local wakes (this node's commits) go straight to the waiters, as with [`LocalNotifier`];
/// the store also sends each as a `NOTIFY` in its commit, which the listener task of every
/// node (this one too: a second, harmless wake) turns back into a local wake.
pub struct PgNotifier {
    local: LocalNotifier,
}

impl PgNotifier {
    /// Starts listening on the database at `url`. The listener task ends once the notifier
    /// is dropped.
    pub fn start(url: &str) -> Result<Arc<Self>> {
        let config = super::config(url)?;
        let notifier = Arc::new(Self {
            local: LocalNotifier::default(),
        });
        tokio::spawn(listen(config, Arc::downgrade(&notifier)));
        Ok(notifier)
    }

    /// Wakes every waiter of this node: they re-read and find whatever they missed.
    fn wake_all(&self) {
        self.local.wake(&Topic::AllInboxes);
        self.local.wake(&Topic::Outbox);
    }
}

impl Notifier for PgNotifier {
    fn subscribe(&self, topic: &Topic) -> Subscription {
        self.local.subscribe(topic)
    }

    fn wake(&self, topic: &Topic) {
        self.local.wake(topic);
    }
}

async fn listen(config: tokio_postgres::Config, notifier: Weak<PgNotifier>) {
    loop {
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                // The connection yields the notifications; it must be polled for `LISTEN`
                // itself to complete, so it runs in its own task.
                let (notes, mut received) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(n)) => {
                                if notes.send(n.payload().to_owned()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "database listener connection failed");
                                return;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        tracing::debug!("listening for wake-ups from other nodes");
                        if !relay(&mut received, &notifier).await {
                            driver.abort();
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "database listener cannot LISTEN"),
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, "database listener cannot connect"),
        }
        // Whatever was sent while the listener was down is lost: everyone re-reads.
        match notifier.upgrade() {
            Some(n) => n.wake_all(),
            None => return,
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// Turns notifications into local wakes, and wakes everyone every [`FALLBACK`], until the
/// connection ends (true) or the notifier is gone (false).
async fn relay(
    received: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    notifier: &Weak<PgNotifier>,
) -> bool {
    // Anything committed before LISTEN took effect was not heard: everyone re-reads.
    let Some(n) = notifier.upgrade() else {
        return false;
    };
    n.wake_all();
    drop(n);
    let mut fallback = tokio::time::interval(FALLBACK);
    loop {
        tokio::select! {
            payload = received.recv() => {
                let Some(payload) = payload else { return true };
                let Some(n) = notifier.upgrade() else { return false };
                match Topic::from_payload(&payload) {
                    Some(topic) => n.wake(&topic),
                    None => tracing::warn!(%payload, "unknown wake-up payload"),
                }
            }
            _ = fallback.tick() => {
                let Some(n) = notifier.upgrade() else { return false };
                n.wake_all();
            }
        }
    }
}
