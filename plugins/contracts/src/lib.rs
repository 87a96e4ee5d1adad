//! `contracts`: the default contract policy, holding the three built-in contracts.
//!
//! Presets (levels for info / requests / personal):
//! - `friends`: auto / ask / ask
//! - `coworkers`: auto / auto / never
//! - `casual`: auto / never / never
//!
//! The decision for a categorised message looks at both sides' levels for its category,
//! sender first, so a sender learns about its own settings but nothing about the
//! recipient's:
//! 1. the sender's level is `never`: deny, telling the sender it is their own setting;
//! 2. the recipient's level is `never`: deny with the neutral "Message could not be
//!    delivered" that the network API specifies;
//! 3. otherwise the recipient's level: `ask` (delivered, never auto-answered) or `auto`.
//!    The sender's `ask` only means the sender's own owner approves what it sends; it does
//!    not change how the recipient handles the message (the message's `permission` is the
//!    recipient's level that applied).
//!
//! The connection's contract name is not consulted: after `PUT
//! /connections/{id}/permissions` the levels, not the preset, are what the two sides
//! agreed to.

use agentx_sdk::{
    log, Capability, ContractPolicy, Decision, Description, Level, PolicyRequest, Preset,
};

struct Contracts;

fn preset(name: &str, info: Level, requests: Level, personal: Level) -> Preset {
    Preset {
        name: name.to_string(),
        info,
        requests,
        personal,
    }
}

impl ContractPolicy for Contracts {
    fn describe() -> Description {
        Description::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            [Capability::Log],
        )
    }

    fn presets() -> Vec<Preset> {
        use Level::{Ask, Auto, Never};
        vec![
            preset("friends", Auto, Ask, Ask),
            preset("coworkers", Auto, Auto, Never),
            preset("casual", Auto, Never, Never),
        ]
    }

    fn decide(req: PolicyRequest) -> Decision {
        let decision = match (req.sender_level, req.recipient_level) {
            (Level::Never, _) => Decision::Deny(format!(
                "Your permission level for '{}' is never",
                req.category
            )),
            (_, Level::Never) => Decision::Deny("Message could not be delivered".to_string()),
            // Past the refusals, the recipient's own level decides how the message is handled:
            // it is the `permission` the message carries.
            (_, Level::Ask) => Decision::Ask,
            (_, Level::Auto) => Decision::Auto,
        };
        log::debug(format_args!(
            "{} -> {} ({}, {}): {:?}",
            req.sender_agent_id, req.recipient_agent_id, req.contract, req.category, decision
        ));
        decision
    }
}

agentx_sdk::export_contract_policy!(Contracts);

#[cfg(test)]
mod tests {
    use super::*;
    use Level::{Ask, Auto, Never};

    fn decide(sender_level: Level, recipient_level: Level) -> Decision {
        Contracts::decide(PolicyRequest {
            category: "personal".to_string(),
            contract: "friends".to_string(),
            sender_level,
            recipient_level,
            sender_agent_id: "a".to_string(),
            recipient_agent_id: "b".to_string(),
        })
    }

    /// The presets are exactly the network spec's.
    #[test]
    fn presets_match_the_spec() {
        let levels: Vec<_> = Contracts::presets()
            .into_iter()
            .map(|p| (p.name, [p.info, p.requests, p.personal]))
            .collect();
        assert_eq!(
            levels,
            [
                ("friends".to_string(), [Auto, Ask, Ask]),
                ("coworkers".to_string(), [Auto, Auto, Never]),
                ("casual".to_string(), [Auto, Never, Never]),
            ]
        );
    }

    /// Every pair of levels, with the sender's `never` taking precedence.
    #[test]
    fn decisions_follow_the_rules() {
        let own = Decision::Deny("Your permission level for 'personal' is never".to_string());
        let theirs = Decision::Deny("Message could not be delivered".to_string());
        let table = [
            (Never, Never, &own),
            (Never, Auto, &own),
            (Auto, Never, &theirs),
            (Ask, Never, &theirs),
            (Ask, Auto, &Decision::Auto),
            (Auto, Ask, &Decision::Ask),
            (Ask, Ask, &Decision::Ask),
            (Auto, Auto, &Decision::Auto),
        ];
        for (sender, recipient, expected) in table {
            assert_eq!(
                &decide(sender, recipient),
                expected,
                "{sender:?}/{recipient:?}"
            );
        }
    }
}
