//! A real `agentx serve` process killed (SIGKILL) while a hosted agent is answering: after
//! a restart on the same data directory, the message it had taken is answered, once.

use crate::common::repo;
use crate::common::{a2a_call, eventually, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// `agentx serve` in its own process, on free ports.
pub struct Serve {
    pub child: Child,
    pub base: String,
    pub daemon: String,
    /// Held so the process never writes into a closed pipe.
    _stdout: Lines<BufReader<ChildStdout>>,
}

impl Serve {
    pub async fn start(config: &Path, data: &Path) -> Self {
        Self::start_with_env(config, data, &[]).await
    }

    /// Starts with these environment variables set (and `NO_PROXY` unset).
    pub async fn start_with_env(config: &Path, data: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agentx"))
            .args(["serve", "--port", "0", "--daemon-port", "0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .env_remove("RUST_LOG")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("agentx starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .expect("agentx says where it listens within 20 s")
            .unwrap()
            .expect("a line on stdout");
        // "agentx listening on http://<public> (daemon http://<daemon>)"
        let urls: Vec<String> = line
            .split_whitespace()
            .filter(|w| w.starts_with("http://"))
            .map(|w| w.trim_end_matches(')').to_owned())
            .collect();
        let [base, daemon] = <[String; 2]>::try_from(urls).expect("two URLs");
        Serve {
            child,
            base,
            daemon,
            _stdout: stdout,
        }
    }

    /// SIGTERM: the orderly shutdown an init system asks for.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("agentx is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}: {status}");
    }

    /// SIGKILL: no shutdown, no flush, nothing in flight finishes.
    pub async fn crash(mut self) {
        self.child.kill().await.expect("agentx is killed");
    }
}

async fn call(
    http: &reqwest::Client,
    method: Method,
    url: String,
    key: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, _, body) = send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The messages of `thread` that `from` sent.
async fn sent_by(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    thread: &str,
    from: &str,
) -> Vec<Value> {
    let url = format!("{base}/messages/thread/{thread}");
    let thread = call(http, Method::GET, url, Some(key), None).await;
    let messages = thread["messages"].as_array().unwrap();
    messages
        .iter()
        .filter(|m| m["from_agent_id"] == from)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_message_taken_before_a_crash_is_answered_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = (dir.path().join("agentx.json"), dir.path().join("data"));
    let use_responder = |responder: &str| {
        let agents = json!({"agents": {"bot": {"name": "Bot", "responder": repo(responder)}}});
        std::fs::write(&config, agents.to_string()).unwrap();
    };
    // A responder that is still running (for 30 s) when the process dies.
    use_responder("tests/fixtures/plugins/loop-long.toml");
    let server = Serve::start(&config, &data).await;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let alice = call(
        &http,
        Method::POST,
        format!("{base}/auth/register"),
        None,
        Some(json!({"email": "alice@example.com", "name": "Alice", "agent_name": "alice"})),
    )
    .await;
    let key = alice["api_key"].as_str().unwrap().to_owned();
    let alice_id = alice["agent_id"].as_str().unwrap().to_owned();
    let invite = call(
        &http,
        Method::POST,
        format!("{}/agents/bot/invite", server.daemon),
        None,
        None,
    )
    .await;
    let accept = json!({"invite_code": invite["invite_code"]});
    let url = format!("{base}/connections/accept");
    call(&http, Method::POST, url, Some(&key), Some(accept)).await;
    let body = json!({"to_agent_id": "bot", "content": "still there?", "category": "info"});
    let url = format!("{base}/messages");
    let question = call(&http, Method::POST, url, Some(&key), Some(body)).await;
    let thread = question["thread_id"].as_str().unwrap().to_owned();
    let status =
        || async { sent_by(&http, &base, &key, &thread, &alice_id).await[0]["status"].clone() };
    eventually(Duration::from_secs(10), "bot takes the message", || async {
        status().await == "delivered"
    })
    .await;
    server.crash().await;

    use_responder("plugins/echo");
    let server = Serve::start(&config, &data).await;
    let base = server.base.clone();
    let replies = || sent_by(&http, &base, &key, &thread, "bot");
    eventually(
        Duration::from_secs(10),
        "bot answers after the restart",
        || async { !replies().await.is_empty() },
    )
    .await;
    let answered = replies().await;
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0]["content"], "echo: still there?");
    eventually(
        Duration::from_secs(10),
        "the question is acknowledged",
        || async { sent_by(&http, &base, &key, &thread, &alice_id).await[0]["status"] == "read" },
    )
    .await;
    server.crash().await;

    // Once answered and acknowledged, a message is not answered again by the next start:
    // by the time a new question is answered, the start-up check has long been made.
    let server = Serve::start(&config, &data).await;
    let base = server.base.clone();
    let body = json!({"to_agent_id": "bot", "content": "and now?", "category": "info", "thread_id": thread});
    let url = format!("{base}/messages");
    call(&http, Method::POST, url, Some(&key), Some(body)).await;
    let replies = || sent_by(&http, &base, &key, &thread, "bot");
    eventually(
        Duration::from_secs(10),
        "bot answers the new question",
        || async { replies().await.len() >= 2 },
    )
    .await;
    let contents: Vec<Value> = replies()
        .await
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        contents,
        [json!("echo: still there?"), json!("echo: and now?")]
    );
    server.crash().await;
}

/// An A2A task still working when its server is killed does not stay working: the next
/// start on the same data fails it, with a reason its client reads in `GetTask`, and
/// `SubscribeToTask` says it has ended.
#[tokio::test]
async fn an_a2a_task_working_at_a_crash_is_failed_by_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = (dir.path().join("agentx.json"), dir.path().join("data"));
    // A public agent still answering (for 30 s) when the process dies.
    let slow = repo("tests/fixtures/plugins/loop-long.toml");
    let agents =
        json!({"agents": {"slow": {"name": "Slow", "access": "public", "responder": slow}}});
    std::fs::write(&config, agents.to_string()).unwrap();
    let env = [("AGENTX_ADMIN_KEY", "crash-test-admin-key")];
    let server = Serve::start_with_env(&config, &data, &env).await;
    let http = reqwest::Client::new();
    let request = http
        .post(format!("{}/tokens", server.daemon))
        .header("x-admin-key", env[0].1)
        .json(&json!({"name": "app", "scopes": ["agent:slow"]}));
    let (status, _, created) = send(request).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let message = json!({"role": "ROLE_USER", "messageId": "m-1", "parts": [{"text": "hi"}]});
    let params = json!({"message": message, "configuration": {"returnImmediately": true}});
    let sent = a2a_call(&http, &server.base, "slow", &token, "SendMessage", params).await;
    let task = &sent["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_WORKING", "{sent}");
    let id = task["id"].clone();
    server.crash().await;

    let server = Serve::start_with_env(&config, &data, &env).await;
    let got = a2a_call(
        &http,
        &server.base,
        "slow",
        &token,
        "GetTask",
        json!({"id": id}),
    )
    .await;
    let status = &got["result"]["status"];
    assert_eq!(status["state"], "TASK_STATE_FAILED", "{got}");
    let reason = status["message"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("restarted or crashed"), "{got}");
    let followed = a2a_call(
        &http,
        &server.base,
        "slow",
        &token,
        "SubscribeToTask",
        json!({"id": id}),
    )
    .await;
    assert_eq!(followed["error"]["code"], -32004, "{followed}");
    server.crash().await;
}
