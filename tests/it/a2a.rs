//! A2A over public agents: the official `a2a-sdk` client against the cards and the
//! JSON-RPC endpoint, and raw JSON-RPC for A2A 0.3's names and every error object.

use crate::common::{
    TestServer, agents, python_clients, read_events, readme_block, run_python, send, token,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// What an A2A application does with the SDK: resolve the card, send, stream, continue a
/// context, read the task back, list; and be refused without a token or with another
/// agent's.
const CLIENT: &str = r#"
import asyncio, json, os, uuid, httpx
from a2a.client import A2ACardResolver, A2AClientError, ClientConfig, ClientFactory
from a2a.types import (GetTaskRequest, ListTasksRequest, Message, Part, Role,
                       SendMessageRequest, TaskState)

base, token, other = os.environ["BASE"], os.environ["TOKEN"], os.environ["OTHER_TOKEN"]

def message(text, context=""):
    return SendMessageRequest(message=Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)],
        context_id=context))

def client(http, card, streaming):
    return ClientFactory(ClientConfig(httpx_client=http, streaming=streaming)).create(card)

async def main():
    out = {}
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        card = await A2ACardResolver(http, f"{base}/a2a/support").get_agent_card()
        out["card"] = {"name": card.name, "streaming": card.capabilities.streaming,
                       "push": card.capabilities.push_notifications,
                       "url": card.supported_interfaces[0].url,
                       "skills": [s.id for s in card.skills]}
        plain = client(http, card, streaming=False)
        events = [e async for e in plain.send_message(message("remember: the PIN is 4711"))]
        task = events[-1].task
        out["sent"] = {"state": TaskState.Name(task.status.state),
                       "reply": task.artifacts[0].parts[0].text}

        streaming = client(http, card, streaming=True)
        kinds, reply = [], ""
        async for e in streaming.send_message(message("what do you remember?", task.context_id)):
            for kind in ("task", "message", "status_update", "artifact_update"):
                if e.HasField(kind):
                    kinds.append(kind)
            if e.HasField("artifact_update"):
                reply += e.artifact_update.artifact.parts[0].text
            if e.HasField("status_update"):
                out["streamed_state"] = TaskState.Name(e.status_update.status.state)
        out["streamed"] = {"kinds": kinds, "reply": reply}

        fresh = [e async for e in plain.send_message(message("what do you remember?"))]
        out["fresh_context"] = fresh[-1].task.artifacts[0].parts[0].text

        got = await plain.get_task(GetTaskRequest(id=task.id))
        out["got"] = {"id": got.id, "state": TaskState.Name(got.status.state),
                      "history": [m.parts[0].text for m in got.history],
                      "context": got.context_id == task.context_id}
        listed = await plain.list_tasks(ListTasksRequest(context_id=task.context_id))
        out["listed"] = len(listed.tasks)
        out["task_id"] = task.id

    for name, headers in (("no_token", {}), ("other_token", {"Authorization": f"Bearer {other}"})):
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            try:
                [e async for e in client(http, card, streaming=False).send_message(message("hi"))]
                out[name] = "accepted"
            except A2AClientError as e:
                out[name] = str(e)
    print(json.dumps(out))

asyncio.run(main())
"#;

#[tokio::test]
async fn the_a2a_sdk_talks_to_a_public_agent() {
    let Some(python) = python_clients("the_a2a_sdk_talks_to_a_public_agent") else {
        return;
    };
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:support"], None).await;
    let (_, echo_only) = token(&srv, &["agent:echo"], None).await;
    let env = [
        ("BASE", srv.base.as_str()),
        ("TOKEN", app.as_str()),
        ("OTHER_TOKEN", echo_only.as_str()),
    ];
    let out = run_python(&python, CLIENT, &env, Duration::from_secs(90)).await;
    let out: Value = serde_json::from_str(out.trim()).expect("the client prints JSON");

    assert_eq!(out["card"]["name"], "support", "{out}");
    assert_eq!(out["card"]["streaming"], true);
    assert_eq!(out["card"]["push"], false);
    assert_eq!(out["card"]["url"], format!("{}/a2a/support", srv.base));
    assert_eq!(out["card"]["skills"], json!(["faq"]));
    assert_eq!(out["sent"]["state"], "TASK_STATE_COMPLETED", "{out}");
    assert!(
        out["sent"]["reply"].as_str().unwrap().contains("4711"),
        "{out}"
    );
    assert_eq!(
        out["streamed"]["kinds"],
        json!(["task", "artifact_update", "status_update"]),
        "{out}"
    );
    assert_eq!(out["streamed_state"], "TASK_STATE_COMPLETED");
    assert!(
        out["streamed"]["reply"].as_str().unwrap().contains("4711"),
        "the context continues the chat: {out}"
    );
    assert!(
        !out["fresh_context"].as_str().unwrap().contains("4711"),
        "a new context is a new chat: {out}"
    );
    assert_eq!(out["got"]["id"], out["task_id"]);
    assert_eq!(out["got"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(out["got"]["context"], true);
    assert_eq!(
        out["got"]["history"][0], "remember: the PIN is 4711",
        "{out}"
    );
    assert_eq!(out["listed"], 2, "two tasks in the context: {out}");
    assert!(out["no_token"].as_str().unwrap().contains("401"), "{out}");
    assert!(
        out["other_token"].as_str().unwrap().contains("403"),
        "{out}"
    );
}

/// A JSON-RPC call to `agent` with `token` (and `A2A-Version: 1.0` when `v1`): the HTTP
/// status and the body.
async fn rpc(
    srv: &TestServer,
    agent: &str,
    token: Option<&str>,
    v1: bool,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = srv
        .http
        .post(format!("{}/a2a/{agent}", srv.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if v1 {
        request = request.header("A2A-Version", "1.0");
    }
    let (status, _, body) = send(request).await;
    (status, body)
}

fn call(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string()
}

fn say(text: &str, message_id: &str) -> Value {
    json!({"message": {"role": "user", "messageId": message_id, "kind": "message",
        "parts": [{"kind": "text", "text": text}]}})
}

#[track_caller]
fn assert_rpc_error(reply: &(StatusCode, Value), code: i64) {
    assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
    assert_eq!(reply.1["jsonrpc"], "2.0", "{}", reply.1);
    assert_eq!(reply.1["error"]["code"], code, "{}", reply.1);
    assert!(
        reply.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        reply.1
    );
}

/// A 0.3 client (no `A2A-Version`) is served 0.3's names and shapes; a retried message id
/// gets the same task back; tasks show on the task stream as channel `a2a`.
#[tokio::test]
async fn a2a_0_3_names_and_message_id_deduplication() {
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:echo", "dashboard:read"], None).await;
    let stream = srv
        .http
        .get(format!("{}/api/task/stream", srv.base))
        .bearer_auth(&app)
        .send()
        .await
        .unwrap();

    let (status, sent) = rpc(
        &srv,
        "echo",
        Some(&app),
        false,
        &call("message/send", say("hi", "m-1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["id"], 7);
    let task = &sent["result"];
    assert_eq!(task["kind"], "task", "{sent}");
    assert_eq!(task["status"]["state"], "completed", "{sent}");
    assert_eq!(
        task["artifacts"][0]["parts"][0],
        json!({"kind": "text", "text": "echo: hi"})
    );
    assert_eq!(task["history"][1]["role"], "agent");

    let (_, again) = rpc(
        &srv,
        "echo",
        Some(&app),
        false,
        &call("message/send", say("hi", "m-1")),
    )
    .await;
    assert_eq!(
        again["result"]["id"], task["id"],
        "the same message id, the same task"
    );

    let (_, got) = rpc(
        &srv,
        "echo",
        Some(&app),
        false,
        &call("tasks/get", json!({"id": task["id"]})),
    )
    .await;
    assert_eq!(got["result"]["status"]["state"], "completed", "{got}");
    let (_, got) = rpc(
        &srv,
        "echo",
        Some(&app),
        false,
        &call("tasks/get", json!({"id": task["id"], "historyLength": 1})),
    )
    .await;
    assert_eq!(
        got["result"]["history"].as_array().unwrap().len(),
        1,
        "{got}"
    );

    let response = srv
        .http
        .post(format!("{}/a2a/echo", srv.base))
        .bearer_auth(&app)
        .json(
            &serde_json::from_str::<Value>(&call("message/stream", say("streamed", "m-2")))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = response.text().await.unwrap();
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["result"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["task", "artifact-update", "status-update"],
        "{body}"
    );
    assert_eq!(events[2]["result"]["final"], true);
    assert_eq!(events[2]["result"]["status"]["state"], "completed");

    // Two tasks ran (the retry ran nothing): start, text and done of each.
    let seen = read_events(stream, |events| events.len() >= 6).await;
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(
        seen.iter().all(|(_, data)| data["channel"] == "a2a"),
        "A2A tasks are on the task stream as a2a: {seen:?}"
    );
}

/// Every error object: parse error, invalid request, method not found (a 0.3 name under
/// 1.0), invalid params, task not found, not cancelable, push notifications and versions
/// not supported; and the HTTP refusals before JSON-RPC.
#[tokio::test]
async fn a2a_errors_are_json_rpc_error_objects() {
    let srv = TestServer::start_with(agents).await;
    let (_, bearer) = token(&srv, &["agent:echo", "agent:secret"], None).await;
    let app = Some(bearer.as_str());

    assert_rpc_error(&rpc(&srv, "echo", app, true, "{not json").await, -32700);
    assert_rpc_error(&rpc(&srv, "echo", app, true, "[1, 2]").await, -32600);
    let no_version = json!({"id": 1, "method": "GetTask", "params": {}}).to_string();
    assert_rpc_error(&rpc(&srv, "echo", app, true, &no_version).await, -32600);
    assert_rpc_error(
        &rpc(&srv, "echo", app, true, &call("Nope", json!({}))).await,
        -32601,
    );
    assert_rpc_error(
        &rpc(
            &srv,
            "echo",
            app,
            true,
            &call("message/send", say("hi", "m")),
        )
        .await,
        -32601,
    );
    assert_rpc_error(
        &rpc(&srv, "echo", app, true, &call("GetTask", json!({}))).await,
        -32602,
    );
    let no_id = json!({"message": {"role": "ROLE_USER", "parts": [{"text": "hi"}]}});
    assert_rpc_error(
        &rpc(&srv, "echo", app, true, &call("SendMessage", no_id)).await,
        -32602,
    );
    let agent_said =
        json!({"message": {"role": "ROLE_AGENT", "messageId": "x", "parts": [{"text": "hi"}]}});
    assert_rpc_error(
        &rpc(&srv, "echo", app, true, &call("SendMessage", agent_said)).await,
        -32602,
    );
    let long_id = json!({"message": {"role": "ROLE_USER", "messageId": "m".repeat(129), "parts": [{"text": "hi"}]}});
    assert_rpc_error(
        &rpc(&srv, "echo", app, true, &call("SendMessage", long_id)).await,
        -32602,
    );
    let long_context = json!({"message": {"role": "ROLE_USER", "messageId": "x", "contextId": "c".repeat(129), "parts": [{"text": "hi"}]}});
    assert_rpc_error(
        &rpc(&srv, "echo", app, true, &call("SendMessage", long_context)).await,
        -32602,
    );
    let file = json!({"message": {"role": "ROLE_USER", "messageId": "x", "parts": [{"url": "https://example.com/a.png"}]}});
    assert_rpc_error(
        &rpc(&srv, "echo", app, true, &call("SendMessage", file)).await,
        -32005,
    );
    assert_rpc_error(
        &rpc(
            &srv,
            "echo",
            app,
            true,
            &call("GetTask", json!({"id": "nope"})),
        )
        .await,
        -32001,
    );
    assert_rpc_error(
        &rpc(
            &srv,
            "echo",
            app,
            true,
            &call("ListTasks", json!({"pageSize": 1000})),
        )
        .await,
        -32602,
    );
    let sent = rpc(
        &srv,
        "echo",
        app,
        true,
        &call(
            "SendMessage",
            json!({"message": {"role": "ROLE_USER", "messageId": "m-1", "parts": [{"text": "hi"}]}}),
        ),
    )
    .await;
    let task = sent.1["result"]["task"].clone();
    assert_eq!(
        task["status"]["state"], "TASK_STATE_COMPLETED",
        "{}",
        sent.1
    );
    assert_rpc_error(
        &rpc(
            &srv,
            "echo",
            app,
            true,
            &call("CancelTask", json!({"id": task["id"]})),
        )
        .await,
        -32002,
    );
    assert_rpc_error(
        &rpc(
            &srv,
            "echo",
            app,
            true,
            &call("SubscribeToTask", json!({"id": task["id"]})),
        )
        .await,
        -32004,
    );
    let push = json!({"taskId": task["id"], "url": "https://example.com/hook"});
    assert_rpc_error(
        &rpc(
            &srv,
            "echo",
            app,
            true,
            &call("CreateTaskPushNotificationConfig", push),
        )
        .await,
        -32003,
    );
    let later = srv
        .http
        .post(format!("{}/a2a/echo", srv.base))
        .bearer_auth(&bearer)
        .header("A2A-Version", "9.9")
        .body(call("GetTask", json!({"id": task["id"]})));
    let (status, _, body) = send(later).await;
    assert_rpc_error(&(status, body), -32009);

    // Refusals of the public endpoint, as HTTP statuses before any JSON-RPC.
    let get = call("GetTask", json!({"id": task["id"]}));
    assert_eq!(
        rpc(&srv, "echo", None, true, &get).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        rpc(&srv, "nobody", app, true, &get).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        rpc(&srv, "secret", app, true, &get).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, support_only) = token(&srv, &["agent:support"], None).await;
    assert_eq!(
        rpc(&srv, "echo", Some(&support_only), true, &get).await.0,
        StatusCode::FORBIDDEN
    );
    // Another token with the same agent sees nothing of this token's tasks.
    let (_, other) = token(&srv, &["agent:echo"], None).await;
    assert_rpc_error(&rpc(&srv, "echo", Some(&other), true, &get).await, -32001);
}

/// Cards: one per public agent, 404 for private ones, and the directory's absolute URLs.
#[tokio::test]
async fn agent_cards_and_the_directory() {
    let srv = TestServer::start_with(agents).await;
    let card = |id: &str| {
        send(
            srv.http
                .get(format!("{}/a2a/{id}/.well-known/agent-card.json", srv.base)),
        )
    };
    let (status, _, echo) = card("echo").await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["supportedInterfaces"][0]["protocolVersion"], "1.0");
    assert_eq!(
        echo["securitySchemes"]["agx_live"]["httpAuthSecurityScheme"]["scheme"],
        "Bearer"
    );
    assert_eq!(card("secret").await.0, StatusCode::NOT_FOUND);
    assert_eq!(card("nobody").await.0, StatusCode::NOT_FOUND);
    let (status, _, directory) = send(srv.http.get(format!("{}/a2a", srv.base))).await;
    assert_eq!(status, StatusCode::OK);
    let urls: Vec<&str> = directory
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["supportedInterfaces"][0]["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            format!("{}/a2a/echo", srv.base),
            format!("{}/a2a/support", srv.base)
        ]
    );
}

/// Tasks are kept: `GetTask` and `ListTasks` answer after a restart.
#[tokio::test]
async fn a2a_tasks_survive_a_restart() {
    let mut srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:echo"], None).await;
    let sent = rpc(
        &srv,
        "echo",
        Some(&app),
        true,
        &call(
            "SendMessage",
            json!({"message": {"role": "ROLE_USER", "messageId": "m-1", "parts": [{"text": "kept"}]}}),
        ),
    )
    .await;
    let id = sent.1["result"]["task"]["id"].clone();
    assert!(id.is_string(), "{}", sent.1);
    srv.restart().await;
    let (_, got) = rpc(
        &srv,
        "echo",
        Some(&app),
        true,
        &call("GetTask", json!({"id": id})),
    )
    .await;
    assert_eq!(
        got["result"]["status"]["state"], "TASK_STATE_COMPLETED",
        "{got}"
    );
    assert_eq!(
        got["result"]["artifacts"][0]["parts"][0]["text"],
        "echo: kept"
    );
    let (_, listed) = rpc(
        &srv,
        "echo",
        Some(&app),
        true,
        &call("ListTasks", json!({})),
    )
    .await;
    assert_eq!(listed["result"]["totalSize"], 1, "{listed}");
}

/// The README's A2A snippet, run as written.
#[tokio::test]
async fn the_readme_snippet_runs() {
    let Some(python) = python_clients("a2a::the_readme_snippet_runs") else {
        return;
    };
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:support"], None).await;
    let snippet = readme_block("### A2A", "python");
    let env = [
        ("AGENTX_URL", srv.base.as_str()),
        ("AGENTX_TOKEN", app.as_str()),
    ];
    let out = run_python(&python, &snippet, &env, Duration::from_secs(90)).await;
    assert_eq!(
        out,
        "Noted, I'll remember: my name is Ada\n\
         Here is what I remember from this conversation:\n- my name is Ada\n",
        "the context continues the chat"
    );
}

/// A task still working: `returnImmediately` answers at once, `SubscribeToTask` streams
/// its end (here a plugin that times out: `failed`, with the reason), `CancelTask` refuses,
/// and `GetTask` reads the outcome afterwards.
// NB: several threads: the looping plugin yields only every epoch tick, and on the single
// thread of a plain #[tokio::test] it shares with the server and this client, the requests
// below could take longer than its 5 s deadline on a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_task_can_be_followed_to_its_end() {
    let srv = TestServer::start_with(|c| {
        agents(c);
        let mut slow = c.agents["echo"].clone();
        slow.responder = Some(crate::common::fixture("loop-long"));
        slow.limits.timeout_ms = Some(5000);
        c.agents.insert("slow".into(), slow);
    })
    .await;
    let (_, bearer) = token(&srv, &["agent:slow"], None).await;
    let app = Some(bearer.as_str());
    let sent = rpc(
        &srv,
        "slow",
        app,
        true,
        &call(
            "SendMessage",
            json!({"message": {"role": "ROLE_USER", "messageId": "m-1", "parts": [{"text": "hi"}]},
                "configuration": {"returnImmediately": true}}),
        ),
    )
    .await;
    let task = &sent.1["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_WORKING", "{}", sent.1);
    let id = task["id"].clone();

    assert_rpc_error(
        &rpc(
            &srv,
            "slow",
            app,
            true,
            &call("CancelTask", json!({"id": id})),
        )
        .await,
        -32002,
    );
    let response = srv
        .http
        .post(format!("{}/a2a/slow", srv.base))
        .bearer_auth(&bearer)
        .header("A2A-Version", "1.0")
        .body(call("SubscribeToTask", json!({"id": id})))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{body}");
    assert_eq!(
        events[0]["result"]["task"]["status"]["state"],
        "TASK_STATE_WORKING"
    );
    let status = &events[1]["result"]["statusUpdate"]["status"];
    assert_eq!(status["state"], "TASK_STATE_FAILED", "{body}");
    assert!(
        status["message"]["parts"][0]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    let got = rpc(&srv, "slow", app, true, &call("GetTask", json!({"id": id}))).await;
    assert_eq!(
        got.1["result"]["status"]["state"], "TASK_STATE_FAILED",
        "{}",
        got.1
    );
}

/// A `contextId` names a chat session of the calling token only: another token naming the
/// same context, through A2A or as OpenAI's `user`, reads nothing of it (neither the
/// plugin's memory of it nor its history), while the first token's context goes on.
#[tokio::test]
async fn a_context_id_is_a_session_of_the_calling_token_only() {
    let srv = TestServer::start_with(agents).await;
    let (_, alice) = token(&srv, &["agent:*"], None).await;
    let (_, mallory) = token(&srv, &["agent:*"], None).await;
    let ask = |token: &str, text: &str, message_id: &str| {
        let params = json!({"message": {"role": "ROLE_USER", "messageId": message_id,
            "contextId": "X", "parts": [{"text": text}]}});
        let body = call("SendMessage", params);
        let (srv, token) = (&srv, token.to_owned());
        async move {
            let reply = rpc(srv, "support", Some(&token), true, &body).await;
            assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
            let task = &reply.1["result"]["task"];
            assert_eq!(task["contextId"], "X", "{}", reply.1);
            task["artifacts"][0]["parts"][0]["text"]
                .as_str()
                .unwrap_or_else(|| panic!("a reply: {}", reply.1))
                .to_owned()
        }
    };
    ask(&alice, "remember: my PIN is 4711", "a-1").await;
    let stolen = ask(&mallory, "what do you remember?", "m-1").await;
    assert!(
        !stolen.contains("4711"),
        "token B read token A's context: {stolen}"
    );
    let completion = json!({"model": "support", "user": "X",
        "messages": [{"role": "user", "content": "what do you remember?"}]});
    let (status, _, reply) = send(
        srv.http
            .post(format!("{}/v1/chat/completions", srv.base))
            .bearer_auth(&mallory)
            .json(&completion),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let stolen = reply["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        !stolen.contains("4711"),
        "token B read it as OpenAI's user: {stolen}"
    );
    let own = ask(&alice, "what do you remember?", "a-2").await;
    assert!(own.contains("4711"), "token A's context goes on: {own}");
}
