//! A plugin's health: a circuit breaker over the faults the host sees, not the caller's.
//!
//! Only host-side faults trip it (traps, timeouts, memory exhaustion): a plugin that
//! refuses a caller's input, or answers more than its output limit for it, did its job,
//! and counting that would let any caller take an agent offline with a few bad requests.
//! After `degraded_after` consecutive faults the plugin is degraded: calls are refused
//! without running. Once a backoff has passed, one call is let through as a probe
//! (half-open); if it succeeds the plugin is healthy again, if it faults the backoff
//! doubles (up to a maximum). A reload replaces the plugin and so resets it too.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When a plugin is degraded and how long it waits before a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Consecutive host-side faults after which the plugin is degraded.
    pub degraded_after: u32,
    /// The wait before the first probe after the plugin is degraded.
    pub first_backoff: Duration,
    /// The longest wait between probes, however often they fail.
    pub max_backoff: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            degraded_after: 5,
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// Whether a call may run, and whether it is the probe of a degraded plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Call,
    Probe,
}

/// How a call ended, as far as health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to an answer (a reply, a refusal, or a reply too large for the caller).
    Answered,
    /// The host had to stop or discard it: a trap, a timeout, memory exhaustion.
    Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Healthy {
        faults: u32,
    },
    /// Refusing calls until `until`; `backoff` is the wait that led there.
    Degraded {
        until: Instant,
        backoff: Duration,
    },
    /// One probe is running; other calls are refused until it ends, or until `until` if
    /// it never does (its caller went away and the call was dropped).
    Probing {
        until: Instant,
        backoff: Duration,
    },
}

#[derive(Debug)]
pub struct Health {
    policy: HealthPolicy,
    state: Mutex<State>,
}

impl Health {
    pub fn new(policy: HealthPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(State::Healthy { faults: 0 }),
        }
    }

    /// Whether a call may run now; `None` while degraded (or while another call probes).
    pub fn admit(&self, now: Instant) -> Option<Admission> {
        let mut state = self.lock();
        match *state {
            State::Healthy { .. } => Some(Admission::Call),
            State::Degraded { until, backoff } | State::Probing { until, backoff }
                if now >= until =>
            {
                *state = State::Probing {
                    until: now + backoff,
                    backoff,
                };
                Some(Admission::Probe)
            }
            State::Degraded { .. } | State::Probing { .. } => None,
        }
    }

    /// Records how an admitted call ended; returns the change worth logging, if any.
    pub fn record(&self, admission: Admission, outcome: Outcome, now: Instant) -> Option<Change> {
        let mut state = self.lock();
        let (next, change) = match (*state, admission, outcome) {
            (State::Probing { .. }, Admission::Probe, Outcome::Answered) => {
                (State::Healthy { faults: 0 }, Some(Change::Recovered))
            }
            (State::Probing { backoff, .. }, Admission::Probe, Outcome::Fault) => {
                let backoff = (backoff * 2).min(self.policy.max_backoff);
                let until = now + backoff;
                let change = Change::ProbeFailed { retry_in: backoff };
                (State::Degraded { until, backoff }, Some(change))
            }
            (State::Healthy { .. }, _, Outcome::Answered) => (State::Healthy { faults: 0 }, None),
            (State::Healthy { faults }, _, Outcome::Fault) => {
                let faults = faults + 1;
                if faults >= self.policy.degraded_after {
                    let backoff = self.policy.first_backoff;
                    let until = now + backoff;
                    let change = Change::Degraded {
                        faults,
                        retry_in: backoff,
                    };
                    (State::Degraded { until, backoff }, Some(change))
                } else {
                    (State::Healthy { faults }, None)
                }
            }
            // A call admitted before others degraded the plugin, ending late: only the
            // probe decides whether it recovers.
            (current, _, _) => (current, None),
        };
        *state = next;
        change
    }

    /// Whether a call now would be refused, without claiming the probe: a cheap check
    /// before work that only makes sense if the call runs.
    pub fn refuses(&self, now: Instant) -> bool {
        match *self.lock() {
            State::Healthy { .. } => false,
            State::Degraded { until, .. } | State::Probing { until, .. } => now < until,
        }
    }

    /// Degraded, or probing its way back.
    pub fn is_degraded(&self) -> bool {
        !matches!(*self.lock(), State::Healthy { .. })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is one small value always left consistent: a panic elsewhere cannot
        // have left it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A change of health, for the plugin's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Degraded { faults: u32, retry_in: Duration },
    ProbeFailed { retry_in: Duration },
    Recovered,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Degraded { faults, retry_in } => write!(
                f,
                "marked degraded after {faults} consecutive faults; a probe call will be let through in {} s",
                retry_in.as_secs_f64()
            ),
            Change::ProbeFailed { retry_in } => write!(
                f,
                "the probe call failed; still degraded, next probe in {} s",
                retry_in.as_secs_f64()
            ),
            Change::Recovered => write!(f, "the probe call succeeded; no longer degraded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn health() -> Health {
        Health::new(HealthPolicy {
            degraded_after: 3,
            first_backoff: 10 * SECOND,
            max_backoff: 25 * SECOND,
        })
    }

    fn trip(h: &Health, now: Instant) {
        for _ in 0..3 {
            call(h, now, Outcome::Fault);
        }
    }

    fn call(h: &Health, now: Instant, outcome: Outcome) -> Option<Change> {
        let admission = h.admit(now).expect("admitted");
        h.record(admission, outcome, now)
    }

    #[test]
    fn only_consecutive_faults_degrade() {
        let h = health();
        let t = Instant::now();
        for _ in 0..5 {
            call(&h, t, Outcome::Fault);
            call(&h, t, Outcome::Fault);
            assert_eq!(call(&h, t, Outcome::Answered), None);
        }
        assert!(!h.is_degraded());
        call(&h, t, Outcome::Fault);
        call(&h, t, Outcome::Fault);
        let change = call(&h, t, Outcome::Fault);
        assert_eq!(
            change,
            Some(Change::Degraded {
                faults: 3,
                retry_in: 10 * SECOND
            })
        );
        assert!(h.is_degraded());
        assert!(h.refuses(t + 9 * SECOND));
        assert_eq!(h.admit(t + 9 * SECOND), None);
        assert!(!h.refuses(t + 10 * SECOND), "the probe is due");
    }

    #[test]
    fn a_good_probe_after_the_backoff_recovers() {
        let h = health();
        let t = Instant::now();
        trip(&h, t);
        let probe_at = t + 10 * SECOND;
        assert_eq!(h.admit(probe_at), Some(Admission::Probe));
        // While the probe runs, every other call is still refused.
        assert_eq!(h.admit(probe_at), None);
        assert_eq!(
            h.record(Admission::Probe, Outcome::Answered, probe_at),
            Some(Change::Recovered)
        );
        assert!(!h.is_degraded());
        assert_eq!(h.admit(probe_at), Some(Admission::Call));
    }

    #[test]
    fn a_failed_probe_doubles_the_backoff_up_to_the_maximum() {
        let h = health();
        let mut t = Instant::now();
        trip(&h, t);
        for expected in [20, 25, 25] {
            t += 25 * SECOND;
            assert_eq!(
                call(&h, t, Outcome::Fault),
                Some(Change::ProbeFailed {
                    retry_in: expected * SECOND
                })
            );
            assert_eq!(h.admit(t + (expected - 1) * SECOND), None);
        }
    }

    #[test]
    fn a_probe_that_never_ends_is_replaced_after_the_backoff() {
        let h = health();
        let t = Instant::now();
        trip(&h, t);
        assert_eq!(h.admit(t + 10 * SECOND), Some(Admission::Probe));
        assert_eq!(h.admit(t + 19 * SECOND), None);
        assert_eq!(h.admit(t + 20 * SECOND), Some(Admission::Probe));
    }

    #[test]
    fn late_calls_admitted_before_the_trip_do_not_decide() {
        let h = health();
        let t = Instant::now();
        let early = h.admit(t).unwrap();
        trip(&h, t);
        assert_eq!(h.record(early, Outcome::Answered, t), None);
        assert!(h.is_degraded());
    }
}
