//! A2A over public agents: an agent card per public agent
//! (`/a2a/{id}/.well-known/agent-card.json`), a directory of them (`/a2a`), and JSON-RPC 2.0
//! at `/a2a/{id}`.
//!
//! The JSON-RPC endpoint takes the public endpoint's tokens and checks first, answering
//! their refusals (401, 404, 403) as HTTP statuses; everything after is JSON-RPC with A2A's
//! error codes. `A2A-Version: 1.0` selects A2A 1.0's method names and shapes (ProtoJSON:
//! `TASK_STATE_COMPLETED`, `{"task": …}`); a request without the header is A2A 0.3, whose
//! names (`message/send`, …) and shapes (`"kind": "task"`, `completed`) are served beside
//! 1.0's. A task is one public-agent call ([`crate::tasks::a2a`]); agents answer whole, so
//! a task is `working` until it is `completed` (its reply the artifact `reply`) or
//! `failed`. Tasks cannot be canceled (a plugin call is not interrupted) and push
//! notifications are not offered.

use super::AppState;
use super::error::{ApiError, ErrorReply};
use super::extract::{BaseUrl, LateJson, bearer_header, live_token};
use super::rate_limit::Proof;
use crate::error::{Error, ErrorKind};
use crate::hosted::HostedAgent;
use crate::model::{A2aState, A2aTask, ApiToken};
use crate::tasks::a2a::{A2aSend, A2aTasks, Started};
use crate::tasks::public::MAX_CHAT_ID_CHARS;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::broadcast;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(directory))
        .routes(routes!(agent_card))
        .routes(routes!(rpc))
}

/// The A2A 1.0 agent cards of every public agent (their URLs absolute).
#[utoipa::path(get, path = "/a2a", tag = "a2a",
    responses((status = 200, body = Vec<Value>, description = "one agent card per public agent")))]
async fn directory(State(state): State<AppState>, BaseUrl(base): BaseUrl) -> Json<Vec<Value>> {
    let agents = state.public_agents.public();
    Json(agents.iter().map(|agent| card(&base, agent)).collect())
}

/// A public agent's A2A 1.0 agent card: its JSON-RPC endpoint (`/a2a/{id}`, A2A 1.0 and
/// 0.3), capabilities (streaming, no push notifications), skills from its plugin, and the
/// `agx_live_` bearer scheme. 404 for any other id, private agents included.
#[utoipa::path(get, path = "/a2a/{id}/.well-known/agent-card.json", tag = "a2a",
    params(("id" = String, Path, description = "the public agent's id")),
    responses(
        (status = 200, body = Value, description = "the agent card"),
        (status = 404, description = "no public agent with this id")))]
async fn agent_card(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Value>, ErrorReply> {
    let agents = state.public_agents.public();
    let agent = agents
        .iter()
        .find(|agent| agent.id == id)
        .ok_or_else(|| Error::not_found("agent_not_found", format!("No public agent {id:?}")))?;
    Ok(Json(card(&base, agent)))
}

/// The A2A 1.0 agent card of `agent`, served from `base`.
fn card(base: &str, agent: &HostedAgent) -> Value {
    let url = format!("{base}/a2a/{}", agent.id);
    let name = agent.config.display_name(&agent.id);
    let text = || json!(["text/plain"]);
    let (version, skills) = match &agent.responder {
        Some(responder) => {
            let plugin = &responder.manifest;
            let skill = json!({
                "id": plugin.name,
                "name": plugin.name,
                "description": format!(
                    "Answers text messages with the plugin {}@{}.",
                    plugin.name, plugin.version
                ),
                "tags": plugin.capabilities.iter().map(|c| c.name()).collect::<Vec<_>>(),
                "inputModes": text(),
                "outputModes": text(),
            });
            (plugin.version.clone(), vec![skill])
        }
        None => ("0.0.0".to_owned(), Vec::new()),
    };
    json!({
        "name": name,
        "description": format!("{name}, an agent hosted by agentx."),
        "version": version,
        "provider": {"organization": "agentx", "url": base},
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        ],
        "capabilities": {"streaming": true, "pushNotifications": false, "extendedAgentCard": false},
        "securitySchemes": {"agx_live": {"httpAuthSecurityScheme": {
            "scheme": "Bearer",
            "bearerFormat": "agx_live_<hex>",
            "description": format!("An agentx token with scope agent:{} or agent:*.", agent.id),
        }}},
        "securityRequirements": [{"schemes": {"agx_live": {"list": []}}}],
        "defaultInputModes": text(),
        "defaultOutputModes": text(),
        "skills": skills,
    })
}

/// A JSON-RPC error object, with A2A's codes.
#[derive(Debug)]
struct RpcError {
    code: i32,
    message: String,
}

const PARSE_ERROR: i32 = -32700;
const INVALID_REQUEST: i32 = -32600;
const METHOD_NOT_FOUND: i32 = -32601;
const INVALID_PARAMS: i32 = -32602;
const INTERNAL_ERROR: i32 = -32603;
const TASK_NOT_FOUND: i32 = -32001;
const TASK_NOT_CANCELABLE: i32 = -32002;
const PUSH_NOT_SUPPORTED: i32 = -32003;
const UNSUPPORTED_OPERATION: i32 = -32004;
const CONTENT_TYPE_NOT_SUPPORTED: i32 = -32005;
const EXTENDED_CARD_NOT_CONFIGURED: i32 = -32007;
const VERSION_NOT_SUPPORTED: i32 = -32009;

impl RpcError {
    fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

impl From<Error> for RpcError {
    fn from(e: Error) -> Self {
        match e.kind {
            _ if e.code == "task_not_found" => RpcError::new(TASK_NOT_FOUND, e.detail),
            ErrorKind::Invalid | ErrorKind::Malformed => RpcError::new(INVALID_PARAMS, e.detail),
            ErrorKind::Internal => {
                tracing::error!(error = %e.detail, "internal error in an A2A call");
                RpcError::new(INTERNAL_ERROR, "Internal error")
            }
            _ => RpcError::new(INTERNAL_ERROR, e.detail),
        }
    }
}

/// Which protocol version's names and shapes a call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    V1,
    V03,
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Send,
    Stream,
    Get,
    List,
    Cancel,
    Subscribe,
    PushConfig,
    ExtendedCard,
}

/// The method `name` in a request of protocol `version`: 1.0's names always; 0.3's only
/// in a 0.3 request (no `A2A-Version` header).
fn method(version: Dialect, name: &str) -> Option<(Method, Dialect)> {
    let v1 = match name {
        "SendMessage" => Some(Method::Send),
        "SendStreamingMessage" => Some(Method::Stream),
        "GetTask" => Some(Method::Get),
        "ListTasks" => Some(Method::List),
        "CancelTask" => Some(Method::Cancel),
        "SubscribeToTask" => Some(Method::Subscribe),
        "CreateTaskPushNotificationConfig"
        | "GetTaskPushNotificationConfig"
        | "ListTaskPushNotificationConfigs"
        | "DeleteTaskPushNotificationConfig" => Some(Method::PushConfig),
        "GetExtendedAgentCard" => Some(Method::ExtendedCard),
        _ => None,
    };
    if let Some(method) = v1 {
        return Some((method, Dialect::V1));
    }
    if version != Dialect::V03 {
        return None;
    }
    let v03 = match name {
        "message/send" => Method::Send,
        "message/stream" => Method::Stream,
        "tasks/get" => Method::Get,
        "tasks/cancel" => Method::Cancel,
        "tasks/resubscribe" => Method::Subscribe,
        "tasks/pushNotificationConfig/set"
        | "tasks/pushNotificationConfig/get"
        | "tasks/pushNotificationConfig/list"
        | "tasks/pushNotificationConfig/delete" => Method::PushConfig,
        "agent/getAuthenticatedExtendedCard" => Method::ExtendedCard,
        _ => return None,
    };
    Some((v03, Dialect::V03))
}

/// The protocol version the `A2A-Version` header asks for (0.3 without it).
fn version(headers: &HeaderMap) -> Result<Dialect, RpcError> {
    let Some(value) = headers.get("a2a-version") else {
        return Ok(Dialect::V03);
    };
    match value.to_str().map(str::trim) {
        Ok("1.0") | Ok("1") => Ok(Dialect::V1),
        Ok("0.3") | Ok("") => Ok(Dialect::V03),
        _ => Err(RpcError::new(
            VERSION_NOT_SUPPORTED,
            format!("A2A-Version {value:?} is not supported: use 1.0 or 0.3"),
        )),
    }
}

/// One JSON-RPC call: who makes it, to which agent, under which request id.
struct Call {
    state: AppState,
    token: ApiToken,
    /// As the checks found it: the task runs on this version of the agent.
    agent: Arc<HostedAgent>,
    id: Value,
    dialect: Dialect,
}

impl Call {
    fn answer(&self, outcome: Result<Value, RpcError>) -> Response {
        Json(envelope(&self.id, outcome)).into_response()
    }
}

fn envelope(id: &Value, outcome: Result<Value, RpcError>) -> Value {
    match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()}),
    }
}

/// A2A JSON-RPC 2.0: `SendMessage`, `SendStreamingMessage` (SSE), `GetTask`, `ListTasks`,
/// `CancelTask`, `SubscribeToTask` with `A2A-Version: 1.0`; A2A 0.3's `message/send`,
/// `message/stream`, `tasks/get`, `tasks/cancel`, `tasks/resubscribe` without it. The
/// public endpoint's checks come first, as HTTP statuses; after them every answer is 200,
/// a JSON-RPC response (an `error` object with A2A's codes when the call fails), or for the
/// streaming methods Server-Sent Events of JSON-RPC responses.
#[utoipa::path(post, path = "/a2a/{id}", tag = "a2a",
    security(("agx_live" = [])),
    params(("id" = String, Path, description = "the public agent's id"),
        ("A2A-Version" = Option<String>, Header,
            description = "`1.0` for A2A 1.0; absent (or `0.3`) for A2A 0.3")),
    request_body(content = Value, description = "a JSON-RPC 2.0 request object",
        content_type = "application/json"),
    responses(
        (status = 200, description = "a JSON-RPC response, or SSE of them for the streaming methods",
            content((Value = "application/json"), (String = "text/event-stream"))),
        (status = 401, description = "no token, or an unknown, revoked or expired one"),
        (status = 403, description = "the token lacks the agent's scope, or the agent is not public"),
        (status = 404, description = "no such agent"),
        (status = 413, description = "body over the limit")))]
async fn rpc(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    proof: Proof,
    headers: HeaderMap,
    body: Result<LateJson<Value>, ApiError>,
) -> Result<Response, ErrorReply> {
    let LateJson(request) = body?;
    let agents = &state.public_agents;
    let token = live_token(&state, bearer_header(&headers), &proof).await?;
    let agent = agents.check(&token, &agent)?;
    let refuse = |id: &Value, e: RpcError| Json(envelope(id, Err(e))).into_response();
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            return Ok(refuse(
                &Value::Null,
                RpcError::new(PARSE_ERROR, e.to_string()),
            ));
        }
    };
    let (id, name, params) = match envelope_parts(&request) {
        Ok(parts) => parts,
        Err((id, e)) => return Ok(refuse(&id, e)),
    };
    let version = match version(&headers) {
        Ok(version) => version,
        Err(e) => return Ok(refuse(&id, e)),
    };
    let Some((method, dialect)) = method(version, name) else {
        let e = RpcError::new(METHOD_NOT_FOUND, format!("No method {name:?}"));
        return Ok(refuse(&id, e));
    };
    let call = Call {
        state,
        token,
        agent,
        id,
        dialect,
    };
    Ok(match method {
        Method::Send => send(call, params, false).await,
        Method::Stream => send(call, params, true).await,
        Method::Get => {
            let outcome = get_task(&call, params).await;
            call.answer(outcome)
        }
        Method::List => {
            let outcome = list_tasks(&call, params).await;
            call.answer(outcome)
        }
        Method::Cancel => {
            let outcome = cancel_task(&call, params).await;
            call.answer(outcome)
        }
        Method::Subscribe => subscribe(call, params).await,
        Method::PushConfig => call.answer(Err(RpcError::new(
            PUSH_NOT_SUPPORTED,
            "Push notifications are not supported (the agent card says pushNotifications: \
             false); stream with SendStreamingMessage or SubscribeToTask instead",
        ))),
        Method::ExtendedCard => call.answer(Err(RpcError::new(
            EXTENDED_CARD_NOT_CONFIGURED,
            "This agent has no extended card: its public card is all there is",
        ))),
    })
}

/// The id, method and params of a JSON-RPC 2.0 request object; otherwise the invalid
/// request error, under the request's id when it has a usable one.
fn envelope_parts(request: &Value) -> Result<(Value, &str, Value), (Value, RpcError)> {
    let invalid = |id: Value, why: &str| (id, RpcError::new(INVALID_REQUEST, why));
    let Some(object) = request.as_object() else {
        return Err(invalid(Value::Null, "A request is a JSON object"));
    };
    let id = match object.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        Some(Value::Null) | None => {
            return Err(invalid(
                Value::Null,
                "A request needs an id (string or number)",
            ));
        }
        Some(_) => return Err(invalid(Value::Null, "`id` must be a string or a number")),
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(id, "`jsonrpc` must be \"2.0\""));
    }
    let Some(name) = object.get("method").and_then(Value::as_str) else {
        return Err(invalid(id, "`method` must be a string"));
    };
    let params = object.get("params").cloned().unwrap_or_else(|| json!({}));
    if !params.is_object() {
        return Err(invalid(id, "`params` must be an object"));
    }
    Ok((id, name, params))
}

fn params<T: DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    serde_json::from_value(params)
        .map_err(|e| RpcError::new(INVALID_PARAMS, format!("Invalid params: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendParams {
    message: IncomingMessage,
    #[serde(default)]
    configuration: SendConfiguration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomingMessage {
    message_id: String,
    context_id: Option<String>,
    task_id: Option<String>,
    role: String,
    parts: Vec<Value>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendConfiguration {
    history_length: Option<i64>,
    /// Answer with the task at once, still working (1.0; 0.3's `blocking: false`).
    #[serde(default)]
    return_immediately: bool,
    blocking: Option<bool>,
}

impl IncomingMessage {
    /// The message as a send: a user's, with text parts only (joined), and an id.
    fn into_send(self) -> Result<A2aSend, RpcError> {
        // NB: kept with the task, to recognise a retry.
        if self.message_id.is_empty() || self.message_id.chars().count() > MAX_CHAT_ID_CHARS {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("`message.messageId` must have 1 to {MAX_CHAT_ID_CHARS} characters"),
            ));
        }
        if !matches!(self.role.as_str(), "ROLE_USER" | "user") {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("`message.role` must be the user's, not {:?}", self.role),
            ));
        }
        let texts: Option<Vec<&str>> = self.parts.iter().map(|p| p["text"].as_str()).collect();
        let Some(texts) = texts.filter(|t| !t.is_empty()) else {
            return Err(RpcError::new(
                CONTENT_TYPE_NOT_SUPPORTED,
                "Only text parts are supported, and a message needs one",
            ));
        };
        Ok(A2aSend {
            message_id: self.message_id,
            context_id: self.context_id.filter(|c| !c.is_empty()),
            text: texts.join("\n"),
        })
    }
}

/// `SendMessage` / `SendStreamingMessage` (and 0.3's `message/send`, `message/stream`).
async fn send(call: Call, raw: Value, streaming: bool) -> Response {
    let request: SendParams = match params(raw) {
        Ok(request) => request,
        Err(e) => return call.answer(Err(e)),
    };
    if let Some(task_id) = &request.message.task_id {
        let outcome = match call
            .state
            .a2a
            .get(&call.token, &call.agent.id, task_id)
            .await
        {
            Ok(_) => RpcError::new(
                UNSUPPORTED_OPERATION,
                format!(
                    "Task {task_id:?} takes no further messages: send without taskId, in \
                     the same contextId, to continue the conversation"
                ),
            ),
            Err(e) => e.into(),
        };
        return call.answer(Err(outcome));
    }
    let send = match request.message.into_send() {
        Ok(send) => send,
        Err(e) => return call.answer(Err(e)),
    };
    let history = request
        .configuration
        .history_length
        .map(|n| n.max(0) as usize);
    let immediately =
        request.configuration.return_immediately || request.configuration.blocking == Some(false);
    // NB: subscribed before the task is looked up, so a replayed task still working cannot
    // end unseen in between.
    let ends = call.state.a2a.ends();
    let (task, outcome) = match call.state.a2a.start(&call.token, &call.agent, send).await {
        Ok(Started::New(task, prepared)) => {
            let a2a = call.state.a2a.clone();
            let working = task.clone();
            // Runs to the end even if the client goes away: a task is kept either way.
            let run = tokio::spawn(async move { a2a.finish(working, prepared).await });
            let outcome = async move {
                run.await.unwrap_or_else(|e| {
                    Err(Error::new(ErrorKind::Internal, "internal", e.to_string()))
                })
            };
            (task, futures_util::future::Either::Left(outcome))
        }
        Ok(Started::Replayed(task)) => {
            let a2a = call.state.a2a.clone();
            let outcome = follow(a2a, ends, task.clone(), call.token.clone());
            (task, futures_util::future::Either::Right(outcome))
        }
        Err(e) => return call.answer(Err(e.into())),
    };
    if streaming {
        return stream(call, task, outcome);
    }
    if immediately || task.state != A2aState::Working {
        return call.answer(Ok(send_result(call.dialect, &task, history)));
    }
    let outcome = outcome.await.map_err(RpcError::from);
    let result = outcome.map(|task| send_result(call.dialect, &task, history));
    call.answer(result)
}

/// How `task` (read after `ends` was subscribed) ends, followed by `a2a` for `token`.
async fn follow(
    a2a: Arc<A2aTasks>,
    ends: broadcast::Receiver<A2aTask>,
    task: A2aTask,
    token: ApiToken,
) -> Result<A2aTask, Error> {
    a2a.follow(ends, task, &token).await
}

/// A task as Server-Sent Events of JSON-RPC responses: the task as it is, then (when it
/// was working) its reply as an artifact update and its last status update (`working`
/// still, when the task did not end while [`A2aTasks::follow`] followed it).
fn stream(
    call: Call,
    task: A2aTask,
    outcome: impl Future<Output = Result<A2aTask, Error>> + Send + 'static,
) -> Response {
    let dialect = call.dialect;
    let id = call.id.clone();
    let first = envelope(&id, Ok(stream_task(dialect, &task)));
    let event = |value: Value| Ok::<_, Infallible>(Event::default().data(value.to_string()));
    let rest = async move {
        let updates = match outcome.await {
            Ok(done) => updates(dialect, &done)
                .into_iter()
                .map(|update| envelope(&id, Ok(update)))
                .collect(),
            Err(e) => vec![envelope(&id, Err(e.into()))],
        };
        futures_util::stream::iter(updates)
    };
    // A task that has ended is all there is to say.
    let more = if task.state == A2aState::Working {
        usize::MAX
    } else {
        0
    };
    let events = futures_util::stream::once(async move { first })
        .chain(futures_util::stream::once(rest).flatten().take(more))
        .map(event)
        .take_until(call.state.shutdown.clone().cancelled_owned());
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskParams {
    id: String,
    history_length: Option<i64>,
}

/// `GetTask` (0.3: `tasks/get`).
async fn get_task(call: &Call, raw: Value) -> Result<Value, RpcError> {
    let request: TaskParams = params(raw)?;
    let task = call
        .state
        .a2a
        .get(&call.token, &call.agent.id, &request.id)
        .await?;
    let history = request.history_length.map(|n| n.max(0) as usize);
    Ok(task_json(call.dialect, &task, history, true))
}

/// `CancelTask` (0.3: `tasks/cancel`): a task exists or not; none can be canceled.
async fn cancel_task(call: &Call, raw: Value) -> Result<Value, RpcError> {
    let request: TaskParams = params(raw)?;
    let task = call
        .state
        .a2a
        .get(&call.token, &call.agent.id, &request.id)
        .await?;
    Err(RpcError::new(
        TASK_NOT_CANCELABLE,
        match task.state {
            A2aState::Working => format!(
                "Task {:?} cannot be canceled: the agent's call is not interrupted",
                task.id
            ),
            _ => format!("Task {:?} has already ended", task.id),
        },
    ))
}

/// `SubscribeToTask` (0.3: `tasks/resubscribe`): a working task's stream, from now on.
async fn subscribe(call: Call, raw: Value) -> Response {
    let request: TaskParams = match params(raw) {
        Ok(request) => request,
        Err(e) => return call.answer(Err(e)),
    };
    let ends = call.state.a2a.ends();
    let task = match call
        .state
        .a2a
        .get(&call.token, &call.agent.id, &request.id)
        .await
    {
        Ok(task) => task,
        Err(e) => return call.answer(Err(e.into())),
    };
    if task.state != A2aState::Working {
        let ended = RpcError::new(
            UNSUPPORTED_OPERATION,
            format!("Task {:?} has ended: read it with GetTask", task.id),
        );
        return call.answer(Err(ended));
    }
    let a2a = call.state.a2a.clone();
    let outcome = follow(a2a, ends, task.clone(), call.token.clone());
    stream(call, task, outcome)
}

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    context_id: Option<String>,
    status: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
    history_length: Option<i64>,
    #[serde(default)]
    include_artifacts: bool,
}

/// `ListTasks`: the token's tasks with this agent, newest first, a page at a time (the
/// page token is the offset of the next page).
async fn list_tasks(call: &Call, raw: Value) -> Result<Value, RpcError> {
    let request: ListParams = params(raw)?;
    let page_size = match request.page_size {
        None | Some(0) => DEFAULT_PAGE_SIZE,
        Some(n) if (1..=MAX_PAGE_SIZE as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("`pageSize` {n} is not within 1..={MAX_PAGE_SIZE}"),
            ));
        }
    };
    let offset = match request.page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            RpcError::new(INVALID_PARAMS, "`pageToken` is not one this server gave")
        })?,
    };
    let status = match request.status.as_deref() {
        None | Some("") | Some("TASK_STATE_UNSPECIFIED") => None,
        Some(name) => Some(state_named(name).ok_or_else(|| {
            RpcError::new(INVALID_PARAMS, format!("Unknown task state {name:?}"))
        })?),
    };
    let tasks: Vec<A2aTask> = call
        .state
        .a2a
        .list(&call.token, &call.agent.id)
        .await?
        .into_iter()
        .filter(|t| {
            request
                .context_id
                .as_ref()
                .is_none_or(|c| *c == t.context_id)
        })
        .filter(|t| status.is_none_or(|s| s == t.state))
        .collect();
    let history = request.history_length.map(|n| n.max(0) as usize);
    let page: Vec<Value> = tasks
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|t| task_json(call.dialect, t, history, request.include_artifacts))
        .collect();
    let next = offset + page.len();
    Ok(json!({
        "tasks": page,
        "nextPageToken": if next < tasks.len() { next.to_string() } else { String::new() },
        "pageSize": page_size,
        "totalSize": tasks.len(),
    }))
}

fn state_named(name: &str) -> Option<A2aState> {
    match name {
        "TASK_STATE_WORKING" | "working" => Some(A2aState::Working),
        "TASK_STATE_COMPLETED" | "completed" => Some(A2aState::Completed),
        "TASK_STATE_FAILED" | "failed" => Some(A2aState::Failed),
        _ => None,
    }
}

// Shapes. 1.0 is ProtoJSON of a2a.proto; 0.3 adds `kind` and spells enums in lower case.

fn state_name(dialect: Dialect, state: A2aState) -> &'static str {
    match (dialect, state) {
        (Dialect::V1, A2aState::Working) => "TASK_STATE_WORKING",
        (Dialect::V1, A2aState::Completed) => "TASK_STATE_COMPLETED",
        (Dialect::V1, A2aState::Failed) => "TASK_STATE_FAILED",
        (Dialect::V03, A2aState::Working) => "working",
        (Dialect::V03, A2aState::Completed) => "completed",
        (Dialect::V03, A2aState::Failed) => "failed",
    }
}

fn text_parts(dialect: Dialect, text: &str) -> Value {
    match dialect {
        Dialect::V1 => json!([{"text": text}]),
        Dialect::V03 => json!([{"kind": "text", "text": text}]),
    }
}

/// A message of `task`'s conversation: the user's (`from_agent` false) or the agent's.
fn message(dialect: Dialect, task: &A2aTask, from_agent: bool, text: &str) -> Value {
    let (id, role) = match (from_agent, dialect) {
        (false, Dialect::V1) => (task.message_id.clone(), "ROLE_USER"),
        (false, Dialect::V03) => (task.message_id.clone(), "user"),
        (true, Dialect::V1) => (format!("{}-reply", task.id), "ROLE_AGENT"),
        (true, Dialect::V03) => (format!("{}-reply", task.id), "agent"),
    };
    let mut message = json!({
        "messageId": id,
        "contextId": task.context_id,
        "taskId": task.id,
        "role": role,
        "parts": text_parts(dialect, text),
    });
    if dialect == Dialect::V03 {
        message["kind"] = json!("message");
    }
    message
}

fn status(dialect: Dialect, task: &A2aTask) -> Value {
    let mut status = json!({
        "state": state_name(dialect, task.state),
        "timestamp": task.updated_at.to_rfc3339(),
    });
    if let Some(error) = &task.error {
        status["message"] = message(dialect, task, true, error);
    }
    status
}

/// The reply as the artifact `reply`, once there is one.
fn artifact(dialect: Dialect, task: &A2aTask) -> Option<Value> {
    let reply = task.reply.as_deref().filter(|r| !r.is_empty())?;
    Some(json!({
        "artifactId": "reply",
        "name": "reply",
        "parts": text_parts(dialect, reply),
    }))
}

/// A task, with its last `history` messages (all when `None`) and its artifacts.
fn task_json(dialect: Dialect, task: &A2aTask, history: Option<usize>, artifacts: bool) -> Value {
    let mut messages = vec![message(dialect, task, false, &task.request)];
    if let Some(reply) = task.reply.as_deref().filter(|r| !r.is_empty()) {
        messages.push(message(dialect, task, true, reply));
    }
    let keep = history.unwrap_or(messages.len()).min(messages.len());
    let messages = messages.split_off(messages.len() - keep);
    let mut value = json!({
        "id": task.id,
        "contextId": task.context_id,
        "status": status(dialect, task),
        "history": messages,
    });
    if artifacts {
        value["artifacts"] = json!(artifact(dialect, task).into_iter().collect::<Vec<_>>());
    }
    if dialect == Dialect::V03 {
        value["kind"] = json!("task");
    }
    value
}

/// The result of a send: 1.0 wraps the task (`{"task": …}`), 0.3 answers it bare.
fn send_result(dialect: Dialect, task: &A2aTask, history: Option<usize>) -> Value {
    let task = task_json(dialect, task, history, true);
    match dialect {
        Dialect::V1 => json!({"task": task}),
        Dialect::V03 => task,
    }
}

/// The first event of a stream: the task as it is.
fn stream_task(dialect: Dialect, task: &A2aTask) -> Value {
    send_result(dialect, task, None)
}

/// The events that end a stream: the reply as an artifact update (when there is one),
/// then the last status update.
fn updates(dialect: Dialect, task: &A2aTask) -> Vec<Value> {
    let mut updates = Vec::new();
    if let Some(artifact) = artifact(dialect, task) {
        let mut update = json!({
            "taskId": task.id,
            "contextId": task.context_id,
            "artifact": artifact,
            "lastChunk": true,
        });
        updates.push(match dialect {
            Dialect::V1 => json!({"artifactUpdate": update}),
            Dialect::V03 => {
                update["kind"] = json!("artifact-update");
                update
            }
        });
    }
    let mut update = json!({
        "taskId": task.id,
        "contextId": task.context_id,
        "status": status(dialect, task),
    });
    updates.push(match dialect {
        Dialect::V1 => json!({"statusUpdate": update}),
        Dialect::V03 => {
            update["kind"] = json!("status-update");
            // A task followed for as long as a call may wait can still be working.
            update["final"] = json!(task.state != A2aState::Working);
            update
        }
    });
    updates
}
