//! Accounts: registration, login, API-key authentication and the agent's profile.
//!
//! API keys are `cex_` + 64 hex digits, shown once. They are stored only as
//! HMAC-SHA256(pepper, key): a keyed hash, so a leaked database does not let anyone test
//! guesses offline, and fast, so every request can be authenticated with one lookup
//! (a slow KDF is for low-entropy passwords; a key has 256 random bits).

use super::validate::{
    MAX_EMAIL_CHARS, MAX_KEY_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS, MAX_WORD_CHARS, bounded, email,
    one_of, required,
};
use super::{Network, new_id};
use crate::error::{Error, Result};
use crate::model::*;
use crate::store::{Page, Paged, Rejection, StoreError};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

const API_KEY_PREFIX: &str = "cex_";
/// An agent seen within this long is reported `online`.
const ONLINE_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Registration {
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub email: Option<String>,
    /// The owner's name.
    #[schema(value_type = String, min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(value_type = String, min_length = 1, max_length = 100, pattern = r"\S")]
    pub agent_name: Option<String>,
    /// claude, openclaw, gpt or custom (the default).
    #[schema(value_type = Option<Framework>)]
    pub framework: Option<String>,
    #[schema(max_length = 2048)]
    pub webhook_url: Option<String>,
}

impl Registration {
    fn bounded(&self) -> Result<()> {
        bounded(&[
            ("email", self.email.as_deref(), MAX_EMAIL_CHARS),
            ("name", self.name.as_deref(), MAX_NAME_CHARS),
            ("agent_name", self.agent_name.as_deref(), MAX_NAME_CHARS),
            ("framework", self.framework.as_deref(), MAX_WORD_CHARS),
            ("webhook_url", self.webhook_url.as_deref(), MAX_URL_CHARS),
        ])
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub user_id: String,
    pub agent_id: String,
    /// Shown only here; agentx keeps only a hash.
    pub api_key: String,
    pub message: String,
    /// Key of the HMAC-SHA256 signature on webhook deliveries; rotatable with
    /// `POST /auth/webhook-secret`.
    pub webhook_secret: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Credentials {
    #[schema(value_type = String, min_length = 1, max_length = 254, pattern = r"\S")]
    pub email: Option<String>,
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = r"\S")]
    pub api_key: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProfileUpdate {
    /// An empty string clears the webhook.
    #[schema(max_length = 2048)]
    pub webhook_url: Option<String>,
}

/// An agent as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub id: String,
    pub user_id: String,
    /// The agent's name.
    pub name: String,
    pub framework: Framework,
    /// `online` when seen in the last five minutes, else `offline`.
    pub status: String,
    pub webhook_url: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An agent as its connections see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentSummary {
    pub id: String,
    pub name: String,
    pub framework: Framework,
    pub status: String,
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// An agent as the operator sees it: never its key or the key's hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentOverview {
    pub id: String,
    pub name: String,
    pub framework: Framework,
    /// `online` when seen in the last five minutes, else `offline`.
    pub status: String,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Run by agentx itself (an `agents` entry of agentx.json), with no API key.
    pub hosted: bool,
}

impl Network {
    pub async fn register(&self, form: Registration) -> Result<Registered> {
        form.bounded()?;
        let email = email("email", required("email", &form.email)?)?;
        let name = required("name", &form.name)?.to_owned();
        let agent_name = required("agent_name", &form.agent_name)?.to_owned();
        let framework = one_of::<Framework>("framework", form.framework.as_deref())?
            .unwrap_or(Framework::Custom);
        let webhook_url = match form.webhook_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(
                self.settings
                    .webhooks
                    .check("webhook_url", url)?
                    .to_string(),
            ),
        };

        let api_key = format!(
            "{API_KEY_PREFIX}{}",
            hex::encode(rand::random::<[u8; 32]>())
        );
        let now = self.now();
        let user = User {
            id: new_id(),
            email,
            name,
            created_at: now,
        };
        let agent = Agent {
            id: new_id(),
            user_id: user.id.clone(),
            name: agent_name,
            framework,
            webhook_url,
            created_at: now,
            last_seen_at: None,
        };
        let (user_id, agent_id) = (user.id.clone(), agent.id.clone());
        match self
            .store
            .insert_account(user, agent, self.key_hash(&api_key))
            .await
        {
            Err(StoreError::Rejected(Rejection::EmailTaken)) => {
                return Err(Error::new(
                    crate::error::ErrorKind::Conflict,
                    "email_taken",
                    "Email already registered",
                )
                .on("email"));
            }
            other => other?,
        }
        tracing::info!(%agent_id, "agent registered");
        let webhook_secret = self.webhook_secret(&agent_id).await?;
        Ok(Registered {
            webhook_secret,
            user_id,
            agent_id,
            api_key,
            message: "Registered. Keep the api_key: it is shown only once.".into(),
        })
    }

    /// Checks an email + API key pair; unknown email and wrong key are indistinguishable,
    /// in the answer and in the time taken.
    pub async fn login(&self, credentials: Credentials) -> Result<(User, Agent)> {
        bounded(&[
            ("email", credentials.email.as_deref(), MAX_EMAIL_CHARS),
            ("api_key", credentials.api_key.as_deref(), MAX_KEY_CHARS),
        ])?;
        let email = required("email", &credentials.email)?;
        let api_key = required("api_key", &credentials.api_key)?;
        let presented = self.key_hash(api_key);
        let account = self.store.account_by_email(email).await?;
        let (stored, found) = match &account {
            Some((_, _, hash)) => (*hash, true),
            None => ([0; 32], false),
        };
        if !(found && bool::from(presented.ct_eq(&stored))) {
            return Err(Error::unauthorized("Invalid email or API key"));
        }
        let (user, agent, _) = account.expect("checked above");
        self.presence.touch(&agent.id, self.now());
        Ok((user, agent))
    }

    /// The agent an API key belongs to; records that it was seen.
    pub async fn authenticate(&self, api_key: &str) -> Result<Agent> {
        let well_formed = api_key
            .strip_prefix(API_KEY_PREFIX)
            .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if !well_formed {
            return Err(Error::unauthorized("Invalid API key"));
        }
        // The lookup is by keyed hash, so its timing can reveal nothing about other keys.
        let agent = self
            .store
            .agent_by_key_hash(self.key_hash(api_key))
            .await?
            .ok_or_else(|| Error::unauthorized("Invalid API key"))?;
        self.presence.touch(&agent.id, self.now());
        Ok(agent)
    }

    /// The agent a verified dashboard session names; like an API key, it counts as seen.
    pub async fn authenticate_session(&self, agent_id: &str) -> Result<Agent> {
        let agent = self
            .store
            .agent(agent_id)
            .await?
            .ok_or_else(|| Error::unauthorized("Invalid API key or session token"))?;
        self.presence.touch(&agent.id, self.now());
        Ok(agent)
    }

    pub async fn profile(&self, agent_id: &str) -> Result<Profile> {
        let agent = self.agent(agent_id).await?;
        let last_seen_at = self.presence.last_seen(&agent.id, agent.last_seen_at);
        Ok(Profile {
            status: self.status(last_seen_at),
            id: agent.id,
            user_id: agent.user_id,
            name: agent.name,
            framework: agent.framework,
            webhook_url: agent.webhook_url,
            last_seen_at,
            created_at: agent.created_at,
        })
    }

    pub async fn update_profile(&self, agent_id: &str, update: ProfileUpdate) -> Result<Profile> {
        bounded(&[("webhook_url", update.webhook_url.as_deref(), MAX_URL_CHARS)])?;
        if let Some(raw) = update.webhook_url {
            let url = match raw.trim() {
                "" => None,
                url => Some(
                    self.settings
                        .webhooks
                        .check("webhook_url", url)?
                        .to_string(),
                ),
            };
            self.store.set_webhook(agent_id, url).await?;
        }
        self.profile(agent_id).await
    }

    pub async fn summary(&self, agent_id: &str) -> Result<AgentSummary> {
        let agent = self.agent(agent_id).await?;
        let last_seen_at = self.presence.last_seen(&agent.id, agent.last_seen_at);
        Ok(AgentSummary {
            status: self.status(last_seen_at),
            id: agent.id,
            name: agent.name,
            framework: agent.framework,
            last_seen_at,
        })
    }

    /// `page` of every member of the network, oldest first.
    pub async fn all_agents(&self, page: Page) -> Result<Paged<AgentOverview>> {
        Ok(self.store.agents(page).await?.map(|agent| {
            let last_seen_at = self.presence.last_seen(&agent.id, agent.last_seen_at);
            AgentOverview {
                status: self.status(last_seen_at),
                hosted: agent.is_hosted(),
                id: agent.id,
                name: agent.name,
                framework: agent.framework,
                last_seen_at,
                created_at: agent.created_at,
            }
        }))
    }

    pub(super) async fn agent(&self, agent_id: &str) -> Result<Agent> {
        self.store
            .agent(agent_id)
            .await?
            .ok_or_else(|| Error::not_found("agent_not_found", "Agent not found"))
    }

    fn status(&self, last_seen_at: Option<DateTime<Utc>>) -> String {
        let online = last_seen_at.is_some_and(|seen| self.now() - seen < ONLINE_WINDOW);
        if online { "online" } else { "offline" }.into()
    }

    fn key_hash(&self, api_key: &str) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key_pepper).expect("HMAC accepts any key size");
        mac.update(api_key.as_bytes());
        mac.finalize().into_bytes().into()
    }
}
