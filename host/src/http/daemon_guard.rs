//! What the daemon listener lets in. It is bound to loopback, but a web page the operator
//! visits can still reach it: through the browser itself (a cross-origin "simple" request
//! needs no preflight when its body is `text/plain`) or by DNS rebinding (a name of the
//! attacker's resolving to 127.0.0.1). So the daemon answers only a loopback `Host`, refuses
//! anything a browser marks with `Origin`, takes bodies only as `application/json` (which a
//! page cannot send cross-origin without a preflight it would fail), and, when an admin key
//! is configured, wants it on every route but `/health`.

use super::AppState;
use super::error::ErrorReply;
use super::extract::check_admin_key;
use crate::error::Error;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::IpAddr;

/// Where the routes that carry their own credential live: split mode's public listener
/// forwards public calls there (`DAEMON_PROTOCOLS_PREFIX`, `DAEMON_STREAM_ROUTE`) with the
/// caller's credential, and never holds the admin key.
const OWN_CREDENTIAL_PREFIX: &str = "/public/";

/// The daemon listener's check of every request (a layer of [`super::around::AroundLayer`]).
#[derive(Clone)]
pub struct Guard(pub AppState);

impl super::around::Around for Guard {
    type Ticket = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        if !loopback_host(request) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "The daemon answers only requests addressed to a loopback host",
            ));
        }
        if request.headers().contains_key(header::ORIGIN) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "The daemon does not answer requests from web pages (Origin header)",
            ));
        }
        let path = request.uri().path();
        if path.starts_with(OWN_CREDENTIAL_PREFIX) {
            // Answered as the public listener answers them, whatever the body (a body that is
            // not JSON gets the route's own refusal): their credential is a bearer token, which
            // a page cannot send cross-origin without a preflight, just as on the public listener.
            return Ok(());
        }
        if path != "/health" && self.0.admin.is_configured() {
            let missing = || Error::unauthorized("X-Admin-Key header is required");
            check_admin_key(request.headers(), &self.0, missing)
                .map_err(|e| ErrorReply::from(e).into_response())?;
        }
        if !json_or_no_body(request.headers()) {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Request bodies must be sent as Content-Type: application/json",
            ));
        }
        Ok(())
    }
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(json!({ "error": reason }))).into_response()
}

/// The request's host (HTTP/2's authority, else `Host`) is `localhost` or a loopback
/// address, with any port. A request without one is refused: every browser sends it.
fn loopback_host(request: &Request) -> bool {
    let host = request
        .uri()
        .authority()
        .map(|a| a.host().to_owned())
        .or_else(|| {
            let value = request.headers().get(header::HOST)?.to_str().ok()?;
            let authority: axum::http::uri::Authority = value.parse().ok()?;
            Some(authority.host().to_owned())
        });
    let Some(host) = host else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// No body, or a body declared as JSON (`application/json`, with parameters or not).
fn json_or_no_body(headers: &HeaderMap) -> bool {
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    let content_type = headers.get(header::CONTENT_TYPE);
    if !has_body && content_type.is_none() {
        return true;
    }
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}
