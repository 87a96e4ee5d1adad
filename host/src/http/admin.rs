//! `/admin`: announcements, and the operator's read-only views of agents and tokens, behind
//! the admin key. Creating and revoking tokens stays on the loopback daemon.

use super::AppState;
use super::error::ApiError;
use super::extract::{Admin, JsonBody, Params};
use crate::model::Announcement;
use crate::model::ApiToken;
use crate::network::agents::AgentOverview;
use crate::network::announcements::NewAnnouncement;
use crate::store::{Page, Paged};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Entries per page of an admin list unless `limit` says otherwise: a screenful.
const DEFAULT_PAGE: usize = 100;
/// A page is built in memory and sent whole; a thousand entries are a few hundred KB.
const MAX_PAGE: usize = 1000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(announce, list))
        .routes(routes!(agents))
        .routes(routes!(tokens))
}

/// Publish an announcement to every agent (once each, by inbox or stream).
#[utoipa::path(post, path = "/admin/announcements", tag = "admin", security(("admin_key" = []), ("agx_live" = [])),
    request_body = NewAnnouncement,
    responses((status = 200, body = Announcement), (status = 403, description = "wrong or unset admin key"),
        (status = 422, description = "missing X-Admin-Key or invalid field")))]
async fn announce(
    State(state): State<AppState>,
    _: Admin,
    JsonBody(form): JsonBody<NewAnnouncement>,
) -> Result<Json<Announcement>, ApiError> {
    Ok(Json(state.network.announce(form).await?))
}

/// All announcements, newest first, a page at a time.
#[utoipa::path(get, path = "/admin/announcements", tag = "admin", security(("admin_key" = []), ("agx_live" = [])),
    params(PageQuery),
    responses((status = 200, body = [Announcement], headers(
            ("X-Total-Count" = usize, description = "entries in the whole list"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, while there is one"))),
        (status = 403, description = "wrong or unset admin key"),
        (status = 422, description = "missing X-Admin-Key, or `limit`/`offset` out of range")))]
async fn list(
    State(state): State<AppState>,
    _: Admin,
    Params(page): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let page = page.checked()?;
    answer(
        "/admin/announcements",
        page,
        state.network.announcements(page).await?,
    )
}

/// Every agent of the network, registered and hosted, oldest first (never a key or a
/// hash), a page at a time.
#[utoipa::path(get, path = "/admin/agents", tag = "admin", security(("admin_key" = []), ("agx_live" = [])),
    params(PageQuery),
    responses((status = 200, body = [AgentOverview], headers(
            ("X-Total-Count" = usize, description = "entries in the whole list"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, while there is one"))),
        (status = 403, description = "wrong or unset admin key"),
        (status = 422, description = "missing X-Admin-Key, or `limit`/`offset` out of range")))]
async fn agents(
    State(state): State<AppState>,
    _: Admin,
    Params(page): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let page = page.checked()?;
    answer("/admin/agents", page, state.network.all_agents(page).await?)
}

/// Every `agx_live_` token, revoked and expired ones included, oldest first, a page at a
/// time: the daemon's `GET /tokens`, never the token itself. Create and revoke them on the
/// daemon.
#[utoipa::path(get, path = "/admin/tokens", tag = "admin", security(("admin_key" = []), ("agx_live" = [])),
    params(PageQuery),
    responses((status = 200, body = [ApiToken], headers(
            ("X-Total-Count" = usize, description = "entries in the whole list"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, while there is one"))),
        (status = 403, description = "wrong or unset admin key"),
        (status = 422, description = "missing X-Admin-Key, or `limit`/`offset` out of range")))]
async fn tokens(
    State(state): State<AppState>,
    _: Admin,
    Params(page): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let page = page.checked()?;
    answer("/admin/tokens", page, state.tokens.list(page).await?)
}

/// Which part of an admin list to return. The answer stays the bare JSON array the lists
/// always were; the headers say what else there is.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Entries to return, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Entries to skip first (default 0).
    #[param(minimum = 0)]
    offset: Option<usize>,
}

impl PageQuery {
    /// The page asked for, once `limit` is in range.
    fn checked(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            let detail = format!("limit must be an integer from 1 to {MAX_PAGE}");
            return Err(crate::error::Error::malformed("limit", detail).into());
        }
        Ok(Page {
            offset: self.offset.unwrap_or(0),
            limit,
        })
    }
}

/// `paged`, the page `page` of the list at `path`, with `X-Total-Count` and, while more
/// follow, a `Link` to the next page.
fn answer<T: Serialize>(path: &str, page: Page, paged: Paged<T>) -> Result<Response, ApiError> {
    let mut response = Json(paged.items).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", paged.total.into());
    let next = page.offset.saturating_add(page.limit);
    if next < paged.total {
        let link = format!("<{path}?limit={}&offset={next}>; rel=\"next\"", page.limit);
        headers.insert(header::LINK, link.try_into().expect("a path and numbers"));
    }
    Ok(response)
}
