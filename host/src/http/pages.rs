//! Pages and tools: `/setup`, `/join/{invite_code}`, `/client/listener`, `/docs`,
//! `/observe` and `/admin`. Not JSON, so not in the OpenAPI document.

use super::AppState;
use super::error::{ApiError, status_of};
use super::extract::{BaseUrl, Params, agent_for, bearer_header};
use crate::error::{Error, ErrorKind};
use crate::pages::{self, Format};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/setup", get(setup))
        .route("/join/{invite_code}", get(join))
        .route("/client/listener", get(listener))
        .route("/docs", get(docs))
        .route("/observe", get(observe))
        .route("/admin", get(admin))
}

/// The setup guide: HTML for browsers, markdown for agents and curl.
async fn setup(headers: HeaderMap, BaseUrl(base): BaseUrl) -> Response {
    let format = format_for(&headers);
    let page = pages::guide(&base, None, format).expect("the plain guide always renders");
    rendered(format, page)
}

/// The guide with the command that accepts `invite_code`, while the invite can be used.
/// A refusal is the JSON error, or for a browser an HTML page with the same status.
async fn join(
    State(state): State<AppState>,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let format = format_for(&headers);
    let refusal = match state.network.open_invite(&code).await {
        // Real codes are always shell-safe; the guide checks again before quoting one.
        Ok(_) => match pages::guide(&base, Some(&code), format) {
            Some(page) => return Ok(rendered(format, page)),
            None => Error::not_found("invite_not_found", "Invalid invite code"),
        },
        Err(e) => e,
    };
    match (format, refusal.kind) {
        (Format::Html, ErrorKind::NotFound | ErrorKind::Invalid) => {
            let mut response = html(pages::invite_refused(&base, &refusal.detail));
            *response.status_mut() = status_of(refusal.kind);
            Ok(response)
        }
        _ => Err(refusal.into()),
    }
}

/// The listener script, defaulting to this server's URL; a download for browsers, as the
/// compatible network serves it.
async fn listener(BaseUrl(base): BaseUrl) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"listener.py\""),
            ),
        ],
        pages::listener_script(&base),
    )
        .into_response()
}

fn format_for(headers: &HeaderMap) -> Format {
    let wants_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"));
    if wants_html {
        Format::Html
    } else {
        Format::Markdown
    }
}

fn rendered(format: Format, page: String) -> Response {
    let content_type = match format {
        Format::Html => "text/html; charset=utf-8",
        // What the compatible network serves; curl and agents read it as text either way.
        Format::Markdown => "text/plain; charset=utf-8",
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], page).into_response();
    // The answer depends on Accept; caches must keep the two apart.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// The API reference, from the OpenAPI document and the live contract presets.
async fn docs(State(state): State<AppState>) -> Response {
    let api = serde_json::to_value(super::openapi()).expect("the OpenAPI document serialises");
    let daemon =
        serde_json::to_value(super::daemon_openapi()).expect("the OpenAPI document serialises");
    html(pages::docs::page(&api, &daemon, &state.network.contracts()))
}

#[derive(Deserialize)]
struct ObserveQuery {
    /// An API key or a session token, for browsers (which cannot set the header).
    token: Option<String>,
}

/// An agent's activity feed, for its API key or session token (header or `?token=`).
async fn observe(
    State(state): State<AppState>,
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    Params(query): Params<ObserveQuery>,
) -> Result<Response, ApiError> {
    let presented = bearer_header(&headers).or(query.token.as_deref());
    let agent = match presented {
        Some(token) => match agent_for(&state, token).await {
            Ok(agent) => Some(agent),
            Err(e) if e.kind == ErrorKind::Unauthorized => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let Some(agent) = agent else {
        let mut response = html(pages::observe::unauthorized(&base));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(response);
    };
    let activity = state
        .network
        .activity(&agent.id, pages::observe::SHOWN)
        .await?;
    let mut response = html(pages::observe::page(&activity, state.network.clock().now()));
    // The URL may hold the key: keep it out of caches and out of other sites' logs.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// The operator dashboard; its script calls the `/admin/*` JSON routes with the admin key.
async fn admin() -> Response {
    html(pages::admin_page())
}

fn html(page: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page,
    )
        .into_response()
}
