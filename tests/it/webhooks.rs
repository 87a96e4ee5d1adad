//! Webhooks end to end: a real HTTP receiver on 127.0.0.1 (plain http and a private
//! address, explicitly allowed in the config) gets signed deliveries from the outbox,
//! through receiver failures, dead-letter and replay, and a restart of agentx.

use crate::common::{TestAgent, TestServer, eventually};
use agentx::config::Config;
use agentx::webhook_signature::{
    self as signature, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(15);

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Received {
    delivery: String,
    event: String,
    signature: String,
    body: Vec<u8>,
    pub answered: u16,
}

#[derive(Default)]
struct ReceiverState {
    log: Vec<Received>,
    /// Answers for the next requests, in order; 200 once they run out.
    script: Vec<u16>,
    /// Answer this to everything while set.
    always: Option<u16>,
    /// How many of the next requests get no answer at all (the receiver hangs, as one
    /// that is stuck): they are logged as answered `0`.
    stall: usize,
}

/// A webhook receiver: a real axum server on a free loopback port.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    fn on(listener: tokio::net::TcpListener) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, state }
    }

    fn script(&self, answers: &[u16]) {
        self.state.lock().unwrap().script = answers.to_vec();
    }

    pub fn always(&self, answer: Option<u16>) {
        self.state.lock().unwrap().always = answer;
    }

    /// Leaves the next `n` requests unanswered, for as long as their sender waits.
    pub fn stall(&self, n: usize) {
        self.state.lock().unwrap().stall = n;
    }

    /// The delivery id of each request received, in order.
    pub fn delivery_ids(&self) -> Vec<String> {
        self.log().into_iter().map(|r| r.delivery).collect()
    }

    pub fn log(&self) -> Vec<Received> {
        self.state.lock().unwrap().log.clone()
    }

    /// How many times each delivery id was accepted (answered 2xx).
    pub fn accepted(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self
            .log()
            .iter()
            .filter(|r| (200..300).contains(&r.answered))
        {
            *counts.entry(r.delivery.clone()).or_default() += 1;
        }
        counts
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (stalled, answer) = {
        let mut state = state.lock().unwrap();
        let stalled = state.stall > 0;
        state.stall = state.stall.saturating_sub(1);
        let answer = match state.always {
            _ if stalled => 0,
            Some(answer) => answer,
            None if !state.script.is_empty() => state.script.remove(0),
            None => 200,
        };
        state.log.push(Received {
            delivery: header(DELIVERY_HEADER),
            event: header(EVENT_HEADER),
            signature: header(SIGNATURE_HEADER),
            body: body.to_vec(),
            answered: answer,
        });
        (stalled, answer)
    };
    if stalled {
        // Until the sender gives up or dies: then the connection closes and this is dropped.
        std::future::pending::<()>().await;
    }
    StatusCode::from_u16(answer).unwrap()
}

/// Fast retries against a loopback receiver over plain http, as the config allows.
pub fn local_webhooks(window_ms: u64) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        let w = &mut config.server.webhooks;
        w.allow_http = true;
        w.allow_private = true;
        w.timeout_ms = 2_000;
        w.retry_first_delay_ms = 30;
        w.retry_max_delay_ms = 100;
        w.retry_window_seconds = window_ms.div_ceil(1000);
    }
}

/// Registers an agent with `url` as its webhook; returns it and its signing secret.
pub async fn register_with_webhook(srv: &TestServer, name: &str, url: &str) -> (TestAgent, String) {
    let agent = srv.register(name).await;
    let (status, profile) = srv
        .put("/auth/me", &agent.key, json!({"webhook_url": url}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{profile}");
    let (status, rotated) = srv
        .call(Method::POST, "/auth/webhook-secret", Some(&agent.key), None)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{rotated}");
    let secret = rotated["webhook_secret"].as_str().unwrap().to_owned();
    (agent, secret)
}

async fn deliveries(srv: &TestServer, agent: &TestAgent, status: &str) -> Vec<Value> {
    let (code, list) = srv
        .get(&format!("/webhooks/deliveries?status={status}"), &agent.key)
        .await;
    assert_eq!(code, reqwest::StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

pub fn verifies(secret: &str, r: &Received) -> bool {
    let now = chrono::Utc::now().timestamp();
    signature::verify(secret, &r.signature, &r.body, now, 300)
}

/// The registration answer carries a `whsec_` secret; a message and an announcement reach
/// the webhook signed with it, the message after two receiver failures, every attempt under
/// one delivery id, and the delivery is then listed as delivered after three attempts.
#[tokio::test]
async fn signed_deliveries_retry_until_accepted() {
    let receiver = Receiver::start().await;
    let srv = TestServer::start_with(local_webhooks(60_000)).await;
    let (status, registered) = srv
        .register_raw(
            json!({"email": "hook@example.com", "name": "Hook", "agent_name": "hook",
            "webhook_url": receiver.url}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{registered}");
    let secret = registered["webhook_secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    let bob = TestAgent {
        id: registered["agent_id"].as_str().unwrap().into(),
        key: registered["api_key"].as_str().unwrap().into(),
        email: "hook@example.com".into(),
    };
    let alice = srv.register("alice").await;
    srv.connect(&alice, &bob, "friends").await;

    receiver.script(&[503, 500]);
    let message = srv
        .sent(&alice, &bob, json!({"content": "ring ring"}))
        .await;
    eventually(WITHIN, "the message is accepted", || async {
        receiver.accepted().len() == 1
    })
    .await;
    let log = receiver.log();
    assert_eq!(
        log.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [503, 500, 200]
    );
    assert!(
        log.iter()
            .all(|r| r.delivery == log[0].delivery && r.event == "message")
    );
    assert!(
        log.iter().all(|r| verifies(&secret, r)),
        "every attempt is signed"
    );
    assert!(!verifies("whsec_other", &log[0]));
    let body: Value = serde_json::from_slice(&log[2].body).unwrap();
    assert_eq!(body["id"], message["id"]);
    assert_eq!(body["content"], "ring ring");
    assert_eq!(body["to_agent_id"], bob.id.as_str());

    // The receiver has answered 200; the deliverer records it just after reading that.
    eventually(WITHIN, "the delivery is recorded as delivered", || async {
        !deliveries(&srv, &bob, "delivered").await.is_empty()
    })
    .await;
    let delivered = deliveries(&srv, &bob, "delivered").await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["id"], log[0].delivery.as_str());
    assert_eq!(delivered[0]["attempts"], 3);
    assert_eq!(delivered[0]["subject_id"], message["id"]);

    let announcement = srv.announce("maintenance").await;
    eventually(WITHIN, "the announcement is accepted", || async {
        receiver.accepted().len() == 2
    })
    .await;
    let last = receiver.log().pop().unwrap();
    assert_eq!(last.event, "announcement");
    assert!(verifies(&secret, &last));
    let body: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(body["id"], announcement["id"]);
}

/// A receiver that keeps failing past the retry window leaves the delivery dead, listed
/// with the receiver's status; a replay delivers it under the same id, signed with the
/// secret as rotated meanwhile. Another agent cannot see or replay it.
#[tokio::test]
async fn dead_letter_then_replay() {
    let receiver = Receiver::start().await;
    let srv = TestServer::start_with(local_webhooks(1_000)).await;
    let (bob, old_secret) = register_with_webhook(&srv, "bob", &receiver.url).await;
    let alice = srv.register("alice").await;
    srv.connect(&alice, &bob, "friends").await;

    receiver.always(Some(500));
    srv.sent(&alice, &bob, json!({"content": "anyone home?"}))
        .await;
    eventually(WITHIN, "the delivery is dead", || async {
        deliveries(&srv, &bob, "dead").await.len() == 1
    })
    .await;
    let dead = deliveries(&srv, &bob, "dead").await.remove(0);
    assert_eq!(dead["last_status_code"], 500);
    assert!(dead["attempts"].as_u64().unwrap() >= 2, "{dead}");
    assert!(deliveries(&srv, &bob, "pending").await.is_empty());
    let id = dead["id"].as_str().unwrap();
    let attempts_before = receiver.log().len();

    let (status, _) = srv
        .post(
            &format!("/webhooks/deliveries/{id}/replay"),
            &alice.key,
            json!({}),
        )
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "not alice's delivery"
    );
    let (status, body) = srv.get("/webhooks/deliveries?status=lost", &bob.key).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, rotated) = srv
        .call(Method::POST, "/auth/webhook-secret", Some(&bob.key), None)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let new_secret = rotated["webhook_secret"].as_str().unwrap();
    receiver.always(None);
    let (status, replayed) = srv
        .post(
            &format!("/webhooks/deliveries/{id}/replay"),
            &bob.key,
            json!({}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{replayed}");
    assert_eq!(replayed["status"], "pending");
    eventually(WITHIN, "the replay is accepted", || async {
        receiver.accepted().len() == 1
    })
    .await;
    let log = receiver.log();
    assert_eq!(log.len(), attempts_before + 1);
    let accepted = log.last().unwrap();
    assert_eq!(accepted.delivery, id);
    assert!(verifies(new_secret, accepted) && !verifies(&old_secret, accepted));
    eventually(WITHIN, "the delivery is listed as delivered", || async {
        deliveries(&srv, &bob, "delivered").await.len() == 1
    })
    .await;
}

/// Deliveries pending while agentx restarts are all delivered afterwards, and no delivery
/// id is accepted twice.
#[tokio::test]
async fn restart_with_pending_deliveries_loses_none_and_repeats_none() {
    let receiver = Receiver::start().await;
    let mut srv = TestServer::start_with(local_webhooks(60_000)).await;
    let (bob, _) = register_with_webhook(&srv, "bob", &receiver.url).await;
    let alice = srv.register("alice").await;
    srv.connect(&alice, &bob, "friends").await;

    receiver.always(Some(503));
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(
            srv.sent(&alice, &bob, json!({"content": format!("m{n}")}))
                .await["id"]
                .clone(),
        );
    }
    eventually(WITHIN, "every delivery was tried", || async {
        let tried: std::collections::HashSet<_> =
            receiver.log().into_iter().map(|r| r.delivery).collect();
        tried.len() == 5
    })
    .await;
    srv.restart().await;
    assert_eq!(
        deliveries(&srv, &bob, "pending").await.len(),
        5,
        "all still pending"
    );
    receiver.always(None);
    eventually(WITHIN, "all five are accepted", || async {
        receiver.accepted().len() == 5
    })
    .await;
    assert!(
        receiver.accepted().values().all(|&n| n == 1),
        "{:?}",
        receiver.accepted()
    );
    let mut bodies: Vec<Value> = receiver
        .log()
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["id"].clone())
        .collect();
    bodies.sort_by_key(|v| v.to_string());
    sent.sort_by_key(|v| v.to_string());
    assert_eq!(bodies, sent);
}

/// Special-purpose addresses hidden in IPv6 forms (IPv4-compatible, SIIT, NAT64, 6to4,
/// Teredo) and the deprecated, discard and documentation ranges are refused as webhook
/// URLs, at registration and on a profile update, with a 400 naming the field; the agent
/// keeps no webhook.
#[tokio::test]
async fn ssrf_in_ipv6_forms_and_special_ranges_is_refused() {
    let srv = TestServer::start().await;
    let agent = srv.register("strict").await;
    let urls = [
        "https://[::7f00:1]/hook",
        "https://[::ffff:0:7f00:1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "https://[64:ff9b:1::a9fe:a9fe]/latest/meta-data",
        "https://[2002:a9fe:a9fe::]/latest/meta-data",
        "https://[2001::1]/hook",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
        "https://[fec0::1]/hook",
        "https://[100::1]/hook",
        "https://[2001:db8::1]/hook",
        "https://[3fff::1]/hook",
        "https://[ff02::1]/hook",
        "https://[2001:2::1]/hook",
        "https://[2001:10::1]/hook",
        "https://192.88.99.1/hook",
        "https://192.0.2.1/hook",
        "https://198.51.100.1/hook",
        "https://203.0.113.1/hook",
        "https://198.18.0.1/hook",
        "https://192.0.0.9/hook",
        "https://224.0.0.1/hook",
        "https://255.255.255.255/hook",
    ];
    for (n, url) in urls.iter().enumerate() {
        let (status, body) = srv
            .put("/auth/me", &agent.key, json!({"webhook_url": url}))
            .await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["field"], "webhook_url", "{url}: {body}");
        let (status, body) = srv
            .register_raw(
                json!({"email": format!("ssrf{n}@example.com"), "name": "SSRF",
                "agent_name": format!("ssrf{n}"), "webhook_url": url}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{url}: {body}");
    }
    let (_, me) = srv.get("/auth/me", &agent.key).await;
    assert!(me["webhook_url"].is_null(), "{me}");
}

/// Private, loopback and link-local targets are refused when the webhook is set, and at
/// delivery time once the operator turns the local-testing allowance off: the delivery is
/// dead with the reason and the receiver never hears a thing.
#[tokio::test]
async fn ssrf_targets_are_refused() {
    let strict = TestServer::start().await;
    let agent = strict.register("strict").await;
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/hook",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
        "https://[::1]/hook",
    ] {
        let (status, body) = strict
            .put("/auth/me", &agent.key, json!({"webhook_url": url}))
            .await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{url}: {body}");
    }

    let receiver = Receiver::start().await;
    let mut srv = TestServer::start_with(local_webhooks(60_000)).await;
    let (bob, _) = register_with_webhook(&srv, "bob", &receiver.url).await;
    let alice = srv.register("alice").await;
    srv.connect(&alice, &bob, "friends").await;
    srv.restart_with(|config| {
        config.server.webhooks.allow_private = false;
    })
    .await;
    srv.sent(&alice, &bob, json!({"content": "to a private address"}))
        .await;
    eventually(WITHIN, "the delivery is refused", || async {
        deliveries(&srv, &bob, "dead").await.len() == 1
    })
    .await;
    let dead = deliveries(&srv, &bob, "dead").await.remove(0);
    assert!(
        dead["last_error"].as_str().unwrap().contains("refused"),
        "{dead}"
    );
    assert!(receiver.log().is_empty());
}

/// A receiver that accepts connections and never answers: every attempt at it holds a
/// delivery slot until the attempt times out. Connections are kept open for its lifetime.
struct Tarpit {
    url: String,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl Tarpit {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        Tarpit { url, accepted }
    }
}

/// Sends `n` messages from `from` to `to` in parallel batches.
async fn send_many(srv: &TestServer, from: &TestAgent, to: &TestAgent, n: usize) {
    for batch in (0..n).collect::<Vec<_>>().chunks(20) {
        let sends = batch
            .iter()
            .map(|i| srv.sent(from, to, json!({"content": format!("m{i}")})));
        futures::future::join_all(sends).await;
    }
}

/// The review's attack: 200 deliveries queued for one agent's tarpit (accepts, never
/// answers; attempts held for a minute), then one message to another agent. Its
/// delivery arrives within seconds, not after the tarpit's backlog (16 slots × 10 s each
/// took over 60 s), and the tarpit never holds more than its agent's share of attempts.
#[tokio::test]
async fn a_tarpit_receiver_does_not_stall_other_agents() {
    let tarpit = Tarpit::start().await;
    let receiver = Receiver::start().await;
    let srv = TestServer::start_with(|config| {
        local_webhooks(60_000)(config);
        // Longer than the test: a held attempt is never let go meanwhile.
        config.server.webhooks.timeout_ms = 60_000;
    })
    .await;
    let (mallory, _) = register_with_webhook(&srv, "mallory", &tarpit.url).await;
    let (bob, _) = register_with_webhook(&srv, "bob", &receiver.url).await;
    let alice = srv.register("alice").await;
    srv.connect(&alice, &mallory, "friends").await;
    srv.connect(&alice, &bob, "friends").await;

    send_many(&srv, &alice, &mallory, 200).await;
    eventually(WITHIN, "the tarpit holds attempts", || async {
        tarpit.accepted.load(std::sync::atomic::Ordering::SeqCst) > 0
    })
    .await;
    let sent = std::time::Instant::now();
    srv.sent(&alice, &bob, json!({"content": "still there?"}))
        .await;
    eventually(Duration::from_secs(5), "bob's delivery arrives", || async {
        receiver.accepted().len() == 1
    })
    .await;
    println!("bob's delivery took {:?}", sent.elapsed());
    let defaults = agentx::config::WebhookConfig::default();
    let held = tarpit.accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        held <= defaults.max_in_flight_per_agent,
        "the tarpit holds {held} attempts"
    );
    assert_eq!(deliveries(&srv, &mallory, "pending").await.len(), 200);
}

/// A receiver that refuses connections opens its destination's circuit after a few
/// attempts: its deliveries are deferred, not attempted over and over, and not lost. Once
/// it listens again, a probe after the cool-down closes the circuit and every delivery
/// arrives, once.
#[tokio::test]
async fn a_dead_receiver_opens_its_circuit_and_loses_nothing() {
    // A free port with nothing listening on it (yet).
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let srv = TestServer::start_with(|config| {
        local_webhooks(60_000)(config);
        config.server.webhooks.breaker_cool_down_ms = 1_000;
    })
    .await;
    let (bob, _) = register_with_webhook(&srv, "bob", &url).await;
    let alice = srv.register("alice").await;
    srv.connect(&alice, &bob, "friends").await;
    send_many(&srv, &alice, &bob, 20).await;

    // Without the breaker, 20 deliveries retried every 30–100 ms make hundreds of
    // attempts in 3 s; with it, a few before it opens and about one probe a second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pending = deliveries(&srv, &bob, "pending").await;
    assert_eq!(pending.len(), 20);
    let attempts: u64 = pending
        .iter()
        .map(|d| d["attempts"].as_u64().unwrap())
        .sum();
    println!("{attempts} attempts at 20 deliveries in 3 s while the receiver was down");
    let defaults = agentx::config::WebhookConfig::default();
    assert!(
        attempts
            <= u64::from(defaults.breaker_failures) + defaults.max_in_flight_per_agent as u64 + 4,
        "{attempts} attempts while the receiver was down"
    );

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let receiver = Receiver::on(listener);
    eventually(WITHIN, "every delivery arrives", || async {
        receiver.accepted().len() == 20
    })
    .await;
    assert!(receiver.accepted().values().all(|&n| n == 1));
}
