//! `echo`: replies with the message it got.
//!
//! The smallest useful responder, and the one the host's tests use to check the whole
//! path from an incoming message to a reply. One command, `/history`, shows what the
//! host's `history` capability gives of the current conversation, so an operator (or a
//! test) can see that a chat session carries over from call to call; it needs the agent
//! to grant `history`.

use agentx_sdk::{
    history, log, Capability, Description, Message, Reply, RequestContext, Responder,
};

/// Shows the conversation so far instead of echoing.
const HISTORY_COMMAND: &str = "/history";
/// Enough to see that a session continues; the reply names the count and the last turn.
const HISTORY_TURNS: u32 = 20;

struct Echo;

impl Responder for Echo {
    fn describe() -> Description {
        Description::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            [Capability::Log, Capability::History],
        )
    }

    fn respond(ctx: RequestContext, msg: Message) -> Result<Option<Reply>, String> {
        log::info(format_args!(
            "echoing {} bytes from {} in chat {}",
            msg.content.len(),
            ctx.sender,
            ctx.chat_id
        ));
        if msg.content.trim() == HISTORY_COMMAND {
            return Ok(Some(Reply::new(describe_history())));
        }
        Ok(Some(Reply::new(format!("echo: {}", msg.content))))
    }
}

fn describe_history() -> String {
    match history::recent(HISTORY_TURNS) {
        Ok(turns) => {
            // The host records the incoming message before the call: it is the last turn.
            let earlier = &turns[..turns.len().saturating_sub(1)];
            match earlier.last() {
                None => "history: 0 earlier turns".to_string(),
                Some(last) => format!(
                    "history: {} earlier turns; the last, from {}: {}",
                    earlier.len(),
                    last.sender,
                    last.content
                ),
            }
        }
        Err(e) => format!("history: unavailable ({e:?})"),
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

    /// `/history` counts the turns before it and quotes the last of them.
    #[test]
    fn history_command_describes_the_conversation() {
        testing::reset();
        let ask = || Echo::respond(testing::context("chat-1"), testing::message("/history"));
        assert_eq!(ask(), Ok(Some(Reply::new("history: 0 earlier turns"))));
        let turns = [
            (history::Role::Incoming, "web", "hello"),
            (history::Role::Outgoing, "echo", "echo: hello"),
            (history::Role::Incoming, "web", "/history"),
        ];
        testing::with_host(|host| {
            host.history = turns
                .iter()
                .map(|(role, sender, content)| history::Turn {
                    role: *role,
                    sender: sender.to_string(),
                    content: content.to_string(),
                    at: "2026-11-23T10:00:00Z".into(),
                })
                .collect();
        });
        assert_eq!(
            ask(),
            Ok(Some(Reply::new(
                "history: 2 earlier turns; the last, from echo: echo: hello"
            )))
        );
    }

    /// Without the grant the command says so instead of failing the call.
    #[test]
    fn history_command_without_the_grant() {
        testing::reset();
        testing::with_host(|host| host.denied.push(Capability::History));
        let reply = Echo::respond(testing::context("chat-1"), testing::message("/history"))
            .unwrap()
            .unwrap();
        assert!(
            reply.content.starts_with("history: unavailable"),
            "{reply:?}"
        );
    }
}
