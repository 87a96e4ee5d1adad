//! The agent network: agents, invites, connections, permissions, messages, threads and
//! announcements.
//!
//! [`Network`] is the only code that sequences the store, the contract policy and the
//! clock; it knows nothing of HTTP. Every public method validates its raw input (naming
//! the offending field), applies the rules of the contract, and returns records the wire
//! layer serialises as they are.

pub mod activity;
pub mod address;
pub mod agents;
pub mod announcements;
pub mod connections;
pub mod messages;
pub mod policy;
mod presence;
pub mod validate;
pub mod webhook_url;
pub mod webhooks;

pub use presence::Presence;

use crate::clock::Clock;
use crate::error::Result;
use crate::model::new_id;
use crate::notify::Notifier;
use crate::store::Store;
use chrono::{DateTime, Utc};
use policy::ContractPolicy;
use std::sync::Arc;

/// Settings of the network domain, taken from the configuration.
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    pub invite_ttl: chrono::Duration,
    pub idempotency_window: chrono::Duration,
    pub webhooks: webhook_url::WebhookRules,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            invite_ttl: chrono::Duration::hours(24),
            idempotency_window: chrono::Duration::hours(24),
            webhooks: webhook_url::WebhookRules::default(),
        }
    }
}

/// The domain service; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Network {
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    policy: Arc<dyn ContractPolicy>,
    presence: Arc<Presence>,
    settings: Arc<NetworkSettings>,
    /// Key of the keyed hash under which API keys are stored (see [`agents`]).
    key_pepper: Arc<[u8]>,
}

impl Network {
    pub async fn new(
        store: Arc<dyn Store>,
        notifier: Arc<dyn Notifier>,
        clock: Arc<dyn Clock>,
        policy: Arc<dyn ContractPolicy>,
        settings: NetworkSettings,
    ) -> Result<Self> {
        let key_pepper = store.secret("api_key_pepper").await?.into();
        Ok(Self {
            presence: Arc::new(Presence::new(store.clone())),
            store,
            notifier,
            clock,
            policy,
            settings: Arc::new(settings),
            key_pepper,
        })
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn presence(&self) -> &Arc<Presence> {
        &self.presence
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
