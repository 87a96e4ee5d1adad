//! `log`: lines the plugin writes, kept in its log (cut to a bounded length there) and
//! mirrored into `tracing`.

use super::CallState;
use super::limits::{LogLine, MAX_LOG_LINES_PER_CALL};
use crate::plugins::bindings::responder::agentx::plugin::log;

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        match self.limits.next_log_line() {
            LogLine::Keep => {}
            LogLine::DropFromNowOn => {
                let note = format!(
                    "more than {MAX_LOG_LINES_PER_CALL} log lines in one call: the rest of this call's are dropped"
                );
                self.log.push("warn", "host", note);
                return Ok(());
            }
            LogLine::Drop => return Ok(()),
        }
        let (agent, plugin) = (&self.conversation.agent, &*self.plugin);
        let level = match level {
            log::Level::Trace => {
                tracing::trace!(agent, plugin, "{message}");
                "trace"
            }
            log::Level::Debug => {
                tracing::debug!(agent, plugin, "{message}");
                "debug"
            }
            log::Level::Info => {
                tracing::info!(agent, plugin, "{message}");
                "info"
            }
            log::Level::Warn => {
                tracing::warn!(agent, plugin, "{message}");
                "warn"
            }
            log::Level::Error => {
                tracing::error!(agent, plugin, "{message}");
                "error"
            }
        };
        self.log.push(level, "plugin", message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Session, testing::call_state};
    use super::*;
    use crate::plugins::log::MAX_LINE_BYTES;

    #[tokio::test]
    async fn lines_land_in_the_plugin_log_with_their_level_and_bounded() {
        let mut h = call_state(&[], Session::None);
        log::Host::log(&mut h.state, log::Level::Warn, "careful".into())
            .await
            .unwrap();
        let long = "x".repeat(MAX_LINE_BYTES * 2);
        log::Host::log(&mut h.state, log::Level::Info, long)
            .await
            .unwrap();
        let entries = h.state.log.entries();
        assert_eq!(
            (
                entries[0].level,
                entries[0].source,
                entries[0].message.as_str()
            ),
            ("warn", "plugin", "careful")
        );
        assert!(entries[1].message.len() <= MAX_LINE_BYTES + '…'.len_utf8());
    }

    #[tokio::test]
    async fn a_call_logging_in_a_loop_keeps_its_budget_and_one_note() {
        let mut h = call_state(&[], Session::None);
        for i in 0..10_000 {
            log::Host::log(&mut h.state, log::Level::Info, format!("line {i}"))
                .await
                .unwrap();
        }
        let entries = h.state.log.entries();
        let from_plugin = entries.iter().filter(|e| e.source == "plugin").count();
        let notes: Vec<_> = entries.iter().filter(|e| e.source == "host").collect();
        assert_eq!(from_plugin, MAX_LOG_LINES_PER_CALL as usize);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].message.contains("dropped"));
    }
}
