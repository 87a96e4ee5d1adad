//! Chat sessions of public calls: continued by `chatId`, read by the `history` capability.

use crate::common::{TestServer, agents, public, token};
use agentx::plugins::Capability;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Calls with the same `chatId` share a session (the faq plugin remembers per chat); a
/// call with another chat id does not see it.
#[tokio::test]
async fn chat_session_continues_with_the_same_chat_id() {
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:support"], None).await;
    let say = |message: &str, chat: &str| json!({"message": message, "context": {"chatId": chat}});
    let (status, first) = public(
        &srv,
        "support",
        Some(&app),
        say("remember: the sky is green", "chat-a"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["chat_id"], "chat-a");
    let (_, recall) = public(
        &srv,
        "support",
        Some(&app),
        say("what do you remember?", "chat-a"),
    )
    .await;
    assert!(
        recall["content"]
            .as_str()
            .unwrap()
            .contains("the sky is green"),
        "{recall}"
    );
    let (_, other) = public(
        &srv,
        "support",
        Some(&app),
        say("what do you remember?", "chat-b"),
    )
    .await;
    assert!(
        !other["content"]
            .as_str()
            .unwrap()
            .contains("the sky is green"),
        "{other}"
    );
}

/// The `history` capability reads a public chat's session: turns of earlier calls with the
/// same `chatId` (the incoming message and the agent's reply), and nothing of other chats.
#[tokio::test]
async fn history_reads_the_public_chat_session() {
    let srv = TestServer::start_with(|c| {
        agents(c);
        c.agents.get_mut("echo").unwrap().grants = vec![Capability::History];
    })
    .await;
    let (_, app) = token(&srv, &["agent:echo"], None).await;
    let say = |message: &str, chat: &str| json!({"message": message, "context": {"sender": "web", "chatId": chat}});
    let reply = |(status, body): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::OK, "{body}");
        body["content"].as_str().unwrap().to_owned()
    };
    let call = |message: &'static str, chat: &'static str| {
        public(&srv, "echo", Some(&app), say(message, chat))
    };
    assert_eq!(
        reply(call("/history", "h").await),
        "history: 0 earlier turns"
    );
    assert_eq!(reply(call("hello", "h").await), "echo: hello");
    assert_eq!(
        reply(call("/history", "h").await),
        "history: 4 earlier turns; the last, from echo: echo: hello"
    );
    assert_eq!(
        reply(call("/history", "other").await),
        "history: 0 earlier turns"
    );
}
