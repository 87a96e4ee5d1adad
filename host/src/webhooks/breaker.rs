//! A circuit breaker per destination (a receiver's `host:port`), so that a receiver that
//! does not answer stops costing delivery slots: after `failures` attempts in a row without
//! an answer it is left alone for `cool_down` (its due deliveries are deferred to then, not
//! attempted and not lost); then one probe goes through, and its answer closes the breaker
//! or its silence opens it again.
//!
//! Only silence counts (refused connections, timeouts, resets): a receiver that answers,
//! even with an error status, costs one quick request and is left to the retry schedule.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Unanswered attempts in a row that open the breaker.
    pub failures: u32,
    /// How long it stays open before a probe is let through.
    pub cool_down: Duration,
}

/// What to do with a due delivery to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Attempt it now.
    Go,
    /// Leave it due: the probe is in flight.
    Wait,
    /// Move it to this time: the breaker is open until then.
    Defer(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: DateTime<Utc>,
    },
    /// The cool-down is over and one probe is in flight.
    Probing,
}

/// The breakers of every destination that has failed lately; a destination that answers is
/// forgotten, so the map holds only failing receivers.
#[derive(Debug)]
pub struct Breakers {
    settings: BreakerSettings,
    states: HashMap<String, State>,
}

impl Breakers {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            states: HashMap::new(),
        }
    }

    /// Whether a delivery to `destination` may be attempted at `now`; `Go` after the
    /// cool-down makes that attempt the probe.
    pub fn admit(&mut self, destination: &str, now: DateTime<Utc>) -> Admission {
        let Some(state) = self.states.get_mut(destination) else {
            return Admission::Go;
        };
        match *state {
            State::Closed { .. } => Admission::Go,
            State::Open { until } if now < until => Admission::Defer(until),
            State::Open { .. } => {
                *state = State::Probing;
                Admission::Go
            }
            State::Probing => Admission::Wait,
        }
    }

    /// Records how an attempt at `destination` ended: `answered` if the receiver sent any
    /// HTTP response.
    pub fn record(&mut self, destination: &str, answered: bool, now: DateTime<Utc>) {
        if answered {
            self.states.remove(destination);
            return;
        }
        let open = State::Open {
            until: now + chrono::Duration::from_std(self.settings.cool_down).unwrap_or_default(),
        };
        let state = self
            .states
            .entry(destination.to_owned())
            .or_insert(State::Closed { failures: 0 });
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.settings.failures => State::Closed {
                failures: failures + 1,
            },
            // Attempts started before the breaker opened keep it open, not longer.
            State::Open { until } => State::Open { until },
            State::Closed { .. } | State::Probing => open,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closed until `failures` silences in a row, open (deferring) for the cool-down, then
    /// one probe at a time: silence opens it again, an answer closes it.
    #[test]
    fn opens_defers_probes_and_closes() {
        let mut b = Breakers::new(BreakerSettings {
            failures: 3,
            cool_down: Duration::from_secs(10),
        });
        let t0 = DateTime::from_timestamp(1_000, 0).unwrap();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let host = "hooks.example.com:443";
        b.record(host, false, at(0));
        b.record(host, false, at(1));
        assert_eq!(b.admit(host, at(1)), Admission::Go);
        b.record(host, true, at(2));
        b.record(host, false, at(3));
        b.record(host, false, at(4));
        assert_eq!(
            b.admit(host, at(4)),
            Admission::Go,
            "an answer reset the count"
        );
        b.record(host, false, at(5));
        assert_eq!(b.admit(host, at(6)), Admission::Defer(at(15)));
        assert_eq!(b.admit("other:443", at(6)), Admission::Go);
        b.record(host, false, at(7));
        assert_eq!(b.admit(host, at(14)), Admission::Defer(at(15)));
        assert_eq!(b.admit(host, at(15)), Admission::Go, "the probe");
        assert_eq!(b.admit(host, at(15)), Admission::Wait);
        b.record(host, false, at(16));
        assert_eq!(b.admit(host, at(17)), Admission::Defer(at(26)));
        assert_eq!(b.admit(host, at(26)), Admission::Go);
        b.record(host, true, at(27));
        assert_eq!(b.admit(host, at(27)), Admission::Go);
        assert_eq!(b.admit(host, at(27)), Admission::Go);
    }
}
