//! The harness: a real agentx server on free ports with a temporary data directory, and a
//! small HTTP client speaking the contract; the helpers test files share live beside it.

mod a2a;
mod config;
mod daemon;
mod events;
pub mod postgres;
mod public;
mod python;
mod readme;

pub use a2a::a2a_call;
pub use config::{agents, config_file, fixture, repo, rewrite_config};
pub use daemon::{connect_hosted, daemon, reload, revoke, token};
pub use events::read_events;
pub use public::{assert_refused, public, public_at, public_raw};
pub use python::{python_clients, run_python, run_tool};
pub use readme::readme_block;

use agentx::clock::ManualClock;
use agentx::config::Config;
use agentx::server::{self, Running, Secrets};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tempfile::TempDir;

pub const ADMIN_KEY: &str = "test-admin-key";

/// The compile cache every test server shares, under Cargo's scratch directory for tests.
pub fn shared_plugin_cache() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

pub struct TestServer {
    /// `http://127.0.0.1:<port>` of the public listener.
    pub base: String,
    /// `http://127.0.0.1:<port>` of the daemon listener.
    pub daemon: String,
    /// Moves this server's time forward (invite expiry, idempotency windows).
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    config: Config,
    secrets: Secrets,
    running: Option<Running>,
    _data: Arc<TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the default test config adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_secrets(adjust, test_secrets()).await
    }

    /// Starts with the default test config adjusted by `adjust` and the given secrets
    /// (e.g. no admin key at all).
    pub async fn start_with_secrets(adjust: impl FnOnce(&mut Config), secrets: Secrets) -> Self {
        let data = Arc::new(TempDir::new().expect("temp dir"));
        let mut config = Config::default();
        config.server.port = 0;
        config.server.daemon_port = 0;
        config.server.data_dir = data.path().to_owned();
        // One compile cache for the whole run (and the next): each plugin, the big Python
        // example above all, is compiled once instead of once per test.
        config.server.plugin_cache_dir = Some(shared_plugin_cache());
        adjust(&mut config);
        let clock = Arc::new(ManualClock::default());
        let running = launch(&config, &secrets, &clock).await;
        Self {
            base: format!("http://{}", running.public_addr),
            daemon: format!("http://{}", running.daemon_addr),
            clock,
            http: reqwest::Client::new(),
            config,
            secrets,
            running: Some(running),
            _data: data,
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.server.data_dir
    }

    /// Stops the server (as on SIGTERM) and starts it again on the same data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let running = launch(&self.config, &self.secrets, &self.clock).await;
        self.base = format!("http://{}", running.public_addr);
        self.daemon = format!("http://{}", running.daemon_addr);
        self.running = Some(running);
    }

    /// Stops the server and starts it again on the same data directory and the same ports,
    /// so a client holding the old URL (the listener script) can find it again.
    pub async fn restart_on_same_ports(&mut self) {
        let running = self.running.as_ref().expect("the server is running");
        let (public, daemon) = (running.public_addr, running.daemon_addr);
        self.stop().await;
        let mut config = self.config.clone();
        config.server.port = public.port();
        config.server.daemon_port = daemon.port();
        let running = launch(&config, &self.secrets, &self.clock).await;
        self.base = format!("http://{}", running.public_addr);
        self.daemon = format!("http://{}", running.daemon_addr);
        self.running = Some(running);
    }

    /// Restarts on the same data directory with the config changed by `adjust`.
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut Config)) {
        adjust(&mut self.config);
        self.restart().await;
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Any request to the public listener; returns the status and the JSON body
    /// (`Value::Null` when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, _, value) = self.exec(request).await;
        (status, value)
    }

    /// A request to the public listener, to add headers to before [`TestServer::exec`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{}", self.base, path))
    }

    /// Sends a prepared request; returns the status, the headers and the JSON body
    /// (`Value::Null` when there is none, a string when it is not JSON).
    pub async fn exec(&self, request: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
        send(request).await
    }

    /// The JSON answer to a credential-less request to any URL (either listener).
    pub async fn json_at(&self, method: Method, url: String) -> Value {
        let response = self.http.request(method, url).send().await;
        let response = response.expect("request reaches the server");
        response.json().await.expect("a JSON body")
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// `POST /auth/register` with `body` as it is, unauthenticated.
    pub async fn register_raw(&self, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/auth/register", None, Some(body))
            .await
    }

    /// An admin request with `X-Admin-Key: key` (no header when `None`).
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(key) = key {
            request = request.header("X-Admin-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, _, body) = self.exec(request).await;
        (status, body)
    }

    /// Publishes an announcement with the right admin key and returns it.
    pub async fn announce(&self, title: &str) -> Value {
        let (status, body) = self
            .admin(
                Method::POST,
                "/admin/announcements",
                Some(ADMIN_KEY),
                Some(json!({"title": title, "content": format!("{title} body"), "version": "5"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "announce: {body}");
        body
    }

    /// `GET /messages/inbox?limit=<limit>`, asserting 200.
    pub async fn inbox(&self, agent: &TestAgent, limit: usize) -> Value {
        self.get_ok(&format!("/messages/inbox?limit={limit}"), agent)
            .await
    }

    /// `GET /messages/stream?timeout=<seconds>`, asserting 200.
    pub async fn stream(&self, agent: &TestAgent, seconds: u64) -> Value {
        self.get_ok(&format!("/messages/stream?timeout={seconds}"), agent)
            .await
    }

    async fn get_ok(&self, path: &str, agent: &TestAgent) -> Value {
        let (status, body) = self.get(path, &agent.key).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// `POST /auth/login` with the agent's email and key, asserting 200; the session token.
    pub async fn session(&self, agent: &TestAgent) -> String {
        let (status, login) = self
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"email": agent.email, "api_key": agent.key})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        login["token"].as_str().expect("a session token").to_owned()
    }

    /// Registers a fresh agent and returns it.
    pub async fn register(&self, name: &str) -> TestAgent {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let email = format!("{name}-{n}@example.com");
        let (status, body) = self
            .call(
                Method::POST,
                "/auth/register",
                None,
                Some(json!({"email": email, "name": format!("{name} owner"), "agent_name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "register: {body}");
        TestAgent {
            id: body["agent_id"].as_str().expect("agent_id").to_owned(),
            key: body["api_key"].as_str().expect("api_key").to_owned(),
            email,
        }
    }

    /// Connects `a` (inviter) and `b` (acceptor) under `contract`; returns the connection id.
    pub async fn connect(&self, a: &TestAgent, b: &TestAgent, contract: &str) -> String {
        let (status, invite) = self.post("/connections/invite", &a.key, json!({})).await;
        assert_eq!(status, StatusCode::OK, "invite: {invite}");
        let (status, connection) = self
            .post(
                "/connections/accept",
                &b.key,
                json!({"invite_code": invite["invite_code"], "contract": contract}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "accept: {connection}");
        connection["id"].as_str().expect("connection id").to_owned()
    }

    /// Sends a message and returns `(status, body)`.
    pub async fn send(
        &self,
        from: &TestAgent,
        to: &TestAgent,
        extra: Value,
    ) -> (StatusCode, Value) {
        let mut body = json!({"to_agent_id": to.id, "content": "hello"});
        for (k, v) in extra.as_object().expect("object").clone() {
            body[k] = v;
        }
        self.post("/messages", &from.key, body).await
    }

    /// Sends a message that must be accepted; returns it.
    pub async fn sent(&self, from: &TestAgent, to: &TestAgent, extra: Value) -> Value {
        let (status, message) = self.send(from, to, extra).await;
        assert_eq!(status, StatusCode::OK, "send: {message}");
        message
    }
}

/// Sends a prepared request to any listener; returns the status, the headers and the JSON
/// body (`Value::Null` when there is none, a string when it is not JSON).
pub async fn send(request: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("response body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

/// Re-checks `condition` until it holds, failing with `what` after `within`. For effects of
/// other processes (the listener, the webhook worker) that have no event to wait on.
pub async fn eventually<F, Fut>(within: std::time::Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The ids of the messages in an inbox-shaped answer, in the order given.
pub fn message_ids(inbox: &Value) -> Vec<String> {
    let messages = inbox["messages"].as_array().expect("messages array");
    assert_eq!(inbox["count"], messages.len(), "count matches: {inbox}");
    messages
        .iter()
        .map(|m| m["id"].as_str().expect("message id").to_owned())
        .collect()
}

/// The ids of the messages in an inbox-shaped answer in the order they were sent: the
/// wire lists them newest first.
pub fn sent_order(inbox: &Value) -> Vec<String> {
    let mut ids = message_ids(inbox);
    ids.reverse();
    ids
}

/// Asserts an error answer in the contract's shape: `status`, a non-empty `detail` and a
/// snake_case `code`; with `field`, the field is named both in `field` and in `detail`.
#[track_caller]
pub fn assert_error(reply: &(StatusCode, Value), status: StatusCode, field: Option<&str>) {
    let (got, body) = reply;
    assert_eq!(*got, status, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "an error has a detail: {body}");
    let code = body["code"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "an error has a snake_case code: {body}"
    );
    if let Some(field) = field {
        assert_eq!(body["field"], field, "the field is named: {body}");
        assert!(
            detail.to_lowercase().contains(&field.to_lowercase()),
            "the detail names {field}: {body}"
        );
    }
}

/// Sets `config`'s request rate per credential: `per_second` refilling a bucket of `burst`.
pub fn rate_limit(config: &mut Config, per_second: u32, burst: u32) {
    config.server.rate_limit.per_second = per_second.try_into().expect("a rate above 0");
    config.server.rate_limit.burst = burst.try_into().expect("a burst above 0");
}

/// The secrets every test server gets unless it asks for others: the admin key [`ADMIN_KEY`].
pub fn test_secrets() -> Secrets {
    Secrets {
        jwt_secret: None,
        admin_key: Some(ADMIN_KEY.into()),
    }
}

async fn launch(config: &Config, secrets: &Secrets, clock: &Arc<ManualClock>) -> Running {
    server::start(config.clone(), secrets.clone(), clock.clone())
        .await
        .expect("server starts")
}

#[derive(Debug, Clone)]
pub struct TestAgent {
    pub id: String,
    pub key: String,
    pub email: String,
}
