//! The whole path an agent takes: register, connect, message, stream, acknowledge, read
//! the thread.

use crate::common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

/// register → invite → accept → send → stream → ack → thread, checking each answer's shape.
#[tokio::test]
async fn register_connect_message_stream_ack_thread() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    assert!(alice.key.starts_with("cex_") && alice.key.len() == 68);

    let (status, me) = srv.get("/auth/me", &alice.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], alice.id.as_str());
    assert_eq!(me["name"], "alice");
    for field in [
        "user_id",
        "framework",
        "status",
        "webhook_url",
        "last_seen_at",
        "created_at",
    ] {
        assert!(me.get(field).is_some(), "profile lacks {field}: {me}");
    }

    let (status, invite) = srv.post("/connections/invite", &alice.key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let code = invite["invite_code"].as_str().unwrap();
    assert!(
        invite["join_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/join/{code}"))
    );
    assert!(invite["expires_at"].is_string() && invite["message"].is_string());

    let (status, connection) = srv
        .post(
            "/connections/accept",
            &bob.key,
            json!({"invite_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{connection}");
    assert_eq!(connection["contract_type"], "friends");
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["connected_agent"]["id"], alice.id.as_str());

    let (status, list) = srv.get("/connections", &alice.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["connected_agent"]["id"], bob.id.as_str());

    let (status, sent) = srv
        .send(
            &alice,
            &bob,
            json!({"content": "hi bob", "category": "info", "thread_subject": "greetings"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["permission"], "auto");
    assert_eq!(sent["message_type"], "text");

    let (status, inbox) = srv.get("/messages/stream?timeout=5", &bob.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inbox["count"], 1);
    assert_eq!(inbox["instructions_version"], "4");
    let message = &inbox["messages"][0];
    assert_eq!(message["id"], sent["id"]);
    assert_eq!(message["content"], "hi bob");
    assert_eq!(message["status"], "delivered");

    let id = message["id"].as_str().unwrap();
    let (status, ack) = srv
        .post(&format!("/messages/{id}/ack"), &bob.key, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ack, json!({"status": "acknowledged"}));

    let (status, threads) = srv.get("/messages/threads", &bob.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(threads[0]["subject"], "greetings");
    let thread_id = threads[0]["id"].as_str().unwrap();

    let (status, reply) = srv
        .send(
            &bob,
            &alice,
            json!({"content": "hi alice", "thread_id": thread_id, "message_type": "response"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["permission"], serde_json::Value::Null);

    let (status, thread) = srv
        .get(&format!("/messages/thread/{thread_id}"), &alice.key)
        .await;
    assert_eq!(status, StatusCode::OK);
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["status"], "read");
    assert!(messages[0]["acknowledged_at"].is_string());
    assert_eq!(messages[1]["content"], "hi alice");
    assert_eq!(thread["thread"]["id"], thread_id);
}

/// Every message whose send was acknowledged with 200 is still there after a restart on the
/// same data directory, and nothing delivered before the restart is delivered again.
#[tokio::test]
async fn acknowledged_messages_survive_a_restart() {
    let mut srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    srv.connect(&alice, &bob, "friends").await;
    let mut sent = Vec::new();
    for i in 0..20 {
        let (status, m) = srv
            .send(&alice, &bob, json!({"content": format!("m{i}")}))
            .await;
        assert_eq!(status, StatusCode::OK);
        sent.push(m["id"].as_str().unwrap().to_owned());
    }
    let (_, first) = srv.get("/messages/inbox?limit=5", &bob.key).await;
    assert_eq!(first["count"], 5);

    srv.restart().await;

    let (status, rest) = srv.get("/messages/inbox?limit=200", &bob.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rest["count"], 15,
        "the 5 already delivered are not handed out again"
    );
    let mut seen: Vec<String> = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["messages"].as_array().unwrap())
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    sent.sort();
    assert_eq!(seen, sent);
    let (status, _) = srv.get("/auth/me", &alice.key).await;
    assert_eq!(status, StatusCode::OK, "API keys survive the restart");
}

/// An invite expires 24 h after creation (time moved by the injectable clock).
#[tokio::test]
async fn invites_expire_after_a_day() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    let (_, invite) = srv.post("/connections/invite", &alice.key, json!({})).await;
    srv.clock
        .advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    let (status, body) = srv
        .post(
            "/connections/accept",
            &bob.key,
            json!({"invite_code": invite["invite_code"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("expired"));
}

/// Login needs the email and the API key: the email alone, or a wrong key, gets 401; the
/// JWT it returns is a working session for the API.
#[tokio::test]
async fn login_needs_email_and_key() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let login = |email: String, key: String| {
        let srv = &srv;
        async move {
            srv.call(
                reqwest::Method::POST,
                "/auth/login",
                None,
                Some(json!({"email": email, "api_key": key})),
            )
            .await
        }
    };
    let (status, session) = login(alice.email.to_uppercase(), alice.key.clone()).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["name"], "alice owner");
    let token = session["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let (status, me) = srv.get("/auth/me", token).await;
    assert_eq!(
        (status, me["id"].as_str()),
        (StatusCode::OK, Some(alice.id.as_str()))
    );

    let wrong_key = format!("cex_{}", "0".repeat(64));
    let (unknown_email, a) = login("nobody@example.com".into(), alice.key.clone()).await;
    let (bad_key, b) = login(alice.email.clone(), wrong_key).await;
    assert_eq!(unknown_email, StatusCode::UNAUTHORIZED);
    assert_eq!(bad_key, StatusCode::UNAUTHORIZED);
    assert_eq!(a, b, "the same answer for both");
}

/// Both listeners answer `/health`; `/openapi.json` documents every JSON route of the public
/// listener, the protocols' (OpenAI, A2A, MCP) included.
#[tokio::test]
async fn health_and_openapi() {
    let srv = TestServer::start().await;
    for base in [&srv.base, &srv.daemon] {
        let body = srv
            .json_at(reqwest::Method::GET, format!("{base}/health"))
            .await;
        assert_eq!(body, json!({"status": "ok"}));
    }
    let api = srv
        .json_at(reqwest::Method::GET, format!("{}/openapi.json", srv.base))
        .await;
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    let paths = api["paths"].as_object().unwrap();
    for (path, method) in [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/me", "get"),
        ("/auth/me", "put"),
        ("/connections/invite", "post"),
        ("/connections/accept", "post"),
        ("/connections", "get"),
        ("/connections/{id}", "delete"),
        ("/connections/{id}/permissions", "get"),
        ("/connections/{id}/permissions", "put"),
        ("/contracts", "get"),
        ("/messages", "post"),
        ("/messages/stream", "get"),
        ("/messages/inbox", "get"),
        ("/messages/{id}/ack", "post"),
        ("/messages/threads", "get"),
        ("/messages/thread/{id}", "get"),
        ("/admin/announcements", "post"),
        ("/admin/announcements", "get"),
        ("/auth/webhook-secret", "post"),
        ("/webhooks/deliveries", "get"),
        ("/webhooks/deliveries/{id}/replay", "post"),
        ("/api/public/agents/{id}/messages", "post"),
        ("/api/task/stream", "get"),
        ("/v1/chat/completions", "post"),
        ("/v1/models", "get"),
        ("/a2a", "get"),
        ("/a2a/{id}/.well-known/agent-card.json", "get"),
        ("/a2a/{id}", "post"),
        ("/mcp", "post"),
        ("/health", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    // Query parameters are documented as such, and required fields as required.
    for (path, name) in [
        ("/messages/stream", "timeout"),
        ("/messages/inbox", "limit"),
        ("/api/task/stream", "agent"),
    ] {
        let params = paths[path]["get"]["parameters"].as_array().unwrap();
        let param = params.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(param["in"], "query", "{path} {name}");
        assert_eq!(param["required"], false, "{path} {name}");
    }
    let schemas = &api["components"]["schemas"];
    for (schema, fields) in [
        ("Registration", &["email", "name", "agent_name"][..]),
        ("Credentials", &["email", "api_key"]),
        ("OutgoingMessage", &["to_agent_id", "content"]),
        ("AcceptInvite", &["invite_code"]),
        ("PublicMessage", &["message"]),
        ("CompletionRequest", &["model", "messages"]),
    ] {
        let required = schemas[schema]["required"].as_array().unwrap();
        for field in fields {
            assert!(required.contains(&json!(field)), "{schema}.{field}");
        }
    }
}
