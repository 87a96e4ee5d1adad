//! The real listener script, run by python3 against a running server: it answers `auto`
//! messages in their thread, leaves `ask` and uncategorised ones, acknowledges everything,
//! follows the server across a restart, and never answers a message twice, also across its
//! own restarts.

use crate::common::{TestAgent, TestServer, eventually};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Generous: the listener backs off up to `--max-backoff 1` s between reconnects.
const WITHIN: Duration = Duration::from_secs(20);
/// Prints its reply from the environment the listener gives it.
const ECHO_COMMAND: &str = r#"printf 'echo: %s' "$AGENTX_CONTENT""#;

/// A running listener process and everything it printed (shown when a test fails).
struct Listener {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    /// Downloads the script from `srv` into `dir` and starts it for `agent`.
    async fn start(srv: &TestServer, dir: &Path, agent: &TestAgent, extra: &[&str]) -> Self {
        let script = srv
            .http
            .get(format!("{}/client/listener", srv.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let path = dir.join("agentx_listener.py");
        std::fs::write(&path, script).unwrap();
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(&path)
            .args([
                "--state",
                state_path(dir).to_str().unwrap(),
                "--max-backoff",
                "1",
            ])
            .args(extra)
            .env("AGENTX_API_KEY", &agent.key)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().unwrap().push(line);
                }
            });
        }
        Listener { child, output }
    }

    fn printed(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    async fn stop(mut self) {
        self.child.kill().await.expect("listener stops");
    }
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("listener-state.json")
}

/// The messages of a thread as `bob` sees it.
async fn thread(srv: &TestServer, agent: &TestAgent, id: &Value) -> Vec<Value> {
    let (status, body) = srv
        .get(
            &format!("/messages/thread/{}", id.as_str().unwrap()),
            &agent.key,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body["messages"].as_array().unwrap().clone()
}

/// The replies `from` sent in the thread of `message`, and whether `message` is acked.
async fn replies_and_read(
    srv: &TestServer,
    from: &TestAgent,
    message: &Value,
) -> (Vec<String>, bool) {
    let messages = thread(srv, from, &message["thread_id"]).await;
    let replies = messages
        .iter()
        .filter(|m| m["from_agent_id"] == from.id.as_str())
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    let read = messages
        .iter()
        .any(|m| m["id"] == message["id"] && m["status"] == "read");
    (replies, read)
}

/// Waits until `message` is acknowledged, then checks the replies in its thread.
async fn settled(
    srv: &TestServer,
    bob: &TestAgent,
    listener: &Listener,
    message: &Value,
    expected: &[String],
) {
    eventually(WITHIN, "the listener acknowledges the message", || async {
        replies_and_read(srv, bob, message).await.1
    })
    .await;
    let (replies, _) = replies_and_read(srv, bob, message).await;
    assert_eq!(
        replies,
        expected,
        "listener output:\n{}",
        listener.printed()
    );
}

/// Two agents, one with the listener: the `auto` message gets exactly one reply from the
/// command, the `ask` and uncategorised ones none, all three are acked; after the server
/// restarts under it, the listener reconnects and answers the next `auto` message.
#[tokio::test]
async fn answers_auto_only_and_follows_a_server_restart() {
    let mut srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    // friends: info is auto, requests is ask.
    srv.connect(&alice, &bob, "friends").await;
    let dir = TempDir::new().unwrap();
    let listener = Listener::start(&srv, dir.path(), &bob, &["--command", ECHO_COMMAND]).await;

    let auto = srv
        .sent(
            &alice,
            &bob,
            json!({"content": "what time is it", "category": "info"}),
        )
        .await;
    assert_eq!(auto["permission"], "auto");
    let ask = srv
        .sent(
            &alice,
            &bob,
            json!({"content": "lend me money", "category": "requests"}),
        )
        .await;
    assert_eq!(ask["permission"], "ask");
    let plain = srv
        .sent(&alice, &bob, json!({"content": "just saying hi"}))
        .await;
    assert!(plain["permission"].is_null());

    settled(
        &srv,
        &bob,
        &listener,
        &auto,
        &["echo: what time is it".into()],
    )
    .await;
    settled(&srv, &bob, &listener, &ask, &[]).await;
    settled(&srv, &bob, &listener, &plain, &[]).await;

    srv.restart_on_same_ports().await;
    let after = srv
        .sent(
            &alice,
            &bob,
            json!({"content": "still there?", "category": "info"}),
        )
        .await;
    settled(
        &srv,
        &bob,
        &listener,
        &after,
        &["echo: still there?".into()],
    )
    .await;
    // And nothing from before the restart was answered again.
    settled(
        &srv,
        &bob,
        &listener,
        &auto,
        &["echo: what time is it".into()],
    )
    .await;
    assert!(
        listener.printed().contains("reconnected"),
        "{}",
        listener.printed()
    );
    listener.stop().await;
}

/// Across a restart of the listener itself: a message it had answered (in its state file)
/// but not acked is acked without a second reply; one whose reply reached the server before
/// a crash is not answered again (the Idempotency-Key); one taken by a poll whose answer it
/// never processed is found and answered once, with the default reply.
#[tokio::test]
async fn a_restarted_listener_never_answers_twice() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    srv.connect(&alice, &bob, "friends").await;
    let dir = TempDir::new().unwrap();

    let recorded = srv
        .sent(&alice, &bob, json!({"content": "one", "category": "info"}))
        .await;
    let sent_before_crash = srv
        .sent(&alice, &bob, json!({"content": "two", "category": "info"}))
        .await;
    let lost_poll = srv
        .sent(
            &alice,
            &bob,
            json!({"content": "three", "category": "info"}),
        )
        .await;
    // A previous run took all three from the stream, then crashed: it had recorded the
    // first as answered, and sent (but not recorded) its reply to the second.
    assert_eq!(srv.stream(&bob, 1).await["count"], 3);
    std::fs::write(
        state_path(dir.path()),
        json!({"answered": [recorded["id"]]}).to_string(),
    )
    .unwrap();
    let reply_key = format!(
        "listener-reply-{}",
        sent_before_crash["id"].as_str().unwrap()
    );
    let request = srv
        .request(reqwest::Method::POST, "/messages")
        .bearer_auth(&bob.key)
        .header("Idempotency-Key", reply_key)
        .json(&json!({"to_agent_id": alice.id, "content": "earlier reply",
            "thread_id": sent_before_crash["thread_id"]}));
    assert_eq!(srv.exec(request).await.0, reqwest::StatusCode::OK);

    let listener = Listener::start(&srv, dir.path(), &bob, &[]).await;
    let default_reply = "Thanks for your message. It was received by an automatic listener.";
    settled(&srv, &bob, &listener, &recorded, &[]).await;
    settled(
        &srv,
        &bob,
        &listener,
        &sent_before_crash,
        &["earlier reply".into()],
    )
    .await;
    settled(&srv, &bob, &listener, &lost_poll, &[default_reply.into()]).await;
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(state_path(dir.path())).unwrap()).unwrap();
    for message in [&recorded, &sent_before_crash, &lost_poll] {
        assert!(
            state["answered"]
                .as_array()
                .unwrap()
                .contains(&message["id"]),
            "{state}"
        );
    }
    listener.stop().await;
}
