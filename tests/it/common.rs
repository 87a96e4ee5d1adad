//! The harness: a real agentx server on free ports with a temporary data directory, and a
//! small HTTP client speaking the contract.

use agentx::clock::ManualClock;
use agentx::config::Config;
use agentx::server::{self, Running, Secrets};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tempfile::TempDir;

pub const ADMIN_KEY: &str = "test-admin-key";

pub struct TestServer {
    /// `http://127.0.0.1:<port>` of the public listener.
    pub base: String,
    /// `http://127.0.0.1:<port>` of the daemon listener.
    pub daemon: String,
    /// Moves this server's time forward (invite expiry, idempotency windows).
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    config: Config,
    running: Option<Running>,
    _data: Arc<TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the default test config adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let data = Arc::new(TempDir::new().expect("temp dir"));
        let mut config = Config::default();
        config.server.port = 0;
        config.server.daemon_port = 0;
        config.server.data_dir = data.path().to_owned();
        adjust(&mut config);
        let clock = Arc::new(ManualClock::default());
        let running = launch(&config, &clock).await;
        Self {
            base: format!("http://{}", running.public_addr),
            daemon: format!("http://{}", running.daemon_addr),
            clock,
            http: reqwest::Client::new(),
            config,
            running: Some(running),
            _data: data,
        }
    }

    /// Stops the server (as on SIGTERM) and starts it again on the same data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let running = launch(&self.config, &self.clock).await;
        self.base = format!("http://{}", running.public_addr);
        self.daemon = format!("http://{}", running.daemon_addr);
        self.running = Some(running);
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
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let text = response.text().await.expect("response body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
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
}

async fn launch(config: &Config, clock: &Arc<ManualClock>) -> Running {
    let secrets = Secrets {
        jwt_secret: None,
        admin_key: Some(ADMIN_KEY.into()),
    };
    server::start(config.clone(), secrets, clock.clone())
        .await
        .expect("server starts")
}

#[derive(Debug, Clone)]
pub struct TestAgent {
    pub id: String,
    pub key: String,
    pub email: String,
}
