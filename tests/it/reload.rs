//! Hot reload: a plugin replaced and reloaded again and again (a broken version among
//! them) while clients keep calling, with no call failing; agents' own contract policies
//! swapped by a reload; and `--watch` reloading on file changes alone.

use crate::common::{
    ADMIN_KEY, TestServer, assert_error, assert_refused, config_file, connect_hosted, daemon,
    eventually, public, reload, repo, rewrite_config, token,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// The versions the plugin folder is switched between.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Version {
    Echo,
    Const,
    /// `const`'s component behind a manifest claiming to be `echo`: it fails `describe`.
    Broken,
}

fn install(dir: &Path, version: Version) {
    let fixtures = repo("tests/fixtures/plugins");
    let manifest = match version {
        Version::Echo => {
            std::fs::copy(repo("plugins/echo/echo.wasm"), dir.join("echo.wasm")).unwrap();
            std::fs::read_to_string(repo("plugins/echo/plugin.toml")).unwrap()
        }
        Version::Const | Version::Broken => {
            std::fs::copy(fixtures.join("const.wat"), dir.join("const.wat")).unwrap();
            let manifest = std::fs::read_to_string(fixtures.join("const.toml")).unwrap();
            if version == Version::Broken {
                manifest.replace("name = \"const\"", "name = \"echo\"")
            } else {
                manifest
            }
        }
    };
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
}

fn matches(reply: &str, version: Version) -> bool {
    match version {
        Version::Echo => reply.starts_with("echo: "),
        Version::Const | Version::Broken => reply == "const reply",
    }
}

/// Two clients call a public agent without pause while its plugin is replaced and reloaded
/// 20 times, a version that fails `describe` among them: not one call fails, a refused
/// version leaves the old one serving, and right after each good reload replies come from
/// the new version.
#[tokio::test]
async fn reload_under_load_drops_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let plugin = dir.path().join("plugin");
    std::fs::create_dir(&plugin).unwrap();
    install(&plugin, Version::Echo);
    let srv = Arc::new(
        TestServer::start_with(|c| {
            config_file(
                c,
                dir.path(),
                &json!({"live": {"responder": "plugin", "access": "public"}}),
            );
            // Clients here call as fast as replies come; the limiter is not under test.
            crate::common::rate_limit(c, 100_000, 100_000);
        })
        .await,
    );
    let (_, app) = token(&srv, &["agent:live"], None).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for n in 0..2 {
        let (srv, app, stop) = (srv.clone(), app.clone(), stop.clone());
        let (calls, failures) = (calls.clone(), failures.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, reply) = public(
                    &srv,
                    "live",
                    Some(&app),
                    json!({"message": format!("client {n}")}),
                )
                .await;
                calls.fetch_add(1, Ordering::Relaxed);
                if status != StatusCode::OK {
                    eprintln!("failed call: {status} {reply}");
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    let mut serving = Version::Echo;
    for round in 1..=20 {
        let next = if round % 5 == 0 {
            Version::Broken
        } else if serving == Version::Echo {
            Version::Const
        } else {
            Version::Echo
        };
        install(&plugin, next);
        let (status, report) = daemon(&srv, Method::POST, "/reload", Some(ADMIN_KEY), None).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        if next == Version::Broken {
            assert_eq!(report["failed"][0]["agent"], "live", "{report}");
            assert!(
                report["failed"][0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("describes itself"),
                "{report}"
            );
        } else {
            assert_eq!(report["reloaded"], json!(["live"]), "{report}");
            serving = next;
        }
        let (status, reply) = public(&srv, "live", Some(&app), json!({"message": "which?"})).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert!(
            matches(reply["content"].as_str().unwrap(), serving),
            "round {round}: expected {serving:?}, got {reply}"
        );
    }

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert!(
        calls.load(Ordering::Relaxed) > 20,
        "the clients kept calling"
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0, "no call failed");
}

/// Installs the `closed` policy fixture (denies everything) in `dir`; `broken` puts its
/// component behind a manifest claiming another name, so it fails `describe`.
fn install_closed_policy(dir: &Path, broken: bool) {
    let fixtures = repo("tests/fixtures/plugins");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(fixtures.join("closed.wat"), dir.join("closed.wat")).unwrap();
    let manifest = std::fs::read_to_string(fixtures.join("closed.toml")).unwrap();
    let manifest = if broken {
        manifest.replace("name = \"closed\"", "name = \"contracts\"")
    } else {
        manifest
    };
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
}

/// An `info` message from `from` to hosted agent `to`, as the policy decides it.
async fn send_info(
    srv: &TestServer,
    from: &crate::common::TestAgent,
    to: &str,
) -> (StatusCode, Value) {
    let body = json!({"to_agent_id": to, "content": "hi", "category": "info"});
    srv.post("/messages", &from.key, body).await
}

#[track_caller]
fn assert_closed(reply: &(StatusCode, Value)) {
    assert_error(reply, StatusCode::FORBIDDEN, None);
    assert_eq!(reply.1["detail"], "closed by policy", "{}", reply.1);
}

/// A reload gives an agent its own contract policy, gives an agent it adds its policy,
/// refuses a policy version that fails `describe` (the old one keeps deciding), and sends
/// an agent whose policy is removed back to the network's default.
#[tokio::test]
async fn reload_swaps_agents_policies() {
    let dir = tempfile::TempDir::new().unwrap();
    install_closed_policy(&dir.path().join("desk-policy"), false);
    install_closed_policy(&dir.path().join("late-policy"), false);
    let srv = TestServer::start_with(|c| config_file(c, dir.path(), &json!({"desk": {}}))).await;
    let alice = srv.register("alice").await;
    connect_hosted(&srv, "desk", &alice).await;
    // Friends: the default policy delivers `info` as auto.
    let (status, sent) = send_info(&srv, &alice, "desk").await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["permission"], "auto", "{sent}");

    let with_policies =
        json!({"desk": {"policy": "desk-policy"}, "late": {"policy": "late-policy"}});
    rewrite_config(dir.path(), &with_policies);
    let report = reload(&srv).await;
    assert_eq!(report["reloaded"], json!(["desk", "late"]), "{report}");
    assert_eq!(report["failed"], json!([]), "{report}");
    assert_closed(&send_info(&srv, &alice, "desk").await);
    connect_hosted(&srv, "late", &alice).await;
    assert_closed(&send_info(&srv, &alice, "late").await);

    install_closed_policy(&dir.path().join("desk-policy"), true);
    let report = reload(&srv).await;
    assert_eq!(report["failed"][0]["agent"], "desk", "{report}");
    let error = report["failed"][0]["error"].as_str().unwrap();
    assert!(error.contains("describes itself"), "{report}");
    assert_eq!(report["unchanged"], json!(["late"]), "{report}");
    assert_closed(&send_info(&srv, &alice, "desk").await);

    rewrite_config(
        dir.path(),
        &json!({"desk": {}, "late": {"policy": "late-policy"}}),
    );
    let report = reload(&srv).await;
    assert_eq!(report["reloaded"], json!(["desk"]), "{report}");
    assert_eq!(report["unchanged"], json!(["late"]), "{report}");
    let (status, sent) = send_info(&srv, &alice, "desk").await;
    assert_eq!(status, StatusCode::OK, "back to the default policy: {sent}");
    assert_eq!(sent["permission"], "auto", "{sent}");
    assert_closed(&send_info(&srv, &alice, "late").await);
}

/// With `watch` on, saving agentx.json (private to public) and then replacing the plugin's
/// files each take effect with no `POST /reload`; stopping the server stops the watcher.
#[tokio::test]
async fn watch_reloads_on_file_changes() {
    let dir = tempfile::TempDir::new().unwrap();
    let plugin = dir.path().join("plugin");
    std::fs::create_dir(&plugin).unwrap();
    install(&plugin, Version::Echo);
    let mut srv = TestServer::start_with(|c| {
        config_file(c, dir.path(), &json!({"bot": {"responder": "plugin"}}));
        c.server.watch = true;
    })
    .await;
    let (_, app) = token(&srv, &["agent:bot"], None).await;
    let hi = json!({"message": "hi"});
    let (status, reply) = public(&srv, "bot", Some(&app), hi.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "private at first: {reply}");

    rewrite_config(
        dir.path(),
        &json!({"bot": {"responder": "plugin", "access": "public"}}),
    );
    let within = Duration::from_secs(10);
    eventually(within, "the saved config makes bot public", || async {
        public(&srv, "bot", Some(&app), hi.clone()).await.0 == StatusCode::OK
    })
    .await;
    let (_, reply) = public(&srv, "bot", Some(&app), hi.clone()).await;
    assert!(
        matches(reply["content"].as_str().unwrap(), Version::Echo),
        "{reply}"
    );

    install(&plugin, Version::Const);
    eventually(within, "the replaced plugin answers", || async {
        let (_, reply) = public(&srv, "bot", Some(&app), hi.clone()).await;
        reply["content"]
            .as_str()
            .is_some_and(|c| matches(c, Version::Const))
    })
    .await;

    tokio::time::timeout(within, srv.stop())
        .await
        .expect("the server, watcher included, stops");
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
