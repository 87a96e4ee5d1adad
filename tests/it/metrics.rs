//! `GET /metrics`: scraped from a real server after real traffic (messages, a woken
//! long-poll, webhook deliveries through receiver failures, public calls to a plugin that
//! traps until it is degraded, reloads) and read with the official Prometheus client's text
//! parser (Python's `prometheus_client`, from tests/py/.venv); and who may scrape it on each
//! listener.
//!
//! The metrics recorder is one per process and the tests of this binary run their servers
//! side by side in theirs, so the test of the numbers runs `agentx serve` as a process of
//! its own, whose registry counts its traffic alone: every value is asserted exactly.

use crate::common::{ADMIN_KEY, TestServer, eventually, fixture, python_clients, run_python};
use crate::common::{send, token};
use crate::crash::Serve;
use crate::webhooks::Receiver;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(15);

/// The body of a `/metrics` request, which must answer 200 in the text format.
async fn fetch(request: reqwest::RequestBuilder) -> String {
    let response = request.send().await.expect("reaches the server");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// Reads the text format with `prometheus_client.parser` and prints every sample, and each
/// sample's family type and help text, as JSON.
const PARSE: &str = r#"
import json, os
from prometheus_client.parser import text_string_to_metric_families
with open(os.environ["METRICS"]) as f:
    text = f.read()
samples, families = [], {}
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        samples.append([sample.name, sample.labels, sample.value])
        families[sample.name] = [family.type, family.documentation]
print(json.dumps({"samples": samples, "families": families}))
"#;

/// A scrape as the parser read it.
struct Scrape {
    /// Every sample: its name (`…_bucket`, `…_count`, `…_total` included), labels and value.
    samples: Vec<(String, HashMap<String, String>, f64)>,
    /// Each sample name's family type and help text.
    families: HashMap<String, (String, String)>,
}

async fn parse(python: &Path, text: &str) -> Scrape {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let path = file.path().display().to_string();
    let out = run_python(python, PARSE, &[("METRICS", &path)], WITHIN).await;
    let parsed: Value = serde_json::from_str(&out).expect("the parser's JSON");
    let samples = parsed["samples"].as_array().unwrap().iter().map(|s| {
        let labels = s[1].as_object().unwrap().iter();
        let labels = labels.map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()));
        (
            s[0].as_str().unwrap().to_owned(),
            labels.collect(),
            s[2].as_f64().unwrap(),
        )
    });
    let families = parsed["families"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, f)| {
            let field = |i: usize| f[i].as_str().unwrap().to_owned();
            (name.clone(), (field(0), field(1)))
        });
    Scrape {
        samples: samples.collect(),
        families: families.collect(),
    }
}

impl Scrape {
    /// The value of sample `name` whose labels include all of `labels`; 0 if there is none
    /// (a series appears when first recorded).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map_or(0.0, |(_, _, value)| *value)
    }
}

const ADMIN: &str = "metrics-admin-key";

/// agentx.json for the scraped process: webhooks to loopback with quick retries, a plugin
/// degraded after two faults for a minute, and `agents`.
fn write_config(path: &Path, agents: Value) {
    let config = json!({
        "server": {
            "webhooks": {"allow_http": true, "allow_private": true, "timeout_ms": 2000,
                "retry_first_delay_ms": 30, "retry_max_delay_ms": 100},
            "plugin_health": {"degraded_after": 2, "recovery_first_delay_ms": 60000,
                "recovery_max_delay_ms": 60000}
        },
        "agents": agents,
    });
    std::fs::write(path, config.to_string()).unwrap();
}

/// Requests to the `agentx serve` process under test.
struct Client<'a> {
    http: reqwest::Client,
    serve: &'a Serve,
    python: PathBuf,
}

impl Client<'_> {
    async fn call(
        &self,
        method: Method,
        url: String,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, _, body) = send(request).await;
        (status, body)
    }

    /// A request to the public listener that must answer 200.
    async fn ok(&self, method: Method, path: &str, key: Option<&str>, body: Value) -> Value {
        let url = format!("{}{path}", self.serve.base);
        let (status, body) = self.call(method, url, key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// A daemon request with the admin key.
    async fn daemon(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.serve.daemon);
        let mut request = self.http.request(method, url).header("X-Admin-Key", ADMIN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, _, body) = send(request).await;
        (status, body)
    }

    /// Registers `name`; its id and API key.
    async fn register(&self, name: &str) -> (String, String) {
        let body =
            json!({"email": format!("{name}@example.com"), "name": name, "agent_name": name});
        let registered = self.ok(Method::POST, "/auth/register", None, body).await;
        let field = |f: &str| registered[f].as_str().unwrap().to_owned();
        (field("agent_id"), field("api_key"))
    }

    /// The daemon's `/metrics`, parsed.
    async fn scrape(&self) -> Scrape {
        let request = self.http.get(format!("{}/metrics", self.serve.daemon));
        let text = fetch(request.header("X-Admin-Key", ADMIN)).await;
        parse(&self.python, &text).await
    }
}

/// Real traffic to a real `agentx serve` process moves exactly the metrics it should,
/// labelled by listener, route template (never a raw path), status, agent and outcome: a
/// send and its ack, a long-poll counted while it waits and woken by the send, webhook
/// attempts that fail then succeed (the outbox depth read at each scrape), a reload that
/// adds a public agent and one refused, public calls that answer, trap, and are refused
/// once the plugin is degraded (the degraded gauge), and the store's group commits.
#[tokio::test]
async fn traffic_moves_the_metrics() {
    let Some(python) = python_clients("traffic_moves_the_metrics") else {
        return;
    };
    let dir = tempfile::TempDir::new().unwrap();
    let config = dir.path().join("agentx.json");
    write_config(&config, json!({}));
    let receiver = Receiver::start().await;
    let data = dir.path().join("data");
    let serve = Serve::start_with_env(&config, &data, &[("AGENTX_ADMIN_KEY", ADMIN)]).await;
    let client = Client {
        http: reqwest::Client::new(),
        serve: &serve,
        python,
    };
    let before = client.scrape().await;
    assert_eq!(before.value("agentx_long_poll_waiters", &[]), 0.0);

    let (_, alice) = client.register("alice").await;
    let (bob_id, bob) = client.register("bob").await;
    let invite = client
        .ok(Method::POST, "/connections/invite", Some(&alice), json!({}))
        .await;
    let accept = json!({"invite_code": invite["invite_code"]});
    client
        .ok(Method::POST, "/connections/accept", Some(&bob), accept)
        .await;
    let hook = json!({"webhook_url": receiver.url});
    client.ok(Method::PUT, "/auth/me", Some(&bob), hook).await;
    receiver.always(Some(503));

    // Bob waits; the gauge counts him while he does, and Alice's message wakes him.
    let waiting = {
        let url = format!("{}/messages/stream?timeout=30", serve.base);
        let request = client.http.get(url).bearer_auth(&bob);
        tokio::spawn(send(request))
    };
    eventually(WITHIN, "bob's long-poll is counted as waiting", || async {
        client.scrape().await.value("agentx_long_poll_waiters", &[]) == 1.0
    })
    .await;
    let message = json!({"to_agent_id": bob_id, "content": "hello", "category": "info"});
    client
        .ok(Method::POST, "/messages", Some(&alice), message)
        .await;
    let (status, _, delivery) = tokio::time::timeout(WITHIN, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{delivery}");
    let message = delivery["messages"][0]["id"].as_str().unwrap().to_owned();
    let ack = format!("/messages/{message}/ack");
    client.ok(Method::POST, &ack, Some(&bob), json!({})).await;
    let nowhere = format!("{}/no/such/route", serve.base);
    let (status, _) = client.call(Method::GET, nowhere, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The receiver refuses: the delivery stays in the outbox, retried, until it accepts.
    eventually(WITHIN, "a webhook attempt was refused", || async {
        !receiver.log().is_empty()
    })
    .await;
    let refusing = client.scrape().await;
    assert_eq!(refusing.value("agentx_webhook_outbox_pending", &[]), 1.0);
    receiver.always(None);
    eventually(WITHIN, "the webhook delivery is accepted", || async {
        receiver.log().iter().any(|r| r.answered == 200)
    })
    .await;

    // A reload adds the public agent `metered` (it traps on messages starting with "!");
    // one of a broken agentx.json is refused.
    let flaky = fixture("flaky").display().to_string();
    write_config(
        &config,
        json!({"metered": {"responder": flaky, "access": "public"}}),
    );
    let (status, report) = client.daemon(Method::POST, "/reload", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    std::fs::write(&config, "{not json").unwrap();
    let (status, report) = client.daemon(Method::POST, "/reload", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{report}");

    // Public calls: one answered, two traps that degrade the plugin, one refused for it.
    let scopes = json!({"name": "app", "scopes": ["agent:metered"]});
    let (status, created) = client.daemon(Method::POST, "/tokens", Some(scopes)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let app = created["token"].as_str().unwrap().to_owned();
    let call = |text: &'static str| {
        let url = format!("{}/api/public/agents/metered/messages", serve.base);
        let (client, app) = (&client, &app);
        async move {
            let body = json!({"message": text});
            client
                .call(Method::POST, url, Some(app), Some(body))
                .await
                .0
        }
    };
    assert_eq!(call("hi").await, StatusCode::OK);
    assert_eq!(call("!trap").await, StatusCode::BAD_GATEWAY);
    assert_eq!(call("!trap").await, StatusCode::BAD_GATEWAY);
    assert_eq!(call("hi").await, StatusCode::SERVICE_UNAVAILABLE);

    let after = client.scrape().await;
    let requests = "agentx_http_request_duration_seconds_count";
    let public = |method: &'static str, route: &'static str, status: &'static str| {
        let labels = [
            ("listener", "public"),
            ("method", method),
            ("route", route),
            ("status", status),
        ];
        after.value(requests, &labels)
    };
    assert_eq!(public("POST", "/messages", "200"), 1.0);
    assert_eq!(public("GET", "/messages/stream", "200"), 1.0);
    assert_eq!(public("POST", "/messages/{id}/ack", "200"), 1.0);
    assert_eq!(public("GET", "unmatched", "404"), 1.0);
    let agent_route = "/api/public/agents/{id}/messages";
    assert_eq!(public("POST", agent_route, "200"), 1.0);
    assert_eq!(public("POST", agent_route, "502"), 2.0);
    assert_eq!(public("POST", agent_route, "503"), 1.0);
    let reloads = |status| {
        [
            ("listener", "daemon"),
            ("route", "/reload"),
            ("status", status),
        ]
    };
    assert_eq!(after.value(requests, &reloads("200")), 1.0);
    assert_eq!(after.value(requests, &reloads("400")), 1.0);
    // Bounded cardinality: no label carries an id from a path.
    for (name, labels, _) in &after.samples {
        for value in labels.values() {
            assert!(
                !value.contains(&message) && !value.contains("no/such"),
                "a raw path as a label of {name}: {value}"
            );
        }
    }

    assert_eq!(after.value("agentx_long_poll_wakeups_total", &[]), 1.0);
    let attempts = "agentx_webhook_attempts_total";
    assert!(after.value(attempts, &[("outcome", "retry")]) >= 1.0);
    assert_eq!(after.value(attempts, &[("outcome", "delivered")]), 1.0);
    assert_eq!(after.value(attempts, &[("outcome", "dead")]), 0.0);
    assert_eq!(after.value("agentx_webhook_outbox_pending", &[]), 0.0);

    let calls = |outcome: &'static str| {
        let labels = [
            ("agent", "metered"),
            ("call", "respond"),
            ("outcome", outcome),
        ];
        after.value("agentx_plugin_call_duration_seconds_count", &labels)
    };
    assert_eq!(calls("ok"), 1.0);
    assert_eq!(calls("trap"), 2.0);
    assert_eq!(calls("degraded"), 1.0);
    assert_eq!(after.value("agentx_agents_degraded", &[]), 1.0);
    assert_eq!(
        after.value("agentx_reloads_total", &[("outcome", "ok")]),
        1.0
    );
    assert_eq!(
        after.value("agentx_reloads_total", &[("outcome", "refused")]),
        1.0
    );

    // Every write above went through group commits, each with its batch size.
    let redb = [("backend", "redb")];
    let commits = |scrape: &Scrape, name: &str| scrape.value(name, &redb);
    let durations = "agentx_store_commit_duration_seconds_count";
    let made = commits(&after, durations) - commits(&before, durations);
    assert!(made >= 5.0, "{made} commits");
    let batches = "agentx_store_commit_batch_size_count";
    assert_eq!(commits(&after, batches) - commits(&before, batches), made);
    let bucket = |le| [("backend", "redb"), ("le", le)];
    let batch_bucket = "agentx_store_commit_batch_size_bucket";
    assert!(
        after.value(batch_bucket, &bucket("1")) >= 1.0,
        "single writes"
    );
    assert_eq!(
        after.value(batch_bucket, &bucket("512")),
        commits(&after, batches)
    );

    // Every metric has its type and says what it means.
    for (name, kind) in [
        (requests, "histogram"),
        ("agentx_store_commit_duration_seconds_count", "histogram"),
        ("agentx_store_commit_batch_size_count", "histogram"),
        ("agentx_long_poll_waiters", "gauge"),
        ("agentx_long_poll_wakeups_total", "counter"),
        ("agentx_plugin_call_duration_seconds_count", "histogram"),
        ("agentx_agents_degraded", "gauge"),
        ("agentx_webhook_outbox_pending", "gauge"),
        (attempts, "counter"),
        ("agentx_reloads_total", "counter"),
    ] {
        let (family, help) = &after.families[name];
        assert_eq!((name, family.as_str()), (name, kind));
        assert!(!help.is_empty(), "{name} has no help text");
    }
}

/// The public listener serves `/metrics` only to a live token with `dashboard:read` (or
/// `dashboard:write`): none or a dead one is 401, one without the scope 403, each as
/// `{"error"}`; the daemon listener wants the admin key like its other routes.
#[tokio::test]
async fn who_may_scrape() {
    let srv = TestServer::start().await;
    let url = format!("{}/metrics", srv.base);
    let refusal = |token: Option<&str>| {
        let mut request = srv.http.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            assert!(
                body["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{body}"
            );
            status
        }
    };
    assert_eq!(refusal(None).await, StatusCode::UNAUTHORIZED);
    let fake = format!("agx_live_{}", "0".repeat(64));
    assert_eq!(refusal(Some(&fake)).await, StatusCode::UNAUTHORIZED);
    let (_, caller) = token(&srv, &["agent:*"], None).await;
    assert_eq!(refusal(Some(&caller)).await, StatusCode::FORBIDDEN);

    let histogram = "# TYPE agentx_http_request_duration_seconds histogram";
    for scope in ["dashboard:read", "dashboard:write"] {
        let (_, viewer) = token(&srv, &[scope], None).await;
        let text = fetch(srv.http.get(&url).bearer_auth(&viewer)).await;
        assert!(text.contains(histogram), "{scope}: {text}");
    }

    let daemon = format!("{}/metrics", srv.daemon);
    let refused = srv.http.get(&daemon).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let text = fetch(srv.http.get(&daemon).header("X-Admin-Key", ADMIN_KEY)).await;
    assert!(text.contains(histogram), "{text}");
}
