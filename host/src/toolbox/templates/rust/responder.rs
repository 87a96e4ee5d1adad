//! `{{name}}`: a responder made by `agentx plugin new`.
//!
//! It replies `{{name}} heard: <message>`, logs each call, and leaves an empty message
//! for a human (no reply). Capabilities beyond `log` must be listed in `describe`, in
//! plugin.toml, and granted to the agent in agentx.json (`agentx plugin run --grant ...`).

use agentx_sdk::{log, Capability, Description, Message, Reply, RequestContext, Responder};

struct Plugin;

impl Responder for Plugin {
    fn describe() -> Description {
        Description::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            [Capability::Log],
        )
    }

    fn respond(ctx: RequestContext, msg: Message) -> Result<Option<Reply>, String> {
        log::info(format_args!(
            "answering {} in chat {}",
            ctx.sender, ctx.chat_id
        ));
        if msg.content.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(Reply::new(format!(
            "{} heard: {}",
            env!("CARGO_PKG_NAME"),
            msg.content
        ))))
    }
}

agentx_sdk::export_responder!(Plugin);

/// `cargo test` runs these natively, against the SDK's mock host.
#[cfg(test)]
mod tests {
    use super::*;
    use agentx_sdk::testing;

    #[test]
    fn replies_and_logs() {
        testing::reset();
        let reply = Plugin::respond(testing::context("chat-1"), testing::message("hi"));
        assert_eq!(reply, Ok(Some(Reply::new("{{name}} heard: hi"))));
        testing::with_host(|host| assert_eq!(host.logs.len(), 1));
    }

    #[test]
    fn leaves_an_empty_message_for_a_human() {
        testing::reset();
        let reply = Plugin::respond(testing::context("chat-1"), testing::message("  "));
        assert_eq!(reply, Ok(None));
    }
}
