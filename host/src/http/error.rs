//! The one place where failures become HTTP responses.
//!
//! Network routes answer `{"detail": "...", "code": "snake_case"}` (plus `"field"` when an
//! input field is at fault); public-agent and daemon routes answer `{"error": "..."}`
//! ([`ErrorReply`]); the OpenAI-compatible routes answer OpenAI's
//! `{"error": {"message", "type", "code"}}` ([`OpenAiError`]): one failure, one status and
//! headers, its body rendered once in the route's [`Shape`]. Internal failures are logged
//! here and shown to the caller only as a generic message.

use crate::error::{Error, ErrorKind};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
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

/// The body shapes of error answers: each route's handler (by its error type) or, for the
/// layers in front of every route, [`refuse_on`] picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"detail", "code", "field"?}`: the network routes.
    Detail,
    /// `{"error": "..."}`: public-agent and daemon routes.
    Error,
    /// OpenAI's `{"error": {"message", "type", "code"}}`.
    OpenAi,
}

/// What is said of a failure, whatever the body's shape.
pub(super) struct Answer {
    pub status: StatusCode,
    detail: String,
    code: &'static str,
    field: Option<String>,
    /// Seconds, for `Retry-After`.
    retry_after: Option<u64>,
}

impl Answer {
    /// The body in `shape`.
    pub fn body(&self, shape: Shape) -> serde_json::Value {
        let (detail, code) = (&self.detail, self.code);
        match (shape, &self.field) {
            (Shape::Detail, Some(field)) => {
                json!({"detail": detail, "code": code, "field": field})
            }
            (Shape::Detail, None) => json!({"detail": detail, "code": code}),
            (Shape::Error, _) => json!({"error": detail}),
            (Shape::OpenAi, _) => {
                let kind = openai_type(self.status);
                json!({"error": {"message": detail, "type": kind, "code": code}})
            }
        }
    }
}

impl ApiError {
    /// What the caller is told (an internal failure is logged here, and told only as a
    /// generic message).
    pub(super) fn answer(self) -> Answer {
        let answer = |status, detail, code, field| Answer {
            status,
            detail,
            code,
            field,
            retry_after: None,
        };
        match self {
            ApiError::Domain(e) if e.kind == ErrorKind::Internal => {
                tracing::error!(error = %e.detail, "internal error");
                let detail = "Internal server error".to_owned();
                answer(StatusCode::INTERNAL_SERVER_ERROR, detail, "internal", None)
            }
            ApiError::Domain(e) => answer(status_of(e.kind), e.detail, e.code, e.field),
            ApiError::TooLarge { limit } => answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the limit of {limit} bytes"),
                "payload_too_large",
                None,
            ),
            ApiError::MethodNotAllowed => answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed".to_owned(),
                "method_not_allowed",
                None,
            ),
            ApiError::RateLimited { retry_after } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                Answer {
                    retry_after: Some(seconds),
                    ..answer(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("Too many requests; retry in {seconds} s"),
                        "rate_limited",
                        None,
                    )
                }
            }
        }
    }

    /// The answer to this failure, its body in `shape`: the status and headers are the
    /// same whatever the shape.
    pub fn respond(self, shape: Shape) -> Response {
        let answer = self.answer();
        let mut response = (answer.status, Json(answer.body(shape))).into_response();
        let headers = response.headers_mut();
        if answer.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = answer.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.respond(Shape::Detail)
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
        self.0.respond(Shape::Error)
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
        self.0.respond(Shape::OpenAi)
    }
}

/// OpenAI's `type` for a status, as its API gives them.
fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// A refusal by a layer in front of every route, in the shape of the route asked for:
/// public-agent routes (`/api/…`, `/a2a…`) answer `{"error": ...}`, OpenAI-compatible ones
/// (`/v1/…`) OpenAI's shape, the network's `{"detail": ...}`.
pub fn refuse_on(path: &str, refusal: ApiError) -> Response {
    let shape = if path.starts_with("/api/") || path.starts_with("/a2a") {
        Shape::Error
    } else if path.starts_with("/v1/") {
        Shape::OpenAi
    } else {
        Shape::Detail
    };
    refusal.respond(shape)
}
