//! Chat sessions of public calls: continued by `chatId`, read by the `history` capability.

use crate::common::{ADMIN_KEY, TestServer, agents, daemon, public, token};
use agentx::plugins::Capability;
use reqwest::{Method, StatusCode};
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

/// The attack of issue 11, item 5: token A tells the agent a PIN in chat `X`; token B,
/// naming the same chat id, must not read it, neither from the plugin's memory (kept per
/// conversation) nor from the chat's history; the daemon's own chat `X` is a third session.
#[tokio::test]
async fn a_chat_id_names_a_session_of_the_calling_token_only() {
    let srv = TestServer::start_with(|c| {
        agents(c);
        c.agents.get_mut("echo").unwrap().grants = vec![Capability::History];
    })
    .await;
    let (_, alice) = token(&srv, &["agent:*"], None).await;
    let (_, mallory) = token(&srv, &["agent:*"], None).await;
    let say = |message: &str| json!({"message": message, "context": {"chatId": "X"}});
    let content = |(status, body): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["chat_id"], "X",
            "the caller sees its own chat id: {body}"
        );
        body["content"].as_str().unwrap().to_owned()
    };

    content(
        public(
            &srv,
            "support",
            Some(&alice),
            say("remember: my PIN is 4711"),
        )
        .await,
    );
    let stolen = content(
        public(
            &srv,
            "support",
            Some(&mallory),
            say("what do you remember?"),
        )
        .await,
    );
    assert!(
        !stolen.contains("4711"),
        "token B read token A's memory: {stolen}"
    );
    let own = content(public(&srv, "support", Some(&alice), say("what do you remember?")).await);
    assert!(own.contains("4711"), "token A keeps its session: {own}");

    content(public(&srv, "echo", Some(&alice), say("my PIN is 4711")).await);
    assert_eq!(
        content(public(&srv, "echo", Some(&mallory), say("/history")).await),
        "history: 0 earlier turns"
    );
    let (status, operator) = daemon(
        &srv,
        Method::POST,
        "/task",
        Some(ADMIN_KEY),
        Some(json!({"agent": "echo", "message": "/history", "context": {"chatId": "X"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{operator}");
    assert_eq!(operator["content"], "history: 0 earlier turns");
    assert_eq!(
        content(public(&srv, "echo", Some(&alice), say("/history")).await),
        "history: 2 earlier turns; the last, from echo: echo: my PIN is 4711"
    );
}
