//! Several real `agentx serve` processes on one PostgreSQL database: a client may call any
//! node for anything. Each test starts three nodes at once (the schema is migrated by
//! whichever gets there first) on a fresh database; without PostgreSQL they are skipped.

use crate::common::{a2a_call, message_ids, send};
use crate::crash::Serve;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tempfile::TempDir;

struct Nodes {
    nodes: Vec<Serve>,
    http: reqwest::Client,
    url: String,
    config: std::path::PathBuf,
    dir: TempDir,
}

struct Agent {
    id: String,
    key: String,
}

/// `n` nodes started together on a fresh database; `None` when PostgreSQL is not installed.
async fn nodes(n: usize) -> Option<Nodes> {
    let mut nodes = Nodes::on_fresh_database(json!({})).await?;
    nodes.start(n).await;
    Some(nodes)
}

impl Nodes {
    /// No node yet: a fresh database, and `config` as every node's agentx.json.
    async fn on_fresh_database(mut config: Value) -> Option<Nodes> {
        let url = crate::common::postgres::database().await?;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agentx.json");
        // The load below comes from one test client: no rate limit in the way.
        config["server"]["rate_limit"] = json!({"per_second": 1000000, "burst": 1000000});
        std::fs::write(&path, config.to_string()).unwrap();
        Some(Nodes {
            nodes: Vec::new(),
            http: reqwest::Client::new(),
            url,
            config: path,
            dir,
        })
    }

    /// Starts `n` more nodes at once.
    async fn start(&mut self, n: usize) {
        let env = [("AGENTX_DATABASE_URL", self.url.as_str())];
        let first = self.nodes.len();
        let starts = (first..first + n).map(|i| {
            let data = self.dir.path().join(format!("node{i}"));
            let config = self.config.clone();
            async move { Serve::start_with_env(&config, &data, &env).await }
        });
        let started = join_all(starts).await;
        self.nodes.extend(started);
    }

    fn base(&self, node: usize) -> &str {
        &self.nodes[node].base
    }

    async fn call(&self, node: usize, path: &str, key: Option<&str>, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base(node));
        let mut request = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let (status, _, body) = send(request).await;
        assert_eq!(status, StatusCode::OK, "{path} on node {node}: {body}");
        body
    }

    async fn register(&self, node: usize, name: &str) -> Agent {
        let body =
            json!({"email": format!("{name}@example.com"), "name": name, "agent_name": name});
        let reply = self.call(node, "/auth/register", None, Some(body)).await;
        Agent {
            id: reply["agent_id"].as_str().unwrap().to_owned(),
            key: reply["api_key"].as_str().unwrap().to_owned(),
        }
    }

    /// `a` invites on `a_node`, `b` accepts on `b_node`.
    async fn connect(&self, a: &Agent, a_node: usize, b: &Agent, b_node: usize) {
        let invite = self
            .call(a_node, "/connections/invite", Some(&a.key), Some(json!({})))
            .await;
        let accept = json!({"invite_code": invite["invite_code"], "contract": "friends"});
        self.call(b_node, "/connections/accept", Some(&b.key), Some(accept))
            .await;
    }

    /// Everything queued for `agent`, taken through `node` until a take comes back empty.
    async fn drain(&self, node: usize, agent: &Agent) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let inbox = self
                .call(node, "/messages/inbox?limit=100", Some(&agent.key), None)
                .await;
            let taken = message_ids(&inbox);
            if taken.is_empty() {
                return ids;
            }
            ids.extend(taken);
        }
    }
}

/// Alice on node 0 and Bob on node 1, connected.
async fn pair(nodes: &Nodes) -> (Agent, Agent) {
    let alice = nodes.register(0, "alice").await;
    let bob = nodes.register(1, "bob").await;
    nodes.connect(&alice, 2, &bob, 1).await;
    (alice, bob)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A long-poll on node 2 returns as soon as node 0 commits a message for it: the `NOTIFY`
/// crosses, not the 1.5 s fallback re-check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_on_one_node_wakes_a_long_poll_on_another() {
    let Some(nodes) = nodes(3).await else { return };
    let (alice, bob) = pair(&nodes).await;
    let mut latencies = Vec::new();
    for round in 0..7 {
        let poll = tokio::spawn({
            let (http, url, key) = (
                nodes.http.clone(),
                format!("{}/messages/stream?timeout=20", nodes.base(2)),
                bob.key.clone(),
            );
            async move {
                let (status, _, body) = send(http.get(url).bearer_auth(key)).await;
                (status, body, Instant::now())
            }
        });
        // Let the poll find the queue empty and wait.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let body = json!({"to_agent_id": bob.id, "content": format!("round {round}")});
        let sent = nodes
            .call(0, "/messages", Some(&alice.key), Some(body))
            .await;
        let sent_at = Instant::now();
        let (status, inbox, woken_at) = poll.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{inbox}");
        assert_eq!(message_ids(&inbox), [sent["id"].as_str().unwrap()]);
        latencies.push(woken_at.saturating_duration_since(sent_at));
    }
    let median = median(latencies.clone());
    eprintln!("cross-node wake-up after the send's 200: median {median:?} of {latencies:?}");
    assert!(
        median < Duration::from_millis(500),
        "woken by NOTIFY, not by the fallback: {latencies:?}"
    );
}

/// Bob polls on two nodes at once while Alice sends: every message reaches him once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn competing_polls_on_two_nodes_take_each_message_once() {
    let Some(nodes) = nodes(3).await else { return };
    let (alice, bob) = pair(&nodes).await;
    const SENT: usize = 120;
    let sending = async {
        let mut sent = HashSet::new();
        for n in 0..SENT {
            let body = json!({"to_agent_id": bob.id, "content": format!("m{n}")});
            let message = nodes
                .call(n % 3, "/messages", Some(&alice.key), Some(body))
                .await;
            sent.insert(message["id"].as_str().unwrap().to_owned());
        }
        sent
    };
    let poller = |node: usize| {
        let nodes = &nodes;
        let bob = &bob;
        async move {
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            // Each poller stops once both together have everything (checked below) or time
            // runs out; until then it takes small batches as fast as it can.
            while Instant::now() < deadline {
                let inbox = nodes
                    .call(node, "/messages/inbox?limit=5", Some(&bob.key), None)
                    .await;
                got.extend(message_ids(&inbox));
                if got.len() >= SENT {
                    break;
                }
                if DONE.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
            got
        }
    };
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let (sent, on_1, on_2) = tokio::join!(
        async {
            let sent = sending.await;
            // Give the pollers a moment to take the last messages, then stop them.
            tokio::time::sleep(Duration::from_millis(500)).await;
            DONE.store(true, std::sync::atomic::Ordering::Relaxed);
            sent
        },
        poller(1),
        poller(2)
    );
    let rest = nodes.drain(0, &bob).await;
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in on_1.iter().chain(&on_2).chain(&rest) {
        *counts.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "taken twice: {twice:?}");
    let got: HashSet<String> = counts.keys().map(|id| (*id).clone()).collect();
    assert_eq!(got, sent, "every message taken");
    assert!(
        !on_1.is_empty() && !on_2.is_empty(),
        "both nodes took some: {} and {}",
        on_1.len(),
        on_2.len()
    );
}

/// One `Idempotency-Key` sent to three nodes at once: one message, three identical 200s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_on_three_nodes_makes_one_message() {
    let Some(nodes) = nodes(3).await else { return };
    let (alice, bob) = pair(&nodes).await;
    let mut sent = Vec::new();
    for round in 0..5 {
        let key = format!("key-{round}");
        let body = json!({"to_agent_id": bob.id, "content": format!("once {round}")});
        let replies = join_all((0..3).map(|node| {
            let request = nodes
                .http
                .post(format!("{}/messages", nodes.base(node)))
                .bearer_auth(&alice.key)
                .header("Idempotency-Key", &key)
                .json(&body);
            send(request)
        }))
        .await;
        for (status, _, body) in &replies {
            assert_eq!(*status, StatusCode::OK, "{body}");
        }
        let first = &replies[0].2;
        for (_, _, body) in &replies[1..] {
            assert_eq!(body, first, "identical answers");
        }
        sent.push(first["id"].as_str().unwrap().to_owned());
    }
    let mut taken = nodes.drain(1, &bob).await;
    taken.sort();
    sent.sort();
    assert_eq!(taken, sent, "one message per key");
}

/// Alice sends through all three nodes while node 0 is SIGKILLed; a send that fails is
/// retried on another node with the same `Idempotency-Key`, as a client would. Every
/// acknowledged message is then in Bob's queue exactly once, and nothing else is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_load_loses_and_duplicates_nothing() {
    let Some(mut nodes) = nodes(3).await else {
        return;
    };
    let (alice, bob) = pair(&nodes).await;
    let bases: Vec<String> = (0..3).map(|n| nodes.base(n).to_owned()).collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let stop_at = Instant::now() + Duration::from_secs(3);
    let senders = (0..4).map(|sender| {
        let (http, bases, key, to) = (
            http.clone(),
            bases.clone(),
            alice.key.clone(),
            bob.id.clone(),
        );
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut n = 0;
            while Instant::now() < stop_at {
                let idempotency = format!("s{sender}-{n}");
                let body = json!({"to_agent_id": to, "content": idempotency});
                let mut node = n % 3;
                let id = loop {
                    let reply = http
                        .post(format!("{}/messages", bases[node]))
                        .bearer_auth(&key)
                        .header("Idempotency-Key", &idempotency)
                        .json(&body)
                        .send()
                        .await;
                    if let Ok(reply) = reply
                        && reply.status() == StatusCode::OK
                        && let Ok(message) = reply.json::<Value>().await
                    {
                        break message["id"].as_str().unwrap().to_owned();
                    }
                    // Not acknowledged (the node died under it): the next node, same key.
                    node = (node + 1) % 3;
                };
                acknowledged.push(id);
                n += 1;
            }
            acknowledged
        })
    });
    let senders: Vec<_> = senders.collect();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    nodes.nodes.remove(0).crash().await;
    let mut acknowledged = Vec::new();
    for sender in senders {
        acknowledged.extend(sender.await.unwrap());
    }
    // Node 0 is gone: node indexes move down by one.
    let taken = nodes.drain(0, &bob).await;
    let unique: HashSet<&String> = taken.iter().collect();
    assert_eq!(unique.len(), taken.len(), "nothing delivered twice");
    let acknowledged_set: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(
        acknowledged_set.len(),
        acknowledged.len(),
        "no two acks for one message"
    );
    assert_eq!(
        unique, acknowledged_set,
        "exactly the acknowledged messages"
    );
    eprintln!(
        "{} messages acknowledged around the kill, all present once",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() > 50,
        "under load: {}",
        acknowledged.len()
    );
}

/// The echo plugin's own log lines on `node`: one per call it answered there.
async fn echo_calls(nodes: &Nodes, node: usize) -> usize {
    let url = format!("{}/agents/bot/plugins", nodes.nodes[node].daemon);
    let (status, _, health) = send(nodes.http.get(url)).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    let log = health["responder"]["log"].as_array().unwrap();
    log.iter().filter(|e| e["source"] == "plugin").count()
}

/// Alice's question `content`, sent through `node`, and the replies to it once there is one.
async fn ask(
    nodes: &Nodes,
    node: usize,
    alice: &Agent,
    thread: Option<&str>,
    content: &str,
) -> (String, Vec<Value>) {
    let mut body = json!({"to_agent_id": "bot", "content": content, "category": "info"});
    if let Some(thread) = thread {
        body["thread_id"] = json!(thread);
    }
    let question = nodes
        .call(node, "/messages", Some(&alice.key), Some(body))
        .await;
    let thread = question["thread_id"].as_str().unwrap().to_owned();
    let expected = format!("echo: {content}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let path = format!("/messages/thread/{thread}");
        let view = nodes.call(node, &path, Some(&alice.key), None).await;
        let replies: Vec<Value> = view["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["from_agent_id"] == "bot" && m["content"] == expected.as_str())
            .cloned()
            .collect();
        if !replies.is_empty() {
            // A second answer would come at once after the first: give it the chance.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let view = nodes.call(node, &path, Some(&alice.key), None).await;
            let replies = view["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["from_agent_id"] == "bot" && m["content"] == expected.as_str())
                .cloned()
                .collect();
            return (thread, replies);
        }
        assert!(
            Instant::now() < deadline,
            "no answer to {content:?} within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A hosted agent (every node loads it) answers on one node at a time: with three nodes up,
/// only the node that started first runs its plugin; once that node is SIGKILLed another
/// takes over within seconds, and every question is answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hosted_agent_runs_on_one_node_and_moves_when_it_dies() {
    let agents = json!({"agents": {"bot": {"name": "Bot", "responder": crate::common::repo("plugins/echo")}}});
    let Some(mut nodes) = Nodes::on_fresh_database(agents).await else {
        return;
    };
    nodes.start(1).await;
    let alice = nodes.register(0, "alice").await;
    let invite = send(
        nodes
            .http
            .post(format!("{}/agents/bot/invite", nodes.nodes[0].daemon))
            .json(&json!({})),
    )
    .await
    .2;
    let accept = json!({"invite_code": invite["invite_code"]});
    nodes
        .call(0, "/connections/accept", Some(&alice.key), Some(accept))
        .await;
    let (thread, replies) = ask(&nodes, 0, &alice, None, "first").await;
    assert_eq!(replies.len(), 1);

    nodes.start(2).await;
    for n in 0..6 {
        let (_, replies) = ask(&nodes, n % 3, &alice, Some(&thread), &format!("q{n}")).await;
        assert_eq!(replies.len(), 1, "q{n} answered once");
    }
    assert_eq!(echo_calls(&nodes, 0).await, 7, "node 0 answered everything");
    assert_eq!(
        echo_calls(&nodes, 1).await + echo_calls(&nodes, 2).await,
        0,
        "the others waited"
    );

    nodes.nodes.remove(0).crash().await;
    let killed_at = Instant::now();
    let (_, replies) = ask(&nodes, 0, &alice, Some(&thread), "after").await;
    assert_eq!(replies.len(), 1, "answered once after the takeover");
    eprintln!(
        "a surviving node answered {:?} after the kill",
        killed_at.elapsed()
    );
    assert_eq!(echo_calls(&nodes, 0).await + echo_calls(&nodes, 1).await, 1);
}

/// An A2A task is its node's to finish: a node starting while that node lives leaves the
/// task working; once that node is SIGKILLed, it is failed (by the next node to start, or
/// a living node's look before), and any node reads it failed, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_a2a_task_of_a_dead_node_is_failed_by_the_next_start() {
    let Some(mut nodes) = Nodes::on_fresh_database(slow_agent_config()).await else {
        return;
    };
    nodes.start(1).await;
    let token = slow_agent_token(&nodes).await;
    let id = send_slow_task(&nodes, 0, &token).await;

    nodes.start(1).await;
    let got = get_task(&nodes, 1, &token, &id).await;
    assert_eq!(
        task_state(&got),
        "TASK_STATE_WORKING",
        "its node lives: {got}"
    );

    nodes.nodes.remove(0).crash().await;
    nodes.start(1).await;
    for node in 0..2 {
        assert_failed_for_its_runner(&get_task(&nodes, node, &token, &id).await);
    }
}

/// With the nodes that stay up, and no node starting: a surviving node leaves the A2A task
/// of a living node working, however long it takes, and fails it within seconds of that
/// node being SIGKILLed (each node looks every 5 s for tasks whose runner died), with the
/// reason, read on any node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_a2a_task_of_a_dead_node_is_failed_by_a_surviving_node_within_seconds() {
    let Some(mut nodes) = Nodes::on_fresh_database(slow_agent_config()).await else {
        return;
    };
    nodes.start(3).await;
    let token = slow_agent_token(&nodes).await;
    let id = send_slow_task(&nodes, 0, &token).await;
    // Longer than a look's interval: the others have looked, and left it to its node.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for node in 1..3 {
        let got = get_task(&nodes, node, &token, &id).await;
        assert_eq!(
            task_state(&got),
            "TASK_STATE_WORKING",
            "its node lives: {got}"
        );
    }

    nodes.nodes.remove(0).crash().await;
    let killed_at = Instant::now();
    // Node indexes move down by one.
    crate::common::eventually(Duration::from_secs(10), "the task failed", || async {
        task_state(&get_task(&nodes, 1, &token, &id).await) == "TASK_STATE_FAILED"
    })
    .await;
    let failed_after = killed_at.elapsed();
    eprintln!("a surviving node failed the dead node's task {failed_after:?} after the kill");
    for node in 0..2 {
        assert_failed_for_its_runner(&get_task(&nodes, node, &token, &id).await);
    }
}

/// A public agent `slow` still answering (for 30 s) when its node dies, and an admin key.
fn slow_agent_config() -> Value {
    let slow = crate::common::repo("tests/fixtures/plugins/loop-long.toml");
    json!({"server": {"admin_key": NODES_ADMIN_KEY},
           "agents": {"slow": {"name": "Slow", "access": "public", "responder": slow}}})
}

const NODES_ADMIN_KEY: &str = "nodes-admin-key";

/// A token for `slow`, made on node 0's daemon.
async fn slow_agent_token(nodes: &Nodes) -> String {
    let request = nodes
        .http
        .post(format!("{}/tokens", nodes.nodes[0].daemon))
        .header("x-admin-key", NODES_ADMIN_KEY)
        .json(&json!({"name": "app", "scopes": ["agent:slow"]}));
    let created = send(request).await.2;
    created["token"].as_str().expect("a token").to_owned()
}

/// A message to `slow` sent through `node`, answered at once with its task, working: its id.
async fn send_slow_task(nodes: &Nodes, node: usize, token: &str) -> Value {
    let message = json!({"role": "ROLE_USER", "messageId": "m-1", "parts": [{"text": "hi"}]});
    let params = json!({"message": message, "configuration": {"returnImmediately": true}});
    let base = nodes.base(node);
    let sent = a2a_call(&nodes.http, base, "slow", token, "SendMessage", params).await;
    assert_eq!(
        task_state(&sent["result"]["task"]),
        "TASK_STATE_WORKING",
        "{sent}"
    );
    sent["result"]["task"]["id"].clone()
}

/// `GetTask` of task `id` (a `slow` one), through `node`.
async fn get_task(nodes: &Nodes, node: usize, token: &str, id: &Value) -> Value {
    let (http, base) = (&nodes.http, nodes.base(node));
    a2a_call(http, base, "slow", token, "GetTask", json!({"id": id})).await
}

/// The state of a task, or of the task `GetTask` answered.
fn task_state(task_or_answer: &Value) -> Value {
    let task = task_or_answer.get("result").unwrap_or(task_or_answer);
    task["status"]["state"].clone()
}

/// `got` (a `GetTask` answer) is the task failed because its runner died, with the reason.
#[track_caller]
fn assert_failed_for_its_runner(got: &Value) {
    assert_eq!(task_state(got), "TASK_STATE_FAILED", "{got}");
    let reason = &got["result"]["status"]["message"]["parts"][0]["text"];
    assert!(
        reason
            .as_str()
            .unwrap_or_default()
            .contains("restarted or crashed"),
        "{got}"
    );
}

/// Three nodes run the webhook deliverer on one outbox: each delivery is claimed by one of
/// them, so Bob's webhook gets every message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_deliverers_post_each_webhook_once() {
    let config = json!({"server": {"webhooks": {"allow_http": true, "allow_private": true}}});
    let Some(mut nodes) = Nodes::on_fresh_database(config).await else {
        return;
    };
    nodes.start(3).await;
    let receiver = crate::webhooks::Receiver::start().await;
    let (alice, bob) = pair(&nodes).await;
    let request = nodes
        .http
        .put(format!("{}/auth/me", nodes.base(1)))
        .bearer_auth(&bob.key)
        .json(&json!({"webhook_url": receiver.url}));
    let (status, _, profile) = send(request).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    const SENT: usize = 30;
    for n in 0..SENT {
        let body = json!({"to_agent_id": bob.id, "content": format!("m{n}")});
        nodes
            .call(n % 3, "/messages", Some(&alice.key), Some(body))
            .await;
    }
    crate::common::eventually(Duration::from_secs(15), "every message posted", || async {
        receiver.accepted().len() == SENT
    })
    .await;
    // Any second attempt by another node would come within moments.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.log().len(), SENT, "no delivery posted twice");
}

/// A node SIGKILLed in the middle of a webhook attempt (the receiver has not answered
/// yet) leaves its claim behind; once the claim lapses (the request timeout plus 10 s)
/// another node makes the attempt again, under the same delivery id, and the delivery is
/// delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_claimed_by_a_node_that_dies_is_delivered_once_by_another() {
    let config = json!({"server": {"webhooks": {
        "allow_http": true, "allow_private": true, "timeout_ms": 3000}}});
    let Some(mut nodes) = Nodes::on_fresh_database(config).await else {
        return;
    };
    nodes.start(1).await;
    let receiver = crate::webhooks::Receiver::start().await;
    let alice = nodes.register(0, "alice").await;
    let bob = nodes.register(0, "bob").await;
    nodes.connect(&alice, 0, &bob, 0).await;
    let request = nodes
        .http
        .put(format!("{}/auth/me", nodes.base(0)))
        .bearer_auth(&bob.key)
        .json(&json!({"webhook_url": receiver.url}));
    assert_eq!(send(request).await.0, StatusCode::OK);
    receiver.stall(1);
    let body = json!({"to_agent_id": bob.id, "content": "ring"});
    nodes
        .call(0, "/messages", Some(&alice.key), Some(body))
        .await;
    crate::common::eventually(Duration::from_secs(10), "the first attempt", || async {
        !receiver.log().is_empty()
    })
    .await;
    // Within the attempt's 3 s timeout: node 0 never learns how it went.
    let claimed_at = Instant::now();
    nodes.nodes.remove(0).crash().await;
    nodes.start(2).await;

    crate::common::eventually(Duration::from_secs(30), "another node retries", || async {
        receiver.accepted().len() == 1
    })
    .await;
    let retried_after = claimed_at.elapsed();
    eprintln!("the claim of the killed node was retried {retried_after:?} after the kill");
    assert!(
        retried_after >= Duration::from_secs(10),
        "not before the claim lapsed: {retried_after:?}"
    );
    // A second retry by the other surviving node would come within moments.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids = receiver.delivery_ids();
    assert_eq!(ids.len(), 2, "the killed attempt and one retry: {ids:?}");
    assert_eq!(ids[0], ids[1], "under the same delivery id");
    assert_eq!(receiver.accepted().get(&ids[0]), Some(&1));
    let listed = nodes
        .call(0, "/webhooks/deliveries", Some(&bob.key), None)
        .await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], ids[0].as_str());
    assert_eq!(listed[0]["status"], "delivered", "{listed:?}");
}

/// A node refuses to start on a database that a newer agentx migrated (a schema version this
/// binary does not know), and its error names the PostgreSQL database, not a data directory.
#[tokio::test]
async fn a_node_refuses_a_schema_newer_than_it_knows() {
    let Some(nodes) = Nodes::on_fresh_database(json!({})).await else {
        return;
    };
    let notifier = std::sync::Arc::new(agentx::notify::LocalNotifier::default());
    agentx::store::PgStore::open(&nodes.url, notifier)
        .await
        .expect("a fresh database is migrated");
    let (client, connection) = tokio_postgres::connect(&nodes.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("INSERT INTO agentx_schema (version) VALUES (99)")
        .await
        .unwrap();

    let serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentx"))
        .args(["serve", "--port", "0", "--daemon-port", "0", "--config"])
        .arg(&nodes.config)
        .arg("--data-dir")
        .arg(nodes.dir.path().join("node"))
        .args(["--database-url", &nodes.url])
        .env_remove("AGENTX_DATABASE_URL")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), serve)
        .await
        .expect("agentx refuses at start, not after serving")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("the PostgreSQL database holds schema version 99; this agentx reads version"),
        "{stderr}"
    );
}
