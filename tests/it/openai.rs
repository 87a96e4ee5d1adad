//! The OpenAI-compatible chat API over public agents: driven by the official `openai` Python
//! package as any app would, and raw for the error shapes and the session header.

use crate::common::{TestServer, agents, python_clients, readme_block, run_python, send, token};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// What the client does: list models, create plain and streamed, continue a chat with
/// `user`, and meet the refusals as the library's own exceptions.
const CLIENT: &str = r#"
import json, os, openai

base = os.environ["BASE"] + "/v1"
client = openai.OpenAI(base_url=base, api_key=os.environ["TOKEN"], max_retries=0)
out = {"models": sorted(m.id for m in client.models.list())}

hello = [{"role": "user", "content": "hello"}]
reply = client.chat.completions.create(model="echo", messages=hello)
out["plain"] = reply.choices[0].message.content
out["object"] = reply.object
out["usage"] = [reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens]

chunks = list(client.chat.completions.create(model="echo", messages=hello, stream=True))
out["streamed"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
out["finish"] = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
out["chunk_object"] = chunks[0].object

say = lambda text: [{"role": "user", "content": text}]
client.chat.completions.create(model="support", messages=say("remember: the PIN is 4711"), user="chat-1")
out["same_chat"] = client.chat.completions.create(
    model="support", messages=say("what do you remember?"), user="chat-1").choices[0].message.content
out["other_chat"] = client.chat.completions.create(
    model="support", messages=say("what do you remember?"), user="chat-2").choices[0].message.content

try:
    openai.OpenAI(base_url=base, api_key="agx_live_00", max_retries=0).chat.completions.create(
        model="echo", messages=hello)
except openai.AuthenticationError as e:
    out["wrong_token"] = [e.status_code, e.body]
try:
    client.chat.completions.create(model="secret", messages=hello)
except openai.PermissionDeniedError as e:
    out["private"] = [e.status_code, e.body]
print(json.dumps(out))
"#;

#[tokio::test]
async fn the_openai_client_chats_with_public_agents() {
    let Some(python) = python_clients("the_openai_client_chats_with_public_agents") else {
        return;
    };
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:*"], None).await;
    let env = [("BASE", srv.base.as_str()), ("TOKEN", app.as_str())];
    let out = run_python(&python, CLIENT, &env, Duration::from_secs(60)).await;
    let out: Value = serde_json::from_str(out.trim()).expect("the client prints JSON");

    assert_eq!(
        out["models"],
        json!(["echo", "support"]),
        "private agents are not listed"
    );
    assert_eq!(out["plain"], "echo: hello");
    assert_eq!(out["object"], "chat.completion");
    // Characters: "hello" in, "echo: hello" out.
    assert_eq!(out["usage"], json!([5, 11, 16]));
    assert_eq!(out["streamed"], "echo: hello");
    assert_eq!(out["finish"], "stop");
    assert_eq!(out["chunk_object"], "chat.completion.chunk");
    assert!(out["same_chat"].as_str().unwrap().contains("4711"), "{out}");
    assert!(
        !out["other_chat"].as_str().unwrap().contains("4711"),
        "{out}"
    );
    assert_eq!(out["wrong_token"][0], 401, "{out}");
    assert_eq!(
        out["wrong_token"][1]["type"], "authentication_error",
        "{out}"
    );
    assert_eq!(out["private"][0], 403, "{out}");
    assert_eq!(out["private"][1]["code"], "agent_not_public", "{out}");
}

async fn completion(srv: &TestServer, token: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = srv
        .http
        .post(format!("{}/v1/chat/completions", srv.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let (status, _, body) = send(request).await;
    (status, body)
}

#[track_caller]
fn assert_openai_error(reply: &(StatusCode, Value), status: StatusCode, kind: &str, code: &str) {
    assert_eq!(reply.0, status, "{}", reply.1);
    let error = &reply.1["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        reply.1
    );
    assert_eq!(error["type"], kind, "{}", reply.1);
    assert_eq!(error["code"], code, "{}", reply.1);
}

/// Every refusal is OpenAI's error object, with the public endpoint's status, in the
/// public endpoint's order (the token before the body).
#[tokio::test]
async fn refusals_are_openai_error_objects() {
    let srv = TestServer::start_with(agents).await;
    let (_, echo_only) = token(&srv, &["agent:echo"], None).await;
    let hello = json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]});

    let reply = completion(&srv, None, &hello.to_string()).await;
    assert_openai_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        "unauthorized",
    );
    let reply = completion(&srv, None, "{not json").await;
    assert_openai_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        "unauthorized",
    );
    let reply = completion(&srv, Some(&echo_only), "{not json").await;
    assert_openai_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_body",
    );
    let no_user = json!({"model": "echo", "messages": [{"role": "system", "content": "be brief"}]});
    let reply = completion(&srv, Some(&echo_only), &no_user.to_string()).await;
    assert_openai_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "no_user_message",
    );
    let mut long_chat = hello.clone();
    long_chat["user"] = json!("c".repeat(129));
    let reply = completion(&srv, Some(&echo_only), &long_chat.to_string()).await;
    assert_openai_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "chat_id_too_long",
    );
    let mut other = hello.clone();
    other["model"] = json!("nobody");
    let reply = completion(&srv, Some(&echo_only), &other.to_string()).await;
    assert_openai_error(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found_error",
        "agent_not_found",
    );
    other["model"] = json!("support");
    let reply = completion(&srv, Some(&echo_only), &other.to_string()).await;
    assert_openai_error(
        &reply,
        StatusCode::FORBIDDEN,
        "permission_error",
        "insufficient_scope",
    );

    let (status, _, models) = send(srv.http.get(format!("{}/v1/models", srv.base))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{models}");
    assert_eq!(models["error"]["type"], "authentication_error");
    let (status, _, models) = send(
        srv.http
            .get(format!("{}/v1/models", srv.base))
            .bearer_auth(&echo_only),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{models}");
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["echo"], "only the agents the token may call");
}

/// `X-Chat-Id` names the session as `user` does, and the reply names its session; without
/// one, the earlier messages of the request are the new session's past.
#[tokio::test]
async fn the_chat_id_header_continues_a_session() {
    let srv = TestServer::start_with(|c| {
        agents(c);
        c.agents.get_mut("echo").unwrap().grants = vec![agentx::plugins::Capability::History];
    })
    .await;
    let (_, app) = token(&srv, &["agent:echo"], None).await;
    let ask = |content: &str, chat: Option<&str>| {
        let mut request = srv
            .http
            .post(format!("{}/v1/chat/completions", srv.base))
            .bearer_auth(&app)
            .json(&json!({"model": "echo", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "resent"},
                {"role": "assistant", "content": "echo: resent"},
                {"role": "user", "content": content},
            ]}));
        if let Some(chat) = chat {
            request = request.header("X-Chat-Id", chat);
        }
        send(request)
    };
    let (status, headers, first) = ask("/history", None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first["choices"][0]["message"]["content"],
        "history: 3 earlier turns; the last, from echo: echo: resent",
        "a new session starts with the request's earlier messages"
    );
    let chat = headers["x-chat-id"].to_str().unwrap().to_owned();
    let (_, _, again) = ask("/history", Some(&chat)).await;
    assert_eq!(
        again["choices"][0]["message"]["content"],
        "history: 5 earlier turns; the last, from echo: history: 3 earlier turns; the last, from echo: echo: resent",
        "a named session ignores what the client resends"
    );
}

/// The README's OpenAI snippet, run as written.
#[tokio::test]
async fn the_readme_snippet_runs() {
    let Some(python) = python_clients("openai::the_readme_snippet_runs") else {
        return;
    };
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:support"], None).await;
    let snippet = readme_block("### OpenAI-compatible chat", "python");
    let env = [
        ("AGENTX_URL", srv.base.as_str()),
        ("AGENTX_TOKEN", app.as_str()),
    ];
    let out = run_python(&python, &snippet, &env, Duration::from_secs(60)).await;
    let (models, replies) = out.split_once('\n').unwrap();
    assert_eq!(models, "['support']", "{out}");
    assert!(
        replies.starts_with("Noted, I'll remember: my name is Ada\n"),
        "{out}"
    );
    assert!(
        replies.contains("Here is what I remember from this conversation:\n- my name is Ada"),
        "the streamed answer continues the chat under `user`: {out}"
    );
}

/// A streamed completion whose agent fails: the role chunk, then OpenAI's error object
/// (which its clients raise), and no `[DONE]`.
#[tokio::test]
async fn a_failure_after_the_stream_began_is_an_error_event() {
    let srv = TestServer::start_with(|c| {
        agents(c);
        let mut stuck = c.agents["echo"].clone();
        stuck.responder = Some(crate::common::fixture("loop"));
        c.agents.insert("stuck".into(), stuck);
    })
    .await;
    let (_, app) = token(&srv, &["agent:stuck"], None).await;
    let response = srv
        .http
        .post(format!("{}/v1/chat/completions", srv.base))
        .bearer_auth(&app)
        .json(&json!({"model": "stuck", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    let data: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.len(), 2, "{body}");
    let opening: Value = serde_json::from_str(data[0]).unwrap();
    assert_eq!(opening["choices"][0]["delta"]["role"], "assistant");
    let error: Value = serde_json::from_str(data[1]).unwrap();
    assert_eq!(error["error"]["type"], "server_error", "{body}");
    assert_eq!(error["error"]["code"], "plugin_failed", "{body}");
}
