//! Invites and connections, with the permission levels each side sets.

use super::AgentId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

wire_enum!(
    /// The permission category of a message; a message without one is always allowed.
    Category { Info = "info", Requests = "requests", Personal = "personal" }
);
wire_enum!(
    /// How one side of a connection treats a category: answer automatically, ask the
    /// owner, or refuse.
    Level { Auto = "auto", Ask = "ask", Never = "never" }
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
