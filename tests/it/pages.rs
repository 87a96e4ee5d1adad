//! `/setup`, `/join/{invite_code}` and `/client/listener`: the guide in both renderings
//! and the script, with this server's URL filled in.

use crate::common::{TestServer, assert_error};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

async fn page(srv: &TestServer, path: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut request = srv.request(Method::GET, path);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

/// `/setup` is markdown for curl and agents, HTML for browsers, and shows the exact
/// commands to register, download and start the listener against this server.
#[tokio::test]
async fn setup_guide_by_accept() {
    let srv = TestServer::start().await;
    let (status, kind, md) = page(&srv, "/setup", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/markdown"), "{kind}");
    for needle in [
        format!("curl -s -X POST {}/auth/register", srv.base),
        format!("curl -s {}/client/listener -o agentx_listener.py", srv.base),
        "python3 agentx_listener.py".to_owned(),
        "export AGENTX_API_KEY=".to_owned(),
    ] {
        assert!(md.contains(&needle), "guide lacks {needle}:\n{md}");
    }
    assert!(
        !md.contains("/connections/accept"),
        "no invite, no accept step"
    );

    let browser = "text/html,application/xhtml+xml,*/*;q=0.8";
    let (status, kind, html) = page(&srv, "/setup", Some(browser)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.starts_with("<!doctype html>") && html.contains("<pre><code>curl -s -X POST"));
    assert!(html.contains(&format!("{}/client/listener", srv.base)));
}

/// `/join/<code>` adds the accept command with the code filled in; the command it shows
/// really accepts the invite; a code that could not be ours is a 404.
#[tokio::test]
async fn join_guide_fills_in_the_invite() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    let (_, invite) = srv.post("/connections/invite", &alice.key, json!({})).await;
    let code = invite["invite_code"].as_str().unwrap();
    let join_path = invite["join_url"]
        .as_str()
        .unwrap()
        .strip_prefix(&srv.base)
        .expect("join_url is on this server")
        .to_owned();

    let (status, _, md) = page(&srv, &join_path, Some("text/markdown")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        md.contains(&format!("{}/connections/accept", srv.base)),
        "{md}"
    );
    let body = format!(r#"-d '{{"invite_code": "{code}", "contract": "friends"}}'"#);
    assert!(md.contains(&body), "{md}");
    let (_, kind, html) = page(&srv, &join_path, Some("text/html")).await;
    assert!(kind.starts_with("text/html") && html.contains(code));

    // The body the guide shows is the one the API takes.
    let shown: Value = serde_json::from_str(&format!(
        r#"{{"invite_code": "{code}", "contract": "friends"}}"#
    ))
    .unwrap();
    let (status, connection) = srv.post("/connections/accept", &bob.key, shown).await;
    assert_eq!(status, StatusCode::OK, "{connection}");

    let response = srv.request(Method::GET, "/join/a'b").send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_error(&(status, body), StatusCode::NOT_FOUND, None);
}

/// The listener is plain text, valid Python, and defaults to the URL it was fetched from.
#[tokio::test]
async fn listener_script_is_served_with_this_url() {
    let srv = TestServer::start().await;
    let (status, kind, script) = page(&srv, "/client/listener", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/plain"), "{kind}");
    assert!(script.starts_with("#!/usr/bin/env python3"));
    assert!(script.contains(&format!("DEFAULT_URL = \"{}\"", srv.base)));

    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("agentx_listener.py");
    std::fs::write(&path, &script).unwrap();
    let compiled = tokio::process::Command::new("python3")
        .arg("-m")
        .arg("py_compile")
        .arg(&path)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
}
