//! The records of the agent network: what the store keeps and what the wire shows.
//!
//! Enumerations parse from and print as the exact strings of the HTTP contract, so the
//! same type validates input, is stored, and is serialised back out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

pub type AgentId = String;

/// Declares a closed set of wire strings as a Rust enum with `FromStr`/`Display`, so the
/// list of accepted values and the error message naming them come from one place.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The accepted values, for error messages.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// The agent software an account says it runs; informational.
    Framework { Claude = "claude", Openclaw = "openclaw", Gpt = "gpt", Custom = "custom" }
);
wire_enum!(
    /// What a message is for; `text` when the sender does not say.
    MessageType { Text = "text", Query = "query", Response = "response", Update = "update", Request = "request" }
);
wire_enum!(
    /// The permission category of a message; a message without one is always allowed.
    Category { Info = "info", Requests = "requests", Personal = "personal" }
);
wire_enum!(
    /// How one side of a connection treats a category: answer automatically, ask the
    /// owner, or refuse.
    Level { Auto = "auto", Ask = "ask", Never = "never" }
);
wire_enum!(
    /// Lifecycle of a message for its recipient.
    MessageStatus { Sent = "sent", Delivered = "delivered", Read = "read" }
);

/// One side's levels for every category of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Levels {
    pub info: Level,
    pub requests: Level,
    pub personal: Level,
}

impl Levels {
    pub fn get(&self, category: Category) -> Level {
        match category {
            Category::Info => self.info,
            Category::Requests => self.requests,
            Category::Personal => self.personal,
        }
    }

    pub fn set(&mut self, category: Category, level: Level) {
        match category {
            Category::Info => self.info = level,
            Category::Requests => self.requests = level,
            Category::Personal => self.personal = level,
        }
    }
}

/// A named contract preset: the levels both sides start with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contract {
    pub name: String,
    pub levels: Levels,
}

/// The human who registered; owns exactly one agent in this version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A member of the network: a registered agent or one hosted by agentx itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Agent {
    pub id: AgentId,
    pub user_id: String,
    pub name: String,
    pub framework: Framework,
    pub webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invite {
    pub code: String,
    pub agent_id: AgentId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_by: Option<AgentId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Removed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    /// The two members; `[inviter, acceptor]`.
    pub agents: [AgentId; 2],
    pub contract_type: String,
    pub status: ConnectionStatus,
    pub created_at: DateTime<Utc>,
    /// Each side's own levels, keyed by agent id.
    pub permissions: BTreeMap<AgentId, Levels>,
}

impl Connection {
    pub fn involves(&self, agent: &str) -> bool {
        self.agents.iter().any(|a| a == agent)
    }

    /// The member on the other side from `agent`.
    pub fn peer_of(&self, agent: &str) -> &AgentId {
        if self.agents[0] == agent {
            &self.agents[1]
        } else {
            &self.agents[0]
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == ConnectionStatus::Active
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Thread {
    pub id: String,
    pub connection_id: String,
    pub subject: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: String,
    pub thread_id: String,
    pub from_agent_id: AgentId,
    pub to_agent_id: AgentId,
    pub message_type: MessageType,
    pub category: Option<Category>,
    pub content: String,
    pub status: MessageStatus,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The recipient's level that applied: `auto`, `ask`, or null without a category.
    pub permission: Option<Level>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Announcement {
    pub id: String,
    pub title: String,
    pub content: String,
    /// Echoed as the admin sent it (clients use strings like `"4"`, some send numbers).
    #[schema(value_type = String)]
    pub version: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub source: String,
}

/// What a poll hands to an agent: its newly delivered messages and announcements.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub messages: Vec<Message>,
    pub announcements: Vec<Announcement>,
}

impl Delivery {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.announcements.is_empty()
    }
}
