//! Extractors that turn requests into domain input, rejecting with our error shape.

use super::AppState;
use super::error::ApiError;
use super::rate_limit::{Identity, Proof};
use crate::auth::AdminCheck;
use crate::auth::tokens::{TOKEN_PREFIX, require_admin};
use crate::error::{Error, ErrorKind};
use crate::model::{Agent, ApiToken};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use std::convert::Infallible;

/// A JSON body. Unlike `axum::Json` it does not insist on a content type (curl users forget
/// it), names the field at fault, and answers in the contract's error shape.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| refused_body(state.body_limit, r, |why| Error::malformed("body", why)))?;
        // Every body of ours is an object; serde would also build one from an array.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Error::malformed("body", "A JSON object body is required").into());
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut de)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                // Name the field in the detail too: clients of the compatible network read
                // only `detail`.
                let (field, detail) = if path == "." {
                    ("body", format!("Invalid JSON body: {}", e.inner()))
                } else {
                    (
                        path.as_str(),
                        format!("Invalid JSON body at {path}: {}", e.inner()),
                    )
                };
                Error::malformed(field, detail).into()
            })
    }
}

/// The JSON body of a front-end of the public agents (the public-agent endpoint, A2A,
/// OpenAI): read before the credential (over the limit → 413, unreadable → 400
/// `invalid_body`, as split mode's front, which reads the body whole to forward it, must
/// answer first) and parsed at once, but judged by the route after the caller's checks (the
/// contract's order is 401, 404, 403, then 400 for the body): a body that does not parse is
/// kept as its error.
pub struct LateJson<T>(pub Result<T, serde_json::Error>);

impl<T: DeserializeOwned> FromRequest<AppState> for LateJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.body_limit;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| refused_body(limit, r, |why| Error::invalid("invalid_body", why)))?;
        Ok(LateJson(serde_json::from_slice(&bytes)))
    }
}

/// A body that could not be read: over the limit (413, naming it), or what `unreadable`
/// makes of axum's reason.
fn refused_body(
    limit: usize,
    rejection: BytesRejection,
    unreadable: impl FnOnce(String) -> Error,
) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge { limit }
    } else {
        unreadable(rejection.body_text()).into()
    }
}

/// Query parameters, with our error shape when they do not parse.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Params(q.0))
            .map_err(|e| Error::malformed("query", e.body_text()).into())
    }
}

/// The agent making the request: `Authorization: Bearer cex_…` (its API key) or
/// `Bearer <session JWT>` from a dashboard login.
pub struct CurrentAgent(pub Agent);

impl FromRequestParts<AppState> for CurrentAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            Error::unauthorized("Missing credentials: send Authorization: Bearer <api key>")
        })?;
        let agent = agent_for(state, token).await?;
        Proof::record(parts, Identity::Agent(agent.id.clone()));
        Ok(CurrentAgent(agent))
    }
}

/// Authenticates `presented` as an `agx_live_` token and records it in the request's
/// [`Proof`]: every front-end of the public agents (the public endpoint's task stream,
/// OpenAI, A2A) is then charged to the token by the rate limiter, not to the client's address
/// (which the token's other callers may share).
pub async fn live_token(
    state: &AppState,
    presented: Option<&str>,
    proof: &Proof,
) -> Result<ApiToken, Error> {
    let token = state.public_agents.authenticate(presented).await?;
    if let Some(presented) = presented {
        proof.set(Identity::token(presented));
    }
    Ok(token)
}

/// The agent a credential stands for: an API key (`cex_…`) or a dashboard session JWT.
pub async fn agent_for(state: &AppState, token: &str) -> Result<Agent, Error> {
    if token.starts_with("cex_") {
        return state.network.authenticate(token).await;
    }
    let claims = state
        .sessions
        .verify(token)
        .ok_or_else(|| Error::unauthorized("Invalid API key or session token"))?;
    state.network.authenticate_session(&claims.agent_id).await
}

pub fn bearer(parts: &Parts) -> Option<&str> {
    bearer_header(&parts.headers)
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_header(headers: &HeaderMap) -> Option<&str> {
    bearer_value(headers.get(header::AUTHORIZATION)?)
}

/// A request's `Authorization` header alone, for a handler that reads no other header: the
/// `HeaderMap` extractor would copy every header of every request.
pub struct Authorization(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for Authorization {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.headers.get(header::AUTHORIZATION).cloned()))
    }
}

impl Authorization {
    /// Its Bearer token, as [`bearer_header`] reads it.
    pub fn bearer(&self) -> Option<&str> {
        bearer_value(self.0.as_ref()?)
    }
}

fn bearer_value(value: &HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Passes with the right `X-Admin-Key`, or (without that header) an `agx_live_` token with
/// `dashboard:write` as Bearer. No credential → 422 (a required header, as the compatible
/// network answers); wrong key, none configured, or a token without the scope → 403; an
/// unknown, revoked or expired token → 401.
pub struct Admin;

pub const ADMIN_KEY_HEADER: &str = "x-admin-key";

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(ADMIN_KEY_HEADER)
            && let Some(token) = bearer(parts).filter(|t| t.starts_with(TOKEN_PREFIX))
        {
            let record = state.tokens.authenticate(Some(token)).await?;
            Proof::record(parts, Identity::token(token));
            require_admin(&record)?;
            return Ok(Admin);
        }
        let missing = || Error::malformed("X-Admin-Key", "X-Admin-Key header is required");
        check_admin_key(&parts.headers, state, missing)?;
        Proof::record(parts, Identity::Admin);
        Ok(Admin)
    }
}

/// The `X-Admin-Key` check of both listeners; only the answer to a missing header differs
/// (`missing`). Wrong key, or none configured → 403.
pub fn check_admin_key(
    headers: &HeaderMap,
    state: &AppState,
    missing: impl FnOnce() -> Error,
) -> Result<(), Error> {
    let presented = headers
        .get(ADMIN_KEY_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    match state.admin.check(presented) {
        AdminCheck::Granted => Ok(()),
        AdminCheck::Missing => Err(missing()),
        AdminCheck::Denied => Err(Error::new(
            ErrorKind::Forbidden,
            "invalid_admin_key",
            "Invalid admin key",
        )),
    }
}

/// Where this server is reachable, for links it hands out: the configured public URL, else
/// the request's own `Host` (and `X-Forwarded-Proto` when a proxy set it) when they are a
/// host name or address and `http`/`https`, else the listener's own URL: a link must never
/// carry whatever a caller put in those headers.
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(BaseUrl(base_url(parts, state)))
    }
}

/// See [`BaseUrl`].
pub fn base_url(parts: &Parts, state: &AppState) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let header_str = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let host = header_str(header::HOST.as_str())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .filter(|host| is_host_and_port(host));
    let scheme = match header_str("x-forwarded-proto").map(str::trim) {
        None => Some("http"),
        Some(p) if p.eq_ignore_ascii_case("http") => Some("http"),
        Some(p) if p.eq_ignore_ascii_case("https") => Some("https"),
        Some(_) => None,
    };
    match (scheme, host) {
        (Some(scheme), Some(host)) => format!("{scheme}://{host}"),
        _ => state.listener_url.trim_end_matches('/').to_owned(),
    }
}

/// `host[:port]` where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
fn is_host_and_port(value: &str) -> bool {
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (value, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let labels_ok = host.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    (1..=253).contains(&host.len()) && labels_ok
}
