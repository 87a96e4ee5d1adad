//! The operator CLI (`agentx token|reload|invite|accept`) run as a real process against a
//! running server's daemon: its exit codes, the JSON it prints for scripts, and readable
//! refusals on stderr.

use crate::common::{ADMIN_KEY, TestServer};
use crate::common::{agents, config_file, public, repo, token};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// What one run of the binary did.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success with nothing but one JSON document on stdout, and returns it.
    #[track_caller]
    pub fn json(&self) -> Value {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    /// Asserts a failure: a non-zero exit, nothing on stdout, and a reason on stderr that
    /// contains `reason`.
    #[track_caller]
    pub fn refused(&self, reason: &str) {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "exit {:?}, stdout: {}",
            self.code,
            self.stdout
        );
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        assert!(
            self.stderr.contains(reason),
            "stderr names {reason:?}: {}",
            self.stderr
        );
    }
}

/// `agentx <args>` aimed at `daemon` through `AGENTX_DAEMON_URL`, with no admin key and no
/// log settings inherited from the environment running the tests.
pub fn agentx(daemon: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentx"));
    command
        .args(args)
        .env("AGENTX_DAEMON_URL", daemon)
        .env_remove("AGENTX_ADMIN_KEY")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    command
}

/// Runs `command` to its end (at most 20 s).
pub async fn run(command: &mut Command) -> Run {
    run_within(command, Duration::from_secs(20)).await
}

/// Runs `command` to its end, within `limit`.
pub async fn run_within(command: &mut Command, limit: Duration) -> Run {
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("agentx exits within {limit:?}"))
        .expect("agentx runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// The tokens the daemon lists, through the CLI.
async fn listed(srv: &TestServer) -> Vec<Value> {
    let list = run(agentx(&srv.daemon, &["token", "list"]).env("AGENTX_ADMIN_KEY", ADMIN_KEY))
        .await
        .json();
    list.as_array().expect("a JSON array").clone()
}

/// `token create` prints the `agx_live_` token once (stdout stays pure JSON even with debug
/// logs on) and it works on the public endpoint; `token list` shows it without the secret;
/// `token revoke` makes it 401 on the next call.
#[tokio::test]
async fn token_create_list_revoke() {
    let srv = TestServer::start_with(agents).await;
    let created = run(agentx(
        &srv.daemon,
        &[
            "token",
            "create",
            "--name",
            "app",
            "--scope",
            "agent:echo",
            "--scope",
            "dashboard:read",
            "--expires",
            "30",
            "--admin-key",
            ADMIN_KEY,
        ],
    )
    .env("RUST_LOG", "debug"))
    .await
    .json();
    let secret = created["token"].as_str().expect("the token").to_owned();
    assert!(secret.starts_with("agx_live_"), "{created}");
    assert_eq!(created["name"], "app");
    assert_eq!(created["scopes"], json!(["agent:echo", "dashboard:read"]));
    assert!(created["expires_at"].is_string(), "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();

    let hi = json!({"message": "hi"});
    let (status, reply) = public(&srv, "echo", Some(&secret), hi.clone()).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["content"], "echo: hi");

    let list = listed(&srv).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["name"], "app");
    assert!(list[0]["revoked_at"].is_null(), "{list:?}");
    let hex = secret.trim_start_matches("agx_live_");
    assert!(
        !format!("{list:?}").contains(hex),
        "the secret is never listed"
    );

    let revoked = run(&mut agentx(
        &srv.daemon,
        &["token", "revoke", &id, "--admin-key", ADMIN_KEY],
    ))
    .await;
    assert_eq!(revoked.code, Some(0), "{}", revoked.stderr);
    let (status, reply) = public(&srv, "echo", Some(&secret), hi).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reply}");
    assert!(listed(&srv).await[0]["revoked_at"].is_string());

    let again = run(&mut agentx(
        &srv.daemon,
        &["token", "revoke", "no-such-token", "--admin-key", ADMIN_KEY],
    ))
    .await;
    again.refused("404");
}

/// A wrong admin key is a non-zero exit with the daemon's reason, and creates nothing; no
/// admin key at all is a usage error naming the flag.
#[tokio::test]
async fn token_commands_need_the_right_admin_key() {
    let srv = TestServer::start().await;
    let create = ["token", "create", "--name", "x", "--scope", "agent:*"];
    run(agentx(&srv.daemon, &create).env("AGENTX_ADMIN_KEY", "wrong"))
        .await
        .refused("Invalid admin key");
    run(&mut agentx(
        &srv.daemon,
        &["token", "list", "--admin-key", "wrong"],
    ))
    .await
    .refused("Invalid admin key");
    run(&mut agentx(&srv.daemon, &create))
        .await
        .refused("--admin-key");
    assert_eq!(listed(&srv).await, Vec::<Value>::new());
}

/// `agentx reload` prints the daemon's report; a plugin that fails to load is a non-zero
/// exit naming the agent, with the report still printed for scripts.
#[tokio::test]
async fn reload_prints_the_report() {
    let dir = tempfile::TempDir::new().unwrap();
    let echo = repo("plugins/echo").display().to_string();
    let srv = TestServer::start_with(|c| {
        config_file(c, dir.path(), &json!({"bot": {"responder": echo}}));
    })
    .await;
    let write = |agents: Value| {
        let config = json!({ "agents": agents }).to_string();
        std::fs::write(dir.path().join("agentx.json"), config).unwrap();
    };
    write(json!({"bot": {"responder": echo, "access": "public"}, "new": {"responder": echo}}));
    let report = run(agentx(&srv.daemon, &["reload"]).env("AGENTX_ADMIN_KEY", ADMIN_KEY))
        .await
        .json();
    assert_eq!(report["reloaded"], json!(["bot", "new"]), "{report}");
    assert_eq!(report["unchanged"], json!([]), "{report}");
    assert_eq!(report["failed"], json!([]), "{report}");
    let (_, app) = token(&srv, &["agent:bot"], None).await;
    let (status, reply) = public(&srv, "bot", Some(&app), json!({"message": "hi"})).await;
    assert_eq!(status, StatusCode::OK, "the reload took effect: {reply}");

    let broken = repo("tests/fixtures/plugins").display().to_string();
    write(json!({"bot": {"responder": echo, "access": "public"}, "new": {"responder": broken}}));
    let failed = run(agentx(&srv.daemon, &["reload"]).env("AGENTX_ADMIN_KEY", ADMIN_KEY)).await;
    assert_eq!(failed.code, Some(1), "stderr: {}", failed.stderr);
    assert!(failed.stderr.contains("new"), "{}", failed.stderr);
    let report: Value = serde_json::from_str(&failed.stdout).expect("the report is printed");
    assert_eq!(report["unchanged"], json!(["bot"]), "{report}");
    assert_eq!(report["failed"][0]["agent"], "new", "{report}");
}

/// `agentx invite` prints an invite a network agent accepts; `agentx accept --contract`
/// makes a hosted agent accept a network agent's invite under that contract. Unknown
/// agents and used codes are refused with the reason.
#[tokio::test]
async fn invite_and_accept() {
    let srv = TestServer::start_with(agents).await;
    let alice = srv.register("alice").await;
    let invite = run(agentx(&srv.daemon, &["invite", "echo"]).env("AGENTX_ADMIN_KEY", ADMIN_KEY))
        .await
        .json();
    let code = invite["invite_code"].as_str().expect("an invite code");
    assert!(
        invite["join_url"].as_str().unwrap().ends_with(code),
        "{invite}"
    );
    assert!(invite["expires_at"].is_string(), "{invite}");
    let (status, connection) = srv
        .post(
            "/connections/accept",
            &alice.key,
            json!({"invite_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{connection}");
    assert_eq!(connection["connected_agent"]["id"], "echo");

    let (status, invite) = srv.post("/connections/invite", &alice.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{invite}");
    let code = invite["invite_code"].as_str().unwrap();
    let accept = ["accept", "support", code, "--contract", "coworkers"];
    let connection = run(agentx(&srv.daemon, &accept).env("AGENTX_ADMIN_KEY", ADMIN_KEY))
        .await
        .json();
    assert_eq!(connection["contract_type"], "coworkers", "{connection}");
    assert_eq!(connection["connected_agent"]["id"], alice.id.as_str());
    let (_, mine) = srv.get("/connections", &alice.key).await;
    let peers: Vec<&Value> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["connected_agent"]["id"])
        .collect();
    assert_eq!(peers.len(), 2, "{mine}");
    assert!(peers.contains(&&json!("support")), "{mine}");

    run(agentx(&srv.daemon, &accept).env("AGENTX_ADMIN_KEY", ADMIN_KEY))
        .await
        .refused("400");
    run(agentx(&srv.daemon, &["invite", "ghost"]).env("AGENTX_ADMIN_KEY", ADMIN_KEY))
        .await
        .refused("ghost");
    // The daemon wants the key on every route; without one the CLI says so.
    run(&mut agentx(&srv.daemon, &["invite", "echo"]))
        .await
        .refused("X-Admin-Key");
}

/// A daemon that is not running: a non-zero exit at once, naming the URL tried.
#[tokio::test]
async fn daemon_not_running_fails_fast_naming_the_url() {
    let mut srv = TestServer::start().await;
    let url = srv.daemon.clone();
    srv.stop().await;
    let started = Instant::now();
    // The flag wins over the variable.
    let gone = run(&mut agentx(
        "http://127.0.0.1:1",
        &["reload", "--daemon-url", &url],
    ))
    .await;
    gone.refused(&url);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// `agentx backup` under write load, then `agentx restore` into a fresh data directory: a
/// server started on it has every message acknowledged before the backup began (read, in
/// its thread), and the agents' keys still work. `restore` refuses a data directory that
/// holds a store unless `--force`, and `backup` needs the admin key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_everything_acknowledged() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    srv.connect(&alice, &bob, "friends").await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let sent = srv
            .sent(&alice, &bob, json!({"content": format!("m{i}")}))
            .await;
        let id = sent["id"].as_str().unwrap().to_owned();
        let (status, ack) = srv
            .post(&format!("/messages/{id}/ack"), &bob.key, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        acknowledged.push((id, sent["thread_id"].as_str().unwrap().to_owned()));
    }

    // Writers keep sending while the snapshot is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn({
        let (stop, base, key, to) = (
            stop.clone(),
            srv.base.clone(),
            alice.key.clone(),
            bob.id.clone(),
        );
        async move {
            let http = reqwest::Client::new();
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = http
                    .post(format!("{base}/messages"))
                    .bearer_auth(&key)
                    .json(&json!({"to_agent_id": to, "content": "load", "category": "info"}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                match status {
                    StatusCode::OK => sent += 1,
                    // Over the rate limit: the load only has to keep the writer busy.
                    StatusCode::TOO_MANY_REQUESTS => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    other => panic!("a send under load answered {other}"),
                }
            }
            sent
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("agentx.backup");
    let snapshot_arg = snapshot.to_str().unwrap();
    run(&mut agentx(&srv.daemon, &["backup", snapshot_arg]))
        .await
        .refused("admin key");
    let saved =
        run(agentx(&srv.daemon, &["backup", snapshot_arg]).env("AGENTX_ADMIN_KEY", ADMIN_KEY))
            .await
            .json();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent_under_load = load.await.unwrap();
    assert!(sent_under_load > 0, "the load ran");
    assert_eq!(saved["bytes"], std::fs::metadata(&snapshot).unwrap().len());

    let data = dir.path().join("restored");
    let data_arg = data.to_str().unwrap();
    let restored = run(&mut agentx(
        &srv.daemon,
        &["restore", snapshot_arg, "--data-dir", data_arg],
    ))
    .await
    .json();
    assert_eq!(restored["data_dir"], data_arg);
    run(&mut agentx(
        &srv.daemon,
        &["restore", snapshot_arg, "--data-dir", data_arg],
    ))
    .await
    .refused("--force");
    run(&mut agentx(
        &srv.daemon,
        &["restore", snapshot_arg, "--data-dir", data_arg, "--force"],
    ))
    .await
    .json();

    let copy = TestServer::start_with(|c| c.server.data_dir = data.clone()).await;
    for (id, thread) in &acknowledged {
        let (status, messages) = copy
            .get(&format!("/messages/thread/{thread}"), &bob.key)
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "bob's key works on the copy: {messages}"
        );
        let message = messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id.as_str())
            .unwrap_or_else(|| panic!("message {id} is in the copy"));
        assert_eq!(message["status"], "read", "{message}");
    }
}
