//! Admin announcements: the admin key, the answer's shape, and delivery to every agent
//! exactly once by inbox or by stream.

use crate::common::{ADMIN_KEY, TestServer, assert_error};
use crate::common::{revoke, token};
use agentx::server::Secrets;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn announcement() -> Option<Value> {
    Some(json!({"title": "Maintenance", "content": "Down at noon", "version": "5"}))
}

/// Without X-Admin-Key the admin routes are 422 naming the header; with a wrong key, 403;
/// neither publishes anything.
#[tokio::test]
async fn admin_key_is_required() {
    let srv = TestServer::start().await;
    for method in [Method::POST, Method::GET] {
        let body = (method == Method::POST).then(announcement).flatten();
        let reply = srv
            .admin(method.clone(), "/admin/announcements", None, body.clone())
            .await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("X-Admin-Key"),
        );
        for wrong in ["wrong", "", &ADMIN_KEY[1..]] {
            let reply = srv
                .admin(
                    method.clone(),
                    "/admin/announcements",
                    Some(wrong),
                    body.clone(),
                )
                .await;
            assert_error(&reply, StatusCode::FORBIDDEN, None);
        }
    }
    // An agent's API key is no admin key either.
    let ada = srv.register("ada").await;
    let reply = srv.post("/admin/announcements", &ada.key, json!({})).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("X-Admin-Key"),
    );

    let (status, list) = srv
        .admin(Method::GET, "/admin/announcements", Some(ADMIN_KEY), None)
        .await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    assert_eq!(srv.inbox(&ada, 50).await["announcements"], json!([]));
}

/// `dashboard:write` includes the admin API: such an `agx_live_` token works as Bearer where
/// the admin key does; `dashboard:read` is 403, a revoked token 401.
#[tokio::test]
async fn dashboard_write_tokens_reach_the_admin_api() {
    let srv = TestServer::start().await;
    let (writer_id, writer) = token(&srv, &["dashboard:write"], None).await;
    let (_, reader) = token(&srv, &["dashboard:read"], None).await;
    let as_token = |method: Method, path: &str, token: &str, body: Option<Value>| {
        let mut request = srv.request(method, path).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        srv.exec(request)
    };
    let (status, _, published) = as_token(
        Method::POST,
        "/admin/announcements",
        &writer,
        announcement(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published["title"], "Maintenance");
    for path in ["/admin/announcements", "/admin/agents", "/admin/tokens"] {
        let (status, _, body) = as_token(Method::GET, path, &writer, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let (status, _, body) = as_token(Method::GET, path, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (status, _, _) = as_token(
        Method::POST,
        "/admin/announcements",
        &reader,
        announcement(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    assert_eq!(revoke(&srv, &writer_id).await.0, StatusCode::NO_CONTENT);
    let (status, _, _) = as_token(Method::GET, "/admin/announcements", &writer, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, list) = srv
        .admin(Method::GET, "/admin/announcements", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only the writer published"
    );
}

/// A server without an admin key refuses every admin request with 403, whatever key is sent.
#[tokio::test]
async fn unset_admin_key_closes_admin_routes() {
    let srv = TestServer::start_with_secrets(
        |_| {},
        Secrets {
            jwt_secret: None,
            admin_key: None,
        },
    )
    .await;
    for key in [ADMIN_KEY, "", "anything"] {
        let reply = srv
            .admin(
                Method::POST,
                "/admin/announcements",
                Some(key),
                announcement(),
            )
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, None);
        let reply = srv
            .admin(Method::GET, "/admin/announcements", Some(key), None)
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, None);
    }
}

/// A published announcement is answered as `{id, title, content, version, created_at,
/// source: "agentx-platform"}`; missing fields are 422 naming them.
#[tokio::test]
async fn announcement_shape_and_validation() {
    let srv = TestServer::start().await;
    let (status, body) = srv
        .admin(
            Method::POST,
            "/admin/announcements",
            Some(ADMIN_KEY),
            announcement(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    for field in ["id", "title", "content", "version", "created_at", "source"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    assert_eq!(keys.len(), 6, "{body}");
    assert_eq!(body["title"], "Maintenance");
    assert_eq!(body["content"], "Down at noon");
    assert_eq!(body["version"], "5");
    assert_eq!(body["source"], "agentx-platform");

    for (without, field) in [("title", "title"), ("content", "content")] {
        let mut form = announcement().unwrap();
        form.as_object_mut().unwrap().remove(without);
        let reply = srv
            .admin(
                Method::POST,
                "/admin/announcements",
                Some(ADMIN_KEY),
                Some(form),
            )
            .await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let reply = srv
        .admin(
            Method::POST,
            "/admin/announcements",
            Some(ADMIN_KEY),
            Some(json!({"title": "t", "content": "c", "version": {"major": 5}})),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some("version"));
}

/// An announcement reaches every agent exactly once: a waiting stream wakes with it, another
/// agent finds it in its inbox, and neither gets it again on the next poll.
#[tokio::test]
async fn announcements_reach_each_agent_once() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;

    let waiting = tokio::spawn({
        let (base, key) = (srv.base.clone(), ada.key.clone());
        async move {
            reqwest::Client::new()
                .get(format!("{base}/messages/stream?timeout=30"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    // Only makes it likely the stream is already waiting; it answers either way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let published = srv.announce("Welcome").await;

    let streamed = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting stream wakes long before its 30 s")
        .unwrap();
    assert_eq!(streamed["announcements"], json!([published]));
    assert_eq!(streamed["count"], 0);

    let inbox = srv.inbox(&bob, 50).await;
    assert_eq!(inbox["announcements"], json!([published]));

    assert_eq!(srv.inbox(&ada, 50).await["announcements"], json!([]));
    assert_eq!(srv.inbox(&bob, 50).await["announcements"], json!([]));
    let (a, b) = tokio::join!(srv.stream(&ada, 1), srv.stream(&bob, 1));
    assert_eq!(
        (&a["announcements"], &b["announcements"]),
        (&json!([]), &json!([]))
    );

    // The next one comes alongside messages, still once.
    srv.connect(&ada, &bob, "friends").await;
    let message = srv.sent(&ada, &bob, json!({"content": "hi"})).await;
    let second = srv.announce("Second").await;
    let inbox = srv.stream(&bob, 5).await;
    assert_eq!(inbox["announcements"], json!([second]));
    assert_eq!(inbox["messages"][0]["id"], message["id"]);
    assert_eq!(srv.inbox(&bob, 50).await["announcements"], json!([]));
}

/// Announcements delivered before a restart are not delivered again after it.
#[tokio::test]
async fn announcement_cursor_survives_a_restart() {
    let mut srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let first = srv.announce("one").await;
    assert_eq!(srv.inbox(&ada, 50).await["announcements"], json!([first]));
    srv.restart().await;
    assert_eq!(srv.inbox(&ada, 50).await["announcements"], json!([]));
    let second = srv.announce("two").await;
    assert_eq!(srv.inbox(&ada, 50).await["announcements"], json!([second]));
}

/// GET /admin/announcements lists them all, newest first.
#[tokio::test]
async fn announcements_are_listed_newest_first() {
    let srv = TestServer::start().await;
    let mut published = Vec::new();
    for title in ["one", "two", "three"] {
        published.push(srv.announce(title).await);
        srv.clock.advance(chrono::Duration::seconds(1));
    }
    let (status, list) = srv
        .admin(Method::GET, "/admin/announcements", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    published.reverse();
    assert_eq!(list, Value::Array(published));
}

/// An inbox and a stream racing for the same agent's announcement: exactly one gets it.
#[tokio::test]
async fn racing_polls_share_one_announcement() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    srv.connect(&bob, &ada, "friends").await;
    for round in 0..5 {
        let published = srv.announce(&format!("round {round}")).await;
        let (a, b) = tokio::join!(
            async {
                let inbox = srv.inbox(&ada, 50).await;
                // Releases the stream if the inbox won, rather than waiting out its timeout.
                srv.sent(&bob, &ada, json!({"content": "release"})).await;
                inbox
            },
            srv.stream(&ada, 30)
        );
        let mut got: Vec<Value> = a["announcements"].as_array().unwrap().clone();
        got.extend(b["announcements"].as_array().unwrap().iter().cloned());
        assert_eq!(got, [published], "round {round}");
        srv.inbox(&ada, 50).await;
    }
}
