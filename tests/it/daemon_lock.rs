//! The locked daemon (issue 11, item 7): a web page the operator visits cannot drive the
//! loopback daemon, by a cross-origin request or by DNS rebinding, and with an admin key
//! configured nothing but `/health` answers without it.

use crate::common::{ADMIN_KEY, TestServer, agents, send};
use agentx::server::Secrets;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

fn at(srv: &TestServer, method: Method, path: &str) -> RequestBuilder {
    srv.http.request(method, format!("{}{path}", srv.daemon))
}

/// Asserts a refusal in the daemon's `{"error": ...}` shape.
#[track_caller]
fn refused(reply: &(StatusCode, reqwest::header::HeaderMap, Value), status: StatusCode) {
    assert_eq!(reply.0, status, "{}", reply.2);
    assert!(
        reply.2["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        reply.2
    );
}

/// The review's attack: a page makes the operator's browser POST (as `text/plain`, from
/// its own origin, or under a rebound host name) to `/agents/secret/accept` with the
/// attacker's invite. Each of those marks alone gets the request refused, and the private
/// agent is connected to no one.
#[tokio::test]
async fn a_web_page_cannot_connect_a_private_agent() {
    let srv = TestServer::start_with(agents).await;
    let mallory = srv.register("mallory").await;
    let (_, invite) = srv
        .post("/connections/invite", &mallory.key, json!({}))
        .await;
    let code = invite["invite_code"].as_str().unwrap().to_owned();
    let body = |code: &str| json!({ "invite_code": code }).to_string();

    let plain_text = at(&srv, Method::POST, "/agents/secret/accept")
        .header("X-Admin-Key", ADMIN_KEY)
        .header("Content-Type", "text/plain")
        .body(body(&code));
    refused(&send(plain_text).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let no_type = at(&srv, Method::POST, "/agents/secret/accept")
        .header("X-Admin-Key", ADMIN_KEY)
        .body(body(&code));
    refused(&send(no_type).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let cross_origin = at(&srv, Method::POST, "/agents/secret/accept")
        .header("X-Admin-Key", ADMIN_KEY)
        .header("Origin", "https://evil.example")
        .json(&json!({ "invite_code": code }));
    refused(&send(cross_origin).await, StatusCode::FORBIDDEN);

    let port = srv.daemon.rsplit(':').next().unwrap().to_owned();
    let rebound = at(&srv, Method::POST, "/agents/secret/accept")
        .header("X-Admin-Key", ADMIN_KEY)
        .header("Host", format!("evil.example:{port}"))
        .json(&json!({ "invite_code": code }));
    refused(&send(rebound).await, StatusCode::FORBIDDEN);

    let no_key =
        at(&srv, Method::POST, "/agents/secret/accept").json(&json!({ "invite_code": code }));
    refused(&send(no_key).await, StatusCode::UNAUTHORIZED);

    let (_, connections) = srv.get("/connections", &mallory.key).await;
    assert_eq!(connections, json!([]), "nothing was connected");

    // The operator, with the key, from the machine: accepted, and the code was still good.
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        let (status, _, body) =
            send(at(&srv, Method::GET, "/health").header("Host", format!("{host}:{port}"))).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
    let operator = at(&srv, Method::POST, "/agents/secret/accept")
        .header("X-Admin-Key", ADMIN_KEY)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body(&code));
    let (status, _, connection) = send(operator).await;
    assert_eq!(status, StatusCode::OK, "{connection}");
}

/// With an admin key configured, every daemon route but `/health` wants it: missing → 401,
/// wrong → 403, in the daemon's error shape (plugin logs and `/task` included).
#[tokio::test]
async fn every_daemon_route_wants_the_admin_key() {
    let srv = TestServer::start_with(agents).await;
    let routes = [
        (Method::POST, "/agents/echo/invite", None),
        (
            Method::POST,
            "/agents/echo/accept",
            Some(json!({"invite_code": "x"})),
        ),
        (Method::GET, "/agents/echo/plugins", None),
        (
            Method::POST,
            "/task",
            Some(json!({"agent": "echo", "message": "hi"})),
        ),
        (Method::POST, "/reload", None),
        (Method::GET, "/tokens", None),
        (Method::GET, "/nowhere", None),
    ];
    for (method, path, body) in routes {
        for (key, status) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some("wrong"), StatusCode::FORBIDDEN),
        ] {
            let mut request = at(&srv, method.clone(), path);
            if let Some(key) = key {
                request = request.header("X-Admin-Key", key);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let reply = send(request).await;
            assert_eq!(reply.0, status, "{method} {path} with {key:?}: {}", reply.2);
            refused(&reply, status);
        }
    }
    let (status, _, body) = send(at(&srv, Method::GET, "/health")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, _, plugins) =
        send(at(&srv, Method::GET, "/agents/echo/plugins").header("X-Admin-Key", ADMIN_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{plugins}");
}

/// Without a configured admin key the operator routes stay open on loopback (token routes
/// stay closed), and the browser defences hold all the same.
#[tokio::test]
async fn without_an_admin_key_only_loopback_json_requests_pass() {
    let srv = TestServer::start_with_secrets(agents, Secrets::default()).await;
    let (status, _, invite) = send(at(&srv, Method::POST, "/agents/echo/invite")).await;
    assert_eq!(status, StatusCode::OK, "{invite}");
    let (status, _, _) = send(at(&srv, Method::GET, "/tokens")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let cross_origin = at(&srv, Method::POST, "/agents/echo/invite").header("Origin", "null");
    refused(&send(cross_origin).await, StatusCode::FORBIDDEN);
    let form = at(&srv, Method::POST, "/task")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("agent=echo&message=hi");
    refused(&send(form).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
