//! Delivering the webhook outbox: every pending delivery is POSTed, signed, to its agent's
//! `webhook_url`, retried with backoff until its window ends, then left `dead` for the
//! agent to see and replay.
//!
//! One task per server ([`delivery_loop`]) owns the loop. It reads what is due from the store, runs
//! up to `max_in_flight` attempts at once, records each outcome in the store, and sleeps
//! until the next delivery is due or the store wakes it ([`Topic::Outbox`]).
//!
//! One agent's dead receiver must not stall everyone else's deliveries, so slots are shared
//! fairly: agents are served in turn (round-robin, not earliest-due first over all), each
//! agent and each destination (`host:port`) has a cap on attempts in flight, connecting
//! has its own short timeout, and a destination that stops answering has its circuit
//! opened ([`breaker`]): its deliveries are deferred, not attempted, until a probe gets
//! an answer. At shutdown it
//! stops taking new work and waits for the attempts in flight (each bounded by the request
//! timeout) to be recorded, so a graceful restart sends nothing twice. After a crash, an
//! attempt in flight is made again under the same delivery id: receivers de-duplicate.
//! Each attempt first claims its delivery in the store until its timeout (plus a margin)
//! has passed, so that several nodes on one shared store never attempt it together; a
//! dead node's claims lapse and another node retries them.

pub mod breaker;
pub mod schedule;
pub mod signature;

use crate::clock::Clock;
use crate::network::webhook_url::WebhookRules;
use crate::notify::Notifier;
use crate::notify::Topic;
use crate::store::Store;
use crate::store::outbox::{AttemptOutcome, DueQuery, Outgoing};
use breaker::{Admission, BreakerSettings, Breakers};
use schedule::RetrySchedule;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The longest the loop sleeps without looking at the store: covers a clock moved forward
/// in tests and a wake-up missed by a store in another process.
const RECHECK_EVERY: Duration = Duration::from_secs(1);
/// How long past its request timeout an attempt's claim lasts: a node that died mid-attempt
/// leaves the delivery to the others after this.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);
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
    /// Timeout of making the connection, within `timeout`.
    pub connect_timeout: Duration,
    pub schedule: RetrySchedule,
    /// Attempts in flight at once: over all agents, per agent, per destination.
    pub max_in_flight: usize,
    pub max_in_flight_per_agent: usize,
    pub max_in_flight_per_destination: usize,
    pub breaker: BreakerSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Why an attempt did not deliver.
#[derive(Debug, Clone, thiserror::Error)]
enum Failure {
    /// Retrying cannot help: the delivery goes dead at once.
    #[error("{0}")]
    Permanent(String),
    #[error("receiver answered HTTP {0}")]
    Status(u16),
    /// The receiver sent no answer (refused, timed out, reset): counts for its breaker.
    #[error("{0}")]
    Transport(String),
    /// agentx could not read what to send.
    #[error("{0}")]
    Internal(String),
}

/// Where a delivery goes: its URL, checked, and the destination its caps and breaker are
/// kept under.
#[derive(Clone)]
struct Target {
    url: url::Url,
    destination: String,
}

/// One attempt running: whose, and where to.
struct Running {
    agent: String,
    destination: Option<String>,
}

/// What an attempt came to, for the loop's books.
struct Finished {
    id: String,
    answered: bool,
}

/// The loop's books: the attempts in flight, counted per agent and per destination.
#[derive(Default)]
struct InFlight {
    running: HashMap<String, Running>,
    per_agent: HashMap<String, usize>,
    per_destination: HashMap<String, usize>,
}

impl InFlight {
    fn len(&self) -> usize {
        self.running.len()
    }

    fn of_agent(&self, agent: &str) -> usize {
        self.per_agent.get(agent).copied().unwrap_or(0)
    }

    fn to(&self, destination: &str) -> usize {
        self.per_destination.get(destination).copied().unwrap_or(0)
    }

    fn start(&mut self, id: String, run: Running) {
        *self.per_agent.entry(run.agent.clone()).or_default() += 1;
        if let Some(d) = &run.destination {
            *self.per_destination.entry(d.clone()).or_default() += 1;
        }
        self.running.insert(id, run);
    }

    /// Forgets a finished attempt; returns its destination.
    fn finish(&mut self, id: &str) -> Option<String> {
        let run = self.running.remove(id)?;
        decrement(&mut self.per_agent, &run.agent);
        if let Some(d) = &run.destination {
            decrement(&mut self.per_destination, d);
        }
        run.destination
    }
}

/// Counts drop out at zero, so the maps hold only what is in flight.
fn decrement(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

struct Deliverer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    settings: DeliverySettings,
}

/// Builds the HTTP client; fails only on a broken TLS setup.
fn client(settings: &DeliverySettings) -> Result<reqwest::Client, reqwest::Error> {
    crate::outbound::client_builder(!settings.rules.allow_private)
        .timeout(settings.timeout)
        .connect_timeout(settings.connect_timeout.min(settings.timeout))
        .user_agent(concat!("agentx-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
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
        // Attempts running now; they stay in the store's due list until recorded.
        let mut in_flight = InFlight::default();
        let mut attempts: JoinSet<Finished> = JoinSet::new();
        let mut breakers = Breakers::new(self.settings.breaker);
        // The last agent served: the next read starts after it (round-robin).
        let mut turn: Option<String> = None;
        // NB: subscribe before reading, so a delivery queued in between still wakes us.
        let mut wakeups = notifier.subscribe(&Topic::Outbox);
        loop {
            let now = self.clock.now();
            if in_flight.len() < self.settings.max_in_flight {
                let started = self
                    .start_due(now, &mut in_flight, &mut breakers, &mut turn)
                    .await;
                for (outgoing, target) in started {
                    attempts.spawn(self.clone().attempt(outgoing, target));
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
                    if let Ok(done) = done
                        && let Some(destination) = in_flight.finish(&done.id)
                    {
                        breakers.record(&destination, done.answered, self.clock.now());
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
        // Let the attempts in flight finish and be recorded before the store closes.
        while attempts.join_next().await.is_some() {}
    }

    /// Picks the due deliveries to attempt now, within every cap, agents in turn; defers
    /// those whose destination's breaker is open. Returns them, counted in `in_flight`.
    async fn start_due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        in_flight: &mut InFlight,
        breakers: &mut Breakers,
        turn: &mut Option<String>,
    ) -> Vec<(Outgoing, Result<Target, Failure>)> {
        let per_agent = self.settings.max_in_flight_per_agent;
        let query = DueQuery {
            now,
            after: turn.clone(),
            per_agent,
            skip: in_flight
                .per_agent
                .iter()
                .filter(|&(_, &n)| n >= per_agent)
                .map(|(agent, _)| agent.clone())
                .collect(),
            // Enough to fill every free slot even if each agent read has its others running.
            limit: self.settings.max_in_flight + in_flight.len(),
        };
        let due = match self.store.deliveries_due(query).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook outbox");
                return Vec::new();
            }
        };
        let mut targets: HashMap<String, Result<Target, Failure>> = HashMap::new();
        let mut started = Vec::new();
        for outgoing in due {
            let delivery = &outgoing.delivery;
            if in_flight.len() >= self.settings.max_in_flight {
                break;
            }
            *turn = Some(delivery.agent_id.clone());
            if in_flight.running.contains_key(&delivery.id)
                || in_flight.of_agent(&delivery.agent_id) >= per_agent
            {
                continue;
            }
            let target = match targets.get(&delivery.agent_id) {
                Some(known) => known.clone(),
                None => {
                    let found = self.target(&delivery.agent_id).await;
                    targets.insert(delivery.agent_id.clone(), found.clone());
                    found
                }
            };
            let destination = match &target {
                // Fails at once, and for good: no cap or breaker to consult.
                Err(_) => None,
                Ok(target) => {
                    let d = &target.destination;
                    if in_flight.to(d) >= self.settings.max_in_flight_per_destination {
                        continue;
                    }
                    match breakers.admit(d, now) {
                        Admission::Go => Some(d.clone()),
                        Admission::Wait => continue,
                        Admission::Defer(until) => {
                            if let Err(e) = self.store.defer_delivery(&delivery.id, until).await {
                                tracing::warn!(delivery = %delivery.id, error = %e,
                                    "cannot defer a webhook delivery");
                            }
                            continue;
                        }
                    }
                }
            };
            // Claimed in the store, so that no other node sharing it attempts it too.
            let until = now + (self.settings.timeout + CLAIM_MARGIN);
            match self.store.claim_delivery(&delivery.id, now, until).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(delivery = %delivery.id, error = %e, "cannot claim a webhook delivery");
                    continue;
                }
            }
            let running = Running {
                agent: delivery.agent_id.clone(),
                destination,
            };
            in_flight.start(delivery.id.clone(), running);
            started.push((outgoing, target));
        }
        started
    }

    /// The agent's webhook URL, checked against the rules as they are now.
    async fn target(&self, agent: &str) -> Result<Target, Failure> {
        let found = self
            .store
            .agent(agent)
            .await
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let Some(raw_url) = found.and_then(|a| a.webhook_url) else {
            return Err(Failure::Permanent("the agent has no webhook_url".into()));
        };
        let url = self
            .settings
            .rules
            .check("webhook_url", &raw_url)
            .map_err(|e| Failure::Permanent(format!("refused: {}", e.detail)))?;
        let destination = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        Ok(Target { url, destination })
    }

    /// One attempt at one delivery, recorded.
    async fn attempt(
        self: Arc<Self>,
        outgoing: Outgoing,
        target: Result<Target, Failure>,
    ) -> Finished {
        let delivery = &outgoing.delivery;
        let result = match target {
            Ok(target) => self.send(&outgoing, target.url).await,
            Err(failure) => Err(failure),
        };
        let answered = matches!(result, Ok(_) | Err(Failure::Status(_)));
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
        crate::telemetry::webhook_attempt(outcome.name());
        if let Err(e) = self.store.finish_attempt(&delivery.id, at, outcome).await {
            tracing::error!(delivery = %delivery.id, error = %e, "cannot record a webhook attempt");
        }
        Finished {
            id: delivery.id.clone(),
            answered,
        }
    }

    /// POSTs the delivery; `Ok` with the receiver's 2xx status.
    async fn send(&self, outgoing: &Outgoing, url: url::Url) -> Result<u16, Failure> {
        let delivery = &outgoing.delivery;
        let secret = self
            .store
            .webhook_secret(&delivery.agent_id, None)
            .await
            .map_err(|e| Failure::Internal(e.to_string()))?;
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
