//! Tasks of the A2A front-end: one public-agent call each, kept so that the client that
//! made it can read it again (`GetTask`, `ListTasks`), after a restart too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an A2A task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum A2aState {
    /// The agent is answering.
    Working,
    Completed,
    /// The agent failed to answer (`error` says why).
    Failed,
}

/// One A2A task: a message to a public agent and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct A2aTask {
    /// The task id (also the id of the task on the task event stream).
    pub id: String,
    pub agent: String,
    /// The token whose call it is; no other token can see it.
    pub token_id: String,
    /// The A2A context: the token's chat session it ran in.
    pub context_id: String,
    /// The client's `messageId` of the message that started it: a retried send with the
    /// same id gets this task back instead of a second call.
    pub message_id: String,
    /// What the client said.
    pub request: String,
    pub state: A2aState,
    /// The agent's answer, once completed (empty when it chose not to answer).
    pub reply: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The process running it while it is working (tasks kept before runners were
    /// recorded have none): a task whose runner is gone is no one's to finish.
    #[serde(default)]
    pub runner: String,
}
