//! Split mode's front-ends: the public listener of `--role public` serves the public-agent
//! call and the OpenAI-compatible, A2A and MCP routes as the public listener of `--role all` does, by
//! passing each request to the daemon (which serves the same routes under
//! [`DAEMON_PROTOCOLS_PREFIX`]) and its answer back as it comes, streams included. The
//! daemon makes every check, where the tokens, keys and agents are.

use super::AppState;
use super::error::{ApiError, refuse_on};
use super::extract::bearer_header;
use super::public_agents::{MESSAGES_ROUTE, SplitState};
use super::rate_limit::{Identity, Proof};
use crate::tasks::public::DAEMON_PROTOCOLS_PREFIX;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::StreamExt;

/// The protocols' routes, as the public listener serves them (the public-agent call is
/// forwarded too, by [`forward_call`]).
const ROUTES: [&str; 6] = [
    "/v1/chat/completions",
    "/v1/models",
    "/a2a",
    "/a2a/{id}/.well-known/agent-card.json",
    "/a2a/{id}",
    "/mcp",
];

/// The request headers the protocols read; nothing else reaches the daemon (an `Origin`,
/// say, which the daemon refuses, or a `Host` that is not its own).
static REQUEST_HEADERS: [HeaderName; 8] = [
    header::AUTHORIZATION,
    header::ACCEPT,
    header::CONTENT_TYPE,
    HeaderName::from_static("last-event-id"),
    HeaderName::from_static("a2a-version"),
    HeaderName::from_static("x-chat-id"),
    HeaderName::from_static("mcp-protocol-version"),
    HeaderName::from_static("x-forwarded-proto"),
];

/// Where the daemon learns the host the client called, for the links it hands out (the
/// agent cards' URLs); it answers only a loopback `Host` itself.
static FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Split mode's public listener: every protocol route and the public-agent call, any
/// method, passed to the daemon (which answers a wrong method as the public listener of
/// `--role all` does).
pub fn split_routes() -> Router<SplitState> {
    ROUTES
        .iter()
        .fold(Router::new(), |router, route| {
            router.route(route, any(forward))
        })
        .route(MESSAGES_ROUTE, any(forward_call))
}

/// The public-agent call, passed to the daemon as it came. NB: as bytes, not parsed here: the
/// contract answers a bad body (400) only after the token and the agent are checked, and only
/// the daemon can check them, so the daemon must see the body as the client sent it. The
/// daemon checks the token first: any answer of its but a 401 means the token was live, and
/// the rate limiter charges the token from now on, as the listener of `--role all` does.
async fn forward_call(State(state): State<SplitState>, proof: Proof, request: Request) -> Response {
    let token = bearer_header(request.headers()).map(Identity::token);
    let path = request.uri().path().to_owned();
    match relay(&state, request).await {
        Ok(answer) => {
            if let Some(token) = token
                && answer.status() != StatusCode::UNAUTHORIZED
            {
                proof.set(token);
            }
            answer
        }
        Err(refusal) => refuse_on(&path, refusal),
    }
}

async fn forward(State(state): State<SplitState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    relay(&state, request)
        .await
        .unwrap_or_else(|refusal| refuse_on(&path, refusal))
}

/// `request` passed to the daemon, and its answer back as it comes; a body over the limit
/// or a daemon that does not answer is this listener's refusal.
async fn relay(state: &SplitState, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let body = axum::body::to_bytes(body, state.body_limit)
        .await
        .map_err(|_| ApiError::TooLarge {
            limit: state.body_limit,
        })?;
    let mut headers = HeaderMap::new();
    for name in &REQUEST_HEADERS {
        for value in parts.headers.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert(FORWARDED_HOST.clone(), host.clone());
    }
    let path_and_query = parts.uri.path_and_query().map_or(path, |p| p.as_str());
    let answer = state
        .daemon
        .forward(parts.method, path_and_query, headers, body)
        .await?;
    let status = answer.status();
    let mut kept = HeaderMap::new();
    for (name, value) in answer.headers() {
        // Hop-by-hop: about the daemon's connection, not this one.
        if name != header::CONNECTION && name != header::TRANSFER_ENCODING {
            kept.append(name, value.clone());
        }
    }
    let stream = answer
        .bytes_stream()
        .take_until(state.shutdown.clone().cancelled_owned());
    let mut response = Body::from_stream(stream).into_response();
    *response.status_mut() = status;
    *response.headers_mut() = kept;
    Ok(response)
}

/// On the daemon's protocol routes: the host the client called through split mode's public
/// listener (see [`FORWARDED_HOST`]) as the request's `Host`, for the links it hands out.
/// NB: behind the daemon's guard, which has checked the daemon's own `Host` already.
#[derive(Clone)]
struct ForwardedHost;

impl super::around::Around for ForwardedHost {
    type Ticket = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        if let Some(host) = request.headers_mut().remove(&FORWARDED_HOST) {
            request.headers_mut().insert(header::HOST, host);
        }
        Ok(())
    }
}

/// The protocol routes (`routes`, the public listener's) and the public-agent call as the
/// daemon serves them to split mode's public listener, under [`DAEMON_PROTOCOLS_PREFIX`].
pub fn daemon_routes(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let routes = routes.merge(super::public_agents::call_route()).layer(
        tower::ServiceBuilder::new()
            .layer(super::around::AroundLayer(ForwardedHost))
            .layer(super::mcp::transport(state)),
    );
    Router::new().nest(DAEMON_PROTOCOLS_PREFIX, routes)
}
