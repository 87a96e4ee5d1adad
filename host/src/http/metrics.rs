//! `GET /metrics`: what [`crate::telemetry`] counted, in Prometheus' text format, on the
//! daemon listener (operator-only like the rest of it) and on the public listener for an
//! `agx_live_` token with `dashboard:read`; and the layer that times every HTTP request.
//!
//! The `metrics` facade has one recorder per process, so it is installed once, on first
//! use, and every server of the process renders the same registry. A per-server registry
//! would need a recorder handle threaded through the store, the plugins and the webhook
//! deliverer instead of the facade's macros; one registry per process is what a
//! Prometheus target is anyway (agentx serves one server per process). Several servers in
//! one process (the tests) add to the same series.

use super::AppState;
use super::error::ErrorReply;
use super::extract::bearer_header;
use super::rate_limit::{Identity, Proof};
use crate::auth::tokens::require_dashboard_read;
use crate::telemetry;
use axum::extract::{Extension, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The content type of Prometheus' text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histogram samples are folded into their buckets between scrapes, so memory
/// stays bounded however rarely Prometheus scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use; `None` if another recorder was installed
/// first (then `/metrics` still answers, with only the scrape-time gauges' absence to show).
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder, once; later calls
/// return the same handle. Called at server start, before anything is counted.
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets(telemetry::SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(telemetry::STORE_COMMIT_BATCH.into()),
                        telemetry::BATCH_BUCKETS,
                    )
                })
                .and_then(|b| b.install_recorder());
            match installed {
                Ok(handle) => {
                    telemetry::describe();
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        })
        .as_ref()
}

/// The recorder is the process's, so its upkeep is too: a thread for the process's life.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("agentx-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics upkeep thread; histograms are folded at scrape only");
    }
}

/// Refreshes the gauges read from their source at scrape time, then renders everything.
async fn render(state: &AppState) -> Response {
    let degraded = state
        .hosted
        .snapshot()
        .values()
        .filter(|agent| {
            agent.responder.as_ref().is_some_and(|p| p.is_degraded())
                || agent.policy.as_ref().is_some_and(|p| p.is_degraded())
        })
        .count();
    let pending = match state.network.store().pending_deliveries().await {
        Ok(pending) => Some(pending),
        Err(e) => {
            // The rest of the scrape is still worth having; the gauge keeps its last value.
            tracing::warn!(error = %e, "cannot count the webhook outbox for /metrics");
            None
        }
    };
    telemetry::scraped(degraded, pending);
    let text = install()
        .map(|handle| {
            handle.run_upkeep();
            handle.render()
        })
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response()
}

/// Admin key. Prometheus metrics in the text format, as the public listener's `/metrics`
/// serves them to a `dashboard:read` token (listed in the README).
// NB: the daemon's guard checks the admin key before this runs.
#[utoipa::path(get, path = "/metrics",
    responses(
        (status = 200, content_type = "text/plain", body = String,
            description = "Prometheus text exposition format 0.0.4"),
        (status = 401, description = "no `X-Admin-Key` (when one is configured)"),
        (status = 403, description = "a wrong admin key")))]
pub(super) async fn daemon_metrics(State(state): State<AppState>) -> Response {
    render(&state).await
}

/// Every counter, gauge and histogram of this agentx process in Prometheus' text format
/// (the README's "Metrics" lists them), for an `agx_live_` token with `dashboard:read` (or
/// `dashboard:write`) as Bearer. The daemon listener serves the same at the same path.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    security(("agx_live" = [])),
    responses(
        (status = 200, content_type = "text/plain", body = String,
            description = "Prometheus text exposition format 0.0.4"),
        (status = 401, description = "no token, or an unknown, revoked or expired one"),
        (status = 403, description = "the token lacks dashboard:read")))]
pub(super) async fn public_metrics(
    State(state): State<AppState>,
    proof: Option<Extension<Proof>>,
    headers: HeaderMap,
) -> Result<Response, ErrorReply> {
    let presented = bearer_header(&headers);
    let token = state.tokens.authenticate(presented).await?;
    if let (Some(Extension(proof)), Some(presented)) = (proof, presented) {
        proof.set(Identity::token(presented));
    }
    require_dashboard_read(&token)?;
    Ok(render(&state).await)
}

/// Times every request of the listener it names and counts it by its route template (never
/// the raw path, which would make a series per message id); a request no route matched is
/// `unmatched`.
#[derive(Clone)]
pub(super) struct Timed(pub &'static str);

/// One request being timed.
pub(super) struct Timing {
    listener: &'static str,
    method: &'static str,
    route: Option<MatchedPath>,
    started: Instant,
}

impl<B> super::around::Around<B> for Timed {
    type Ticket = Timing;

    fn before(&self, request: &mut Request) -> Result<Timing, axum::http::Response<B>> {
        Ok(Timing {
            listener: self.0,
            method: method_label(request.method()),
            route: request.extensions().get::<MatchedPath>().cloned(),
            started: Instant::now(),
        })
    }
}

impl super::around::Ticket for Timing {
    fn after(self, status: StatusCode) {
        let route: SharedString = match self.route {
            Some(path) => path.as_str().to_owned().into(),
            None => "unmatched".into(),
        };
        telemetry::http_request(
            self.listener,
            self.method,
            route,
            status.as_u16(),
            self.started.elapsed(),
        );
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
