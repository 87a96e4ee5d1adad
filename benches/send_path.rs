//! What the internet-facing limits of issue 11 cost a message send: the rate limiter and
//! the connection layer (connection table, header and idle watchdog, body deadline),
//! each measured beside a baseline without it in the same run, and set against a whole
//! `POST /messages` on a real server. See benches/README.md, "send_path".
//!
//! Neither can be switched off in a server (no operator should run one without them), so
//! each is measured on its own around the same minimal handler: the limiter as the
//! server's own middleware (`http::rate_limit::limiter`) in front of a handler that
//! proves an agent as `CurrentAgent` does, against the handler alone; the connection
//! layer as the server's `transport::serve` against `axum::serve` (what served before
//! issue 11), over loopback with a kept-alive client.

mod common;

use agentx::clock::SystemClock;
use agentx::config::{Config, ConnectionConfig};
use agentx::layers::{self, Connections, Identity, Limits, Proof, RateLimit};
use agentx::server::{self, Secrets};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Json};
use axum::http::Request;
use axum::routing::post;
use criterion::{Criterion, criterion_group};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const GROUP: &str = "send path";
const SEND: &str = "POST /messages, whole server (reference)";
const BARE: &str = "handler alone (baseline)";
const LIMITED: &str = "handler behind the rate limiter";
const AXUM: &str = "axum::serve (baseline)";
const TRANSPORT: &str = "transport::serve";

/// Budgets no bench comes near: every request goes through every check and none is
/// refused (a refused request would be cheaper than a served one).
fn unlimited() -> NonZeroU32 {
    NonZeroU32::new(1_000_000).expect("non-zero")
}

/// The send the benches make: an ordinary message, with the agent's key.
const KEY: &str = "cex_0123456789abcdef0123456789abcdef";
fn message(to: &str) -> Value {
    json!({"to_agent_id": to, "content": "a message of ordinary length"})
}

/// The minimal handler: it proves the caller as the agent extractor does (so the limiter
/// remembers the credential and charges the agent) and answers with the body it read.
fn handler_router() -> Router {
    Router::new().route(
        "/messages",
        post(|proof: Proof, Json(body): Json<Value>| async move {
            proof.set(Identity::Agent("ada".into()));
            Json(body)
        }),
    )
}

fn behind_the_limiter(router: Router) -> Router {
    let limits = Limits::new(RateLimit {
        per_second: unlimited(),
        burst: unlimited(),
        failed_auth_per_minute: unlimited(),
        registrations_per_hour: unlimited(),
        trusted_proxies: Default::default(),
    });
    router.layer(layers::limiter(limits))
}

/// One request through `router` in-process, as the connection layer hands it over.
async fn call(router: &Router) {
    let mut request = Request::post("/messages")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Body::from(message("bob").to_string()))
        .expect("a request");
    let peer: SocketAddr = ([127, 0, 0, 1], 40_000).into();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body");
}

/// One kept-alive request over loopback.
async fn post_to(http: &reqwest::Client, url: &str, body: &Value) {
    let response = http
        .post(url)
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .expect("the server answers");
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.expect("the body");
}

/// `handler_router` served on a fresh loopback port by `axum::serve` or, with the default
/// connection limits, by `transport::serve`; its URL.
async fn serve_handler(ours: bool, stop: &CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/messages", listener.local_addr().expect("addr"));
    let router = handler_router();
    let stop = stop.clone();
    if ours {
        let connections = Connections::new((&ConnectionConfig::default()).into());
        tokio::spawn(layers::serve(listener, router, connections, stop));
    } else {
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
    }
    url
}

/// A whole server (redb store in a temporary directory, default limits but unlimited
/// budgets) with two connected agents; the URL of `POST /messages`, the sender's key and
/// the recipient's id.
async fn whole_server(data: &std::path::Path) -> (server::Running, String, String, String) {
    let mut config = Config::default();
    config.server.port = 0;
    config.server.daemon_port = 0;
    config.server.data_dir = data.to_owned();
    config.server.rate_limit.per_second = unlimited();
    config.server.rate_limit.burst = unlimited();
    let running = server::start(config, Secrets::default(), Arc::new(SystemClock))
        .await
        .expect("the server starts");
    let base = format!("http://{}", running.public_addr);
    let http = reqwest::Client::new();
    let register = async |name: &str| -> Value {
        let body =
            json!({"email": format!("{name}@example.com"), "name": name, "agent_name": name});
        let response = http.post(format!("{base}/auth/register")).json(&body);
        response
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("JSON")
    };
    let (alice, bob) = (register("alice").await, register("bob").await);
    let key = |agent: &Value| agent["api_key"].as_str().expect("api_key").to_owned();
    let invite: Value = http
        .post(format!("{base}/connections/invite"))
        .bearer_auth(key(&alice))
        .json(&json!({}))
        .send()
        .await
        .expect("invite")
        .json()
        .await
        .expect("JSON");
    let accepted = http
        .post(format!("{base}/connections/accept"))
        .bearer_auth(key(&bob))
        .json(&json!({"invite_code": invite["invite_code"]}))
        .send()
        .await
        .expect("accept");
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let to = bob["agent_id"].as_str().expect("agent_id").to_owned();
    (running, format!("{base}/messages"), key(&alice), to)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let data = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let stop = CancellationToken::new();
    let (running, send_url, sender, to) = rt.block_on(whole_server(data.path()));
    let (axum_url, transport_url) = rt.block_on(async {
        (
            serve_handler(false, &stop).await,
            serve_handler(true, &stop).await,
        )
    });
    let bare = handler_router();
    let limited = behind_the_limiter(handler_router());
    let http = reqwest::Client::new();
    let body = message("bob");
    let send = message(&to);

    let mut group = c.benchmark_group(GROUP);
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function(SEND, |b| {
        b.to_async(&rt).iter(|| async {
            let response = http
                .post(&send_url)
                .bearer_auth(&sender)
                .json(&send)
                .send()
                .await
                .expect("the server answers");
            assert!(response.status().is_success(), "{}", response.status());
            response.bytes().await.expect("the body");
        })
    });
    group.bench_function(BARE, |b| b.to_async(&rt).iter(|| call(&bare)));
    group.bench_function(LIMITED, |b| b.to_async(&rt).iter(|| call(&limited)));
    group.bench_function(AXUM, |b| {
        b.to_async(&rt).iter(|| post_to(&http, &axum_url, &body))
    });
    group.bench_function(TRANSPORT, |b| {
        b.to_async(&rt)
            .iter(|| post_to(&http, &transport_url, &body))
    });
    group.finish();
    stop.cancel();
    rt.block_on(running.stop());
}

/// A difference of two estimates, which noise can make negative.
fn signed(ns: f64) -> String {
    if ns < 0.0 {
        format!("-{}", common::human(-ns))
    } else {
        common::human(ns)
    }
}

/// The ratios of this run, after criterion's report.
fn summary(estimates: &common::Estimates) {
    let ns = |name| estimates.ns(&[GROUP, name]);
    let (Some(send), Some(bare), Some(limited), Some(axum), Some(ours)) =
        (ns(SEND), ns(BARE), ns(LIMITED), ns(AXUM), ns(TRANSPORT))
    else {
        // Nothing in a test run (`cargo test --benches`), which measures nothing.
        return;
    };
    let share = |extra: f64| 100.0 * extra / send;
    println!(
        "\nsend_path, this run (a whole send: {})",
        common::human(send)
    );
    println!(
        "  rate limiter: {} per request ({} behind it, {} alone: x{:.2}), {:.2}% of a send",
        signed(limited - bare),
        common::human(limited),
        common::human(bare),
        limited / bare,
        share(limited - bare),
    );
    println!(
        "  connection layer: {} per request ({} by transport::serve, {} by axum::serve: x{:.2}), {:.2}% of a send",
        signed(ours - axum),
        common::human(ours),
        common::human(axum),
        ours / axum,
        share(ours - axum),
    );
    // An upper bound for what issue 11 added: the limiter is set against no limiter at
    // all, though a (cheaper, unbounded) one ran before it as well.
    println!(
        "  a send with both / without either (by subtraction): x{:.3}",
        send / (send - (limited - bare) - (ours - axum)),
    );
}

criterion_group!(send_path, benches);

fn main() {
    common::run(send_path, summary);
}
