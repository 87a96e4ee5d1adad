//! MCP at `/mcp`: the network as tools for an agent's MCP host (`Bearer cex_…`), and the
//! public agents a token may call for an app holding an `agx_live_` token.
//!
//! The transport is the official SDK's (`rmcp`) Streamable HTTP service, run stateless:
//! every POST carries its caller's credential and is answered on its own, so no MCP session
//! lives in this process's memory and any node can answer any request. [`post_mcp`]
//! stands in front of it: no credential or a bad one is a 401 before any JSON-RPC is read,
//! and the caller it finds rides to the tools in the request's extensions (the SDK hands
//! each handler the request's [`Parts`]). GET, the stream a stateful server would push on,
//! is a 405 ([`only_post`]). The rate limit and the rest of the public
//! listener's layers apply per HTTP request, as on every other route.
//!
//! Tools call the domain ([`crate::network`]) or the public-call path
//! ([`crate::tasks::public`]), never the HTTP handlers. A refusal is an MCP tool error
//! (`isError: true`) carrying what the HTTP API would answer: `detail`, `code`, `field`
//! when an input is at fault, and the HTTP `status`.

mod bridge;
mod network_tools;
mod public_tools;

pub use bridge::bridge;

use super::AppState;
use super::error::{ApiError, status_of};
use super::extract::{agent_for, bearer};
use super::rate_limit::{Identity, Proof};
use crate::auth::tokens::TOKEN_PREFIX;
use crate::error::{Error, ErrorKind};
use crate::model::{Agent, ApiToken};
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use rmcp::handler::server::tool::schema_for_input;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorData, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Where the transport is served (the bridge appends it to a bare base URL).
pub const ROUTE: &str = "/mcp";

/// What `initialize` and `server/discover` tell the model about this server.
const INSTRUCTIONS: &str = "agentx: a network of AI agents. With an agent's API key \
(cex_…), the tools are the network: connect with other agents through invites, send them \
messages in threads, read your inbox (check_inbox, then ack_message each message you have \
handled) and set what each connection may send you. With an agx_live_ token, the tools are \
the public agents the token may call: list_agents, then ask_agent.";

/// The `/mcp` routes, each with its OpenAPI operation. The transport they hand requests to
/// is built per server ([`transport`]) and reaches them as an extension.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    // Every other method is refused by `only_post`, which is no operation of the document.
    OpenApiRouter::new()
        .routes(routes!(post_mcp))
        .route(ROUTE, MethodRouter::new().fallback(only_post))
}

/// The official SDK's Streamable HTTP service, answering as [`McpServer`].
type Transport = StreamableHttpService<McpServer, NeverSessionManager>;

/// The transport of the server whose state is `state`, as the extension [`post_mcp`] reads.
pub(super) fn transport(state: &AppState) -> Extension<Arc<Transport>> {
    let server = McpServer {
        state: state.clone(),
    };
    let config = StreamableHttpServerConfig::default()
        // Stateless: see the module doc. GET (a server-to-client stream) is answered by
        // [`only_post`] before the SDK sees it.
        .with_legacy_session_mode(false)
        // One JSON answer per request unless a handler emits more (none here does).
        .with_json_response(true)
        // Every request carries a credential, so a rebound DNS name gains a page nothing;
        // the public listener answers whatever name it is published under.
        .disable_allowed_hosts()
        .with_max_request_body_bytes(state.body_limit)
        .with_cancellation_token(state.shutdown.child_token());
    Extension(Arc::new(StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )))
}

/// MCP's Streamable HTTP transport, stateless: each POST is one JSON-RPC message
/// (`initialize`, `tools/list`, `tools/call`, …) answered on its own. With an agent's
/// `cex_` key the tools are the network's; with an `agx_live_` token, `list_agents` and
/// `ask_agent`. No credential or a bad one is a 401 before any JSON-RPC is read. Protocol
/// 2026-07-28 and the handshake versions before it (`MCP-Protocol-Version`, as the
/// transport says; an unknown one is a 400). GET (the
/// stream a stateful server would push on) is a 405 with `Allow: POST`.
#[utoipa::path(post, path = "/mcp", tag = "mcp",
    security(("api_key" = []), ("agx_live" = [])),
    request_body(content = JsonRpcMessage, content_type = "application/json",
        description = "a JSON-RPC 2.0 message; `Accept`, when it names types, lists \
            application/json and text/event-stream"),
    responses(
        (status = 200, description = "the JSON-RPC response", body = Value),
        (status = 202, description = "a notification or response, accepted"),
        (status = 400, description = "not a JSON-RPC message, or an unsupported protocol version"),
        (status = 401, description = "no credential, or an unknown one"),
        (status = 404, description = "no such JSON-RPC method"),
        (status = 406, description = "`Accept` names types, not both application/json and text/event-stream"),
        (status = 413, description = "body over the limit"),
        (status = 415, description = "the body is not application/json")))]
async fn post_mcp(
    State(state): State<AppState>,
    Extension(transport): Extension<Arc<Transport>>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    // NB: before the credential, as on every body route of the front-ends (see
    // `LateJson`); read whole here, in our shape, rather than by the SDK in its own.
    let Ok(body) = axum::body::to_bytes(body, state.body_limit).await else {
        let limit = state.body_limit;
        return ApiError::TooLarge { limit }.into_response();
    };
    let caller = match bearer(&parts) {
        None => Err(Error::unauthorized(
            "Missing credentials: send Authorization: Bearer <api key or agx_live_ token>",
        )),
        Some(t) if t.starts_with(TOKEN_PREFIX) => {
            let tokens = &state.public_agents;
            let token = tokens.authenticate(Some(t)).await;
            token.map(|token| (Identity::token(t), Caller::Token(token)))
        }
        Some(t) => {
            let agent = agent_for(&state, t).await;
            agent.map(|agent| (Identity::Agent(agent.id.clone()), Caller::Agent(agent)))
        }
    };
    match caller {
        Ok((proved, caller)) => {
            // The rate limiter charges the caller from now on, not its address.
            Proof::record(&parts, proved);
            // NB: the SDK hands each handler the request's parts; the caller rides there.
            parts.extensions.insert(caller);
            accept_json_by_default(&mut parts.headers);
            let request = Request::from_parts(parts, Body::from(body));
            transport.handle(request).await.into_response()
        }
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
}

/// A request that accepts anything (no `Accept`, or `*/*`) is taken as accepting what the
/// SDK wants listed: the answer is JSON either way (see `with_json_response`), and plain
/// HTTP clients (curl) send no such list.
fn accept_json_by_default(headers: &mut HeaderMap) {
    let anything = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|accept| accept.split(',').any(|t| t.trim().starts_with("*/*")));
    if anything {
        let both = HeaderValue::from_static("application/json, text/event-stream");
        headers.insert(header::ACCEPT, both);
    }
}

/// A JSON-RPC 2.0 message, as `POST /mcp` takes it (the SDK reads it; this is its shape for
/// the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a shape for the document only: the SDK reads the body"
)]
struct JsonRpcMessage {
    jsonrpc: JsonRpcVersion,
    /// A request's id; a notification has none.
    #[schema(nullable = false)]
    id: Option<RequestId>,
    /// `initialize`, `server/discover`, `tools/list`, `tools/call`, …
    method: String,
    /// The method's parameters (the SDK takes `null` as none).
    #[schema(value_type = Option<Object>)]
    params: Option<Value>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "a shape for the document only")]
enum RequestId {
    Number(i64),
    String(String),
}

#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a shape for the document only")]
enum JsonRpcVersion {
    #[schema(rename = "2.0")]
    V2,
}

/// Any method but POST: 405 with `Allow: POST` (whatever the credential). Notably GET: a
/// stateless server has nothing to push outside a request's answer, so the
/// server-to-client stream MCP clients may open with GET is refused, as the transport
/// allows.
async fn only_post() -> Response {
    let refusal = json!({
        "detail": "This MCP server is stateless and offers no server-to-client stream: \
                   POST each JSON-RPC message to /mcp",
        "code": "method_not_allowed",
    });
    let allow = [(header::ALLOW, "POST")];
    (StatusCode::METHOD_NOT_ALLOWED, allow, Json(refusal)).into_response()
}

/// Who is calling: an agent of the network, or an app with an `agx_live_` token.
#[derive(Clone)]
enum Caller {
    Agent(Agent),
    Token(ApiToken),
}

#[derive(Clone)]
pub(super) struct McpServer {
    state: AppState,
}

impl McpServer {
    /// The caller [`post_mcp`] found, in the request parts the SDK passes along.
    fn caller(context: &RequestContext<RoleServer>) -> Result<(&Parts, &Caller), ErrorData> {
        let parts = context.extensions.get::<Parts>();
        parts
            .and_then(|parts| Some((parts, parts.extensions.get::<Caller>()?)))
            .ok_or_else(|| ErrorData::internal_error("the request was not authenticated", None))
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("agentx", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = match Self::caller(&context)?.1 {
            Caller::Agent(_) => network_tools::tools(),
            Caller::Token(_) => public_tools::tools(),
        };
        Ok(ListToolsResult::with_all_items(tools.to_vec()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (parts, caller) = Self::caller(&context)?;
        let arguments = request.arguments.unwrap_or_default();
        let outcome = match caller {
            Caller::Agent(agent) => {
                network_tools::call(&self.state, agent, parts, &request.name, arguments).await
            }
            Caller::Token(token) => {
                public_tools::call(&self.state, token, &request.name, arguments).await
            }
        };
        // An unknown tool is the caller's protocol mistake, not a tool's failure.
        let outcome = outcome.ok_or_else(|| {
            ErrorData::invalid_params(format!("Unknown tool {:?}", request.name), None)
        })?;
        Ok(match outcome {
            Ok(result) => CallToolResult::structured(result),
            Err(refusal) => tool_error(refusal),
        }
        .into())
    }

    /// Any caller's tool by name (the transport reads its input schema); the two sets share
    /// no name.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        let mut all = network_tools::tools().iter().chain(public_tools::tools());
        all.find(|t| t.name == name).cloned()
    }
}

/// What a tool answers, or why it refused.
type Outcome = Result<Value, Error>;

/// A tool's answer as its structured content (always a JSON object, as MCP wants).
fn answer(value: impl Serialize) -> Outcome {
    serde_json::to_value(value)
        .map_err(|e| Error::new(ErrorKind::Internal, "internal", e.to_string()))
}

/// A tool's input, read like an HTTP body: a value of the wrong type is refused naming the
/// argument at fault.
fn arguments<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, Error> {
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "arguments"
        } else {
            path.as_str()
        };
        Error::malformed(field, format!("Invalid arguments: {}", e.inner()))
    })
}

/// A refusal as an MCP tool error: the HTTP API's reason and status as structured content
/// (and, as MCP asks, the same JSON as text). Internal failures are logged and shown only
/// as such.
fn tool_error(refusal: Error) -> CallToolResult {
    let refusal = if refusal.kind == ErrorKind::Internal {
        tracing::error!(error = %refusal.detail, "internal error in an MCP tool");
        Error::new(ErrorKind::Internal, "internal", "Internal server error")
    } else {
        refusal
    };
    let mut error = json!({
        "detail": refusal.detail,
        "code": refusal.code,
        "status": status_of(refusal.kind).as_u16(),
    });
    if let Some(field) = &refusal.field {
        error["field"] = json!(field);
    }
    CallToolResult::structured_error(error)
}

/// A tool description with the input schema of `T` (its doc comments describe the fields).
fn tool<T: schemars::JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    let schema = schema_for_input::<T>().expect("every tool's input is an object");
    Tool::new(name, description, schema)
}

/// The input of tools that take none.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArguments {}
