//! Accounts: registration rules, the profile, authentication, and what one agent can see of
//! another's data.

use crate::common::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn registration() -> Value {
    json!({"email": "ada@example.com", "name": "Ada", "agent_name": "ada-bot"})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().expect("object").remove(key);
    body
}

/// Each required field, when missing, empty or blank, is refused with 422 naming it.
#[tokio::test]
async fn register_requires_each_field() {
    let srv = TestServer::start().await;
    for field in ["email", "name", "agent_name"] {
        for body in [
            without(registration(), field),
            with(registration(), field, json!("")),
            with(registration(), field, json!("   ")),
            with(registration(), field, Value::Null),
        ] {
            let reply = srv.register_raw(body.clone()).await;
            assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
        }
    }
    let reply = srv
        .register_raw(with(registration(), "agent_name", json!(42)))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some("agent_name"));
    // Nothing above created an account, so the email is still free.
    let (status, body) = srv.register_raw(registration()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A body that is not a JSON object is a 422, never a 500.
#[tokio::test]
async fn register_rejects_bodies_that_are_not_objects() {
    let srv = TestServer::start().await;
    for raw in ["", "not json", "[]", "\"text\"", "{\"email\": "] {
        let request = srv
            .request(Method::POST, "/auth/register")
            .header("content-type", "application/json")
            .body(raw);
        let (status, _, body) = srv.exec(request).await;
        assert_error(&(status, body), StatusCode::UNPROCESSABLE_ENTITY, None);
    }
}

/// A malformed email or an unknown framework is 422 naming the field; every known framework
/// is accepted and shown in the profile, `custom` when none is given.
#[tokio::test]
async fn register_validates_email_and_framework() {
    let srv = TestServer::start().await;
    for bad in [
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "a da@example.com",
    ] {
        let reply = srv
            .register_raw(with(registration(), "email", json!(bad)))
            .await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some("email"));
    }
    let reply = srv
        .register_raw(with(registration(), "framework", json!("langchain")))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some("framework"));

    for (i, framework) in [
        Some("claude"),
        Some("openclaw"),
        Some("gpt"),
        Some("custom"),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = with(registration(), "email", json!(format!("f{i}@example.com")));
        if let Some(framework) = framework {
            body["framework"] = json!(framework);
        }
        let (status, registered) = srv.register_raw(body).await;
        assert_eq!(status, StatusCode::OK, "{registered}");
        let key = registered["api_key"].as_str().unwrap();
        let (_, me) = srv.get("/auth/me", key).await;
        assert_eq!(me["framework"], framework.unwrap_or("custom"));
    }
}

/// A webhook_url that is not https or that points at localhost, a private, loopback or
/// link-local address is refused with 400 naming the field; a public https URL is kept.
#[tokio::test]
async fn register_refuses_unsafe_webhook_urls() {
    let srv = TestServer::start().await;
    // Plain http is refused in the compatible network's words, which do not name the field.
    let reply = srv
        .register_raw(with(
            registration(),
            "webhook_url",
            json!("http://hooks.example.com/in"),
        ))
        .await;
    assert_eq!(reply.0, StatusCode::BAD_REQUEST, "{}", reply.1);
    assert_eq!(reply.1["detail"], "Webhook URL must use HTTPS");
    assert_eq!(reply.1["field"], "webhook_url");
    for bad in [
        "not a url",
        "https://localhost/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://192.168.1.20/hook",
        "https://172.16.3.4/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
    ] {
        let reply = srv
            .register_raw(with(registration(), "webhook_url", json!(bad)))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, Some("webhook_url"));
    }
    let (status, registered) = srv
        .register_raw(with(
            registration(),
            "webhook_url",
            json!("https://hooks.example.com/in"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let (_, me) = srv
        .get("/auth/me", registered["api_key"].as_str().unwrap())
        .await;
    assert_eq!(me["webhook_url"], "https://hooks.example.com/in");
}

/// Registration answers `{user_id, agent_id, api_key, message}` with a `cex_` + 64 hex key;
/// a second account with the same email, in any letter case, is 409.
#[tokio::test]
async fn register_answers_once_per_email() {
    let srv = TestServer::start().await;
    let (status, body) = srv.register_raw(registration()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for field in ["user_id", "agent_id", "message"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    let key = body["api_key"].as_str().unwrap();
    let hex = key.strip_prefix("cex_").expect("cex_ prefix");
    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));

    for email in ["ada@example.com", "ADA@Example.COM"] {
        let reply = srv
            .register_raw(with(registration(), "email", json!(email)))
            .await;
        assert_error(&reply, StatusCode::CONFLICT, None);
    }
}

/// GET /auth/me shows the caller's own agent, seen just now; PUT sets and clears the webhook,
/// and a bad URL is 400 and leaves the stored one unchanged.
#[tokio::test]
async fn profile_read_and_webhook_update() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let (status, me) = srv.get("/auth/me", &ada.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], ada.id.as_str());
    assert_eq!(me["name"], "ada");
    assert_eq!(me["webhook_url"], Value::Null);
    assert!(
        me["last_seen_at"].is_string(),
        "the request itself counts: {me}"
    );
    assert_eq!(me["status"], "online");

    let url = "https://hooks.example.com/ada";
    let (status, me) = srv
        .put("/auth/me", &ada.key, json!({"webhook_url": url}))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["webhook_url"], url);
    assert_eq!(me["id"], ada.id.as_str());

    let reply = srv
        .put(
            "/auth/me",
            &ada.key,
            json!({"webhook_url": "http://hooks.example.com/"}),
        )
        .await;
    assert_eq!(reply.0, StatusCode::BAD_REQUEST, "{}", reply.1);
    assert_eq!(reply.1["detail"], "Webhook URL must use HTTPS");
    for bad in ["https://10.1.1.1/", "https://localhost/"] {
        let reply = srv
            .put("/auth/me", &ada.key, json!({"webhook_url": bad}))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, Some("webhook_url"));
    }
    let (_, me) = srv.get("/auth/me", &ada.key).await;
    assert_eq!(me["webhook_url"], url, "unchanged by the refused updates");

    let (status, me) = srv.put("/auth/me", &ada.key, json!({})).await;
    assert_eq!((status, &me["webhook_url"]), (StatusCode::OK, &json!(url)));

    let (status, me) = srv
        .put("/auth/me", &ada.key, json!({"webhook_url": ""}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["webhook_url"], Value::Null);
    let (_, me) = srv.get("/auth/me", &ada.key).await;
    assert_eq!(me["webhook_url"], Value::Null);
}

/// Every authenticated route answers 401 in the contract's shape to a missing, unknown or
/// malformed credential.
#[tokio::test]
async fn missing_or_bad_credentials_are_401() {
    // 98 refusals from one address: far past the default budget of refused credentials,
    // after which the answer is 429 (tests/it/rate_limits.rs); this test is about the 401s.
    let srv = TestServer::start_with(|c| {
        c.server.rate_limit.failed_auth_per_minute = std::num::NonZeroU32::new(1000).unwrap();
    })
    .await;
    let ada = srv.register("ada").await;
    let unknown = format!("cex_{}", "ab".repeat(32));
    let short = format!("{}0", &ada.key[..ada.key.len() - 2]);
    let routes = [
        (Method::GET, "/auth/me"),
        (Method::PUT, "/auth/me"),
        (Method::POST, "/connections/invite"),
        (Method::POST, "/connections/accept"),
        (Method::GET, "/connections"),
        (Method::DELETE, "/connections/some-id"),
        (Method::GET, "/connections/some-id/permissions"),
        (Method::PUT, "/connections/some-id/permissions"),
        (Method::POST, "/messages"),
        (Method::GET, "/messages/stream?timeout=1"),
        (Method::GET, "/messages/inbox"),
        (Method::POST, "/messages/some-id/ack"),
        (Method::GET, "/messages/threads"),
        (Method::GET, "/messages/thread/some-id"),
    ];
    let headers: [Option<String>; 7] = [
        None,
        Some(format!("Bearer {unknown}")),
        Some(format!("Bearer {short}")),
        Some("Bearer cex_not-hex".into()),
        Some("Bearer not.a.jwt".into()),
        Some(format!("Basic {}", ada.key)),
        Some("Bearer".into()),
    ];
    for (method, path) in routes {
        for header in &headers {
            let mut request = srv.request(method.clone(), path).json(&json!({}));
            if let Some(header) = header {
                request = request.header("Authorization", header);
            }
            let (status, headers, body) = srv.exec(request).await;
            assert_error(&(status, body), StatusCode::UNAUTHORIZED, None);
            assert_eq!(
                headers.get("www-authenticate").map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{method} {path}"
            );
        }
    }
    let (status, _) = srv.get("/auth/me", &ada.key).await;
    assert_eq!(status, StatusCode::OK, "the real key still works");
}

/// An agent sees nothing of a conversation it is not part of: not the thread, not its
/// messages in its own inbox, not the connection, and it cannot acknowledge them.
#[tokio::test]
async fn no_data_leaks_across_agents() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let eve = srv.register("eve").await;
    let connection = srv.connect(&ada, &bob, "friends").await;
    // Eve is connected to both, so "not connected" does not hide anything for her.
    srv.connect(&eve, &ada, "friends").await;
    srv.connect(&eve, &bob, "friends").await;
    let message = srv
        .sent(
            &ada,
            &bob,
            json!({"content": "between us", "thread_subject": "secret"}),
        )
        .await;
    let id = message["id"].as_str().unwrap();
    let thread = message["thread_id"].as_str().unwrap();

    let (_, eve_inbox) = srv.get("/messages/inbox", &eve.key).await;
    assert_eq!(eve_inbox["count"], 0, "{eve_inbox}");
    let (_, eve_threads) = srv.get("/messages/threads", &eve.key).await;
    assert_eq!(eve_threads, json!([]));
    let reply = srv
        .get(&format!("/messages/thread/{thread}"), &eve.key)
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert!(!reply.1.to_string().contains("between us"));
    let reply = srv
        .post(&format!("/messages/{id}/ack"), &eve.key, json!({}))
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    let reply = srv
        .get(&format!("/connections/{connection}/permissions"), &eve.key)
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    let reply = srv
        .delete(&format!("/connections/{connection}"), &eve.key)
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    let reply = srv
        .send(
            &eve,
            &bob,
            json!({"content": "let me in", "thread_id": thread}),
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);

    let (_, eve_connections) = srv.get("/connections", &eve.key).await;
    let peers: Vec<&str> = eve_connections
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["connected_agent"]["id"].as_str().unwrap())
        .collect();
    assert!(!peers.contains(&eve.id.as_str()));
    assert!(!eve_connections.to_string().contains(&connection));
    assert!(
        !eve_connections.to_string().contains("webhook_url")
            && !eve_connections.to_string().contains("email"),
        "peers are summaries, not profiles: {eve_connections}"
    );

    // Bob still gets it, untouched by Eve's attempts.
    let (_, inbox) = srv.get("/messages/inbox", &bob.key).await;
    assert_eq!(inbox["messages"][0]["id"], id);
    assert_eq!(inbox["messages"][0]["status"], "delivered");
}

/// Login with a missing field is 422 naming it; a malformed key is 401 like a wrong one.
#[tokio::test]
async fn login_validation() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    for (body, field) in [
        (json!({"api_key": ada.key}), "email"),
        (json!({"email": ada.email}), "api_key"),
    ] {
        let reply = srv
            .call(Method::POST, "/auth/login", None, Some(body))
            .await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let reply = srv
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": ada.email, "api_key": "cex_short"})),
        )
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, None);
}

/// Racing registrations of one email (in different letter cases) create exactly one account.
#[tokio::test]
async fn racing_registrations_make_one_account() {
    let srv = TestServer::start().await;
    let replies = futures::future::join_all((0..8).map(|i| {
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        srv.register_raw(with(registration(), "email", json!(email)))
    }))
    .await;
    let won = replies.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(won, 1, "{replies:?}");
    for reply in replies.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error(reply, StatusCode::CONFLICT, None);
    }
}

/// A request made with a dashboard session token counts as the agent being seen, as one
/// made with its API key does (issue 11, item 11).
#[tokio::test]
async fn session_requests_update_last_seen() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let session = srv.session(&ada).await;
    let (_, before) = srv.get("/auth/me", &session).await;
    srv.clock.advance(chrono::Duration::hours(1));
    let (status, after) = srv.get("/auth/me", &session).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let seen = |me: &Value| {
        chrono::DateTime::parse_from_rfc3339(me["last_seen_at"].as_str().expect("seen")).unwrap()
    };
    assert!(
        seen(&after) - seen(&before) >= chrono::Duration::minutes(59),
        "the session's request counts: {before} then {after}"
    );
}
