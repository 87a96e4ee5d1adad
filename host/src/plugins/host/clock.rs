//! `clock`: the host's wall time.

use super::{CallState, Outcome};
use crate::plugins::bindings::responder::agentx::plugin::clock;
use crate::plugins::manifest::Capability;

impl clock::Host for CallState {
    async fn now(&mut self) -> Outcome<clock::Datetime> {
        Ok(self.require(Capability::Clock).map(|()| {
            let now = self.services.clock.now();
            clock::Datetime {
                seconds: now.timestamp().max(0) as u64,
                nanoseconds: now.timestamp_subsec_nanos(),
            }
        }))
    }

    async fn now_iso8601(&mut self) -> Outcome<String> {
        Ok(self
            .require(Capability::Clock)
            .map(|()| crate::model::time::rfc3339(&self.services.clock.now())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Session, testing::call_state};
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::plugins::bindings::responder::agentx::plugin::types::HostError;
    use clock::Host;
    use std::sync::Arc;

    #[tokio::test]
    async fn denied_without_the_grant() {
        let mut h = call_state(&[], Session::None);
        assert!(matches!(
            h.state.now().await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(matches!(
            h.state.now_iso8601().await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(h.logged_denial());
    }

    #[tokio::test]
    async fn reads_the_hosts_clock() {
        let mut h = call_state(&[Capability::Clock], Session::None);
        let clock = Arc::new(ManualClock::default());
        clock.advance(chrono::Duration::days(400));
        h.state.services.clock = clock.clone();
        let now = h.state.now().await.unwrap().unwrap();
        let expected = clock.now().timestamp() as u64;
        assert!(now.seconds.abs_diff(expected) <= 1);
        let iso = h.state.now_iso8601().await.unwrap().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(&iso).unwrap();
        assert!(parsed.timestamp().abs_diff(clock.now().timestamp()) <= 1);
    }
}
