//! Task events: what SSE subscribers see of every task on every channel.
//!
//! Events go out on a broadcast channel: publishing never waits for a subscriber, and one
//! that falls more than [`EVENT_BUFFER`] events behind misses the oldest (it is told how
//! many) instead of slowing the agents down.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// Events kept for slow subscribers; a burst of a few hundred tasks fits.
pub const EVENT_BUFFER: usize = 1024;

/// Which task an event belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskMeta {
    pub task_id: String,
    pub agent: String,
    /// `network`, `public-api`, or the label a daemon caller chose.
    pub channel: String,
    pub chat_id: String,
    pub sender: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Start,
    /// Reply text (plugins answer whole, so one per task that replies).
    Text,
    Done,
    Error,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Start => "start",
            EventKind::Text => "text",
            EventKind::Done => "done",
            EventKind::Error => "error",
        }
    }

    /// Whether the task has ended with this event.
    pub fn is_last(self) -> bool {
        matches!(self, EventKind::Done | EventKind::Error)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(flatten)]
    pub task: TaskMeta,
    /// The reply, on `text` and `done` (null on `done` when the agent chose not to answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// The publishing side; cheap to share.
pub struct TaskEvents {
    sender: broadcast::Sender<TaskEvent>,
}

impl Default for TaskEvents {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

impl TaskEvents {
    pub fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.sender.subscribe()
    }

    /// Sends the event `make` builds, if anyone is subscribed: with no subscriber (the
    /// normal case) the event is not even built. A subscriber sees the events published
    /// after it subscribed, so a caller that subscribes before running a task sees all of it.
    pub fn publish(&self, make: impl FnOnce() -> TaskEvent) {
        if self.sender.receiver_count() > 0 {
            // Every subscriber may have gone meanwhile: not an error either.
            let _ = self.sender.send(make());
        }
    }
}
