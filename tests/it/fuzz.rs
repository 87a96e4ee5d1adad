//! Property-based fuzzing of every request body the HTTP API takes, and of the WIT reply
//! boundary: arbitrary JSON, near-valid bodies with one field gone wrong, and arbitrary
//! bytes, posted to a real server. No input may give a 5xx or take the server down, and
//! every refusal is JSON in the shape its family of routes documents.
//!
//! Each route gets `PROPTEST_CASES` cases (default 256), from a seed proptest picks anew
//! each run unless `PROPTEST_RNG_SEED` fixes it; a failure prints the smallest body that
//! still fails. See "Fuzzing" in docs/reliability.md.

use crate::common::{
    ADMIN_KEY, TestAgent, TestServer, connect_hosted, fixture, public, repo, send, token,
};
use agentx::config::{Access, AgentConfig, Config};
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestCaseError, TestError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// How a route answers refusals (its error shape).
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `{"detail", "code"}`: the network routes.
    Network,
    /// `{"error": "..."}`: public-agent and daemon routes.
    Plain,
    /// `{"error": {"message", "type", "code"}}`.
    OpenAi,
    /// JSON-RPC 2.0: refusals are error objects, at 200.
    JsonRpc,
}

/// Who a request is from.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Nobody,
    Agent,
    Admin,
    Token,
    Daemon,
}

/// One route taking a body, and a body it accepts: the fields the fuzzer breaks.
struct Route {
    method: Method,
    path: String,
    caller: Caller,
    shape: Shape,
    valid: Value,
}

/// The strings a field might plausibly hold, so that mutated bodies get past the type
/// checks into the domain's own validation.
const WORDS: &[&str] = &[
    "",
    " ",
    "echo",
    "ada",
    "friends",
    "casual",
    "info",
    "personal",
    "auto",
    "never",
    "text",
    "query",
    "user",
    "system",
    "assistant",
    "agent:*",
    "agent:echo",
    "dashboard:write",
    "public-api",
    "network",
    "https://hooks.example.com/x",
    "http://127.0.0.1/",
    "https://[::1]/",
    "a@b.c",
    "SendMessage",
    "message/send",
    "GetTask",
    "ListTasks",
    "tasks/cancel",
    "SubscribeToTask",
    "2.0",
    "cex_00",
    "\u{0}",
    "\u{202e}",
    "🦀",
];

/// Any JSON value; object keys mostly from `keys` (the route's own field names).
fn any_json(keys: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        (0usize..70_000).prop_map(|n| Value::from("x".repeat(n))),
    ];
    let key = prop_oneof![
        4 => prop::sample::select(keys),
        1 => "\\PC{0,8}",
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every key of `value`, at any depth.
fn keys_of(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys_of(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys_of(v, out)),
        _ => {}
    }
}

/// A value for one field: mostly a string, which gets past the type checks into the
/// domain's own validation; otherwise anything.
fn field_value(keys: Vec<String>) -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => prop::sample::select(WORDS).prop_map(Value::from),
        1 => "\\PC{0,24}".prop_map(Value::from),
        2 => any_json(keys),
    ]
}

/// `valid` with some of its fields (at any depth) replaced by arbitrary values or removed.
fn near_valid(valid: Value, keys: Vec<String>) -> impl Strategy<Value = Value> {
    let changes = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            proptest::option::of(field_value(keys)),
        ),
        1..4,
    );
    changes.prop_map(move |changes| {
        let mut body = valid.clone();
        for (at, value) in changes {
            let mut paths = Vec::new();
            field_paths(&body, &mut Vec::new(), &mut paths);
            if paths.is_empty() {
                return value.unwrap_or(Value::Null);
            }
            let path = &paths[at.index(paths.len())];
            let (last, parents) = path.split_last().expect("paths are not empty");
            let mut parent = &mut body;
            for step in parents {
                parent = &mut parent[step.as_str()];
            }
            let map = parent.as_object_mut().expect("parents are objects");
            match value {
                Some(value) => map.insert(last.clone(), value),
                None => map.remove(last),
            };
        }
        body
    })
}

/// The paths of every field in `value`'s objects (not inside arrays).
fn field_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            prefix.push(k.clone());
            out.push(prefix.clone());
            field_paths(v, prefix, out);
            prefix.pop();
        }
    }
}

/// What is posted: a JSON value, or raw bytes declared as JSON.
#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

fn bodies(valid: &Value) -> impl Strategy<Value = Body> + use<> {
    let mut keys = Vec::new();
    keys_of(valid, &mut keys);
    keys.extend(["jsonrpc", "id", "method", "params"].map(str::to_owned));
    prop_oneof![
        3 => near_valid(valid.clone(), keys.clone()).prop_map(Body::Json),
        2 => any_json(keys).prop_map(Body::Json),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Raw),
        1 => "\\PC{0,64}".prop_map(|s| Body::Raw(s.into_bytes())),
    ]
}

/// The parties the routes need: an agent connected to the hosted `echo`, a token for it,
/// one of its connections and an unused invite.
struct World {
    srv: TestServer,
    ada: TestAgent,
    token: String,
    /// The last request answered and its status: the one before a failure can be its cause
    /// (requests go one at a time, so it was on the same kept-alive connection).
    last: std::sync::Mutex<String>,
}

async fn world() -> (World, Vec<Route>) {
    let srv = TestServer::start_with(|c: &mut Config| {
        // The fuzzer is one client sending thousands of requests as fast as it can.
        crate::common::rate_limit(c, 1_000_000, 1_000_000);
        // Its made-up credentials and registrations would otherwise spend the address's
        // budgets within a run, and every later unproven body would be a 429 that never
        // reached its handler.
        c.server.rate_limit.failed_auth_per_minute = 1_000_000.try_into().unwrap();
        c.server.limits.registrations_per_hour = 1_000_000.try_into().unwrap();
        let echo = AgentConfig {
            responder: Some(repo("plugins/echo")),
            access: Access::Public,
            ..AgentConfig::default()
        };
        c.agents.insert("echo".into(), echo);
    })
    .await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    connect_hosted(&srv, "echo", &ada).await;
    let connection = srv.connect(&ada, &bob, "friends").await;
    let (_, token) = token(&srv, &["agent:*"], None).await;
    let (_, invite) = srv.post("/connections/invite", &bob.key, json!({})).await;
    let invite = invite["invite_code"].clone();

    let route = |method: Method, path: &str, caller, shape, valid: Value| Route {
        method,
        path: path.to_owned(),
        caller,
        shape,
        valid,
    };
    use Caller::*;
    use Shape::*;
    let chat = json!({"role": "user", "content": "hi", "name": "ada"});
    let a2a_message = json!({"messageId": "m1", "role": "user", "contextId": "c1",
        "parts": [{"kind": "text", "text": "hi"}]});
    let routes = vec![
        route(
            Method::POST,
            "/auth/register",
            Nobody,
            Network,
            json!({"email": "fuzz@example.com", "name": "Fuzz", "agent_name": "fuzz",
                "framework": "custom", "webhook_url": "https://hooks.example.com/x"}),
        ),
        route(
            Method::POST,
            "/auth/login",
            Nobody,
            Network,
            json!({"email": ada.email, "api_key": ada.key}),
        ),
        route(
            Method::PUT,
            "/auth/me",
            Agent,
            Network,
            json!({"webhook_url": ""}),
        ),
        route(
            Method::POST,
            "/connections/invite",
            Agent,
            Network,
            json!({}),
        ),
        route(
            Method::POST,
            "/connections/accept",
            Agent,
            Network,
            json!({"invite_code": invite, "contract": "casual"}),
        ),
        route(
            Method::PUT,
            &format!("/connections/{connection}/permissions"),
            Agent,
            Network,
            json!({"category": "info", "level": "ask"}),
        ),
        route(
            Method::POST,
            "/messages",
            Agent,
            Network,
            json!({"to_agent_id": bob.id, "content": "hi", "message_type": "query",
                "category": "info", "thread_subject": "s"}),
        ),
        route(
            Method::POST,
            "/auth/webhook-secret",
            Agent,
            Network,
            json!({}),
        ),
        route(
            Method::POST,
            "/admin/announcements",
            Admin,
            Network,
            json!({"title": "t", "content": "c", "version": "5"}),
        ),
        route(
            Method::POST,
            "/api/public/agents/echo/messages",
            Token,
            Plain,
            json!({"message": "hi", "context": {"sender": "fuzz", "chatId": "c1"}}),
        ),
        route(
            Method::POST,
            "/v1/chat/completions",
            Token,
            OpenAi,
            json!({"model": "echo", "messages": [chat], "user": "u", "stream": false}),
        ),
        route(
            Method::POST,
            "/a2a/echo",
            Token,
            JsonRpc,
            json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                "params": {"message": a2a_message, "configuration": {"historyLength": 2}}}),
        ),
        route(
            Method::POST,
            "/tokens",
            Daemon,
            Plain,
            json!({"name": "t", "scopes": ["agent:echo"], "expires_days": 1}),
        ),
        route(
            Method::POST,
            "/task",
            Daemon,
            Plain,
            json!({"agent": "echo", "message": "hi",
                "context": {"channel": "cli", "sender": "fuzz", "chatId": "c1"}}),
        ),
        route(
            Method::POST,
            "/agents/echo/accept",
            Daemon,
            Plain,
            json!({"invite_code": "nope", "contract": "friends"}),
        ),
    ];
    (
        World {
            srv,
            ada,
            token,
            last: Default::default(),
        },
        routes,
    )
}

impl World {
    /// Posts `body` on `route`: the status, content type and text of the answer, or what
    /// happened instead (no answer, or a body that did not arrive), said in full.
    async fn post(
        &self,
        route: &Route,
        body: &Body,
    ) -> Result<(StatusCode, String, String), TestCaseError> {
        let base = match route.caller {
            Caller::Daemon => &self.srv.daemon,
            _ => &self.srv.base,
        };
        let mut request = self
            .srv
            .http
            .request(route.method.clone(), format!("{base}{}", route.path))
            .header("content-type", "application/json")
            .timeout(ANSWER_WITHIN);
        request = match route.caller {
            Caller::Nobody => request,
            Caller::Agent => request.bearer_auth(&self.ada.key),
            Caller::Token => request.bearer_auth(&self.token),
            Caller::Admin | Caller::Daemon => request.header("X-Admin-Key", ADMIN_KEY),
        };
        let bytes = match body {
            Body::Json(value) => value.to_string().into_bytes(),
            Body::Raw(bytes) => bytes.clone(),
        };
        let size = bytes.len();
        let started = Instant::now();
        let failed = |what: &str, e: reqwest::Error| {
            TestCaseError::fail(format!(
                "{} {} with a {size}-byte body: {what} after {:?}: {}; the request before: {}",
                route.method,
                route.path,
                started.elapsed(),
                error_chain(&e),
                self.last.lock().unwrap(),
            ))
        };
        let response = request
            .body(bytes)
            .send()
            .await
            .map_err(|e| failed("no answer", e))?;
        let status = response.status();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response
            .text()
            .await
            .map_err(|e| failed(&format!("{status}, but its body did not arrive"), e))?;
        *self.last.lock().unwrap() = format!(
            "{} {} with a {size}-byte body: {status} in {:?}",
            route.method,
            route.path,
            started.elapsed()
        );
        Ok((status, kind, text))
    }
}

/// How long a request may take to be answered in full. Far above what any takes on an idle
/// machine (milliseconds), so that only a request the server loses or stalls fails.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// An error and every error beneath it, with reqwest's classification: its `Display`
/// alone says only "error sending request".
fn error_chain(e: &reqwest::Error) -> String {
    let mut said = format!(
        "{e} (timeout: {}, connect: {}, request: {}, body: {})",
        e.is_timeout(),
        e.is_connect(),
        e.is_request(),
        e.is_body()
    );
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        said.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    said
}

/// The property: no 5xx, and a refusal in the route's documented shape.
fn check(
    route: &Route,
    answer: Result<(StatusCode, String, String), TestCaseError>,
) -> Result<(), TestCaseError> {
    let (status, kind, text) = answer?;
    // The one 5xx the contract has for a body: the agent's own reply over its plugin's
    // output limit (echo repeats a message over 64 KiB) is the plugin failing, a 502.
    let plugin_over_limit = status == StatusCode::BAD_GATEWAY && text.contains("over its limit");
    prop_assert!(
        !status.is_server_error() || plugin_over_limit,
        "{status} {text}"
    );
    if status.is_success() && kind.starts_with("text/event-stream") {
        return Ok(());
    }
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| TestCaseError::fail(format!("{status}: not JSON ({e}): {text}")))?;
    if status.is_client_error() {
        let ok = match route.shape {
            Shape::Network => {
                let code = body["code"].as_str().unwrap_or_default();
                body["detail"].as_str().is_some_and(|d| !d.is_empty())
                    && !code.is_empty()
                    && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            }
            Shape::Plain | Shape::JsonRpc => body["error"].as_str().is_some_and(|e| !e.is_empty()),
            Shape::OpenAi => {
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
                    && body["error"]["type"].is_string()
            }
        };
        prop_assert!(ok, "{status}: not the documented error shape: {body}");
    }
    if let (Shape::JsonRpc, Some(error)) = (route.shape, body.get("error")) {
        prop_assert!(error["code"].is_i64(), "{body}");
        prop_assert!(
            error["message"].as_str() != Some("Internal error"),
            "{body}"
        );
    }
    Ok(())
}

/// Runs `property` on `strategy` with proptest's configured case count (`PROPTEST_CASES`),
/// each case's future on `rt`; panics with the smallest failing input.
fn fuzz<S: Strategy>(
    rt: &Runtime,
    what: &str,
    strategy: S,
    property: impl AsyncFn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Cases {
        // The smallest input is worth a few hundred more requests, not thousands.
        max_shrink_iters: 512,
        // Nothing to replay from: the panic message carries the smallest input instead.
        failure_persistence: None,
        ..Cases::default()
    });
    match runner.run(&strategy, |input| rt.block_on(property(input))) {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => panic!("{what}: {why}\nsmallest input: {input:?}"),
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Every body type of the API, each fuzzed on its own so that a failure names its route.
#[test]
fn request_bodies_never_give_a_server_error() {
    let rt = Runtime::new().unwrap();
    let (world, routes) = rt.block_on(world());
    for route in &routes {
        let what = format!("{} {}", route.method, route.path);
        fuzz(&rt, &what, bodies(&route.valid), async |body| {
            check(route, world.post(route, &body).await)
        });
    }
    // And it still serves.
    let (status, _) = rt.block_on(world.srv.get("/auth/me", &world.ada.key));
    assert_eq!(status, StatusCode::OK);
}

/// A reply as the reflect fixture's caller writes it: the canonical-ABI result area of
/// `result<option<reply>, string>` (result tag @0, option tag @4, content pointer @8,
/// length @12), then the bytes from 1 MiB + 16 on.
#[derive(Debug, Clone)]
struct Reply {
    area: [u8; 16],
    payload: Vec<u8>,
}

/// Where the reflect fixture puts the payload in its memory, and where its memory ends
/// (20 pages, all zero past what it decoded: every call gets a fresh instance).
const PAYLOAD_AT: u32 = 0x10_0010;
const MEMORY_END: u64 = 20 << 16;
/// The reflect fixture's `max_output_bytes`.
const REFLECT_LIMIT: usize = 1024;

/// What the host must make of a reply.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// 200 with exactly this content.
    Passed(String),
    /// 200 with some content of this length (from memory the test does not know).
    PassedOfLength(usize),
    /// A failed call.
    Refused,
}

impl Reply {
    fn field(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.area[at..at + 4].try_into().unwrap())
    }

    /// The canonical ABI's reading of this result area, and the host's limit after it.
    fn outcome(&self) -> Outcome {
        let (ptr, len) = (self.field(8), self.field(12));
        match (self.area[0], self.area[4]) {
            (0, 0) => Outcome::Passed(String::new()),
            (0, 1) if u64::from(ptr) + u64::from(len) > MEMORY_END => Outcome::Refused,
            (0, 1) if len as usize > REFLECT_LIMIT => Outcome::Refused,
            (0, 1) if ptr == PAYLOAD_AT => {
                let mut bytes = self.payload.clone();
                bytes.resize(len as usize, 0);
                String::from_utf8(bytes).map_or(Outcome::Refused, Outcome::Passed)
            }
            (0, 1) => Outcome::PassedOfLength(len as usize),
            _ => Outcome::Refused,
        }
    }

    fn hex(&self) -> String {
        self.area
            .iter()
            .chain(&self.payload)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn replies() -> impl Strategy<Value = Reply> {
    let payload = prop_oneof![
        "\\PC{0,400}".prop_map(String::into_bytes),
        (0usize..2 * REFLECT_LIMIT).prop_map(|n| vec![b'y'; n]),
        prop::collection::vec(any::<u8>(), 0..64),
    ];
    let tag = prop_oneof![4 => 0u8..2, 1 => any::<u8>()];
    let pointer = prop_oneof![4 => Just(PAYLOAD_AT), 1 => any::<u32>()];
    (
        tag.clone(),
        tag,
        pointer,
        any::<u32>(),
        any::<bool>(),
        payload,
    )
        .prop_map(|(result, option, ptr, len, exact, payload)| {
            // Mostly the payload's own length, or a prefix of it; sometimes anything.
            let len = if exact {
                (len as usize % (payload.len() + 1)) as u32
            } else {
                len
            };
            let mut area = [0; 16];
            area[0] = result;
            area[4] = option;
            area[8..12].copy_from_slice(&ptr.to_le_bytes());
            area[12..].copy_from_slice(&len.to_le_bytes());
            Reply { area, payload }
        })
}

/// Replies of any shape and size across the WIT boundary: a well-formed one within the
/// limit comes back unchanged; anything else is a failed call (502, `{"error": ...}`);
/// never a panic, and the server keeps answering.
#[test]
fn plugin_replies_are_passed_on_or_refused() {
    let rt = Runtime::new().unwrap();
    let (srv, token) = rt.block_on(async {
        let srv = TestServer::start_with(|c: &mut Config| {
            c.server.rate_limit.per_second = 1_000_000.try_into().unwrap();
            // Malformed replies are the point here: they must not degrade the plugin.
            c.server.plugin_health.degraded_after = u32::MAX;
            let reflect = AgentConfig {
                responder: Some(fixture("reflect")),
                access: Access::Public,
                ..AgentConfig::default()
            };
            c.agents.insert("reflect".into(), reflect);
        })
        .await;
        let (_, token) = token(&srv, &["agent:reflect"], None).await;
        (srv, token)
    });
    fuzz(&rt, "reflect", replies(), async |reply| {
        let body = json!({"message": reply.hex()});
        let (status, answer) = public(&srv, "reflect", Some(&token), body).await;
        let content = answer["content"].as_str();
        match reply.outcome() {
            Outcome::Passed(text) => {
                prop_assert_eq!(status, StatusCode::OK, "{}", answer);
                prop_assert_eq!(content, Some(text.as_str()));
            }
            // Bytes elsewhere in its memory: refused as non-UTF-8, or passed on whole.
            Outcome::PassedOfLength(len) if status == StatusCode::OK => {
                prop_assert_eq!(content.map(str::len), Some(len), "{}", answer);
            }
            Outcome::PassedOfLength(_) | Outcome::Refused => {
                prop_assert_eq!(status, StatusCode::BAD_GATEWAY, "{}", answer);
                prop_assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
            }
        }
        Ok(())
    });
    let (status, _, _) = rt.block_on(send(srv.request(Method::GET, "/health")));
    assert_eq!(status, StatusCode::OK);
}
