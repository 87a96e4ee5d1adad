//! Invites, connections and each side's permission levels.

use super::agents::AgentSummary;
use super::validate::{MAX_ID_CHARS, MAX_NAME_CHARS, bounded, one_of, required};
use super::{Network, new_id};
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use crate::store::{Rejection, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The contract used when an acceptor names none.
pub const DEFAULT_CONTRACT: &str = "friends";

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteCreated {
    pub invite_code: String,
    pub join_url: String,
    pub expires_at: DateTime<Utc>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AcceptInvite {
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = r"\S")]
    pub invite_code: Option<String>,
    /// friends (default), coworkers or casual.
    #[schema(max_length = 100)]
    pub contract: Option<String>,
}

/// A connection as one of its sides sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub connected_agent: AgentSummary,
    pub status: String,
    pub contract_type: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Permission {
    pub category: Category,
    pub level: Level,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Permissions {
    pub connection_id: String,
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PermissionChange {
    #[schema(value_type = Category)]
    pub category: Option<String>,
    #[schema(value_type = Level)]
    pub level: Option<String>,
}

impl Network {
    /// A single-use invite from `agent`; `base_url` is where `/join/<code>` is served.
    pub async fn create_invite(&self, agent: &str, base_url: &str) -> Result<InviteCreated> {
        let now = self.now();
        let invite = Invite {
            code: hex::encode(rand::random::<[u8; 12]>()),
            agent_id: agent.to_owned(),
            created_at: now,
            expires_at: now + self.settings.invite_ttl,
            used_by: None,
        };
        self.store.insert_invite(invite.clone()).await?;
        Ok(InviteCreated {
            join_url: format!("{}/join/{}", base_url.trim_end_matches('/'), invite.code),
            message: "Share this code or join URL; it works once, within 24 hours.".into(),
            invite_code: invite.code,
            expires_at: invite.expires_at,
        })
    }

    pub async fn accept_invite(&self, agent: &str, form: AcceptInvite) -> Result<ConnectionView> {
        bounded(&[
            ("invite_code", form.invite_code.as_deref(), MAX_ID_CHARS),
            ("contract", form.contract.as_deref(), MAX_NAME_CHARS),
        ])?;
        let code = required("invite_code", &form.invite_code)?;
        let contract_name = form.contract.as_deref().unwrap_or(DEFAULT_CONTRACT);
        let preset = self
            .policy
            .presets()
            .into_iter()
            .find(|c| c.name == contract_name)
            .ok_or_else(|| {
                Error::invalid(
                    "unknown_contract",
                    format!("Unknown contract {contract_name:?}"),
                )
                .on("contract")
            })?;
        let invite = self.open_invite(code).await?;
        let refuse = |code, detail: &str| Err(Error::invalid(code, detail).on("invite_code"));
        if invite.agent_id == agent {
            return refuse("own_invite", "You can't connect with yourself");
        }
        // Also checked inside the store's transaction; this answers the common case early.
        if self
            .active_connection(&invite.agent_id, agent)
            .await?
            .is_some()
        {
            return refuse(
                "already_connected",
                "You are already connected to this agent",
            );
        }

        let connection = Connection {
            id: new_id(),
            agents: [invite.agent_id.clone(), agent.to_owned()],
            contract_type: preset.name,
            status: ConnectionStatus::Active,
            created_at: self.now(),
            permissions: BTreeMap::from([
                (invite.agent_id.clone(), preset.levels),
                (agent.to_owned(), preset.levels),
            ]),
        };
        let connection = match self.store.accept_invite(code, connection).await {
            Err(StoreError::Rejected(Rejection::InviteUsed)) => return Err(invite_used()),
            Err(StoreError::Rejected(Rejection::AlreadyConnected)) => {
                return refuse(
                    "already_connected",
                    "You are already connected to this agent",
                );
            }
            other => other?,
        };
        tracing::info!(connection = %connection.id, contract = %connection.contract_type, "connection made");
        self.view(agent, connection).await
    }

    /// The invite `code` if it can still be accepted: 404 when unknown, 400 when used or
    /// expired, in the compatible network's words (its clients match on them).
    pub async fn open_invite(&self, code: &str) -> Result<Invite> {
        let invite = self
            .store
            .invite(code)
            .await?
            .ok_or_else(|| Error::not_found("invite_not_found", "Invalid invite code"))?;
        if invite.used_by.is_some() {
            return Err(invite_used());
        }
        if invite.expires_at <= self.now() {
            return Err(
                Error::invalid("invite_expired", "This invite has expired").on("invite_code")
            );
        }
        Ok(invite)
    }

    /// The agent's active connections.
    pub async fn connections(&self, agent: &str) -> Result<Vec<ConnectionView>> {
        let mut out = Vec::new();
        for connection in self.store.connections_of(agent).await? {
            if connection.is_active() {
                out.push(self.view(agent, connection).await?);
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        Ok(out)
    }

    pub async fn remove_connection(&self, agent: &str, id: &str) -> Result<()> {
        self.own_connection(agent, id).await?;
        self.store.remove_connection(id).await?;
        tracing::info!(connection = %id, "connection removed");
        Ok(())
    }

    pub async fn permissions(&self, agent: &str, id: &str) -> Result<Permissions> {
        let connection = self.own_connection(agent, id).await?;
        let levels = connection.permissions[agent];
        Ok(Permissions {
            connection_id: connection.id,
            permissions: Category::ALL
                .iter()
                .map(|&category| Permission {
                    category,
                    level: levels.get(category),
                })
                .collect(),
        })
    }

    pub async fn set_permission(
        &self,
        agent: &str,
        id: &str,
        change: PermissionChange,
    ) -> Result<Permission> {
        // The contract answers 400 (not 422) for bad values on this route.
        let as_invalid = |mut e: Error| {
            e.kind = ErrorKind::Invalid;
            e
        };
        let category = one_of::<Category>(
            "category",
            Some(required("category", &change.category).map_err(as_invalid)?),
        )
        .map_err(as_invalid)?
        .expect("present");
        let level = one_of::<Level>(
            "level",
            Some(required("level", &change.level).map_err(as_invalid)?),
        )
        .map_err(as_invalid)?
        .expect("present");
        self.own_connection(agent, id).await?;
        self.store.set_level(id, agent, category, level).await?;
        Ok(Permission { category, level })
    }

    pub fn contracts(&self) -> Vec<Contract> {
        self.policy.presets()
    }

    /// An active connection `agent` is part of; 404 when unknown or removed, 403 when not theirs.
    pub(super) async fn own_connection(&self, agent: &str, id: &str) -> Result<Connection> {
        let connection = self
            .store
            .connection(id)
            .await?
            .filter(Connection::is_active)
            .ok_or_else(|| Error::not_found("connection_not_found", "Connection not found"))?;
        if !connection.involves(agent) {
            return Err(Error::forbidden(
                "not_your_connection",
                "Not your connection",
            ));
        }
        Ok(connection)
    }

    pub(super) async fn active_connection(&self, a: &str, b: &str) -> Result<Option<Connection>> {
        Ok(self
            .store
            .connections_of(a)
            .await?
            .into_iter()
            .find(|c| c.is_active() && c.involves(b)))
    }

    async fn view(&self, agent: &str, connection: Connection) -> Result<ConnectionView> {
        Ok(ConnectionView {
            connected_agent: self.summary(connection.peer_of(agent)).await?,
            id: connection.id,
            status: "active".into(),
            contract_type: connection.contract_type,
            created_at: connection.created_at,
        })
    }
}

fn invite_used() -> Error {
    Error::invalid("invite_used", "This invite has already been used").on("invite_code")
}
