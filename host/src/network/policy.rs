//! The contract policy: which categories a connection lets through, and how.
//!
//! The decision is delegated through [`ContractPolicy`], so it can live in a sandboxed
//! plugin; the domain only gathers the facts (contract, both sides' levels) and applies
//! the verdict.

use crate::error::Result;
use crate::model::{AgentId, Category, Contract, Level};
use async_trait::async_trait;

/// The facts a policy decides on.
#[derive(Debug, Clone)]
pub struct PolicyRequest {
    pub category: Category,
    pub contract: String,
    pub sender_level: Level,
    pub recipient_level: Level,
    pub sender: AgentId,
    pub recipient: AgentId,
}

/// The verdict: deliver for automatic handling, deliver for the owner to decide, or refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Auto,
    Ask,
    /// Refused; the reason is shown to the sender.
    Deny(String),
}

#[async_trait]
pub trait ContractPolicy: Send + Sync + 'static {
    /// The named presets connections can be made under, with the levels both sides start with.
    fn presets(&self) -> Vec<Contract>;
    async fn decide(&self, request: PolicyRequest) -> Result<Decision>;
}
