//! `{{name}}`: a contract policy made by `agentx plugin new`.
//!
//! It defines one contract, `{{name}}` (info auto, requests ask, personal never), and
//! decides each categorised message by the recipient's level for its category: `never`
//! refuses it, `ask` delivers it for a human, `auto` lets the recipient's responder answer.

use agentx_sdk::{
    log, Capability, ContractPolicy, Decision, Description, Level, PolicyRequest, Preset,
};

struct Policy;

impl ContractPolicy for Policy {
    fn describe() -> Description {
        Description::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            [Capability::Log],
        )
    }

    fn presets() -> Vec<Preset> {
        vec![Preset {
            name: env!("CARGO_PKG_NAME").to_string(),
            info: Level::Auto,
            requests: Level::Ask,
            personal: Level::Never,
        }]
    }

    fn decide(req: PolicyRequest) -> Decision {
        let decision = match req.recipient_level {
            Level::Never => Decision::Deny("not on this connection".to_string()),
            Level::Ask => Decision::Ask,
            Level::Auto => Decision::Auto,
        };
        log::debug(format_args!("{}: {:?}", req.category, decision));
        decision
    }
}

agentx_sdk::export_contract_policy!(Policy);

/// `cargo test` runs these natively, against the SDK's mock host.
#[cfg(test)]
mod tests {
    use super::*;
    use agentx_sdk::testing;

    fn request(recipient_level: Level) -> PolicyRequest {
        PolicyRequest {
            category: "personal".into(),
            contract: "{{name}}".into(),
            sender_level: Level::Auto,
            recipient_level,
            sender_agent_id: "a".into(),
            recipient_agent_id: "b".into(),
        }
    }

    #[test]
    fn the_recipients_level_decides() {
        testing::reset();
        assert!(matches!(Policy::decide(request(Level::Auto)), Decision::Auto));
        assert!(matches!(Policy::decide(request(Level::Ask)), Decision::Ask));
        assert!(matches!(
            Policy::decide(request(Level::Never)),
            Decision::Deny(_)
        ));
    }
}
