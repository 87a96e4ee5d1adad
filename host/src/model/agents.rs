//! Users and agents: the members of the network.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type AgentId = String;

/// The owner recorded for agents hosted by agentx itself (they have no user). Kept as
/// stored data reads it; ask [`Agent::is_hosted`] rather than comparing with it.
const HOSTED_OWNER: &str = "agentx-host";

wire_enum!(
    /// The agent software an account says it runs; informational.
    Framework { Claude = "claude", Openclaw = "openclaw", Gpt = "gpt", Custom = "custom" }
);
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

impl Agent {
    /// An agent hosted by agentx, named `id` in agentx.json.
    pub fn hosted(id: &str, name: &str, created_at: DateTime<Utc>) -> Self {
        Agent {
            id: id.to_owned(),
            user_id: HOSTED_OWNER.into(),
            name: name.to_owned(),
            framework: Framework::Custom,
            webhook_url: None,
            created_at,
            last_seen_at: None,
        }
    }

    /// Whether agentx hosts this agent (it has no account and no API key).
    pub fn is_hosted(&self) -> bool {
        self.user_id == HOSTED_OWNER
    }
}

/// Whether `id` may name a hosted agent: 1 to 64 characters of a-z, 0-9, - and _.
pub fn is_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_agents_are_told_apart_and_stored_as_before() {
        let hosted = Agent::hosted("support", "Support", Utc::now());
        assert!(hosted.is_hosted());
        // Data written by earlier versions marks hosted agents with this owner.
        let stored = serde_json::to_value(&hosted).unwrap();
        assert_eq!(stored["user_id"], "agentx-host");
        let registered = Agent {
            user_id: "3f2a".into(),
            ..hosted
        };
        assert!(!registered.is_hosted());
    }
}
