//! What several nodes on PostgreSQL cost against one node on the embedded store: durable
//! message sends per second, and how soon a waiting long-poll gets a message, for one redb
//! node (the baseline), one PostgreSQL node and three PostgreSQL nodes on one database,
//! measured side by side in one run.
//!
//! - `durable sends/<setup>`: 16 clients send messages (`POST /messages`, answered once
//!   committed) as fast as they can, spread round-robin over the setup's nodes;
//!   throughput in sends per second.
//! - `wake-up/<setup>`: a long-poll (`GET /messages/stream`) waits on the setup's last node;
//!   a message is sent through its first node. Time from the send's start to the poll's
//!   answer: the durable commit, then the wake-up (for three nodes, a `NOTIFY` crossing
//!   to another node).
//!
//! PostgreSQL is the integration tests' throwaway server (`tests/it/common/postgres.rs`,
//! Debian's `postgresql` package), here with `fsync` on, so that a commit is as durable as
//! redb's. The nodes run in this process (`server::start`), each with its own store,
//! connection pool and listening connection, as separate processes would have; the
//! clients share the process too, the same for every setup.
//!
//!     cargo bench -p agentx --bench nodes
//!
//! After criterion's report it prints both measures and their ratios to the baseline.
//! Results: benches/README.md.

mod common;
#[path = "../tests/it/common/postgres.rs"]
mod postgres;

use agentx::clock::SystemClock;
use agentx::config::Config;
use agentx::server::{self, Running, Secrets};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use futures::future::join_all;
use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Clients sending at once in `durable sends`.
const CLIENTS: u64 = 16;
const BASELINE: &str = "redb, 1 node (baseline)";
const SETUPS: [&str; 3] = [BASELINE, "postgres, 1 node", "postgres, 3 nodes"];

struct Agent {
    id: String,
    key: String,
}

/// The nodes of one setup and the agents the benches use on them.
struct Setup {
    nodes: Vec<Running>,
    bases: Vec<String>,
    http: reqwest::Client,
    /// Alice sends to Bob in `durable sends` (Bob's queue only grows).
    alice: Agent,
    bob: Agent,
    /// Carol sends to Dave in `wake-up`, whose queue is empty whenever he polls.
    carol: Agent,
    dave: Agent,
    _data: tempfile::TempDir,
}

impl Setup {
    /// `nodes` nodes on `database` (the embedded store when `None`, then one node).
    async fn start(nodes: usize, database: Option<String>) -> Self {
        let data = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let mut running = Vec::new();
        for n in 0..nodes {
            let mut config = Config::default();
            let server = &mut config.server;
            server.port = 0;
            server.daemon_port = 0;
            server.data_dir = data.path().join(format!("node{n}"));
            server.database_url = database.clone();
            // One client address sends everything: no rate limit in the way.
            let unlimited = NonZeroU32::new(1_000_000).expect("non-zero");
            server.rate_limit.per_second = unlimited;
            server.rate_limit.burst = unlimited;
            let node = server::start(config, Secrets::default(), Arc::new(SystemClock))
                .await
                .expect("node starts");
            running.push(node);
        }
        let bases: Vec<String> = running
            .iter()
            .map(|n| format!("http://{}", n.public_addr))
            .collect();
        let http = reqwest::Client::new();
        let alice = register(&http, &bases, "alice").await;
        let bob = register(&http, &bases, "bob").await;
        let carol = register(&http, &bases, "carol").await;
        let dave = register(&http, &bases, "dave").await;
        let setup = Setup {
            nodes: running,
            bases,
            http,
            alice,
            bob,
            carol,
            dave,
            _data: data,
        };
        setup.connect(&setup.alice, &setup.bob).await;
        setup.connect(&setup.carol, &setup.dave).await;
        setup
    }

    async fn connect(&self, a: &Agent, b: &Agent) {
        let invite = self.post(0, "/connections/invite", a, json!({})).await;
        let accept = json!({"invite_code": invite["invite_code"]});
        self.post(self.last(), "/connections/accept", b, accept)
            .await;
    }

    fn last(&self) -> usize {
        self.bases.len() - 1
    }

    async fn post(&self, node: usize, path: &str, agent: &Agent, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.bases[node]))
            .bearer_auth(&agent.key)
            .json(&body)
            .send()
            .await
            .expect("the node answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("a JSON answer")
    }

    async fn send(&self, node: usize, from: &Agent, to: &Agent) -> Value {
        let body = json!({"to_agent_id": to.id, "content": "a message of ordinary length"});
        self.post(node, "/messages", from, body).await
    }

    /// `iters` sends from `CLIENTS` clients at once, over the nodes in turn.
    async fn sends(&self, iters: u64) -> Duration {
        let next = AtomicU64::new(0);
        let started = Instant::now();
        join_all((0..CLIENTS).map(|_| async {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= iters {
                    break;
                }
                let node = n as usize % self.bases.len();
                self.send(node, &self.alice, &self.bob).await;
            }
        }))
        .await;
        started.elapsed()
    }

    /// One message from Carol to Dave's waiting long-poll: from the send's start to the
    /// poll's answer.
    async fn wake_up(&self) -> Duration {
        let url = format!("{}/messages/stream?timeout=30", self.bases[self.last()]);
        let poll = self.http.get(url).bearer_auth(&self.dave.key).send();
        let poll = tokio::spawn(async move {
            let inbox: Value = poll.await.expect("the poll").json().await.expect("JSON");
            (inbox, Instant::now())
        });
        // Time for the poll to reach the node and wait (the send below is not timed yet).
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = Instant::now();
        let sent = self.send(0, &self.carol, &self.dave).await;
        let (inbox, answered) = poll.await.expect("the poll task");
        assert_eq!(inbox["messages"][0]["id"], sent["id"], "{inbox}");
        answered.saturating_duration_since(started)
    }

    async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
    }
}

async fn register(http: &reqwest::Client, bases: &[String], name: &str) -> Agent {
    let body = json!({"email": format!("{name}@example.com"), "name": name, "agent_name": name});
    let response = http
        .post(format!("{}/auth/register", bases[0]))
        .json(&body)
        .send()
        .await
        .expect("the node answers");
    let reply: Value = response.json().await.expect("a JSON answer");
    Agent {
        id: reply["agent_id"].as_str().expect("agent_id").to_owned(),
        key: reply["api_key"].as_str().expect("api_key").to_owned(),
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let Some(first_database) = rt.block_on(postgres::database()) else {
        return;
    };
    let setups: Vec<(&str, Setup)> = rt.block_on(async {
        let second_database = postgres::database().await.expect("the same server");
        vec![
            (SETUPS[0], Setup::start(1, None).await),
            (SETUPS[1], Setup::start(1, Some(first_database)).await),
            (SETUPS[2], Setup::start(3, Some(second_database)).await),
        ]
    });

    let mut group = c.benchmark_group("durable sends");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    for (name, setup) in &setups {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter_custom(|iters| setup.sends(iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("wake-up");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, setup) in &setups {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += setup.wake_up().await;
                }
                total
            })
        });
    }
    group.finish();

    rt.block_on(async {
        for (_, setup) in setups {
            setup.stop().await;
        }
    });
}

/// Sends/s and wake-up time of each setup in this run, with their ratios to the baseline.
fn summary(estimates: &common::Estimates) {
    let sends = |setup: &str| estimates.ns(&["durable sends", setup]).map(|ns| 1e9 / ns);
    let wake = |setup: &str| estimates.ns(&["wake-up", setup]);
    let (Some(base_sends), Some(base_wake)) = (sends(BASELINE), wake(BASELINE)) else {
        // Nothing in a test run (`cargo test --benches`), which measures nothing.
        return;
    };
    println!("\nnodes, this run: durable sends/s and wake-up, each against {BASELINE}");
    for setup in SETUPS {
        if let (Some(s), Some(w)) = (sends(setup), wake(setup)) {
            println!(
                "  {setup:<24} {s:>6.0} sends/s (x{:.2})   wake-up {} (x{:.2})",
                s / base_sends,
                common::human(w),
                w / base_wake
            );
        }
    }
}

criterion_group!(nodes, benches);

fn main() {
    // SAFETY: before any other thread exists. The throwaway PostgreSQL fsyncs its commits
    // only when told to (tests run it without, for speed); durable sends must be durable.
    unsafe { std::env::set_var("AGENTX_TEST_PG_FSYNC", "on") };
    common::run(nodes, summary);
}
