//! Hot reload under load: a plugin replaced and reloaded again and again (a broken version
//! among them) while clients keep calling, with no call failing.

use crate::public_agents::{config_file, daemon, public, repo, token};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
        crate::common::TestServer::start_with(|c| {
            config_file(
                c,
                dir.path(),
                &json!({"live": {"responder": "plugin", "access": "public"}}),
            );
            // Clients here call as fast as replies come; the limiter is not under test.
            c.server.rate_limit.per_second = 100_000.try_into().unwrap();
            c.server.rate_limit.burst = 100_000.try_into().unwrap();
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
        let (status, report) = daemon(&srv, Method::POST, "/reload", None, None).await;
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
