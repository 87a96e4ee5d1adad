//! `agx_live_` tokens as stored (never the token itself) and the scopes they carry.

use super::is_agent_id;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Scope {
    /// Call one public agent.
    Agent(String),
    /// Call every public agent.
    AnyAgent,
    /// Read dashboards and the task event stream.
    DashboardRead,
    /// Everything `dashboard:read` allows, plus the admin API.
    DashboardWrite,
    /// Peer with another agentx node.
    MeshPeer,
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "agent:*" => Ok(Scope::AnyAgent),
            "dashboard:read" => Ok(Scope::DashboardRead),
            "dashboard:write" => Ok(Scope::DashboardWrite),
            "mesh:peer" => Ok(Scope::MeshPeer),
            _ => match s.strip_prefix("agent:") {
                Some(id) if is_agent_id(id) => Ok(Scope::Agent(id.to_owned())),
                _ => Err(format!(
                    "unknown scope {s:?}: use agent:<id>, agent:*, dashboard:read, \
                     dashboard:write or mesh:peer"
                )),
            },
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Agent(id) => write!(f, "agent:{id}"),
            Scope::AnyAgent => f.write_str("agent:*"),
            Scope::DashboardRead => f.write_str("dashboard:read"),
            Scope::DashboardWrite => f.write_str("dashboard:write"),
            Scope::MeshPeer => f.write_str("mesh:peer"),
        }
    }
}

impl TryFrom<String> for Scope {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.to_string()
    }
}

/// A token as stored and listed: everything but the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// `agent:<id>`, `agent:*`, `dashboard:read`, `dashboard:write` or `mesh:peer`.
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether the token may call hosted agent `agent` (its access is checked elsewhere).
    pub fn may_call(&self, agent: &str) -> bool {
        self.scopes.iter().any(|s| match s {
            Scope::AnyAgent => true,
            Scope::Agent(id) => id == agent,
            _ => false,
        })
    }

    pub fn may_read_dashboard(&self) -> bool {
        self.scopes
            .iter()
            .any(|s| matches!(s, Scope::DashboardRead | Scope::DashboardWrite))
    }

    /// `dashboard:write`: the dashboards and the admin API.
    pub fn may_administer(&self) -> bool {
        self.scopes.contains(&Scope::DashboardWrite)
    }
}
