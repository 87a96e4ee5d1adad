//! `echo`: replies with the message it got.
//!
//! The smallest useful responder, and the one the host's tests use to check the whole
//! path from an incoming message to a reply.

use agentx_sdk::{log, Capability, Description, Message, Reply, RequestContext, Responder};

struct Echo;

impl Responder for Echo {
    fn describe() -> Description {
        Description::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            [Capability::Log],
        )
    }

    fn respond(ctx: RequestContext, msg: Message) -> Result<Option<Reply>, String> {
        log::info(format_args!(
            "echoing {} bytes from {} in chat {}",
            msg.content.len(),
            ctx.sender,
            ctx.chat_id
        ));
        Ok(Some(Reply::new(format!("echo: {}", msg.content))))
    }
}

agentx_sdk::export_responder!(Echo);

#[cfg(test)]
mod tests {
    use super::*;
    use agentx_sdk::testing;

    /// The reply is the content behind an `echo: ` prefix, and the call is logged.
    #[test]
    fn echoes_and_logs() {
        testing::reset();
        let reply = Echo::respond(testing::context("chat-1"), testing::message("hi there"));
        assert_eq!(reply, Ok(Some(Reply::new("echo: hi there"))));
        testing::with_host(|host| {
            assert_eq!(host.logs.len(), 1);
            assert!(host.logs[0].1.contains("chat-1"));
        });
    }
}
