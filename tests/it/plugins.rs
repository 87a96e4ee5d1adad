//! Hosted agents whose behaviour is WebAssembly components: the first-party plugins through
//! the network, the contract policy, and containment of hostile plugins.

use crate::common::{TestAgent, TestServer, connect_hosted, eventually, fixture, repo};
use agentx::config::{AgentConfig, Config};
use agentx::plugins::Capability;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn hosted(responder: PathBuf) -> AgentConfig {
    AgentConfig {
        responder: Some(responder),
        ..AgentConfig::default()
    }
}

/// Long-polls `agent` until a message arrives in `thread` (or `within` passes).
async fn reply_in(
    srv: &TestServer,
    agent: &TestAgent,
    thread: &str,
    within: Duration,
) -> Option<Value> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let (status, inbox) = srv.get("/messages/stream?timeout=2", &agent.key).await;
        assert_eq!(status, StatusCode::OK);
        if let Some(m) = inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["thread_id"] == thread)
        {
            return Some(m.clone());
        }
    }
    None
}

async fn ask(srv: &TestServer, from: &TestAgent, to: &str, content: &str) -> Value {
    let (status, sent) = srv
        .post(
            "/messages",
            &from.key,
            json!({"to_agent_id": to, "content": content, "category": "info"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["permission"], "auto");
    sent
}

/// How long a hosted agent may take to show the effect of a message.
const POLL_WITHIN: Duration = Duration::from_secs(10);

/// The first failure the host logged for a responder, lower-cased.
fn first_host_error(status: &Value) -> Option<String> {
    status["responder"]["log"]
        .as_array()?
        .iter()
        .find(|e| e["source"] == "host" && e["level"] == "error")
        .map(|e| e["message"].as_str().unwrap_or_default().to_lowercase())
}

async fn plugin_status(srv: &TestServer, agent: &str) -> Value {
    let path = format!("/agents/{agent}/plugins");
    crate::common::daemon(
        srv,
        Method::GET,
        &path,
        Some(crate::common::ADMIN_KEY),
        None,
    )
    .await
    .1
}

/// The echo plugin answers an `auto` message with a `response` in the same thread; an `ask`
/// message is never auto-answered.
#[tokio::test]
async fn echo_answers_auto_and_leaves_ask() {
    let srv = TestServer::start_with(|c: &mut Config| {
        c.agents.insert("echo".into(), hosted(repo("plugins/echo")));
    })
    .await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "echo", &alice).await;

    let (status, asked) = srv
        .post(
            "/messages",
            &alice.key,
            json!({"to_agent_id": "echo", "content": "may I?", "category": "requests"}),
        )
        .await;
    assert_eq!(
        (status, asked["permission"].as_str()),
        (StatusCode::OK, Some("ask"))
    );
    let sent = ask(&srv, &alice, "echo", "hello there").await;
    let thread = sent["thread_id"].as_str().unwrap();
    let reply = reply_in(&srv, &alice, thread, Duration::from_secs(10))
        .await
        .expect("a reply");
    assert_eq!(reply["message_type"], "response");
    assert_eq!(reply["from_agent_id"], "echo");
    assert!(
        reply["content"].as_str().unwrap().contains("hello there"),
        "{reply}"
    );

    // The ask message is handled (acknowledged) but gets no reply.
    let ask_thread = asked["thread_id"].as_str().unwrap();
    let thread_path = format!("/messages/thread/{ask_thread}");
    let (srv, key) = (&srv, &alice.key);
    eventually(
        POLL_WITHIN,
        "the hosted agent takes the ask message",
        || async { srv.get(&thread_path, key).await.1["messages"][0]["status"] == "read" },
    )
    .await;
    let (_, t) = srv.get(&thread_path, key).await;
    assert_eq!(
        t["messages"].as_array().unwrap().len(),
        1,
        "ask is never auto-answered: {t}"
    );
}

/// Plugins see a network sender by its display name, in the request context and in
/// `history`, and a hosted agent shows as online (in the directory and to its peers) while
/// its loop runs, as any client that polls does.
#[tokio::test]
async fn plugins_see_senders_by_name_and_hosted_agents_are_online() {
    let srv = TestServer::start_with(|c: &mut Config| {
        c.agents
            .insert("greeter".into(), hosted(repo("examples/plugins/wat")));
        let mut echo = hosted(repo("plugins/echo"));
        echo.grants = vec![Capability::History];
        echo.name = Some("Echo Bot".into());
        c.agents.insert("echo".into(), echo);
    })
    .await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "greeter", &alice).await;
    connect_hosted(&srv, "echo", &alice).await;

    let sent = ask(&srv, &alice, "greeter", "hi").await;
    let thread = sent["thread_id"].as_str().unwrap();
    let reply = reply_in(&srv, &alice, thread, POLL_WITHIN)
        .await
        .expect("a reply");
    assert_eq!(reply["content"], "hello, alice! you said \"hi\"", "{reply}");

    let sent = ask(&srv, &alice, "echo", "first").await;
    let thread = sent["thread_id"].as_str().unwrap().to_owned();
    reply_in(&srv, &alice, &thread, POLL_WITHIN)
        .await
        .expect("a reply");
    let (status, _) = srv
        .post(
            "/messages",
            &alice.key,
            json!({"to_agent_id": "echo", "content": "/history", "category": "info",
                   "thread_id": thread}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + POLL_WITHIN;
    let history = loop {
        let reply = reply_in(&srv, &alice, &thread, POLL_WITHIN)
            .await
            .expect("a reply");
        if reply["content"].as_str().unwrap().starts_with("history:") {
            break reply;
        }
        assert!(Instant::now() < deadline, "no history reply");
    };
    assert_eq!(
        history["content"], "history: 2 earlier turns; the last, from Echo Bot: echo: first",
        "{history}"
    );

    let (status, connections) = srv.get("/connections", &alice.key).await;
    assert_eq!(status, StatusCode::OK);
    let peers = connections.as_array().expect("a list");
    assert_eq!(peers.len(), 2, "{connections}");
    for peer in peers {
        assert_eq!(peer["connected_agent"]["status"], "online", "{peer}");
    }
    let (_, agents) = srv
        .admin(
            Method::GET,
            "/admin/agents",
            Some(crate::common::ADMIN_KEY),
            None,
        )
        .await;
    let greeter = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "greeter")
        .expect("listed");
    assert_eq!(greeter["status"], "online", "{greeter}");
}

/// A server hosting many agents on the same plugins (which they share once loaded) starts
/// with all of them: the first and the last answer, each through its own contract policy
/// where it has one, and every one is listed online.
#[tokio::test]
async fn many_hosted_agents_on_one_plugin_all_answer_and_are_online() {
    const AGENTS: usize = 200;
    let id = |i: usize| format!("agent-{i:03}");
    let srv = TestServer::start_with(|c: &mut Config| {
        for i in 0..AGENTS {
            let mut agent = hosted(repo("plugins/echo"));
            if i % 10 == 0 {
                agent.policy = Some(repo("plugins/contracts"));
            }
            c.agents.insert(id(i), agent);
        }
    })
    .await;
    let alice = srv.register("alice").await;
    for agent in [id(0), id(AGENTS - 1)] {
        connect_hosted(&srv, &agent, &alice).await;
        let sent = ask(&srv, &alice, &agent, &format!("hello {agent}")).await;
        let thread = sent["thread_id"].as_str().unwrap();
        let reply = reply_in(&srv, &alice, thread, POLL_WITHIN)
            .await
            .expect("a reply");
        assert_eq!(reply["from_agent_id"], agent.as_str());
        assert_eq!(reply["content"], format!("echo: hello {agent}"), "{reply}");
    }

    let (_, agents) = srv
        .admin(
            Method::GET,
            "/admin/agents?limit=1000",
            Some(crate::common::ADMIN_KEY),
            None,
        )
        .await;
    let hosted: Vec<&Value> = agents
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["id"].as_str().unwrap().starts_with("agent-"))
        .collect();
    assert_eq!(hosted.len(), AGENTS, "every hosted agent is a member");
    for agent in hosted {
        assert_eq!(agent["status"], "online", "{agent}");
    }
}

/// Every call starts from pristine memory, though the pool reuses the same slot and keeps
/// its pages resident: a plugin that dirties its data segment and a zero page and replies
/// with what it finds there always finds them as loaded, call after call and at once.
#[tokio::test]
async fn every_call_starts_from_pristine_memory() {
    let srv = TestServer::start_with(|c: &mut Config| {
        c.agents
            .insert("leftover".into(), hosted(fixture("leftover")));
    })
    .await;
    let call = |message: String| {
        let srv = &srv;
        async move {
            let body = json!({"agent": "leftover", "message": message});
            let (status, reply) = crate::common::daemon(
                srv,
                Method::POST,
                "/task",
                Some(crate::common::ADMIN_KEY),
                Some(body),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{reply}");
            reply["content"].as_str().unwrap().to_owned()
        }
    };
    for i in 0..20 {
        assert_eq!(call(format!("secret {i}")).await, "pristine");
    }
    let together = (0..8).map(|i| call(format!("together {i}")));
    for reply in futures::future::join_all(together).await {
        assert_eq!(reply, "pristine");
    }
}

/// The faq plugin answers from the agent's workspace and remembers facts per chat in memory.
#[tokio::test]
async fn faq_answers_from_workspace_and_remembers() {
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(
        workspace.path().join("faq.md"),
        "## What are your opening hours?\nWe are open 9 to 5, Monday to Friday.\n\n## Where are you?\nAt 1 Main Street.\n",
    )
    .unwrap();
    let path = workspace.path().to_owned();
    let srv = TestServer::start_with(move |c: &mut Config| {
        c.agents.insert(
            "support".into(),
            AgentConfig {
                workspace: Some(path),
                grants: vec![Capability::Workspace, Capability::Memory],
                ..hosted(repo("plugins/faq"))
            },
        );
    })
    .await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "support", &alice).await;

    let sent = ask(&srv, &alice, "support", "what are your opening hours?").await;
    let thread = sent["thread_id"].as_str().unwrap().to_owned();
    let reply = reply_in(&srv, &alice, &thread, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        reply["content"].as_str().unwrap().contains("9 to 5"),
        "{reply}"
    );

    for content in ["remember: the code word is heron", "what do you remember?"] {
        let (status, _) = srv
            .post(
                "/messages",
                &alice.key,
                json!({"to_agent_id": "support", "content": content, "category": "info", "thread_id": thread}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        reply_in(&srv, &alice, &thread, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let (_, t) = srv
        .get(&format!("/messages/thread/{thread}"), &alice.key)
        .await;
    let last = t["messages"].as_array().unwrap().last().unwrap().clone();
    assert!(last["content"].as_str().unwrap().contains("heron"), "{t}");
}

/// Each hostile fixture fails its own call within its deadline, with a clear entry in the
/// agent's plugin log, while a well-behaved agent keeps answering promptly.
#[tokio::test]
async fn hostile_plugins_are_contained() {
    let hostile = ["loop", "trap", "alloc", "bad-utf8", "huge"];
    let srv = TestServer::start_with(|c: &mut Config| {
        c.agents.insert("const".into(), hosted(fixture("const")));
        for name in hostile {
            let mut agent = hosted(fixture(name));
            agent.limits.timeout_ms = Some(500);
            c.agents.insert(name.into(), agent);
        }
    })
    .await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "const", &alice).await;
    for name in hostile {
        connect_hosted(&srv, name, &alice).await;
        ask(&srv, &alice, name, "hello").await;
    }
    // While all of them misbehave at once, the good agent answers as usual.
    let started = Instant::now();
    let sent = ask(&srv, &alice, "const", "ping").await;
    let reply = reply_in(
        &srv,
        &alice,
        sent["thread_id"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await
    .expect("the well-behaved agent answers");
    assert_eq!(reply["content"], "const reply");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    let expected = [
        ("loop", "deadline"),
        ("trap", "unreachable"),
        ("alloc", "memory"),
        ("bad-utf8", "utf-8"),
        ("huge", "over its limit"),
    ];
    let srv = &srv;
    for (name, needle) in expected {
        let what = format!("{name} fails a call");
        eventually(POLL_WITHIN, &what, || async {
            first_host_error(&plugin_status(srv, name).await).is_some()
        })
        .await;
        let error = first_host_error(&plugin_status(srv, name).await).unwrap();
        assert!(error.contains(needle), "{name}: {error}");
    }
    let (status, health) = srv.get("/auth/me", &alice.key).await;
    assert_eq!(status, StatusCode::OK, "the host is healthy: {health}");
}

/// A plugin failing repeatedly is marked degraded; it then fails fast without running.
#[tokio::test]
async fn repeated_failures_mark_a_plugin_degraded() {
    let srv = TestServer::start_with(|c: &mut Config| {
        c.agents.insert("trap".into(), hosted(fixture("trap")));
    })
    .await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "trap", &alice).await;
    for i in 0..6 {
        ask(&srv, &alice, "trap", &format!("m{i}")).await;
    }
    let srv = &srv;
    eventually(
        POLL_WITHIN,
        "the trap plugin is marked degraded",
        || async { plugin_status(srv, "trap").await["responder"]["degraded"] == true },
    )
    .await;
}

/// A caller's input cannot degrade a hosted agent on the network either: five messages
/// with a 70 KB "remember:" (over memory's 64 KiB value limit) each fail as the faq
/// plugin's own refusal, and the agent answers the next message. Before the fix they
/// marked it degraded and it went silent until a reload.
#[tokio::test]
async fn oversized_messages_do_not_degrade_a_hosted_agent() {
    let srv = TestServer::start_with(crate::common::agents).await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "support", &alice).await;
    let remember = format!("remember: {}", "x".repeat(70_000));
    for _ in 0..6 {
        ask(&srv, &alice, "support", &remember).await;
    }
    let sent = ask(&srv, &alice, "support", "where are you?").await;
    let thread = sent["thread_id"].as_str().unwrap();
    let reply = reply_in(&srv, &alice, thread, POLL_WITHIN).await;
    assert!(reply.is_some(), "support still answers");
    assert_eq!(
        plugin_status(&srv, "support").await["responder"]["degraded"],
        false
    );
}

/// A capability the manifest asks for but agentx.json does not grant is answered `denied`:
/// the write never happens and the plugin's log says why.
#[tokio::test]
async fn ungranted_capability_is_denied() {
    let srv = TestServer::start_with(|c: &mut Config| {
        c.agents
            .insert("forbidden".into(), hosted(fixture("forbidden-declared")));
    })
    .await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "forbidden", &alice).await;
    ask(&srv, &alice, "forbidden", "try it").await;
    let srv = &srv;
    let log_text =
        || async { plugin_status(srv, "forbidden").await["responder"]["log"].to_string() };
    eventually(POLL_WITHIN, "the plugin's write is refused", || async {
        log_text().await.contains("memory.set was refused")
    })
    .await;
    let text = log_text().await;
    assert!(text.contains("capability memory is not granted"), "{text}");
    assert!(!text.contains("forbidden write succeeded"));
}

/// A component importing a capability its manifest does not ask for is refused at load,
/// and the server does not start with it.
#[tokio::test]
async fn undeclared_imports_are_refused_at_load() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.port = 0;
    config.server.daemon_port = 0;
    config.server.data_dir = data.path().to_owned();
    config
        .agents
        .insert("forbidden".into(), hosted(fixture("forbidden")));
    let error = agentx::server::start(
        config,
        Default::default(),
        std::sync::Arc::new(agentx::clock::SystemClock),
    )
    .await
    .err()
    .expect("refused");
    let text = error.to_string();
    assert!(
        text.contains("imports memory but its manifest does not ask for it"),
        "{text}"
    );
}

/// A restart with unchanged plugins loads every component from the compile cache.
#[tokio::test]
async fn second_start_compiles_nothing() {
    let mut srv = TestServer::start_with(|c: &mut Config| {
        c.agents.insert("echo".into(), hosted(repo("plugins/echo")));
        // Its own cache (the default place), so that only this server writes to it.
        c.server.plugin_cache_dir = None;
    })
    .await;
    let cache = srv.data_dir().join("plugin-cache");
    let listing = || {
        let mut files: Vec<(String, std::time::SystemTime)> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().modified().unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = listing();
    assert_eq!(before.len(), 2, "echo and the contracts policy: {before:?}");
    srv.restart().await;
    assert_eq!(listing(), before, "nothing recompiled or rewritten");
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "echo", &alice).await;
    let sent = ask(&srv, &alice, "echo", "still there?").await;
    assert!(
        reply_in(
            &srv,
            &alice,
            sent["thread_id"].as_str().unwrap(),
            Duration::from_secs(10)
        )
        .await
        .is_some()
    );
}

/// The daemon's invite/accept routes refuse unknown hosted agents with `{"error"}`, and
/// the `agentx invite` / `agentx accept` commands drive them.
#[tokio::test]
async fn daemon_routes_and_cli_connect_hosted_agents() {
    let srv = TestServer::start_with(|c: &mut Config| {
        c.agents.insert("echo".into(), hosted(repo("plugins/echo")));
    })
    .await;
    let response = srv
        .http
        .post(format!("{}/agents/nobody/invite", srv.daemon))
        .header("X-Admin-Key", crate::common::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");

    let alice = srv.register("alice").await;
    let (_, invite) = srv.post("/connections/invite", &alice.key, json!({})).await;
    // The server runs on this test's runtime, so the CLI must be awaited, not blocked on.
    let cli = |args: &[&str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_agentx"))
            .args(args)
            .args(["--daemon-url", &srv.daemon])
            .env("AGENTX_ADMIN_KEY", crate::common::ADMIN_KEY)
            .output()
    };
    let code = invite["invite_code"].as_str().unwrap();
    let accepted = cli(&["accept", "echo", code, "--contract", "coworkers"])
        .await
        .unwrap();
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let connection: Value = serde_json::from_slice(&accepted.stdout).unwrap();
    assert_eq!(connection["contract_type"], "coworkers");
    assert_eq!(connection["connected_agent"]["id"], alice.id.as_str());

    let again = cli(&["accept", "echo", code]).await.unwrap();
    assert!(!again.status.success(), "a used invite is refused");
    let invited = cli(&["invite", "echo"]).await.unwrap();
    assert!(invited.status.success());
    let invite: Value = serde_json::from_slice(&invited.stdout).unwrap();
    assert!(invite["invite_code"].is_string() && invite["join_url"].is_string());
}

/// The repository's sample agentx.json is valid and starts, its hosted agents joining the
/// network; the public `support` agent answers from the sample workspace.
#[tokio::test]
async fn sample_config_starts() {
    let mut config = Config::load(&repo("agentx.json")).expect("the sample config loads");
    let data = tempfile::tempdir().unwrap();
    config.server.port = 0;
    config.server.daemon_port = 0;
    config.server.data_dir = data.path().to_owned();
    assert_eq!(
        config.agents["support"].access,
        agentx::config::Access::Public
    );
    assert_eq!(
        config.agents["echo"].access,
        agentx::config::Access::Private
    );
    let srv = TestServer::start_with(move |c| *c = config).await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "support", &alice).await;
    let sent = ask(&srv, &alice, "support", "How do I receive messages?").await;
    let reply = reply_in(
        &srv,
        &alice,
        sent["thread_id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await
    .expect("support answers");
    assert!(
        reply["content"]
            .as_str()
            .unwrap()
            .contains("/messages/stream"),
        "{reply}"
    );
}

/// Every committed first-party component loads against the current WIT and describes
/// itself as its manifest says (the host refuses it otherwise).
#[tokio::test]
async fn committed_components_match_the_wit() {
    use agentx::plugins::runtime::AgentGrant;
    use agentx::plugins::{HostServices, PluginRuntime, PluginSource};
    let data = tempfile::tempdir().unwrap();
    let store = agentx::store::RedbStore::open(
        data.path(),
        std::sync::Arc::new(agentx::notify::LocalNotifier::default()),
    )
    .unwrap();
    let runtime = PluginRuntime::new(
        data.path().join("cache"),
        HostServices {
            store: std::sync::Arc::new(store),
            clock: std::sync::Arc::new(agentx::clock::SystemClock),
            http: reqwest::Client::new(),
            turns_in_flight: Default::default(),
        },
        agentx::plugins::health::HealthPolicy::default(),
    )
    .unwrap();
    let grant = AgentGrant::default();
    for entry in std::fs::read_dir(repo("plugins")).unwrap() {
        let path = entry.unwrap().path();
        if !path.join("plugin.toml").exists() {
            continue;
        }
        let source = PluginSource::read(&path).unwrap();
        let name = source.manifest.name.clone();
        let loaded = match source.manifest.world {
            agentx::plugins::manifest::World::Responder => runtime
                .load_responder("check", source, &grant)
                .await
                .map(drop),
            agentx::plugins::manifest::World::ContractPolicy => runtime
                .load_policy(
                    agentx::plugins::Owner::Agent("check".into()),
                    source,
                    &grant,
                )
                .await
                .map(drop),
        };
        loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// A server on 127.0.0.1 standing for what lies inside the network: `/secret` counts its
/// hits, `/redirect` sends the caller to `/secret` by the name `localhost`.
async fn inside_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counted = hits.clone();
    let app = axum::Router::new()
        .route(
            "/secret",
            axum::routing::get(move || async move {
                counted.fetch_add(1, Ordering::SeqCst);
                "secret"
            }),
        )
        .route(
            "/redirect",
            axum::routing::get(move || async move {
                axum::response::Redirect::to(&format!("http://localhost:{port}/secret"))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, hits)
}

/// A plugin whose allow-list names `localhost` and the literal `127.0.0.1` tries each way
/// past the allow-list against a real server on loopback: a listed name that resolves to
/// loopback, a redirect to a name outside the list, and a `Host` header of its choosing.
/// Each is refused (the redirect comes back as the 303 it is, not followed) and the server sees no
/// request; the literal address the grant names is reached.
#[tokio::test]
async fn plugin_outbound_http_cannot_escape_its_allow_list() {
    use std::sync::atomic::Ordering;
    let (port, hits) = inside_server().await;
    let srv = TestServer::start_with(|c: &mut Config| {
        let mut agent = hosted(fixture("fetch"));
        agent.grants = vec![Capability::OutboundHttp];
        agent.http_allow = vec!["localhost".into(), "127.0.0.1".into()];
        c.agents.insert("fetch".into(), agent);
    })
    .await;
    let fetch = |message: String| {
        let srv = &srv;
        async move {
            let (status, reply) = crate::common::daemon(
                srv,
                Method::POST,
                "/task",
                Some(crate::common::ADMIN_KEY),
                Some(json!({"agent": "fetch", "message": message,
                            "context": {"sender": "tester", "chatId": "escape"}})),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{reply}");
            reply["content"].as_str().expect("content").to_owned()
        }
    };

    let by_name = fetch(format!("Ghttp://localhost:{port}/secret")).await;
    assert!(by_name.starts_with("error 0: "), "{by_name}");
    let redirected = fetch(format!("Ghttp://127.0.0.1:{port}/redirect")).await;
    assert_eq!(redirected, "status 303");
    let host_header = fetch(format!("Hhttp://127.0.0.1:{port}/secret")).await;
    assert!(host_header.starts_with("error 4: "), "{host_header}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the inside server was reached"
    );

    let listed = fetch(format!("Ghttp://127.0.0.1:{port}/secret")).await;
    assert_eq!(listed, "status 200");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// Proxy variables in the server's environment do not carry a plugin's request past the
/// address checks: with `HTTP_PROXY` and friends pointing at a local proxy that would
/// answer anything, a request to a listed name that resolves nowhere fails, and the proxy
/// sees no connection.
#[tokio::test]
async fn plugin_outbound_http_ignores_proxy_variables() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = proxy.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = socket.write_all(ok).await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agentx.json");
    let agents = json!({"agents": {"fetch": {"responder": fixture("fetch"),
        "grants": ["outbound-http"], "http_allow": ["allowed.test"]}}});
    std::fs::write(&config, agents.to_string()).unwrap();
    let proxies: Vec<(&str, &str)> = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"]
        .into_iter()
        .map(|name| (name, proxy_url.as_str()))
        .collect();
    let server =
        crate::crash::Serve::start_with_env(&config, &dir.path().join("data"), &proxies).await;
    let response = reqwest::Client::new()
        .post(format!("{}/task", server.daemon))
        .json(
            &json!({"agent": "fetch", "message": "Ghttp://allowed.test/secret",
                      "context": {"sender": "tester", "chatId": "proxy"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let reply: Value = response.json().await.unwrap();
    let content = reply["content"].as_str().expect("content");
    assert!(content.starts_with("error "), "{content}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the proxy was used");
}

/// A component with two linear memories gets its memory cap for both together: with 4 MiB
/// and 3 MiB in the first, growing the second by 0.5 MiB is served and by 2 MiB is a
/// failed call naming the limit, though each memory alone would stay under 4 MiB (the
/// limit per memory that wasmtime's own `StoreLimits` sets would let it through).
#[tokio::test]
async fn a_calls_memories_are_capped_together() {
    let srv = TestServer::start_with(|c: &mut Config| {
        let mut memories = hosted(fixture("memories"));
        memories.access = agentx::config::Access::Public;
        c.agents.insert("memories".into(), memories);
    })
    .await;
    let (_, token) = crate::common::token(&srv, &["agent:memories"], None).await;
    let call = |pages: usize| {
        let body = json!({"message": "x".repeat(pages)});
        crate::common::public(&srv, "memories", Some(&token), body)
    };
    let (status, answer) = call(8).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["content"], "grown");
    let (status, answer) = call(32).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    let error = first_host_error(&plugin_status(&srv, "memories").await).unwrap_or_default();
    assert!(error.contains("all its memories together"), "{error}");
}
