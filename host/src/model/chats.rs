//! Turns of the chat sessions of hosted agents (public-api and daemon tasks).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who said a turn of a chat, from the agent's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    Incoming,
    Outgoing,
}

/// One turn of a chat session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatTurn {
    pub role: ChatRole,
    pub sender: String,
    pub content: String,
    #[serde(serialize_with = "super::time::serialize")]
    pub at: DateTime<Utc>,
}
