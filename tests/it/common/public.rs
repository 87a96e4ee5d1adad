//! Calls to the public-agent endpoint, and the shape of its refusals.

use super::{TestServer, send};
use reqwest::StatusCode;
use serde_json::Value;

/// `POST /api/public/agents/{agent}/messages` with a raw body.
pub async fn public_raw(
    srv: &TestServer,
    agent: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    public_at(&srv.http, &srv.base, agent, token, body).await
}

/// The same, to the public listener at `base`.
pub async fn public_at(
    http: &reqwest::Client,
    base: &str,
    agent: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = http
        .post(format!("{base}/api/public/agents/{agent}/messages"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let (status, _, body) = send(request).await;
    (status, body)
}

pub async fn public(
    srv: &TestServer,
    agent: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    public_raw(srv, agent, token, &body.to_string()).await
}

#[track_caller]
pub fn assert_refused(reply: &(StatusCode, Value), status: StatusCode) {
    assert_eq!(reply.0, status, "{}", reply.1);
    assert!(
        reply.1["error"].as_str().is_some_and(|e| !e.is_empty()),
        "errors are {{\"error\": ...}}: {}",
        reply.1
    );
}
