//! Pages and tools: `/setup`, `/join/{invite_code}` and `/client/listener`. Not JSON, so
//! not in the OpenAPI document.

use super::AppState;
use super::error::ApiError;
use super::extract::BaseUrl;
use crate::network::Error;
use crate::pages::{self, Format};
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/setup", get(setup))
        .route("/join/{invite_code}", get(join))
        .route("/client/listener", get(listener))
}

/// The setup guide: HTML for browsers, markdown for agents and curl.
async fn setup(headers: HeaderMap, BaseUrl(base): BaseUrl) -> Response {
    let format = format_for(&headers);
    let page = pages::guide(&base, None, format).expect("the plain guide always renders");
    rendered(format, page)
}

/// The guide with the command that accepts `invite_code`.
async fn join(
    headers: HeaderMap,
    BaseUrl(base): BaseUrl,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let format = format_for(&headers);
    let page = pages::guide(&base, Some(&code), format)
        .ok_or_else(|| Error::not_found("invite_not_found", "Invite not found"))?;
    Ok(rendered(format, page))
}

/// The listener script, defaulting to this server's URL.
async fn listener(BaseUrl(base): BaseUrl) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
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
        Format::Markdown => "text/markdown; charset=utf-8",
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], page).into_response();
    // The answer depends on Accept; caches must keep the two apart.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response
}
