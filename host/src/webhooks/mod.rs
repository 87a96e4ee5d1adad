//! Delivering the webhook outbox: every pending delivery is POSTed, signed, to its agent's
//! `webhook_url`, retried with backoff until its window ends, then left `dead` for the
//! agent to see and replay.
//!
//! One task per server ([`delivery_loop`]) owns the loop. It reads what is due from the store, runs
//! up to `max_in_flight` attempts at once, records each outcome in the store, and sleeps
//! until the next delivery is due or the store wakes it ([`OUTBOX_TOPIC`]). At shutdown it
//! stops taking new work and waits for the attempts in flight (each bounded by the request
//! timeout) to be recorded, so a graceful restart sends nothing twice. After a crash, an
//! attempt in flight is made again under the same delivery id: receivers de-duplicate.

pub mod guard;
pub mod schedule;
pub mod signature;

use crate::clock::Clock;
use crate::network::webhook_url::WebhookRules;
use crate::notify::Notifier;
use crate::store::Store;
use crate::store::outbox::{AttemptOutcome, OUTBOX_TOPIC, Outgoing};
use schedule::RetrySchedule;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The longest the loop sleeps without looking at the store: covers a clock moved forward
/// in tests and a wake-up missed by a store in another process.
const RECHECK_EVERY: Duration = Duration::from_secs(1);
/// Error texts kept per delivery are cut to this many characters.
const MAX_ERROR_CHARS: usize = 300;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// The same rules as when the URL was set; re-checked at every attempt, since the
    /// operator may have tightened them since.
    pub rules: WebhookRules,
    /// Whole-request timeout of one attempt (connect, send, answer).
    pub timeout: Duration,
    pub schedule: RetrySchedule,
    pub max_in_flight: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Why an attempt did not deliver.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// Retrying cannot help: the delivery goes dead at once.
    #[error("{0}")]
    Permanent(String),
    #[error("receiver answered HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(String),
}

struct Deliverer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    settings: DeliverySettings,
}

/// Builds the HTTP client; fails only on a broken TLS setup.
fn client(settings: &DeliverySettings) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        // A redirect could point anywhere, including inside the network: not followed.
        .redirect(reqwest::redirect::Policy::none())
        // Environment proxies would make the address check meaningless.
        .no_proxy()
        .user_agent(concat!("agentx-webhooks/", env!("CARGO_PKG_VERSION")));
    if !settings.rules.allow_private {
        builder = builder.dns_resolver(Arc::new(guard::PublicOnly));
    }
    builder.build()
}

/// The delivery loop, to be spawned; it runs until `shutdown` and returns once the attempts
/// in flight are recorded (see the module docs).
pub fn delivery_loop(
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    settings: DeliverySettings,
    shutdown: CancellationToken,
) -> Result<impl Future<Output = ()> + Send + 'static, StartError> {
    let deliverer = Arc::new(Deliverer {
        client: client(&settings)?,
        store,
        clock,
        settings,
    });
    Ok(deliverer.run(notifier, shutdown))
}

impl Deliverer {
    async fn run(self: Arc<Self>, notifier: Arc<dyn Notifier>, shutdown: CancellationToken) {
        // Ids of the attempts running now; they stay in the store's due list until recorded.
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut attempts: JoinSet<String> = JoinSet::new();
        // NB: subscribe before reading, so a delivery queued in between still wakes us.
        let mut wakeups = notifier.subscribe(OUTBOX_TOPIC);
        loop {
            let now = self.clock.now();
            let free = self.settings.max_in_flight.saturating_sub(in_flight.len());
            if free > 0 {
                match self.store.deliveries_due(now, free + in_flight.len()).await {
                    Ok(due) => {
                        for outgoing in due {
                            if in_flight.len() < self.settings.max_in_flight
                                && in_flight.insert(outgoing.delivery.id.clone())
                            {
                                attempts.spawn(self.clone().attempt(outgoing));
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the webhook outbox"),
                }
            }
            let next = self.store.next_delivery_after(now).await.ok().flatten();
            let until_next = next
                .and_then(|at| (at - now).to_std().ok())
                .map_or(RECHECK_EVERY, |d| d.min(RECHECK_EVERY));
            tokio::select! {
                _ = wakeups.changed() => {}
                _ = tokio::time::sleep(until_next) => {}
                Some(done) = attempts.join_next() => {
                    if let Ok(id) = done {
                        in_flight.remove(&id);
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
        // Let the attempts in flight finish and be recorded before the store closes.
        while attempts.join_next().await.is_some() {}
    }

    /// One attempt at one delivery, recorded; returns the delivery id.
    async fn attempt(self: Arc<Self>, outgoing: Outgoing) -> String {
        let delivery = &outgoing.delivery;
        let result = self.send(&outgoing).await;
        let at = self.clock.now();
        let outcome = match result {
            Ok(status_code) => AttemptOutcome::Delivered { status_code },
            Err(failure) => {
                let status_code = match failure {
                    Failure::Status(code) => Some(code),
                    _ => None,
                };
                let error: String = failure.to_string().chars().take(MAX_ERROR_CHARS).collect();
                let next = match failure {
                    Failure::Permanent(_) => None,
                    _ => self.settings.schedule.next(
                        delivery.attempts + 1,
                        at,
                        delivery.window_start,
                        rand::random::<f64>(),
                    ),
                };
                tracing::info!(delivery = %delivery.id, agent = %delivery.agent_id, %error,
                    retry = next.is_some(), "webhook delivery failed");
                match next {
                    Some(next_at) => AttemptOutcome::Retry {
                        next_at,
                        status_code,
                        error,
                    },
                    None => AttemptOutcome::Dead { status_code, error },
                }
            }
        };
        if let Err(e) = self.store.finish_attempt(&delivery.id, at, outcome).await {
            tracing::error!(delivery = %delivery.id, error = %e, "cannot record a webhook attempt");
        }
        delivery.id.clone()
    }

    /// POSTs the delivery; `Ok` with the receiver's 2xx status.
    async fn send(&self, outgoing: &Outgoing) -> Result<u16, Failure> {
        let delivery = &outgoing.delivery;
        let internal = |e: crate::store::StoreError| Failure::Transport(e.to_string());
        let agent = self
            .store
            .agent(&delivery.agent_id)
            .await
            .map_err(internal)?;
        let Some(raw_url) = agent.and_then(|a| a.webhook_url) else {
            return Err(Failure::Permanent("the agent has no webhook_url".into()));
        };
        let url = self
            .settings
            .rules
            .check("webhook_url", &raw_url)
            .map_err(|e| Failure::Permanent(format!("refused: {}", e.detail)))?;
        let secret = self
            .store
            .webhook_secret(&delivery.agent_id, None)
            .await
            .map_err(internal)?;
        let timestamp = self.clock.now().timestamp();
        let body = outgoing.body.clone();
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::DELIVERY_HEADER, &delivery.id)
            .header(signature::EVENT_HEADER, delivery.event.as_str())
            .header(
                signature::SIGNATURE_HEADER,
                signature::sign(&secret, timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Transport(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(Failure::Status(status.as_u16()))
        }
    }
}

/// reqwest's outer error says little ("error sending request"); the cause says why.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
