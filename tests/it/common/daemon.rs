//! Calls to the daemon listener: tokens, reloads, hosted agents' invites.

use super::{ADMIN_KEY, TestAgent, TestServer, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A daemon request with `X-Admin-Key: key` (none when `None`).
pub async fn daemon(
    srv: &TestServer,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = srv.http.request(method, format!("{}{path}", srv.daemon));
    if let Some(key) = key {
        request = request.header("X-Admin-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, _, body) = send(request).await;
    (status, body)
}

/// Creates a token with `scopes` (and `expires_days`); returns `(id, token)`.
pub async fn token(
    srv: &TestServer,
    scopes: &[&str],
    expires_days: Option<i64>,
) -> (String, String) {
    let (status, created) = daemon(
        srv,
        Method::POST,
        "/tokens",
        Some(ADMIN_KEY),
        Some(json!({"name": "test", "scopes": scopes, "expires_days": expires_days})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["token"].as_str().unwrap().to_owned(),
    )
}

/// `DELETE /tokens/{id}` on the daemon with the admin key.
pub async fn revoke(srv: &TestServer, id: &str) -> (StatusCode, Value) {
    let path = format!("/tokens/{id}");
    daemon(srv, Method::DELETE, &path, Some(ADMIN_KEY), None).await
}

/// `POST /reload`, which must succeed; returns its report.
pub async fn reload(srv: &TestServer) -> Value {
    let (status, report) = daemon(srv, Method::POST, "/reload", Some(ADMIN_KEY), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

/// An invite from hosted agent `agent` (through the daemon), accepted by `by`.
pub async fn connect_hosted(srv: &TestServer, agent: &str, by: &TestAgent) {
    let path = format!("/agents/{agent}/invite");
    let (_, invite) = daemon(srv, Method::POST, &path, Some(ADMIN_KEY), None).await;
    assert!(
        invite["join_url"].as_str().unwrap().starts_with(&srv.base),
        "{invite}"
    );
    let (status, body) = srv
        .post(
            "/connections/accept",
            &by.key,
            json!({"invite_code": invite["invite_code"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
