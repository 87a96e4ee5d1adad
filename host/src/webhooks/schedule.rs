//! When to try a failed delivery again, and when to give up.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// Exponential backoff with jitter, bounded in total time.
#[derive(Debug, Clone, Copy)]
pub struct RetrySchedule {
    /// The wait after the first failure.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// How long after its window starts (queued or replayed) a delivery is retried.
    pub window: Duration,
}

impl RetrySchedule {
    /// When to try again after the `attempts`-th failed attempt at `now`, or `None` to give
    /// up because that would fall outside the window. `jitter` in `[0, 1)` spreads retries
    /// of many deliveries that failed together (a receiver coming back is not flooded).
    pub fn next(
        &self,
        attempts: u32,
        now: DateTime<Utc>,
        window_start: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let doubled = self
            .first_delay
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let ceiling = doubled.min(self.max_delay);
        // Between half the ceiling and the ceiling: never a thundering herd, never much
        // sooner than planned.
        let delay = ceiling.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0);
        let at = now + chrono::Duration::from_std(delay).ok()?;
        let end = window_start + chrono::Duration::from_std(self.window).ok()?;
        (at <= end).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delays double from the first, are capped, are jittered within half of the ceiling,
    /// and stop at the end of the window.
    #[test]
    fn doubles_caps_jitters_and_gives_up() {
        let s = RetrySchedule {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            window: Duration::from_secs(60),
        };
        let start = DateTime::from_timestamp(1_000, 0).unwrap();
        let wait = |attempts, jitter| {
            (s.next(attempts, start, start, jitter).unwrap() - start).num_milliseconds()
        };
        assert_eq!(wait(1, 1.0), 1_000);
        assert_eq!(wait(1, 0.0), 500);
        assert_eq!(wait(3, 1.0), 4_000);
        assert_eq!(wait(10, 1.0), 8_000);
        assert_eq!(wait(40, 1.0), 8_000);
        let late = start + chrono::Duration::seconds(55);
        assert_eq!(s.next(5, late, start, 1.0), None);
    }
}
