//! Public agents: the public endpoint's checks in the contract's order, its rate limit and
//! error shape, split mode, and degraded or missing responders.

use crate::common::{
    ADMIN_KEY, TestServer, agents, assert_refused, config_file, daemon, fixture, public, public_at,
    public_raw, read_events, reload, repo, rewrite_config, send, token,
};
use agentx::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

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
        Some(ADMIN_KEY),
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

/// Public-agent calls are rate-limited per token like every route, answered in their own
/// error shape, on the public listener and on split mode's front alike; the daemon's unknown
/// routes and methods answer `{"error"}` too.
#[tokio::test]
async fn public_calls_are_rate_limited_in_their_error_shape() {
    let burst = 3;
    let limit = |c: &mut Config| {
        crate::common::rate_limit(c, 1, burst);
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

    let (status, body) = daemon(&srv, Method::GET, "/nowhere", Some(ADMIN_KEY), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = daemon(&srv, Method::GET, "/reload", Some(ADMIN_KEY), None).await;
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

/// Split mode serves the protocols where the contract puts them, on the public listener:
/// the front of `--role public` answers OpenAI-compatible chat, A2A (cards whose URLs name
/// the front, JSON-RPC, streamed tasks) and MCP (a token's tools, an agent's, GET refused)
/// as the daemon process's own public listener does, refusals included; the daemon makes
/// the checks.
#[tokio::test]
async fn split_mode_serves_the_protocols_on_both_public_listeners() {
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:echo"], None).await;
    let alice = srv.register("alice").await;
    let mut config = Config::default();
    config.server.port = 0;
    let front = agentx::server::start_public(&config, srv.daemon.parse().unwrap())
        .await
        .unwrap();
    let http = &srv.http;
    let json_of = |request: reqwest::RequestBuilder| crate::common::send(request);
    for base in [srv.base.clone(), format!("http://{}", front.public_addr)] {
        // OpenAI-compatible chat.
        let (status, _, models) =
            json_of(http.get(format!("{base}/v1/models")).bearer_auth(&app)).await;
        assert_eq!(status, StatusCode::OK, "{base}: {models}");
        assert_eq!(models["data"][0]["id"], "echo", "{base}: {models}");
        let completion = json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]});
        let (status, headers, reply) = json_of(
            http.post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&app)
                .json(&completion),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{base}: {reply}");
        assert_eq!(reply["choices"][0]["message"]["content"], "echo: hi");
        assert!(headers.contains_key("x-chat-id"), "{base}: {headers:?}");
        let (status, _, refused) = json_of(
            http.post(format!("{base}/v1/chat/completions"))
                .bearer_auth("agx_live_nope")
                .json(&completion),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{base}: {refused}");
        assert_eq!(
            refused["error"]["type"], "authentication_error",
            "{refused}"
        );

        // A2A: the card names this listener; a send completes; a stream streams.
        let card_url = format!("{base}/a2a/echo/.well-known/agent-card.json");
        let (status, _, card) = json_of(http.get(card_url)).await;
        assert_eq!(status, StatusCode::OK, "{base}: {card}");
        assert_eq!(
            card["supportedInterfaces"][0]["url"],
            format!("{base}/a2a/echo"),
            "{card}"
        );
        let rpc = |method: &str, id: &str| {
            let message = json!({"role": "ROLE_USER", "messageId": id, "parts": [{"text": "hi"}]});
            http.post(format!("{base}/a2a/echo"))
                .bearer_auth(&app)
                .header("A2A-Version", "1.0")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method,
                              "params": {"message": message}}))
        };
        let (status, _, sent) = json_of(rpc("SendMessage", "m-1")).await;
        assert_eq!(status, StatusCode::OK, "{base}: {sent}");
        let task = &sent["result"]["task"];
        assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED", "{sent}");
        assert_eq!(task["artifacts"][0]["parts"][0]["text"], "echo: hi");
        let streamed = rpc("SendStreamingMessage", "m-2").send().await.unwrap();
        assert!(
            streamed.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let body = streamed.text().await.unwrap();
        assert!(body.contains("TASK_STATE_COMPLETED"), "{base}: {body}");
        let (status, _, _) = json_of(
            http.post(format!("{base}/a2a/secret"))
                .bearer_auth(&app)
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{base}");

        // MCP: a token's tools and an agent's; no stream to GET.
        let mcp = |key: &str, method: &str, params: Value| {
            http.post(format!("{base}/mcp"))
                .bearer_auth(key)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        };
        let ask = json!({"name": "ask_agent", "arguments": {"agent": "echo", "message": "hi"}});
        let (status, _, asked) = json_of(mcp(&app, "tools/call", ask)).await;
        assert_eq!(status, StatusCode::OK, "{base}: {asked}");
        assert_eq!(
            asked["result"]["structuredContent"]["content"], "echo: hi",
            "{asked}"
        );
        let whoami = json!({"name": "whoami", "arguments": {}});
        let (status, _, me) = json_of(mcp(&alice.key, "tools/call", whoami)).await;
        assert_eq!(status, StatusCode::OK, "{base}: {me}");
        assert_eq!(me["result"]["structuredContent"]["id"], json!(alice.id));
        let (status, _, _) = json_of(mcp("cex_nope", "tools/list", json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{base}");
        let (status, headers, _) = json_of(http.get(format!("{base}/mcp"))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{base}");
        assert_eq!(headers["allow"], "POST", "{base}");
    }
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
    for _ in 0..agentx::plugins::health::HealthPolicy::default().degraded_after {
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
    let (_, status) = daemon(
        &srv,
        Method::GET,
        "/agents/flaky/plugins",
        Some(ADMIN_KEY),
        None,
    )
    .await;
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

/// Every refusal a protocol client can meet comes back from split mode's front exactly as
/// from the daemon process's own public listener: same status, same body in the protocol's
/// shape (OpenAI's `{"error": {…}}`; A2A's JSON-RPC error objects, and `{"error"}` with an
/// HTTP status before JSON-RPC; MCP's), same `Allow`, `WWW-Authenticate` and content type,
/// for a body that is not JSON, a wrong method, no token, a bad one, a body over the limit
/// (refused before the token is looked at, on both), a private agent and an unknown one.
#[tokio::test]
async fn split_mode_refuses_protocol_calls_as_the_direct_listener_does() {
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:echo"], None).await;
    let mut config = Config::default();
    config.server.port = 0;
    let front = agentx::server::start_public(&config, srv.daemon.parse().unwrap())
        .await
        .unwrap();
    let front_base = format!("http://{}", front.public_addr);
    let completion = json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]});
    let a2a = json!({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "t"}});
    let mcp = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    let card = "/a2a/echo/.well-known/agent-card.json";
    /// What is sent as the body.
    enum Body {
        None,
        Json(Value),
        Text,
        /// JSON over the body limit.
        TooLarge,
    }
    let (app, bad, agent_key) = (Some(app.as_str()), Some("agx_live_nope"), Some("cex_nope"));
    let cases = [
        ("/v1/chat/completions", Method::POST, app, Body::Text),
        ("/v1/chat/completions", Method::GET, app, Body::None),
        (
            "/v1/chat/completions",
            Method::POST,
            None,
            Body::Json(completion.clone()),
        ),
        (
            "/v1/chat/completions",
            Method::POST,
            bad,
            Body::Json(completion),
        ),
        ("/v1/chat/completions", Method::POST, app, Body::TooLarge),
        ("/v1/chat/completions", Method::POST, bad, Body::TooLarge),
        (
            "/v1/chat/completions",
            Method::POST,
            app,
            Body::Json(json!({"model": "secret", "messages": [{"role": "user", "content": "hi"}]})),
        ),
        (
            "/v1/chat/completions",
            Method::POST,
            app,
            Body::Json(json!({"model": "ghost", "messages": [{"role": "user", "content": "hi"}]})),
        ),
        ("/v1/models", Method::POST, app, Body::None),
        ("/v1/models", Method::GET, None, Body::None),
        ("/v1/models", Method::GET, bad, Body::None),
        ("/a2a/echo", Method::POST, app, Body::Text),
        ("/a2a/echo", Method::GET, app, Body::None),
        ("/a2a/echo", Method::POST, None, Body::Json(a2a.clone())),
        ("/a2a/echo", Method::POST, bad, Body::Json(a2a.clone())),
        ("/a2a/echo", Method::POST, app, Body::TooLarge),
        ("/a2a/echo", Method::POST, None, Body::TooLarge),
        ("/a2a/secret", Method::POST, app, Body::Json(a2a.clone())),
        ("/a2a/ghost", Method::POST, app, Body::Json(a2a)),
        (
            "/a2a/secret/.well-known/agent-card.json",
            Method::GET,
            app,
            Body::None,
        ),
        (card, Method::POST, app, Body::None),
        ("/a2a", Method::DELETE, app, Body::None),
        ("/mcp", Method::POST, agent_key, Body::Text),
        ("/mcp", Method::GET, app, Body::None),
        ("/mcp", Method::POST, None, Body::Json(mcp.clone())),
        ("/mcp", Method::POST, bad, Body::Json(mcp.clone())),
        ("/mcp", Method::POST, agent_key, Body::Json(mcp)),
        ("/mcp", Method::POST, app, Body::TooLarge),
        ("/mcp", Method::POST, bad, Body::TooLarge),
    ];
    let mut differing = Vec::new();
    for (path, method, key, body) in &cases {
        let mut answers = Vec::new();
        for base in [&srv.base, &front_base] {
            let mut request = srv.http.request(method.clone(), format!("{base}{path}"));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            request = match body {
                Body::None => request,
                Body::Json(body) => request.json(body),
                Body::Text => request.header("content-type", "text/plain").body("hi"),
                Body::TooLarge => request.json(&json!({"padding": "x".repeat(300 * 1024)})),
            };
            let (status, headers, body) = send(request).await;
            let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
            let headers = ["allow", "www-authenticate", "content-type"].map(header);
            answers.push((status, headers, body));
        }
        let (direct, split) = (&answers[0], &answers[1]);
        assert_protocol_refusal(path, direct);
        if split != direct {
            differing.push(format!(
                "{method} {path} with {key:?}: direct {direct:?}, split {split:?}"
            ));
        }
    }
    assert!(differing.is_empty(), "{}", differing.join("\n"));
    front.stop().await;
}

/// `answer` (status, `Allow`/`WWW-Authenticate`/content type, body) is a refusal in the
/// shape of the protocol `path` belongs to.
#[track_caller]
fn assert_protocol_refusal(path: &str, answer: &(StatusCode, [Option<String>; 3], Value)) {
    let (status, [allow, _, _], body) = answer;
    let what = format!("{path}: {answer:?}");
    if *status == StatusCode::METHOD_NOT_ALLOWED {
        assert!(allow.is_some(), "{what}");
    }
    if path.starts_with("/v1/") {
        assert!(status.is_client_error(), "{what}");
        let error = &body["error"];
        assert!(
            error["message"].is_string() && error["type"].is_string(),
            "{what}"
        );
        assert!(error.get("code").is_some(), "{what}");
    } else if path.starts_with("/a2a") && *status == StatusCode::OK {
        // Past the HTTP checks: a JSON-RPC error object.
        assert_eq!(body["jsonrpc"], "2.0", "{what}");
        assert!(body["error"]["code"].is_i64(), "{what}");
    } else if path.starts_with("/a2a") {
        assert!(status.is_client_error(), "{what}");
        assert!(body["error"].is_string(), "{what}");
    } else {
        assert!(status.is_client_error(), "{what}");
        // The MCP SDK's own refusal of a body that is not JSON is plain text.
        assert!(body["detail"].is_string() || body.is_string(), "{what}");
    }
}
