//! What one call may consume besides time: linear memory, all of the component's memories
//! together, and log lines.
//!
//! wasmtime's `StoreLimits` caps each linear memory on its own, while a component may
//! have several (a JavaScript guest has three, and the pool allows four): a cap per memory
//! would let such a guest use four times its grant. Log lines are counted so that a guest
//! logging in a loop fills neither the operator's log nor `tracing`'s output.

use wasmtime::ResourceLimiter;

/// Log lines one call may write; later ones are dropped, after a note saying so.
pub const MAX_LOG_LINES_PER_CALL: u32 = 100;

pub struct CallLimits {
    memory_limit: usize,
    memory_used: usize,
    log_lines: u32,
}

/// What to do with the next log line of a call.
#[derive(Debug, PartialEq, Eq)]
pub enum LogLine {
    Keep,
    /// The first line over the budget: drop it and note that the rest are dropped too.
    DropFromNowOn,
    Drop,
}

impl CallLimits {
    pub fn new(memory_limit: usize) -> Self {
        Self {
            memory_limit,
            memory_used: 0,
            log_lines: 0,
        }
    }

    pub fn next_log_line(&mut self) -> LogLine {
        self.log_lines = self.log_lines.saturating_add(1);
        match self.log_lines {
            n if n <= MAX_LOG_LINES_PER_CALL => LogLine::Keep,
            n if n == MAX_LOG_LINES_PER_CALL + 1 => LogLine::DropFromNowOn,
            _ => LogLine::Drop,
        }
    }
}

impl ResourceLimiter for CallLimits {
    /// Called for every memory's creation (from 0) and growth; memories are never freed
    /// before the call's store is dropped, so the sum only grows.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let used = self.memory_used + desired.saturating_sub(current);
        if used > self.memory_limit {
            // An error, not `false`: the guest traps at once instead of seeing a failed
            // grow it might retry (as `trap_on_grow_failure` did).
            return Err(wasmtime::format_err!(
                "the plugin's linear memory limit of {} MiB is reached (all its memories together)",
                self.memory_limit >> 20
            ));
        }
        self.memory_used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables are bounded by the pooling allocator's per-table element cap.
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_memory_limit_counts_every_memory_together() {
        let mut limits = CallLimits::new(4 * MIB);
        // Three memories of 1 MiB each are created; the first then grows by 1 MiB.
        for _ in 0..3 {
            assert!(limits.memory_growing(0, MIB, None).unwrap());
        }
        assert!(limits.memory_growing(MIB, 2 * MIB, None).unwrap());
        // Any memory growing further passes the total, though each is under 4 MiB.
        let over = limits.memory_growing(MIB, 2 * MIB, None).unwrap_err();
        assert!(over.to_string().contains("memory limit of 4 MiB"), "{over}");
    }

    #[test]
    fn log_lines_past_the_budget_are_dropped_after_one_note() {
        let mut limits = CallLimits::new(MIB);
        for _ in 0..MAX_LOG_LINES_PER_CALL {
            assert_eq!(limits.next_log_line(), LogLine::Keep);
        }
        assert_eq!(limits.next_log_line(), LogLine::DropFromNowOn);
        for _ in 0..1000 {
            assert_eq!(limits.next_log_line(), LogLine::Drop);
        }
    }
}
