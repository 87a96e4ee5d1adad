//! Public agents: `agx_live_` tokens through the daemon, the public endpoint's checks in the
//! contract's order, chat sessions, task events over SSE, and access changed by a reload.

use crate::common::{ADMIN_KEY, TestServer, send};
use crate::plugins::fixture;
use agentx::config::{Access, AgentConfig, Config};
use agentx::plugins::Capability;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn agent(responder: &str, access: Access) -> AgentConfig {
    AgentConfig {
        responder: Some(repo(responder)),
        access,
        ..AgentConfig::default()
    }
}

/// `support` (faq, public), `echo` (public) and `secret` (echo, private).
pub fn agents(c: &mut Config) {
    let mut support = agent("plugins/faq", Access::Public);
    support.workspace = Some(repo("examples/workspaces/support"));
    support.grants = vec![Capability::Memory, Capability::Workspace];
    c.agents.insert("support".into(), support);
    c.agents
        .insert("echo".into(), agent("plugins/echo", Access::Public));
    c.agents
        .insert("secret".into(), agent("plugins/echo", Access::Private));
}

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
async fn public_at(
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
fn assert_refused(reply: &(StatusCode, Value), status: StatusCode) {
    assert_eq!(reply.0, status, "{}", reply.1);
    assert!(
        reply.1["error"].as_str().is_some_and(|e| !e.is_empty()),
        "errors are {{\"error\": ...}}: {}",
        reply.1
    );
}

/// Tokens are made, listed and revoked through the daemon behind the admin key; the token
/// is `agx_live_` + 64 hex, shown only on creation; bad scopes are refused by name.
#[tokio::test]
async fn tokens_are_managed_through_the_daemon() {
    let srv = TestServer::start().await;
    let body = json!({"name": "app", "scopes": ["agent:support"]});
    let missing = daemon(&srv, Method::POST, "/tokens", None, Some(body.clone())).await;
    assert_refused(&missing, StatusCode::UNAUTHORIZED);
    let wrong = daemon(&srv, Method::POST, "/tokens", Some("nope"), Some(body)).await;
    assert_refused(&wrong, StatusCode::FORBIDDEN);

    let (status, created) = daemon(
        &srv,
        Method::POST,
        "/tokens",
        Some(ADMIN_KEY),
        Some(json!({"name": "app", "scopes": ["agent:support", "dashboard:read"], "expires_days": 30})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let token = created["token"].as_str().unwrap();
    let hex = token.strip_prefix("agx_live_").expect("agx_live_ prefix");
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    assert_eq!(created["name"], "app");
    assert!(created["expires_at"].is_string(), "{created}");

    for bad in [json!(["agent:"]), json!(["root"]), json!([])] {
        let refused = daemon(
            &srv,
            Method::POST,
            "/tokens",
            Some(ADMIN_KEY),
            Some(json!({"name": "x", "scopes": bad})),
        )
        .await;
        assert_refused(&refused, StatusCode::BAD_REQUEST);
        assert!(
            refused.1["error"].as_str().unwrap().contains("scopes"),
            "{}",
            refused.1
        );
    }

    let (status, list) = daemon(&srv, Method::GET, "/tokens", Some(ADMIN_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], created["id"]);
    assert!(
        list[0]["revoked_at"].is_null() && list[0]["token"].is_null(),
        "{list:?}"
    );
    assert!(
        !list[0].to_string().contains(hex),
        "the token is never listed"
    );

    let id = created["id"].as_str().unwrap();
    assert_eq!(revoke(&srv, id).await.0, StatusCode::NO_CONTENT);
    let (_, list) = daemon(&srv, Method::GET, "/tokens", Some(ADMIN_KEY), None).await;
    assert!(list[0]["revoked_at"].is_string(), "{list}");
    assert_refused(&revoke(&srv, "nope").await, StatusCode::NOT_FOUND);
}

/// Every status of the public endpoint, in the contract's order of checks: 401 before 404
/// before 403 before 400; then 200 with the task result on channel `public-api`.
#[tokio::test]
async fn public_endpoint_checks_in_order() {
    let srv = TestServer::start_with(agents).await;
    let (_, any) = token(&srv, &["agent:*"], None).await;
    let (_, only_support) = token(&srv, &["agent:support"], None).await;
    let (_, dashboard) = token(&srv, &["dashboard:write"], None).await;
    let ok = json!({"message": "hi"});

    assert_refused(
        &public(&srv, "echo", None, ok.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    let fake = format!("agx_live_{}", "0".repeat(64));
    assert_refused(
        &public(&srv, "echo", Some(&fake), ok.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    // A bad token is 401 even for an agent that does not exist.
    assert_refused(
        &public(&srv, "ghost", Some("cex_x"), ok.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    // 404 before 403: an unknown agent, whatever the scope.
    assert_refused(
        &public(&srv, "ghost", Some(&only_support), ok.clone()).await,
        StatusCode::NOT_FOUND,
    );
    assert_refused(
        &public(&srv, "echo", Some(&only_support), ok.clone()).await,
        StatusCode::FORBIDDEN,
    );
    assert_refused(
        &public(&srv, "echo", Some(&dashboard), ok.clone()).await,
        StatusCode::FORBIDDEN,
    );
    // A private agent is 403 even with agent:*, and before the body is looked at.
    assert_refused(
        &public_raw(&srv, "secret", Some(&any), "{not json").await,
        StatusCode::FORBIDDEN,
    );
    for bad in ["{not json", "{}", r#"{"message": 5}"#, "[]", ""] {
        assert_refused(
            &public_raw(&srv, "echo", Some(&any), bad).await,
            StatusCode::BAD_REQUEST,
        );
    }

    let (status, reply) = public(
        &srv,
        "echo",
        Some(&any),
        json!({"message": "hello", "context": {"sender": "web"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["content"], "echo: hello");
    assert_eq!(reply["agent"], "echo");
    assert_eq!(reply["channel"], "public-api");
    assert!(
        reply["task_id"].as_str().is_some_and(|t| !t.is_empty()),
        "{reply}"
    );
    assert!(
        reply["chat_id"].as_str().is_some_and(|c| !c.is_empty()),
        "a new chat: {reply}"
    );
    let (status, reply) = public(
        &srv,
        "support",
        Some(&only_support),
        json!({"message": "How do I register an agent?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(
        reply["content"]
            .as_str()
            .unwrap()
            .contains("/auth/register"),
        "{reply}"
    );

    // The daemon's POST /task answers in the same shape.
    let (status, task) = daemon(
        &srv,
        Method::POST,
        "/task",
        None,
        Some(json!({"agent": "echo", "message": "yo", "context": {"channel": "cli", "chatId": "c1"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&task), keys(&reply));
    assert_eq!(
        (task["channel"].as_str(), task["chat_id"].as_str()),
        (Some("cli"), Some("c1"))
    );
}

/// An expired token and a token revoked while the server runs are refused on the very
/// next request.
#[tokio::test]
async fn expiry_and_revocation_take_effect_at_once() {
    let srv = TestServer::start_with(agents).await;
    let (_, expiring) = token(&srv, &["agent:echo"], Some(1)).await;
    let (id, revoked) = token(&srv, &["agent:echo"], None).await;
    let hi = json!({"message": "hi"});
    assert_eq!(
        public(&srv, "echo", Some(&expiring), hi.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        public(&srv, "echo", Some(&revoked), hi.clone()).await.0,
        StatusCode::OK
    );

    srv.clock.advance(chrono::Duration::hours(25));
    assert_refused(
        &public(&srv, "echo", Some(&expiring), hi.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_eq!(revoke(&srv, &id).await.0, StatusCode::NO_CONTENT);
    assert_refused(
        &public(&srv, "echo", Some(&revoked), hi).await,
        StatusCode::UNAUTHORIZED,
    );
}

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

/// Writes `agents` as agentx.json in `dir` and points the server's config at it, so
/// `POST /reload` re-reads it.
pub fn config_file(c: &mut Config, dir: &Path, agents: &Value) {
    let path = dir.join("agentx.json");
    std::fs::write(&path, json!({ "agents": agents }).to_string()).unwrap();
    let loaded = Config::load(&path).unwrap();
    c.agents = loaded.agents;
    c.source = loaded.source;
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

/// Replaces agentx.json in `dir` with `agents` the way editors save: a new file renamed over
/// the old one.
pub fn rewrite_config(dir: &Path, agents: &Value) {
    let staged = dir.join(".agentx.json.swp");
    std::fs::write(&staged, json!({ "agents": agents }).to_string()).unwrap();
    std::fs::rename(staged, dir.join("agentx.json")).unwrap();
}

/// `POST /reload`, which must succeed; returns its report.
pub async fn reload(srv: &TestServer) -> Value {
    let (status, report) = daemon(srv, Method::POST, "/reload", None, None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

/// A private agent becomes callable once agentx.json says it is public and the server
/// reloads; the reload reports what changed.
#[tokio::test]
async fn private_becomes_public_on_reload() {
    let dir = tempfile::TempDir::new().unwrap();
    let echo = repo("plugins/echo").display().to_string();
    let srv = TestServer::start_with(|c| {
        config_file(c, dir.path(), &json!({"bot": {"responder": echo}}));
    })
    .await;
    let (_, app) = token(&srv, &["agent:*"], None).await;
    let hi = json!({"message": "hi"});
    assert_refused(
        &public(&srv, "bot", Some(&app), hi.clone()).await,
        StatusCode::FORBIDDEN,
    );

    let agents = json!({"bot": {"responder": echo, "access": "public"}, "new": {"responder": echo, "access": "public"}});
    rewrite_config(dir.path(), &agents);
    let report = reload(&srv).await;
    assert_eq!(report["reloaded"], json!(["bot", "new"]), "{report}");
    assert_eq!(report["failed"], json!([]));
    assert_eq!(
        public(&srv, "bot", Some(&app), hi.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        public(&srv, "new", Some(&app), hi.clone()).await.0,
        StatusCode::OK
    );

    let again = reload(&srv).await;
    assert_eq!(again["unchanged"], json!(["bot", "new"]), "{again}");
}

/// Reads Server-Sent Events from `response` until `done` says enough (or 20 s pass);
/// returns the `(event, data)` pairs read.
pub async fn read_events(
    mut response: reqwest::Response,
    mut done: impl FnMut(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while !done(&events) && Instant::now() < deadline {
        let chunk = tokio::time::timeout_at(deadline.into(), response.chunk()).await;
        let Ok(Ok(Some(chunk))) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                events.push((
                    event,
                    serde_json::from_str(&data).unwrap_or(Value::String(data)),
                ));
            }
        }
    }
    events
}

/// `GET /api/task/stream` needs `dashboard:read` (header or `?token=`) and shows start,
/// text and done of tasks on both channels: a public call and a network message.
#[tokio::test]
async fn task_stream_sees_both_channels() {
    let srv = TestServer::start_with(agents).await;
    let (_, caller) = token(&srv, &["agent:echo"], None).await;
    let (_, viewer) = token(&srv, &["dashboard:read"], None).await;
    let (status, _, _) = srv.exec(srv.request(Method::GET, "/api/task/stream")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = srv
        .exec(srv.request(Method::GET, &format!("/api/task/stream?token={caller}")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let stream = srv
        .request(
            Method::GET,
            &format!("/api/task/stream?agent=echo&token={viewer}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    // A network message to echo, from a connected agent.
    let alice = srv.register("alice").await;
    let (_, invite) = daemon(&srv, Method::POST, "/agents/echo/invite", None, None).await;
    let (status, _) = srv
        .post(
            "/connections/accept",
            &alice.key,
            json!({"invite_code": invite["invite_code"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let network = json!({"to_agent_id": "echo", "content": "over the network", "category": "info"});
    assert_eq!(
        srv.post("/messages", &alice.key, network).await.0,
        StatusCode::OK
    );
    // Another agent's task, which the filter hides.
    let other = json!({"agent": "support", "message": "hello"});
    assert_eq!(
        daemon(&srv, Method::POST, "/task", None, Some(other))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        public(&srv, "echo", Some(&caller), json!({"message": "over http"}))
            .await
            .0,
        StatusCode::OK
    );

    let done_on = |events: &[(String, Value)], channel: &str| {
        events
            .iter()
            .any(|(e, d)| e == "done" && d["channel"] == channel)
    };
    let events = read_events(stream, |events| {
        done_on(events, "network") && done_on(events, "public-api")
    })
    .await;
    assert!(
        done_on(&events, "network") && done_on(&events, "public-api"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|(_, d)| d["agent"] == "echo"),
        "{events:?}"
    );
    let public_task: Vec<&str> = events
        .iter()
        .filter(|(_, d)| d["channel"] == "public-api")
        .map(|(e, _)| e.as_str())
        .collect();
    assert_eq!(public_task, ["start", "text", "done"]);
    let text = events
        .iter()
        .find(|(e, d)| e == "text" && d["channel"] == "network")
        .unwrap();
    assert_eq!(text.1["content"], "echo: over the network");
}

/// `POST /task` with `Accept: text/event-stream`, or `"stream": true`, streams that one
/// task's events and ends.
#[tokio::test]
async fn daemon_task_streams_its_events() {
    let srv = TestServer::start_with(agents).await;
    let task = srv.http.post(format!("{}/task", srv.daemon));
    let by_header = task
        .try_clone()
        .unwrap()
        .header("accept", "text/event-stream")
        .json(&json!({"agent": "echo", "message": "streamed"}));
    let by_field = task.json(&json!({"agent": "echo", "message": "streamed", "stream": true}));
    for request in [by_header, by_field] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let events = read_events(response, |_| false).await;
        let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            kinds,
            ["start", "text", "done"],
            "the stream ends after done: {events:?}"
        );
        assert_eq!(events[2].1["content"], "echo: streamed");
        assert_eq!(events[0].1["channel"], "daemon");
    }
}

/// Public-agent calls are rate-limited per token like every route, answered in their own
/// error shape, on the public listener and on split mode's front alike; the daemon's unknown
/// routes and methods answer `{"error"}` too.
#[tokio::test]
async fn public_calls_are_rate_limited_in_their_error_shape() {
    let burst = 3;
    let limit = |c: &mut Config| {
        c.server.rate_limit.per_second = NonZeroU32::new(1).unwrap();
        c.server.rate_limit.burst = NonZeroU32::new(burst).unwrap();
    };
    let srv = TestServer::start_with(|c| {
        agents(c);
        limit(c);
    })
    .await;
    let (_, app) = token(&srv, &["agent:echo"], None).await;
    let mut config = Config::default();
    config.server.port = 0;
    limit(&mut config);
    let front = agentx::server::start_public(&config, srv.daemon.parse().unwrap())
        .await
        .unwrap();
    for base in [srv.base.clone(), format!("http://{}", front.public_addr)] {
        let mut limited = None;
        // One token a second comes back: twice the burst in well under a second must run out.
        for _ in 0..burst * 2 {
            let reply =
                public_at(&srv.http, &base, "echo", Some(&app), r#"{"message": "hi"}"#).await;
            if reply.0 == StatusCode::TOO_MANY_REQUESTS {
                limited = Some(reply);
                break;
            }
            assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
        }
        assert_refused(
            &limited.expect("the burst runs out"),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    front.stop().await;

    let (status, body) = daemon(&srv, Method::GET, "/nowhere", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = daemon(&srv, Method::GET, "/reload", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].is_string(), "{body}");
}

/// Split mode: a public listener apart from the daemon forwards each call and the task
/// stream to it (the daemon makes the checks); once the daemon is gone, the stream ends and
/// calls get 502 within a second.
#[tokio::test]
async fn split_mode_forwards_and_fails_fast_without_daemon() {
    let mut srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:echo"], None).await;
    let (_, viewer) = token(&srv, &["dashboard:read"], None).await;
    let mut config = Config::default();
    config.server.port = 0;
    let front = agentx::server::start_public(&config, srv.daemon.parse().unwrap())
        .await
        .unwrap();
    let (base, http) = (format!("http://{}", front.public_addr), srv.http.clone());
    let call = |agent: &'static str, token: Option<String>| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            public_at(
                &http,
                &base,
                agent,
                token.as_deref(),
                r#"{"message": "split"}"#,
            )
            .await
        }
    };
    let stream_url = |token: &str| format!("{base}/api/task/stream?agent=echo&token={token}");
    let refused = http.get(stream_url(&app)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.json::<Value>().await.unwrap()["error"].is_string());
    let stream = http.get(stream_url(&viewer)).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    let (status, reply) = call("echo", Some(app.clone())).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["content"], "echo: split");
    let events = read_events(stream, |events| events.iter().any(|(e, _)| e == "done")).await;
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds, ["start", "text", "done"], "{events:?}");
    assert_eq!(events[1].1["content"], "echo: split");
    assert_eq!(events[1].1["channel"], "public-api");
    assert_refused(&call("echo", None).await, StatusCode::UNAUTHORIZED);
    assert_refused(
        &call("ghost", Some(app.clone())).await,
        StatusCode::NOT_FOUND,
    );
    assert_refused(
        &call("support", Some(app.clone())).await,
        StatusCode::FORBIDDEN,
    );

    let open_stream = http.get(stream_url(&viewer)).send().await.unwrap();
    assert_eq!(open_stream.status(), StatusCode::OK);
    srv.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), read_events(open_stream, |_| false));
    assert!(
        ended.await.is_ok(),
        "the forwarded stream ends with the daemon"
    );
    let started = Instant::now();
    let reply = call("echo", Some(app)).await;
    assert_refused(&reply, StatusCode::BAD_GATEWAY);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let stream = http.get(stream_url(&viewer)).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::BAD_GATEWAY);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    front.stop().await;
}

/// A public agent whose responder keeps failing is marked degraded after 5 consecutive
/// failures and from then on answers 503 without running; one with no responder at all
/// answers 503 too. A reload giving both a working plugin brings them back.
#[tokio::test]
async fn degraded_or_missing_responder_is_503_until_reloaded() {
    let dir = tempfile::TempDir::new().unwrap();
    let srv = TestServer::start_with(|c| {
        config_file(
            c,
            dir.path(),
            &json!({
                "flaky": {"responder": fixture("trap").display().to_string(), "access": "public"},
                "mute": {"access": "public"},
            }),
        );
    })
    .await;
    let (_, app) = token(&srv, &["agent:*"], None).await;
    let hi = json!({"message": "hi"});

    assert_refused(
        &public(&srv, "mute", Some(&app), hi.clone()).await,
        StatusCode::SERVICE_UNAVAILABLE,
    );
    // Each trap fails its own call; none of them is the degraded 503 yet.
    for _ in 0..agentx::plugins::runtime::DEGRADED_AFTER {
        let failed = public(&srv, "flaky", Some(&app), hi.clone()).await;
        assert!(failed.0.is_server_error(), "{failed:?}");
        assert_ne!(failed.0, StatusCode::SERVICE_UNAVAILABLE, "{}", failed.1);
        assert!(failed.1["error"].is_string(), "{}", failed.1);
    }
    for _ in 0..2 {
        let degraded = public(&srv, "flaky", Some(&app), hi.clone()).await;
        assert_refused(&degraded, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            degraded.1["error"].as_str().unwrap().contains("degraded"),
            "{}",
            degraded.1
        );
    }
    let (_, status) = daemon(&srv, Method::GET, "/agents/flaky/plugins", None, None).await;
    assert_eq!(status["responder"]["degraded"], true, "{status}");

    let echo = repo("plugins/echo").display().to_string();
    let agents = json!({
        "flaky": {"responder": echo, "access": "public"},
        "mute": {"responder": echo, "access": "public"},
    });
    rewrite_config(dir.path(), &agents);
    let report = reload(&srv).await;
    assert_eq!(report["reloaded"], json!(["flaky", "mute"]), "{report}");
    for agent in ["flaky", "mute"] {
        let (status, reply) = public(&srv, agent, Some(&app), hi.clone()).await;
        assert_eq!(status, StatusCode::OK, "{agent}: {reply}");
        assert_eq!(reply["content"], "echo: hi");
    }
}
