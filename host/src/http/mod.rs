//! HTTP: one router per listener, thin handlers over the domain.
//!
//! The public listener serves the network API, public agents and pages; the daemon
//! listener is loopback-only operator control. Each handler extracts, makes one domain
//! call and maps the result; errors become responses only in [`error`].

mod a2a;
mod accounts;
mod admin;
mod around;
mod connections;
mod daemon;
mod daemon_guard;
pub mod error;
mod extract;
mod forward;
pub mod mcp;
mod messages;
mod metrics;
mod openai;
mod pages;
mod public_agents;
pub mod rate_limit;
mod webhooks;

pub use self::metrics::install as install_metrics;
pub use public_agents::SplitState;
pub use rate_limit::RateLimit;

use crate::auth::{AdminKey, SessionTokens};
use crate::network::Network;
use around::AroundLayer;
use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use axum::routing::get;
use serde::Serialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower::layer::util::Identity;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// What every handler can reach; cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub network: Network,
    pub sessions: Arc<SessionTokens>,
    pub admin: Arc<AdminKey>,
    /// The configured public base URL, if any (else links use the request's Host).
    pub public_url: Option<Arc<str>>,
    /// The public listener's base URL, for links handed out on other listeners.
    pub listener_url: Arc<str>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Cancelled at shutdown so long-polls return at once instead of holding the drain.
    pub shutdown: CancellationToken,
    /// The agents agentx hosts (agentx.json `agents`).
    pub hosted: Arc<crate::hosted::HostedAgents>,
    /// `agx_live_` tokens (daemon `/tokens`, public-agent and task-stream auth).
    pub tokens: Arc<crate::auth::Tokens>,
    /// Runs hosted agents' tasks and publishes their events.
    pub tasks: Arc<crate::tasks::Tasks>,
    /// The public-agent endpoint's checks and calls.
    pub public_agents: Arc<crate::tasks::public::PublicAgents>,
    /// A2A tasks over the public-agent calls.
    pub a2a: Arc<crate::tasks::a2a::A2aTasks>,
    /// `POST /reload`.
    pub reloader: Arc<crate::reload::Reloader>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "agentx", description = "A self-hosted network for AI agents."),
    modifiers(&SecuritySchemes),
    tags((name = "auth"), (name = "connections"), (name = "permissions"), (name = "messages"),
        (name = "admin"), (name = "webhooks"), (name = "public agents"),
        (name = "openai", description = "The OpenAI-compatible chat API over public agents: \
            base URL `<agentx>/v1`, an `agx_live_` token as the API key, the agent's id as the model."),
        (name = "a2a", description = "A2A 1.0 (and 0.3) over public agents: agent cards and \
            JSON-RPC."),
        (name = "mcp", description = "MCP's Streamable HTTP transport: the network as tools \
            for an agent, the public agents for a token."),
        (name = "meta"))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cex_<64 hex>")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "agx_live",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("agx_live_<hex>")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Admin-Key"))),
        );
    }
}

/// The public listener's JSON routes, each with its OpenAPI operation.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::routes())
        .merge(connections::routes())
        .merge(messages::routes())
        .merge(admin::routes())
        .merge(webhooks::routes())
        .merge(public_agents::routes())
        .merge(protocol_routes())
        .routes(routes!(health))
        .routes(routes!(metrics::public_metrics))
}

/// The protocol front-ends' routes: OpenAI-compatible chat, A2A, MCP.
fn protocol_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(openai::routes())
        .merge(a2a::routes())
        .merge(mcp::routes())
}

/// The OpenAPI document of the public listener, built once from the routes themselves (so
/// `/openapi.json` and the `/docs` page can never disagree with what is served).
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = api_routes().split_for_parts().1;
        answers_of_every_route(&mut document);
        document
    })
}

/// Documents on each operation the answers the layers in front of every route give, so
/// that no route can forget one: 429 (the rate limits), 401 where a credential is required
/// (missing, unknown, revoked or expired), 413 where there is a body (over the body limit),
/// 422 where there are parameters (a path that is not UTF-8, a query that does not parse).
fn answers_of_every_route(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{RefOr, Response};
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let parameters = operation.parameters.as_ref().is_some_and(|p| {
                p.iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query))
            });
            let answers = [
                (true, "429", "Too many requests: wait `Retry-After` seconds"),
                (
                    secured,
                    "401",
                    "No credential, or an unknown, revoked or expired one",
                ),
                (
                    operation.request_body.is_some(),
                    "413",
                    "The body is over the limit",
                ),
                (parameters, "422", "A parameter is invalid"),
            ];
            for (applies, status, description) in answers {
                if applies {
                    let responses = &mut operation.responses.responses;
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(Response::new(description)));
                }
            }
        }
    }
}

/// The public listener's router: the network API, public agents, pages, `/health` and
/// `/openapi.json`.
pub fn public_router(state: AppState, rate: RateLimit) -> Router {
    let (router, _) = api_routes().split_for_parts();
    let api = Arc::new(
        openapi()
            .to_json()
            .expect("the OpenAPI document serialises"),
    );
    let router = router
        .merge(pages::routes())
        .route(
            "/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    api.to_string(),
                )
            }),
        )
        // NB: after every route, since it applies to the method routers registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found);
    let mcp = mcp::transport(&state);
    let (body_limit, shutdown) = (state.body_limit, state.shutdown.clone());
    facing_the_internet(router, rate, body_limit, shutdown, Some("public"), mcp).with_state(state)
}

/// Split mode's public listener (`agentx serve --role public`): the public-agent and
/// protocol routes, answered by the daemon of another process, and `/health`.
pub fn split_public_router(state: public_agents::SplitState, rate: RateLimit) -> Router {
    let router = public_agents::split_routes()
        .merge(forward::split_routes())
        .route("/health", get(health))
        .fallback(not_found);
    // Not timed: nothing scrapes a split public listener (its daemon has the metrics).
    let (body_limit, shutdown) = (state.body_limit, state.shutdown.clone());
    facing_the_internet(router, rate, body_limit, shutdown, None, Identity::new()).with_state(state)
}

/// What every public listener wraps its routes in, outermost first: the request timer (for
/// the listener named by `timed`, counting every refusal below it), request tracing, panics
/// as JSON 500s, the body limit, the rate limits (their state swept until shutdown), the
/// UTF-8 path check, then `innermost`.
///
/// NB: one `Router::layer` for the whole stack: each call boxes every route again, and a
/// waiting long-poll holds each box (benches/README.md, "Middleware without boxes").
fn facing_the_internet<S, L>(
    router: Router<S>,
    rate: RateLimit,
    body_limit: usize,
    shutdown: CancellationToken,
    timed: Option<&'static str>,
    innermost: L,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    L: tower::Layer<Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<Request>>::Future: Send + 'static,
{
    let limits = rate_limit::Limits::new(rate);
    spawn_limiter_sweeping(limits.clone(), shutdown);
    router.layer(
        ServiceBuilder::new()
            .option_layer(timed.map(|listener| AroundLayer(metrics::Timed(listener))))
            .layer(TraceLayer::new_for_http())
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(DefaultBodyLimit::max(body_limit))
            .layer(rate_limit::limiter(limits))
            .layer(AroundLayer(Utf8Path))
            .layer(innermost),
    )
}

/// The daemon's documented routes: the operator's, `/health` and `/metrics`.
fn daemon_routes() -> OpenApiRouter<AppState> {
    daemon::routes()
        .routes(routes!(health))
        .routes(routes!(metrics::daemon_metrics))
}

/// The OpenAPI document of the daemon listener's operator routes, from the routes
/// themselves (the `/docs` page lists them from it).
pub fn daemon_openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| daemon_routes().split_for_parts().1)
}

/// The daemon listener's router (loopback only). Its errors are `{"error": "..."}`.
pub fn daemon_router(state: AppState) -> Router {
    let protocols = protocol_routes()
        .split_for_parts()
        .0
        .method_not_allowed_fallback(method_not_allowed);
    daemon_routes()
        .split_for_parts()
        .0
        .merge(forward::daemon_routes(protocols, &state))
        .method_not_allowed_fallback(|| async {
            let error = json!({"error": "Method not allowed"});
            (StatusCode::METHOD_NOT_ALLOWED, Json(error))
        })
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "Not found"}))) })
        // NB: one `Router::layer`, as in `facing_the_internet`.
        .layer(
            ServiceBuilder::new()
                .layer(AroundLayer(metrics::Timed("daemon")))
                .layer(TraceLayer::new_for_http())
                .layer(AroundLayer(daemon_guard::Guard(state.clone()))),
        )
        .with_state(state)
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// Always `ok` while the server answers.
    status: &'static str,
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"detail": "Not found", "code": "route_not_found"})),
    )
}

/// A known path with another method, in the shape of the path's routes (so a protocol
/// client reads it as that protocol's error); axum adds the `Allow` header. NB: nested under
/// the daemon's protocol prefix, `uri` is the path as the public listener has it.
async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    error::refuse_on(uri.path(), error::ApiError::MethodNotAllowed)
}

/// A path whose percent-escapes decode to invalid UTF-8 (`/messages/%ff/ack`) matches no
/// identifier we hand out; refused here in our error shape, where the path extractor would
/// answer in plain text.
///
/// Only a path with an escape is decoded: a `&str` is UTF-8 already.
#[derive(Clone)]
struct Utf8Path;

impl around::Around for Utf8Path {
    type Ticket = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        let path = request.uri().path();
        if !path.contains('%') || std::str::from_utf8(&percent_decode(path)).is_ok() {
            return Ok(());
        }
        let refusal = crate::error::Error::malformed("path", "The path is not valid UTF-8");
        Err(error::refuse_on(path, refusal.into()))
    }
}

/// `%XX` escapes decoded; anything else (a stray `%` included) kept as it is.
fn percent_decode(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| bytes[i] == b'%' && h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.map(|h| u8::from_str_radix(h, 16)) {
            Some(Ok(byte)) => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// A panic in a handler is a bug; the caller gets a JSON 500, the log gets the message.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"detail": "Internal server error", "code": "internal"})),
    )
        .into_response()
}

/// Rate limits keep state per key; forget keys idle long enough to be full again.
fn spawn_limiter_sweeping(limits: Arc<rate_limit::Limits>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = every.tick() => limits.sweep(),
                _ = shutdown.cancelled() => break,
            }
        }
    });
}
