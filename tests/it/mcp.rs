//! MCP at `/mcp`, driven by the official `mcp` Python SDK (its Streamable HTTP client, and
//! its stdio client launching `agentx mcp`), in both of its ways to connect: the 2026-07-28
//! protocol (`server/discover`, no handshake) and the `initialize` handshake of the versions
//! before it. Plus raw HTTP for what a client library hides: the 401 before any JSON-RPC,
//! the rate limit.

use crate::common::{
    TestAgent, TestServer, agents, python_clients, repo, revoke, run_python, token,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// How long one client script may run: a few tool calls, one long-poll cut short.
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

/// What every script starts with: `connect(key, mode)` opens a client on `$MCP_URL` with the
/// key as Bearer (none when empty), `call` runs a tool and returns whether it failed and
/// its structured content, `report` prints the script's findings for the test to read.
const PRELUDE: &str = r#"
import asyncio, json, os, time
from contextlib import asynccontextmanager
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

MODE = os.environ.get("MCP_MODE", "auto")

@asynccontextmanager
async def connect(key, mode=MODE):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http:
        async with Client(streamable_http_client(os.environ["MCP_URL"], http_client=http), mode=mode) as client:
            yield client

async def call(client, name, arguments=None):
    result = await client.call_tool(name, arguments or {})
    return {"error": bool(result.is_error), "result": result.structured_content}

def report(findings):
    print(json.dumps(findings))
"#;

/// Runs `script` after the prelude with `env` (plus `MCP_URL`); returns what it reported.
async fn run(
    python: &std::path::Path,
    srv: &TestServer,
    script: &str,
    env: &[(&str, &str)],
) -> Value {
    let url = format!("{}/mcp", srv.base);
    let mut env = env.to_vec();
    env.push(("MCP_URL", &url));
    let out = run_python(python, &format!("{PRELUDE}\n{script}"), &env, SCRIPT_LIMIT).await;
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the script reported no JSON ({e}):\n{out}"))
}

/// The agent tools, sorted.
const NETWORK_TOOLS: [&str; 11] = [
    "accept_invite",
    "ack_message",
    "check_inbox",
    "create_invite",
    "get_permissions",
    "list_connections",
    "list_threads",
    "read_thread",
    "send_message",
    "set_permission",
    "whoami",
];

const NETWORK_FLOW: &str = r#"
async def main():
    a_key, b_key, b_id = os.environ["A_KEY"], os.environ["B_KEY"], os.environ["B_ID"]
    out = {}
    async with connect(a_key) as a, connect(b_key) as b:
        out["protocol"] = a.protocol_version
        listed = (await a.list_tools()).tools
        out["tools"] = sorted(t.name for t in listed)
        out["schemas"] = {t.name: t.input_schema for t in listed}
        await b.list_tools()
        invite = await call(a, "create_invite")
        out["invite"] = invite
        out["accepted"] = await call(b, "accept_invite", {"invite_code": invite["result"]["invite_code"]})
        out["connections"] = await call(a, "list_connections")

        # Bob waits first; Alice's message must end his wait long before its 30 s.
        async def send_later():
            await asyncio.sleep(0.5)
            return await call(a, "send_message", {"to_agent_id": b_id, "content": "Lunch at noon?",
                                                  "category": "info", "thread_subject": "Lunch"})
        started = time.monotonic()
        out["inbox"], out["sent"] = await asyncio.gather(call(b, "check_inbox", {"wait_seconds": 30}), send_later())
        out["waited"] = time.monotonic() - started
        out["again"] = await call(b, "check_inbox")
        message = out["inbox"]["result"]["messages"][0]
        out["ack"] = await call(b, "ack_message", {"message_id": message["id"]})
        out["threads"] = await call(b, "list_threads")
        out["thread"] = await call(b, "read_thread", {"thread_id": message["thread_id"]})
        out["whoami"] = await call(b, "whoami")
        connection = out["accepted"]["result"]["id"]
        out["permissions"] = await call(b, "get_permissions", {"connection_id": connection})
        out["set"] = await call(b, "set_permission", {"connection_id": connection, "category": "personal", "level": "never"})
    report(out)

asyncio.run(main())
"#;

/// Two registered agents do the network's whole round through MCP tools alone: invite and
/// accept, a message whose arrival ends the other's long-poll, acknowledged, its thread
/// read, a permission changed; and the HTTP API sees every effect.
async fn network_round(mode: &str) {
    let Some(python) = python_clients("mcp network round") else {
        return;
    };
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    let env = [
        ("MCP_MODE", mode),
        ("A_KEY", alice.key.as_str()),
        ("B_KEY", bob.key.as_str()),
        ("B_ID", bob.id.as_str()),
    ];
    let out = run(&python, &srv, NETWORK_FLOW, &env).await;

    let protocol = out["protocol"].as_str().unwrap();
    assert!(protocol >= "2025-06-18", "{protocol}");
    assert_eq!(out["tools"], json!(NETWORK_TOOLS));
    let send = &out["schemas"]["send_message"];
    assert_eq!(send["type"], "object", "{send}");
    assert_eq!(
        send["required"],
        json!(["to_agent_id", "content"]),
        "{send}"
    );
    for field in ["category", "message_type", "thread_id", "thread_subject"] {
        assert!(send["properties"][field].is_object(), "{field}: {send}");
    }

    for step in [
        "invite",
        "accepted",
        "connections",
        "sent",
        "inbox",
        "again",
        "ack",
    ] {
        assert_eq!(out[step]["error"], false, "{step}: {}", out[step]);
    }
    let join_url = out["invite"]["result"]["join_url"].as_str().unwrap();
    assert!(join_url.starts_with(&srv.base), "{join_url}");
    assert_eq!(
        out["accepted"]["result"]["connected_agent"]["id"],
        json!(alice.id)
    );
    assert_eq!(
        out["connections"]["result"]["connections"][0]["connected_agent"]["id"],
        json!(bob.id)
    );

    let waited = out["waited"].as_f64().unwrap();
    assert!(
        (0.4..10.0).contains(&waited),
        "the long-poll took {waited} s"
    );
    let inbox = &out["inbox"]["result"];
    assert_eq!(inbox["count"], 1, "{inbox}");
    let message = &inbox["messages"][0];
    assert_eq!(message["content"], "Lunch at noon?");
    assert_eq!(message["from_agent_id"], json!(alice.id));
    assert_eq!(message["id"], out["sent"]["result"]["id"]);
    assert_eq!(out["again"]["result"]["count"], 0, "handed out once");
    assert_eq!(out["ack"]["result"]["status"], "acknowledged");

    let thread = &out["thread"]["result"];
    assert_eq!(thread["thread"]["subject"], "Lunch");
    assert_eq!(thread["messages"][0]["id"], message["id"]);
    assert_eq!(
        out["threads"]["result"]["threads"][0]["id"],
        thread["thread"]["id"]
    );
    assert_eq!(out["whoami"]["result"]["id"], json!(bob.id));
    assert_eq!(
        out["permissions"]["result"]["permissions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        out["set"]["result"],
        json!({"category": "personal", "level": "never"})
    );

    // The HTTP API sees the same: the message acknowledged, personal messages refused.
    let path = format!(
        "/messages/thread/{}",
        thread["thread"]["id"].as_str().unwrap()
    );
    let (status, seen) = srv.get(&path, &alice.key).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert!(seen["messages"][0]["acknowledged_at"].is_string(), "{seen}");
    let personal = json!({"to_agent_id": bob.id, "content": "psst", "category": "personal"});
    let (status, refused) = srv.post("/messages", &alice.key, personal).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
}

/// The round with the 2026-07-28 protocol, which the SDK picks when the server offers it.
#[tokio::test]
async fn agents_meet_and_message_through_mcp_tools() {
    network_round("auto").await;
}

/// The round with the `initialize` handshake of the protocol versions before 2026-07-28.
#[tokio::test]
async fn agents_meet_and_message_through_mcp_tools_after_a_handshake() {
    network_round("legacy").await;
}

const REFUSALS: &str = r#"
async def main():
    a_id, b_id, c_id = os.environ["A_ID"], os.environ["B_ID"], os.environ["C_ID"]
    connection, theirs = os.environ["CONNECTION"], os.environ["THEIRS"]
    out = {}
    async with connect(os.environ["A_KEY"]) as a:
        await a.list_tools()
        out["self"] = await call(a, "send_message", {"to_agent_id": a_id, "content": "hi"})
        out["stranger"] = await call(a, "send_message", {"to_agent_id": c_id, "content": "hi"})
        out["type"] = await call(a, "send_message", {"to_agent_id": b_id, "content": 5})
        out["missing"] = await call(a, "send_message", {"to_agent_id": b_id})
        out["category"] = await call(a, "send_message", {"to_agent_id": b_id, "content": "x", "category": "gossip"})
        out["wait"] = await call(a, "check_inbox", {"wait_seconds": 61})
        out["level"] = await call(a, "set_permission", {"connection_id": connection, "category": "info", "level": "sometimes"})
        out["not_yours"] = await call(a, "get_permissions", {"connection_id": theirs})
        out["thread"] = await call(a, "read_thread", {"thread_id": "no-such-thread"})
        out["ack"] = await call(a, "ack_message", {"message_id": "no-such-message"})
        out["invite"] = await call(a, "accept_invite", {"code": "no-such-code"})
        try:
            await a.call_tool("ask_agent", {"agent": "echo", "message": "hi"})
            out["unknown"] = "answered"
        except Exception as e:
            out["unknown"] = str(e)
    report(out)

asyncio.run(main())
"#;

/// Every refusal is an MCP tool error with the HTTP API's words, code and status (and the
/// argument at fault), and changes nothing; a tool of the other set is no tool at all.
#[tokio::test]
async fn mcp_tool_errors_carry_the_http_reasons() {
    let Some(python) = python_clients("mcp tool errors") else {
        return;
    };
    let srv = TestServer::start().await;
    let (alice, bob, carol) = (
        srv.register("alice").await,
        srv.register("bob").await,
        srv.register("carol").await,
    );
    let connection = srv.connect(&alice, &bob, "friends").await;
    let theirs = srv.connect(&bob, &carol, "friends").await;
    let env = [
        ("A_KEY", alice.key.as_str()),
        ("A_ID", alice.id.as_str()),
        ("B_ID", bob.id.as_str()),
        ("C_ID", carol.id.as_str()),
        ("CONNECTION", connection.as_str()),
        ("THEIRS", theirs.as_str()),
    ];
    let out = run(&python, &srv, REFUSALS, &env).await;

    // What the HTTP API answers the same request: the tool error must say the same.
    let none = json!({});
    let http = [
        (
            "self",
            srv.post(
                "/messages",
                &alice.key,
                json!({"to_agent_id": alice.id, "content": "hi"}),
            )
            .await,
        ),
        (
            "stranger",
            srv.post(
                "/messages",
                &alice.key,
                json!({"to_agent_id": carol.id, "content": "hi"}),
            )
            .await,
        ),
        (
            "category",
            srv.post(
                "/messages",
                &alice.key,
                json!({"to_agent_id": bob.id, "content": "x", "category": "gossip"}),
            )
            .await,
        ),
        (
            "level",
            srv.put(
                &format!("/connections/{connection}/permissions"),
                &alice.key,
                json!({"category": "info", "level": "sometimes"}),
            )
            .await,
        ),
        (
            "not_yours",
            srv.get(&format!("/connections/{theirs}/permissions"), &alice.key)
                .await,
        ),
        (
            "thread",
            srv.get("/messages/thread/no-such-thread", &alice.key).await,
        ),
        (
            "ack",
            srv.post("/messages/no-such-message/ack", &alice.key, none.clone())
                .await,
        ),
        (
            "invite",
            srv.post(
                "/connections/accept",
                &alice.key,
                json!({"invite_code": "no-such-code"}),
            )
            .await,
        ),
    ];
    for (step, (status, body)) in http {
        assert!(status.is_client_error(), "{step}: {status} {body}");
        let mut expected =
            json!({"detail": body["detail"], "code": body["code"], "status": status.as_u16()});
        if let Some(field) = body.get("field") {
            expected["field"] = field.clone();
        }
        assert_eq!(
            out[step],
            json!({"error": true, "result": expected}),
            "{step}"
        );
    }
    // Arguments of the wrong shape: refused naming the argument, as a body field would be.
    for (step, field, words) in [
        ("type", "content", "Invalid arguments: invalid type"),
        ("missing", "arguments", "missing field `content`"),
        (
            "wait",
            "wait_seconds",
            "wait_seconds must be an integer from 0 to 60",
        ),
    ] {
        let result = &out[step]["result"];
        assert_eq!(out[step]["error"], true, "{step}: {result}");
        assert_eq!(result["status"], 422, "{step}: {result}");
        assert_eq!(result["field"], field, "{step}: {result}");
        let detail = result["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{step}: {detail:?} lacks {words:?}");
    }
    let unknown = out["unknown"].as_str().unwrap();
    assert!(unknown.contains("Unknown tool"), "{unknown}");

    // Nothing was sent, and no level changed.
    assert_eq!(srv.inbox(&bob, 50).await["count"], 0);
    let path = format!("/connections/{connection}/permissions");
    let (_, levels) = srv.get(&path, &alice.key).await;
    assert!(
        levels["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["level"] != "sometimes"),
        "{levels}"
    );
}

const PUBLIC_AGENTS: &str = r#"
async def main():
    out = {}
    async with connect(os.environ["ANY"]) as any_agent, connect(os.environ["ONLY_SUPPORT"]) as support:
        out["tools"] = sorted(t.name for t in (await any_agent.list_tools()).tools)
        out["agents"] = await call(any_agent, "list_agents")
        first = await call(any_agent, "ask_agent", {"agent": "echo", "message": "hello"})
        out["first"] = first
        out["again"] = await call(any_agent, "ask_agent", {"agent": "echo", "message": "again",
                                                          "chat_id": first["result"]["chat_id"]})
        out["private"] = await call(any_agent, "ask_agent", {"agent": "secret", "message": "hi"})
        out["ghost"] = await call(any_agent, "ask_agent", {"agent": "ghost", "message": "hi"})
        await support.list_tools()
        out["scoped_agents"] = await call(support, "list_agents")
        out["out_of_scope"] = await call(support, "ask_agent", {"agent": "echo", "message": "hi"})
    report(out)

asyncio.run(main())
"#;

/// With an `agx_live_` token the tools are the public agents it may call: `list_agents`
/// lists exactly those, `ask_agent` gets the agent's reply and continues its chat, and the
/// public endpoint's refusals (private agent, unknown agent, scope) come back as tool errors.
#[tokio::test]
async fn a_token_asks_public_agents_through_mcp() {
    let Some(python) = python_clients("mcp ask_agent") else {
        return;
    };
    let srv = TestServer::start_with(agents).await;
    let (_, any) = token(&srv, &["agent:*"], None).await;
    let (_, only_support) = token(&srv, &["agent:support"], None).await;
    let env = [
        ("ANY", any.as_str()),
        ("ONLY_SUPPORT", only_support.as_str()),
    ];
    let out = run(&python, &srv, PUBLIC_AGENTS, &env).await;

    assert_eq!(out["tools"], json!(["ask_agent", "list_agents"]));
    let ids = |step: &str| -> Vec<String> {
        let agents = out[step]["result"]["agents"].as_array().unwrap();
        agents
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("agents"), ["echo", "support"]);
    assert_eq!(ids("scoped_agents"), ["support"]);
    let first = &out["first"]["result"];
    assert_eq!(first["content"], "echo: hello", "{first}");
    assert_eq!(first["channel"], "mcp");
    assert_eq!(out["again"]["result"]["chat_id"], first["chat_id"]);
    assert_eq!(out["again"]["result"]["content"], "echo: again");
    for (step, status) in [("private", 403), ("ghost", 404), ("out_of_scope", 403)] {
        assert_eq!(out[step]["error"], true, "{step}: {}", out[step]);
        assert_eq!(
            out[step]["result"]["status"], status,
            "{step}: {}",
            out[step]
        );
    }
}

const REFUSED_CLIENTS: &str = r#"
async def attempt(key):
    try:
        async with connect(key) as client:
            await client.list_tools()
            return "connected"
    except BaseException as e:
        return repr(e)

async def main():
    report({"none": await attempt(""), "wrong": await attempt("cex_" + "0" * 64)})

asyncio.run(main())
"#;

/// No key, a wrong key, a revoked token: 401 with `WWW-Authenticate: Bearer` before any
/// JSON-RPC is read, and the SDK's client cannot connect.
#[tokio::test]
async fn mcp_refuses_callers_without_a_valid_key() {
    let srv = TestServer::start().await;
    let (id, revoked) = token(&srv, &["agent:*"], None).await;
    revoke(&srv, &id).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    for key in [
        None,
        Some("cex_nope"),
        Some("Bearer"),
        Some(revoked.as_str()),
    ] {
        let (status, headers, body) = mcp_post(&srv, key, &list).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}: {body}");
        assert_eq!(headers["www-authenticate"], "Bearer", "{key:?}");
        assert_eq!(body["code"], "unauthorized", "{key:?}: {body}");
    }

    let Some(python) = python_clients("mcp refused clients") else {
        return;
    };
    let out = run(&python, &srv, REFUSED_CLIENTS, &[]).await;
    for attempt in ["none", "wrong"] {
        assert_ne!(out[attempt], "connected", "{attempt}: {out}");
    }
}

/// `GET /mcp`, where a stateful server would open its server-to-client stream, is a 405
/// with `Allow: POST` and a JSON reason, with a valid key, a wrong one or none (a client
/// learns the method is wrong before anything else); the transport still answers POSTs.
#[tokio::test]
async fn get_mcp_is_method_not_allowed() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    for key in [Some(alice.key.as_str()), Some("cex_nope"), None] {
        let mut request = srv
            .http
            .get(format!("{}/mcp", srv.base))
            .header("accept", "text/event-stream");
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let (status, headers, body) = crate::common::send(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{key:?}: {body}");
        assert_eq!(headers["allow"], "POST", "{key:?}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{key:?}: {headers:?}"
        );
        assert_eq!(body["code"], "method_not_allowed", "{body}");
        assert!(body["detail"].as_str().unwrap().contains("POST"), "{body}");
    }
    let whoami = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": "whoami", "arguments": {}}});
    let (status, _, body) = mcp_post(&srv, Some(&alice.key), &whoami).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["structuredContent"]["id"], json!(alice.id));
}

/// MCP requests count against the caller's rate limit like any other request (charged
/// to the agent once its key is proven), and a refused one is a 429 with `Retry-After`.
#[tokio::test]
async fn mcp_requests_are_rate_limited_per_key() {
    let srv = TestServer::start_with(|c| {
        crate::common::rate_limit(c, 1, 3);
    })
    .await;
    let alice = srv.register("alice").await;
    let whoami = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": "whoami", "arguments": {}}});
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, headers, body) = mcp_post(&srv, Some(&alice.key), &whoami).await;
        if status == StatusCode::OK {
            assert_eq!(
                body["result"]["structuredContent"]["id"],
                json!(alice.id),
                "{body}"
            );
        } else {
            assert!(headers.contains_key("retry-after"), "{body}");
        }
        statuses.push(status.as_u16());
    }
    // The first request is charged to the key as presented, the rest (once `/mcp` has
    // proved whose key it is) to the agent, as on every route: the burst of three, plus one.
    assert_eq!(statuses[..4], [200, 200, 200, 200], "{statuses:?}");
    assert_eq!(statuses[4], 429, "{statuses:?}");
}

/// A JSON-RPC message POSTed to `/mcp` as a Streamable HTTP client sends it (without the
/// handshake, which a stateless server does not need), with `key` as Bearer.
async fn mcp_post(
    srv: &TestServer,
    key: Option<&str>,
    message: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = srv
        .http
        .post(format!("{}/mcp", srv.base))
        .header("accept", "application/json, text/event-stream")
        .json(message);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    crate::common::send(request).await
}

const BRIDGE: &str = r#"
from mcp.client.stdio import StdioServerParameters

def bridge(key):
    return StdioServerParameters(command=os.environ["AGENTX_BIN"],
                                 args=["mcp", "--url", os.environ["BASE"]],
                                 env={"AGENTX_API_KEY": key})

async def main():
    out = {}
    async with Client(bridge(os.environ["A_KEY"]), mode=MODE) as a:
        out["protocol"] = a.protocol_version
        out["tools"] = sorted(t.name for t in (await a.list_tools()).tools)
        out["sent"] = await call(a, "send_message", {"to_agent_id": os.environ["B_ID"], "content": "via stdio"})
        out["refused"] = await call(a, "send_message", {"to_agent_id": os.environ["A_ID"], "content": "me"})
    try:
        async with Client(bridge("cex_" + "0" * 64), mode=MODE) as wrong:
            await wrong.list_tools()
            out["wrong_key"] = "connected"
    except BaseException as e:
        out["wrong_key"] = repr(e)
    report(out)

asyncio.run(main())
"#;

/// `agentx mcp` bridges the SDK's stdio client to the server: the tools are listed, a
/// message sent through it arrives, a tool error comes back as one, and a wrong key is
/// refused with the server's reason instead of a hang.
async fn stdio_bridge(mode: &str) {
    let Some(python) = python_clients("mcp stdio bridge") else {
        return;
    };
    let srv = TestServer::start().await;
    let (alice, bob) = (srv.register("alice").await, srv.register("bob").await);
    srv.connect(&alice, &bob, "friends").await;
    let env = [
        ("MCP_MODE", mode),
        ("AGENTX_BIN", env!("CARGO_BIN_EXE_agentx")),
        ("BASE", srv.base.as_str()),
        ("A_KEY", alice.key.as_str()),
        ("A_ID", alice.id.as_str()),
        ("B_ID", bob.id.as_str()),
    ];
    let out = run(&python, &srv, BRIDGE, &env).await;

    assert!(out["protocol"].as_str().unwrap() >= "2025-06-18", "{out}");
    assert_eq!(out["tools"], json!(NETWORK_TOOLS));
    assert_eq!(out["sent"]["error"], false, "{out}");
    assert_eq!(out["refused"]["error"], true, "{out}");
    assert_eq!(out["refused"]["result"]["status"], 400, "{out}");
    let wrong = out["wrong_key"].as_str().unwrap();
    assert!(wrong.contains("401"), "{wrong}");

    let inbox = srv.inbox(&bob, 50).await;
    assert_eq!(inbox["messages"][0]["content"], "via stdio", "{inbox}");
}

#[tokio::test]
async fn the_stdio_bridge_serves_the_sdk_stdio_client() {
    stdio_bridge("auto").await;
}

#[tokio::test]
async fn the_stdio_bridge_serves_the_sdk_stdio_client_after_a_handshake() {
    stdio_bridge("legacy").await;
}

/// The README's MCP snippet, run as written (its shell variables set as the walk-through
/// before it sets them), does what the README says it does.
#[tokio::test]
async fn the_readme_mcp_snippet_runs_as_written() {
    let Some(python) = python_clients("README MCP snippet") else {
        return;
    };
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let section = readme
        .split("\n## MCP")
        .nth(1)
        .expect("the README has an MCP section");
    let snippet = section
        .split("python3 - <<'EOF'\n")
        .nth(1)
        .and_then(|rest| rest.split("\nEOF\n").next())
        .expect("the MCP section has a python3 heredoc");
    let srv = TestServer::start().await;
    let (alice, bob): (TestAgent, TestAgent) =
        (srv.register("alice").await, srv.register("bob").await);
    srv.connect(&alice, &bob, "friends").await;
    let env = [
        ("A", srv.base.as_str()),
        ("AK", alice.key.as_str()),
        ("BOB_ID", bob.id.as_str()),
    ];
    let out = run_python(&python, snippet, &env, SCRIPT_LIMIT).await;
    assert!(out.contains("send_message"), "{out}");
    let inbox = srv.inbox(&bob, 50).await;
    assert_eq!(inbox["messages"][0]["content"], "Hello over MCP", "{inbox}");
}
