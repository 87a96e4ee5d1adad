//! The compatibility details of `../shared/spec/api.md` that clients of the compatible
//! network match on: inbox and stream order, the exact error texts, the `/join` refusals and
//! the pages' content types and headers.

use crate::common::{TestAgent, TestServer, message_ids};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// Asserts an error answer word for word: status, `detail`, `code` and `field` (`None`: absent).
#[track_caller]
fn assert_exact(
    reply: &(StatusCode, Value),
    status: StatusCode,
    code: &str,
    field: Option<&str>,
    detail: &str,
) {
    let (got, body) = reply;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["detail"], detail, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["field"].as_str(), field, "{body}");
}

/// Three messages from Bob to Alice in one thread, a clock second apart; their ids in the
/// order sent.
async fn three_messages(srv: &TestServer, alice: &TestAgent, bob: &TestAgent) -> Vec<String> {
    let mut sent: Vec<String> = Vec::new();
    let mut thread = Value::Null;
    for n in 1..=3 {
        let message = srv
            .sent(
                bob,
                alice,
                json!({"content": format!("number {n}"), "thread_id": thread}),
            )
            .await;
        thread = message["thread_id"].clone();
        sent.push(message["id"].as_str().unwrap().to_owned());
        srv.clock.advance(chrono::Duration::seconds(1));
    }
    sent
}

/// Inbox and stream list the newest message first; the thread view stays oldest first.
#[tokio::test]
async fn inbox_and_stream_are_newest_first() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    srv.connect(&alice, &bob, "friends").await;

    let sent = three_messages(&srv, &alice, &bob).await;
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    let inbox = srv.inbox(&alice, 50).await;
    assert_eq!(message_ids(&inbox), newest_first, "{inbox}");

    let thread_id = inbox["messages"][0]["thread_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, thread) = srv
        .get(&format!("/messages/thread/{thread_id}"), &alice.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{thread}");
    let in_thread: Vec<&str> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(in_thread, sent, "the thread is oldest first");

    let sent = three_messages(&srv, &alice, &bob).await;
    let stream = srv.stream(&alice, 5).await;
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    assert_eq!(message_ids(&stream), newest_first, "{stream}");
}

/// Each refusal the compatible network's clients match on, in its exact words.
#[tokio::test]
async fn refusals_in_the_compatible_words() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    let carol = srv.register("carol").await;

    let (_, invite) = srv.post("/connections/invite", &alice.key, json!({})).await;
    let own = srv
        .post(
            "/connections/accept",
            &alice.key,
            json!({"invite_code": invite["invite_code"]}),
        )
        .await;
    let words = "You can't connect with yourself";
    assert_exact(
        &own,
        StatusCode::BAD_REQUEST,
        "own_invite",
        Some("invite_code"),
        words,
    );

    let to_self = srv
        .post(
            "/messages",
            &alice.key,
            json!({"to_agent_id": alice.id, "content": "hi me"}),
        )
        .await;
    let words = "Can't send a message to yourself";
    assert_exact(
        &to_self,
        StatusCode::BAD_REQUEST,
        "self_message",
        Some("to_agent_id"),
        words,
    );

    let connection = srv.connect(&alice, &bob, "friends").await;
    let permissions = format!("/connections/{connection}/permissions");
    let not_yours = "Not your connection";
    for reply in [
        srv.get(&permissions, &carol.key).await,
        srv.put(
            &permissions,
            &carol.key,
            json!({"category": "info", "level": "ask"}),
        )
        .await,
        srv.delete(&format!("/connections/{connection}"), &carol.key)
            .await,
    ] {
        assert_exact(
            &reply,
            StatusCode::FORBIDDEN,
            "not_your_connection",
            None,
            not_yours,
        );
    }

    for (body, field, words) in [
        (
            json!({"category": "info", "level": "maybe"}),
            "level",
            "Invalid level 'maybe'. Must be one of: ask, auto, never",
        ),
        (
            json!({"category": "gossip", "level": "ask"}),
            "category",
            "Invalid category 'gossip'. Must be one of: info, requests, personal",
        ),
    ] {
        let reply = srv.put(&permissions, &alice.key, body).await;
        assert_exact(
            &reply,
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some(field),
            words,
        );
    }

    let http_hook = srv
        .put(
            "/auth/me",
            &alice.key,
            json!({"webhook_url": "http://hooks.example.com/in"}),
        )
        .await;
    let words = "Webhook URL must use HTTPS";
    assert_exact(
        &http_hook,
        StatusCode::BAD_REQUEST,
        "invalid_webhook_url",
        Some("webhook_url"),
        words,
    );
}

/// `GET /join/{code}`: a live invite gets the guide as plain text; an unknown code is 404
/// and a used one 400, as JSON, or as an HTML page with that status for a browser.
#[tokio::test]
async fn join_refuses_unknown_and_used_invites() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    let (_, invite) = srv.post("/connections/invite", &alice.key, json!({})).await;
    let code = invite["invite_code"].as_str().unwrap();
    let join = format!("/join/{code}");

    let (status, headers, _) = srv.exec(srv.request(Method::GET, &join)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    let (_, headers, _) = srv.exec(srv.request(Method::GET, "/setup")).await;
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");

    let unknown = "/join/0123456789abcdef01234567";
    let (status, _, body) = srv.exec(srv.request(Method::GET, unknown)).await;
    assert_exact(
        &(status, body),
        StatusCode::NOT_FOUND,
        "invite_not_found",
        None,
        "Invalid invite code",
    );

    let (status, accepted) = srv
        .post(
            "/connections/accept",
            &bob.key,
            json!({"invite_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (status, _, body) = srv.exec(srv.request(Method::GET, &join)).await;
    let words = "This invite has already been used";
    assert_exact(
        &(status, body),
        StatusCode::BAD_REQUEST,
        "invite_used",
        Some("invite_code"),
        words,
    );

    for (path, status, words) in [
        (unknown, StatusCode::NOT_FOUND, "Invalid invite code"),
        (join.as_str(), StatusCode::BAD_REQUEST, words),
    ] {
        let response = srv
            .request(Method::GET, path)
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let kind = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(kind.starts_with("text/html"), "{kind}");
        let page = response.text().await.unwrap();
        assert!(page.contains(words) && page.contains("/setup"), "{page}");
    }
}

/// The listener script comes as a download named `listener.py`.
#[tokio::test]
async fn listener_is_a_download() {
    let srv = TestServer::start().await;
    let response = srv
        .request(Method::GET, "/client/listener")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"listener.py\""
    );
}
