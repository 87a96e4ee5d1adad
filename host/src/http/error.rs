//! The one place where failures become HTTP responses.
//!
//! Network routes answer `{"detail": "...", "code": "snake_case"}` (plus `"field"` when an
//! input field is at fault); public-agent and daemon routes answer `{"error": "..."}`
//! ([`ErrorReply`]); the OpenAI-compatible routes answer OpenAI's
//! `{"error": {"message", "type", "code"}}` ([`OpenAiError`]). Internal failures are logged here and shown to the caller only as a
//! generic message.

use crate::error::{Error, ErrorKind};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
    TooLarge {
        limit: usize,
    },
    /// A known path with another method (the router adds `Allow`).
    MethodNotAllowed,
    RateLimited {
        retry_after: Duration,
    },
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Domain(e)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Domain(e.into())
    }
}

#[derive(Serialize)]
struct Detail<'a> {
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

pub(super) fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Malformed => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn detail(status: StatusCode, detail: &str, code: &str, field: Option<&str>) -> Response {
    let mut response = (
        status,
        Json(Detail {
            detail,
            code,
            field,
        }),
    )
        .into_response();
    response.extensions_mut().insert(ErrorText {
        detail: detail.to_owned(),
        code: code.to_owned(),
    });
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Domain(e) if e.kind == ErrorKind::Internal => {
                tracing::error!(error = %e.detail, "internal error");
                detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error",
                    "internal",
                    None,
                )
            }
            ApiError::Domain(e) => {
                let mut response = detail(status_of(e.kind), &e.detail, e.code, e.field.as_deref());
                if e.kind == ErrorKind::Unauthorized {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                response
            }
            ApiError::TooLarge { limit } => detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Request body is larger than the limit of {limit} bytes"),
                "payload_too_large",
                None,
            ),
            ApiError::MethodNotAllowed => detail(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "method_not_allowed",
                None,
            ),
            ApiError::RateLimited { retry_after } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                let mut response = detail(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("Too many requests; retry in {seconds} s"),
                    "rate_limited",
                    None,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
        }
    }
}

/// A failure on a public-agent or daemon route: `{"error": "..."}` with the status the
/// network routes would give the same failure.
pub struct ErrorReply(pub ApiError);

impl From<ApiError> for ErrorReply {
    fn from(e: ApiError) -> Self {
        ErrorReply(e)
    }
}

impl From<Error> for ErrorReply {
    fn from(e: Error) -> Self {
        ErrorReply(e.into())
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        // Same status and headers; only the body's shape differs.
        reshape(
            &mut response,
            |text| serde_json::json!({ "error": text.detail }),
        );
        response
    }
}

/// A failure on an OpenAI-compatible route: `{"error": {"message", "type", "code"}}` (what
/// OpenAI's client libraries parse), with the status the public endpoint gives it.
pub struct OpenAiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for OpenAiError {
    fn from(e: E) -> Self {
        OpenAiError(e.into())
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        let kind = openai_type(response.status());
        reshape(
            &mut response,
            |text| serde_json::json!({"error": {"message": text.detail, "type": kind, "code": text.code}}),
        );
        response
    }
}

/// OpenAI's `type` for a status, as its API gives them.
pub(super) fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// Replaces an error response's body with `body` of its reason, keeping status and headers.
fn reshape(response: &mut Response, body: impl FnOnce(&ErrorText) -> serde_json::Value) {
    let text = response
        .extensions()
        .get::<ErrorText>()
        .cloned()
        .unwrap_or_else(|| ErrorText {
            detail: "Request failed".to_owned(),
            code: "failed".to_owned(),
        });
    *response.body_mut() = axum::body::Body::from(body(&text).to_string());
    response.headers_mut().remove(header::CONTENT_LENGTH);
}

/// A refusal by a layer in front of every route, in the shape of the route asked for:
/// public-agent routes (`/api/…`, `/a2a…`) answer `{"error": ...}`, OpenAI-compatible ones
/// (`/v1/…`) OpenAI's shape, the network's `{"detail": ...}`.
pub fn refuse_on(path: &str, refusal: ApiError) -> Response {
    if path.starts_with("/api/") || path.starts_with("/a2a") {
        ErrorReply(refusal).into_response()
    } else if path.starts_with("/v1/") {
        OpenAiError(refusal).into_response()
    } else {
        refusal.into_response()
    }
}

/// The reason and code of an error response, for [`ErrorReply`] and [`OpenAiError`] to
/// reshape.
#[derive(Clone)]
struct ErrorText {
    detail: String,
    code: String,
}
