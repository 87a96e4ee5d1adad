//! The contract policy: which categories a connection lets through, and how.
//!
//! The decision is delegated through [`ContractPolicy`], so it can live in a sandboxed
//! plugin; the domain only gathers the facts (contract, both sides' levels) and applies
//! the verdict.

use super::Result;
use super::model::{AgentId, Category, Contract, Level};
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

/// The reason given when the recipient's side refuses a category. Deliberately vague: the
/// sender learns that it failed, not what the recipient's settings are.
pub const UNDELIVERABLE: &str = "Message could not be delivered";

/// The three presets of the contract, decided in-process.
///
/// Stands in until the contract-policy plugin runtime lands; the plugin implements the same
/// table, and this type then serves as the native baseline of its benchmark.
pub struct BuiltinPresets;

#[async_trait]
impl ContractPolicy for BuiltinPresets {
    fn presets(&self) -> Vec<Contract> {
        use Level::*;
        let preset = |name: &str, info, requests, personal| Contract {
            name: name.into(),
            levels: super::model::Levels {
                info,
                requests,
                personal,
            },
        };
        vec![
            preset("friends", Auto, Ask, Ask),
            preset("coworkers", Auto, Auto, Never),
            preset("casual", Auto, Never, Never),
        ]
    }

    async fn decide(&self, request: PolicyRequest) -> Result<Decision> {
        Ok(match (request.sender_level, request.recipient_level) {
            (Level::Never, _) => Decision::Deny(format!(
                "Your level for '{}' on this connection is never",
                request.category
            )),
            (_, Level::Never) => Decision::Deny(UNDELIVERABLE.into()),
            (_, Level::Ask) => Decision::Ask,
            (_, Level::Auto) => Decision::Auto,
        })
    }
}
