//! `agx_live_` tokens: bearer credentials the operator hands to apps calling public agents
//! and to dashboards.
//!
//! A token is shown once, when created; the store keeps only its SHA-256 (the token is 256
//! random bits, so no pepper or slow hash is needed to make the hash useless to a thief).
//! Every request looks the token up again, so a revocation or an expiry takes effect on the
//! very next request.

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ApiToken, Scope};
use crate::store::{Page, Paged, Rejection, Store, StoreError};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const TOKEN_PREFIX: &str = "agx_live_";
/// 32 random bytes, written as 64 hex digits.
const TOKEN_RANDOM_BYTES: usize = 32;
/// Long enough for a descriptive label, short enough to list on one line.
const MAX_NAME_CHARS: usize = 100;
/// Ten years: "never" should be spelled by leaving `expires_days` out.
const MAX_EXPIRES_DAYS: i64 = 3650;

/// The body of `POST /tokens`; validated by [`Tokens::create`].
#[derive(Debug, Default, Deserialize)]
pub struct NewToken {
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub expires_days: Option<i64>,
}

/// A token just made: the record and, this once, the token.
#[derive(Debug, Serialize)]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The SHA-256 under which a token is stored.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Creating, listing, revoking and checking `agx_live_` tokens.
pub struct Tokens {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Tokens {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn create(&self, form: NewToken) -> Result<CreatedToken> {
        let name = form.name.unwrap_or_default().trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::invalid(
                "invalid_name",
                format!("name is required, at most {MAX_NAME_CHARS} characters"),
            )
            .on("name"));
        }
        if form.scopes.is_empty() {
            return Err(
                Error::invalid("invalid_scopes", "scopes needs at least one scope").on("scopes"),
            );
        }
        let mut scopes = form
            .scopes
            .iter()
            .map(|s| s.parse::<Scope>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::invalid("invalid_scopes", format!("scopes: {e}")).on("scopes"))?;
        scopes.sort();
        scopes.dedup();
        let now = self.clock.now();
        let expires_at = match form.expires_days {
            None => None,
            Some(days @ 1..=MAX_EXPIRES_DAYS) => Some(now + chrono::Duration::days(days)),
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_expiry",
                    format!("expires_days must be 1 to {MAX_EXPIRES_DAYS}"),
                )
                .on("expires_days"));
            }
        };
        let mut random = [0u8; TOKEN_RANDOM_BYTES];
        rand::rng().fill_bytes(&mut random);
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(random));
        let record = ApiToken {
            id: crate::model::new_id(),
            name,
            scopes,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store
            .insert_token(record.clone(), token_hash(&token))
            .await?;
        Ok(CreatedToken {
            id: record.id,
            token,
            name: record.name,
            scopes: record.scopes,
            expires_at: record.expires_at,
        })
    }

    /// `page` of every token, oldest first.
    pub async fn list(&self, page: Page) -> Result<Paged<ApiToken>> {
        Ok(self.store.tokens(page).await?)
    }

    /// Revokes a token; it stops working on the next request.
    pub async fn revoke(&self, id: &str) -> Result<()> {
        match self.store.revoke_token(id, self.clock.now()).await {
            Ok(_) => Ok(()),
            Err(StoreError::Rejected(Rejection::NotFound)) => Err(Error::not_found(
                "token_not_found",
                format!("No token {id:?}"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The live token behind `presented`; a missing, unknown, revoked or expired token is
    /// `Unauthorized`, with one answer for all (a caller learns nothing by probing).
    pub async fn authenticate(&self, presented: Option<&str>) -> Result<ApiToken> {
        let presented = presented.ok_or_else(|| {
            Error::unauthorized("Missing token: send Authorization: Bearer agx_live_…")
        })?;
        let invalid = || Error::unauthorized("Invalid, revoked or expired token");
        if !presented.starts_with(TOKEN_PREFIX) {
            return Err(invalid());
        }
        let token = self
            .store
            .token_by_hash(token_hash(presented))
            .await?
            .ok_or_else(invalid)?;
        if token.is_live(self.clock.now()) {
            Ok(token)
        } else {
            Err(invalid())
        }
    }
}

/// `Forbidden` unless `token` has `dashboard:write`.
pub fn require_admin(token: &ApiToken) -> Result<()> {
    require(token.may_administer(), "dashboard:write")
}

/// `Forbidden` unless `token` may read dashboards.
pub fn require_dashboard_read(token: &ApiToken) -> Result<()> {
    require(token.may_read_dashboard(), "dashboard:read")
}

fn require(granted: bool, scope: &str) -> Result<()> {
    if granted {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Forbidden,
        "insufficient_scope",
        format!("This token lacks the {scope} scope"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_reject_unknown() {
        for s in [
            "agent:support",
            "agent:*",
            "dashboard:read",
            "dashboard:write",
            "mesh:peer",
        ] {
            assert_eq!(s.parse::<Scope>().unwrap().to_string(), s);
        }
        for bad in ["agent:", "agent:Bad Id", "dashboard", "admin", ""] {
            assert!(bad.parse::<Scope>().is_err(), "{bad}");
        }
    }

    #[test]
    fn write_implies_read_and_agent_scopes_are_exact() {
        let token = |scopes: &[&str]| ApiToken {
            id: "t".into(),
            name: "n".into(),
            scopes: scopes.iter().map(|s| s.parse().unwrap()).collect(),
            created_at: Utc::now(),
            expires_at: None,
            revoked_at: None,
        };
        assert!(token(&["dashboard:write"]).may_read_dashboard());
        assert!(token(&["dashboard:write"]).may_administer());
        assert!(!token(&["dashboard:read"]).may_administer());
        assert!(!token(&["agent:*"]).may_read_dashboard());
        assert!(token(&["agent:*"]).may_call("support"));
        assert!(token(&["agent:support"]).may_call("support"));
        assert!(!token(&["agent:support"]).may_call("echo"));
        assert!(!token(&["dashboard:write"]).may_call("support"));
    }
}
