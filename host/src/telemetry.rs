//! What agentx counts for Prometheus: every metric's name and meaning, and the calls the
//! layers that count make (the store's writers, long-polls, plugin calls, webhook delivery,
//! reloads, the HTTP listeners).
//!
//! Recording goes through the `metrics` facade, so the layers that count know nothing of
//! how the numbers are exported: until a recorder is installed every call here is a no-op,
//! and the exporter with its `/metrics` routes lives in `http::metrics`. The facade's
//! recorder is one per process; several servers in one process (tests) add to the same
//! series, which is what a process-wide registry means.
//!
//! Label values are either `&'static str` from a fixed set or bounded by configuration
//! (agent ids from agentx.json, route templates), never raw request input: the number of
//! series stays bounded whatever the traffic.

use metrics::{Histogram, SharedString, histogram};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use std::sync::OnceLock;
use std::time::Duration;

pub const HTTP_REQUEST_SECONDS: &str = "agentx_http_request_duration_seconds";
pub const STORE_COMMIT_SECONDS: &str = "agentx_store_commit_duration_seconds";
pub const STORE_COMMIT_BATCH: &str = "agentx_store_commit_batch_size";
pub const LONG_POLL_WAITERS: &str = "agentx_long_poll_waiters";
pub const LONG_POLL_WAKEUPS: &str = "agentx_long_poll_wakeups_total";
pub const PLUGIN_CALL_SECONDS: &str = "agentx_plugin_call_duration_seconds";
pub const AGENTS_DEGRADED: &str = "agentx_agents_degraded";
pub const WEBHOOK_OUTBOX_PENDING: &str = "agentx_webhook_outbox_pending";
pub const WEBHOOK_ATTEMPTS: &str = "agentx_webhook_attempts_total";
pub const RELOADS: &str = "agentx_reloads_total";

/// Histogram buckets for durations, in seconds: from a fast read (~0.5 ms) to a plugin at
/// its longest default deadline (30 s), so every histogram here has the same, comparable
/// boundaries.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Histogram buckets for a group commit's batch size: powers of two up to the writer's
/// largest batch (512).
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Gives every metric its help text (the `# HELP` lines); called once, when the recorder
/// is installed.
pub fn describe() {
    describe_histogram!(
        HTTP_REQUEST_SECONDS,
        Unit::Seconds,
        "HTTP requests by listener (public, daemon), method, route template and status: the \
         time until the response head (a long-poll's wait included; a stream's body not)"
    );
    describe_histogram!(
        STORE_COMMIT_SECONDS,
        Unit::Seconds,
        "Durable commits by store backend: redb's group-commit fsync, PostgreSQL's COMMIT"
    );
    describe_histogram!(
        STORE_COMMIT_BATCH,
        Unit::Count,
        "Writes made durable by one commit (redb's group commit; always 1 on PostgreSQL)"
    );
    describe_gauge!(
        LONG_POLL_WAITERS,
        Unit::Count,
        "Long-polls waiting for a message now: GET /messages/stream, MCP's wait, and each \
         hosted agent's own loop"
    );
    describe_counter!(
        LONG_POLL_WAKEUPS,
        Unit::Count,
        "Wake-ups delivered to waiting long-polls"
    );
    describe_histogram!(
        PLUGIN_CALL_SECONDS,
        Unit::Seconds,
        "Plugin calls by agent, call (respond, decide) and outcome (ok, refused, \
         output_too_large, timeout, trap, degraded)"
    );
    describe_gauge!(
        AGENTS_DEGRADED,
        Unit::Count,
        "Hosted agents with a degraded plugin (its circuit breaker open or probing), at scrape time"
    );
    describe_gauge!(
        WEBHOOK_OUTBOX_PENDING,
        Unit::Count,
        "Webhook deliveries pending (due now or waiting to retry), at scrape time"
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        Unit::Count,
        "Webhook delivery attempts by outcome (delivered, retry, dead)"
    );
    describe_counter!(
        RELOADS,
        Unit::Count,
        "Reloads by outcome (ok; partial: some agent's new version refused; refused)"
    );
}

/// One HTTP request answered. `route` is the matched route template (`/messages/{id}/ack`),
/// never the raw path.
pub fn http_request(
    listener: &'static str,
    method: &'static str,
    route: SharedString,
    status: u16,
    elapsed: Duration,
) {
    histogram!(HTTP_REQUEST_SECONDS,
        "listener" => listener, "method" => method, "route" => route, "status" => status_label(status))
    .record(elapsed);
}

/// The status as a label without formatting it per request: every code HTTP allows
/// (100 to 999) is formatted once, on first use.
fn status_label(status: u16) -> &'static str {
    static LABELS: OnceLock<Box<[String]>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| (100..1000u16).map(|code| code.to_string()).collect());
    labels
        .get(usize::from(status).wrapping_sub(100))
        .map_or("other", String::as_str)
}

/// A durable commit by `backend` (`redb`, `postgres`) of `batch` writes, taking `elapsed`.
pub fn store_commit(backend: &'static str, batch: usize, elapsed: Duration) {
    histogram!(STORE_COMMIT_SECONDS, "backend" => backend).record(elapsed);
    histogram!(STORE_COMMIT_BATCH, "backend" => backend).record(batch as f64);
}

/// A long-poll waiting, counted in [`LONG_POLL_WAITERS`] until dropped (however the wait
/// ends: an answer, a timeout, or the client going away and the request being dropped).
pub struct LongPollWaiter(());

impl LongPollWaiter {
    pub fn enter() -> Self {
        gauge!(LONG_POLL_WAITERS).increment(1.0);
        LongPollWaiter(())
    }

    /// The wait was woken (something may be new for it).
    pub fn woken(&self) {
        counter!(LONG_POLL_WAKEUPS).increment(1);
    }
}

impl Drop for LongPollWaiter {
    fn drop(&mut self) {
        gauge!(LONG_POLL_WAITERS).decrement(1.0);
    }
}

/// The calls of one agent's plugin ([`PLUGIN_CALL_SECONDS`]). The histogram of its answered
/// calls (of the one kind a plugin makes: a responder `respond`, a policy `decide`) is
/// looked up on first use and kept, so a call records into it without building, hashing
/// and looking up its labels; other outcomes, rare, are looked up each time.
pub struct PluginCalls {
    agent: String,
    answered: OnceLock<(&'static str, Histogram)>,
}

impl PluginCalls {
    pub fn new(agent: &str) -> Self {
        Self {
            agent: agent.to_owned(),
            answered: OnceLock::new(),
        }
    }

    /// A `call` ended with `outcome` after `elapsed`.
    pub fn record(&self, call: &'static str, outcome: &'static str, elapsed: Duration) {
        if outcome == "ok" {
            let (kind, answered) = self
                .answered
                .get_or_init(|| (call, self.histogram(call, outcome)));
            if *kind == call {
                return answered.record(elapsed);
            }
        }
        self.histogram(call, outcome).record(elapsed);
    }

    fn histogram(&self, call: &'static str, outcome: &'static str) -> Histogram {
        histogram!(PLUGIN_CALL_SECONDS,
            "agent" => self.agent.clone(), "call" => call, "outcome" => outcome)
    }
}

/// Gauges read at scrape time from their source of truth (the plugins' breakers, the
/// outbox), so they can never drift from it.
pub fn scraped(degraded_agents: usize, outbox_pending: Option<u64>) {
    gauge!(AGENTS_DEGRADED).set(degraded_agents as f64);
    if let Some(pending) = outbox_pending {
        gauge!(WEBHOOK_OUTBOX_PENDING).set(pending as f64);
    }
}

/// A webhook delivery attempt recorded with `outcome` (`delivered`, `retry`, `dead`).
pub fn webhook_attempt(outcome: &'static str) {
    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
}

/// A reload ended with `outcome` (`ok`, `partial`, `refused`).
pub fn reload(outcome: &'static str) {
    counter!(RELOADS, "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::{PluginCalls, status_label};
    use metrics_exporter_prometheus::PrometheusBuilder;
    use std::time::Duration;

    /// The kept histogram takes only the answered calls of the kind it was made for; every
    /// other call still lands in its own series.
    #[test]
    fn plugin_calls_land_in_their_own_series() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let exported = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let calls = PluginCalls::new("echo");
            for (call, outcome) in [
                ("respond", "ok"),
                ("decide", "ok"),
                ("respond", "trap"),
                ("respond", "ok"),
            ] {
                calls.record(call, outcome, Duration::from_millis(1));
            }
        });
        let text = exported.render();
        for (call, outcome, count) in [
            ("respond", "ok", 2),
            ("decide", "ok", 1),
            ("respond", "trap", 1),
        ] {
            let series = format!(
                "agentx_plugin_call_duration_seconds_count{{agent=\"echo\",call=\"{call}\",outcome=\"{outcome}\"}} {count}"
            );
            assert!(text.contains(&series), "no {series} in\n{text}");
        }
    }

    #[test]
    fn every_status_is_its_own_label() {
        for (code, label) in [(100, "100"), (200, "200"), (418, "418"), (999, "999")] {
            assert_eq!(status_label(code), label);
        }
        assert_eq!(status_label(99), "other");
        assert_eq!(status_label(1000), "other");
    }
}
