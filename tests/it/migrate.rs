//! `agentx migrate --from-redb DIR --database-url URL`: an embedded store, filled through
//! the HTTP API, copied by the real binary into PostgreSQL and served from there.

use crate::common::{TestAgent, TestServer, agents, eventually, public, revoke, send, token};
use crate::webhooks::{Receiver, local_webhooks, register_with_webhook, verifies};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// `agentx migrate` run to its end: its exit status, stdout and stderr.
fn migrate(from: &Path, url: &str) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentx"))
        .arg("migrate")
        .arg("--from-redb")
        .arg(from)
        .args(["--database-url", url])
        .env_remove("AGENTX_DATABASE_URL")
        .output()
        .expect("agentx runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

async fn ok(srv: &TestServer, path: &str, agent: &TestAgent) -> Value {
    let (status, body) = srv.get(path, &agent.key).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// `from` sends `content` to `to` in `thread` (a new one when `None`), with an
/// `Idempotency-Key` when given; the message.
async fn say(
    srv: &TestServer,
    (from, to): (&TestAgent, &TestAgent),
    thread: Option<&str>,
    content: &str,
    key: Option<&str>,
) -> Value {
    let mut body = json!({"to_agent_id": to.id, "content": content});
    if let Some(thread) = thread {
        body["thread_id"] = json!(thread);
    }
    let mut request = srv
        .request(Method::POST, "/messages")
        .bearer_auth(&from.key)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let (status, _, message) = send(request).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    message
}

/// `value` without presence (`last_seen_at`, at any depth): it moves whenever an agent calls.
fn without_presence(mut value: Value) -> Value {
    match &mut value {
        Value::Object(fields) => {
            fields.remove("last_seen_at");
            for field in fields.values_mut() {
                *field = without_presence(field.take());
            }
        }
        Value::Array(items) => {
            for item in items {
                *item = without_presence(item.take());
            }
        }
        _ => {}
    }
    value
}

fn ids(values: &Value) -> Vec<&str> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect()
}

/// A redb store filled over HTTP is copied by `agentx migrate` and served from PostgreSQL
/// with everything in place: the agents and their old API keys, the connection, messages
/// read, delivered and still queued (each handed over as before, none again), an
/// idempotency key, announcements and who has had them, webhook deliveries and the signing
/// secret, tokens live and revoked, a dashboard session, and a public agent's memory of a
/// chat. New rows number after the copied ones. A second migration into the now non-empty
/// database is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redb_store_moves_to_postgres_with_everything_in_place() {
    let Some(url) = crate::common::postgres::database().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let mut srv = TestServer::start_with(|c| {
        agents(c);
        local_webhooks(60_000)(c);
    })
    .await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    let (carol, carol_secret) = register_with_webhook(&srv, "carol", &receiver.url).await;
    srv.connect(&alice, &bob, "friends").await;
    let before = srv.announce("before").await;
    let first = say(&srv, (&alice, &bob), None, "read", None).await;
    let thread = first["thread_id"].as_str().unwrap().to_owned();
    let in_thread = Some(thread.as_str());
    let sent = [
        first.clone(),
        say(&srv, (&alice, &bob), in_thread, "delivered", None).await,
        say(&srv, (&alice, &bob), in_thread, "queued", None).await,
        say(
            &srv,
            (&alice, &bob),
            in_thread,
            "queued with a key",
            Some("k-1"),
        )
        .await,
    ];
    let taken = srv.inbox(&bob, 2).await;
    assert_eq!(taken["announcements"], json!([before]));
    let read = sent[0]["id"].as_str().unwrap();
    let (status, acked) = srv
        .post(&format!("/messages/{read}/ack"), &bob.key, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    let after = srv.announce("after").await;
    eventually(
        Duration::from_secs(15),
        "both announcements posted",
        || async { receiver.accepted().len() == 2 },
    )
    .await;
    let (_, live) = token(&srv, &["agent:support"], None).await;
    let (dead_id, dead) = token(&srv, &["agent:support"], None).await;
    assert!(revoke(&srv, &dead_id).await.0.is_success());
    let chat = |message: &str| json!({"message": message, "context": {"chatId": "chat-a"}});
    let (status, reply) = public(
        &srv,
        "support",
        Some(&live),
        chat("remember: the sky is green"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let session = srv.session(&alice).await;
    let thread_path = format!("/messages/thread/{thread}");
    let thread_before = ok(&srv, &thread_path, &alice).await;
    let connections_before = without_presence(ok(&srv, "/connections", &alice).await);
    let deliveries_before = ok(&srv, "/webhooks/deliveries", &carol).await;
    assert_eq!(ids(&deliveries_before).len(), 2, "{deliveries_before}");
    srv.stop().await;

    let (done, stdout, stderr) = migrate(srv.data_dir(), &url);
    assert!(done, "migrate: {stderr}");
    assert!(stderr.contains("copied"), "progress on stderr: {stderr}");
    let counts: Value = serde_json::from_str(&stdout).expect("the counts, as JSON");
    let counts = &counts["migrated"];
    assert_eq!(counts["messages"], 4, "{counts}");
    assert_eq!(counts["announcements"], 2, "{counts}");
    assert_eq!(counts["connections"], 1, "{counts}");
    assert_eq!(counts["tokens"], 2, "{counts}");
    assert_eq!(counts["webhook_deliveries"], 2, "{counts}");
    assert_eq!(counts["idempotency_keys"], 1, "{counts}");

    srv.restart_with(|c| c.server.database_url = Some(url.clone()))
        .await;
    for agent in [&alice, &bob, &carol] {
        assert_eq!(ok(&srv, "/auth/me", agent).await["id"], agent.id.as_str());
    }
    assert_eq!(
        without_presence(ok(&srv, "/connections", &alice).await),
        connections_before
    );
    let thread_after = ok(&srv, &thread_path, &alice).await;
    assert_eq!(
        thread_after, thread_before,
        "the same messages, in the same states"
    );
    let statuses: Vec<&str> = thread_after["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["read", "delivered", "sent", "sent"]);

    // Bob gets what he had not had, once: the two queued messages and one announcement.
    let inbox = srv.inbox(&bob, 10).await;
    let mut queued = crate::common::message_ids(&inbox);
    queued.sort();
    let mut expected = vec![
        sent[2]["id"].as_str().unwrap(),
        sent[3]["id"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(queued, expected, "{inbox}");
    assert_eq!(inbox["announcements"], json!([after]));
    assert_eq!(srv.inbox(&bob, 10).await["count"], 0);
    let replayed = say(
        &srv,
        (&alice, &bob),
        in_thread,
        "queued with a key",
        Some("k-1"),
    )
    .await;
    assert_eq!(
        replayed["id"], sent[3]["id"],
        "the key still names its message"
    );
    let newer = say(&srv, (&alice, &bob), in_thread, "after the move", None).await;
    let thread_now = ok(&srv, &thread_path, &alice).await;
    let order: Vec<&str> = thread_now["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let mut sent_order: Vec<&str> = sent.iter().map(|m| m["id"].as_str().unwrap()).collect();
    sent_order.push(newer["id"].as_str().unwrap());
    assert_eq!(order, sent_order, "a new message follows the copied ones");

    assert_eq!(
        ok(&srv, "/webhooks/deliveries", &carol).await,
        deliveries_before
    );
    srv.announce("moved").await;
    eventually(
        Duration::from_secs(15),
        "the new announcement posted",
        || async { receiver.accepted().len() == 3 },
    )
    .await;
    assert!(
        receiver.log().iter().all(|r| verifies(&carol_secret, r)),
        "signed with carol's secret, before and after"
    );
    assert_eq!(receiver.log().len(), 3, "nothing posted twice");

    let models = |token: String| {
        let request = srv
            .http
            .get(format!("{}/v1/models", srv.base))
            .bearer_auth(token);
        send(request)
    };
    assert_eq!(models(live.clone()).await.0, StatusCode::OK);
    assert_eq!(models(dead).await.0, StatusCode::UNAUTHORIZED);
    let observe = srv.request(Method::GET, &format!("/observe?token={session}"));
    assert_eq!(
        send(observe).await.0,
        StatusCode::OK,
        "the session is still valid"
    );
    let (status, recall) =
        public(&srv, "support", Some(&live), chat("what do you remember?")).await;
    assert_eq!(status, StatusCode::OK, "{recall}");
    assert!(
        recall["content"]
            .as_str()
            .unwrap()
            .contains("the sky is green"),
        "the plugin's memory of the chat: {recall}"
    );

    // Into a database that holds anything: refused, and nothing changes.
    let (done, _, stderr) = migrate(srv.data_dir(), &url);
    assert!(!done, "a second migration is refused");
    assert!(stderr.contains("already holds agentx data"), "{stderr}");
    assert_eq!(
        without_presence(ok(&srv, "/connections", &alice).await),
        connections_before
    );
    assert_eq!(
        srv.inbox(&bob, 10).await["count"],
        1,
        "only the new message"
    );
}

/// A directory without a store is refused, rather than read as an empty store.
#[tokio::test]
async fn a_directory_without_a_store_is_refused() {
    let Some(url) = crate::common::postgres::database().await else {
        return;
    };
    let empty = tempfile::tempdir().unwrap();
    let (done, _, stderr) = migrate(empty.path(), &url);
    assert!(!done);
    assert!(stderr.contains("holds no agentx store"), "{stderr}");
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "nothing made there"
    );
}
