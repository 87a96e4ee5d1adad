//! A plugin's log: the last entries it wrote and the host's notes about its failures,
//! kept in memory for operators, and mirrored into `tracing`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Entries kept per loaded plugin; older ones are dropped.
const CAPACITY: usize = 200;
/// A guest log line longer than this is cut, so logging cannot be used to exhaust memory.
pub const MAX_LINE_BYTES: usize = 4096;

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub at: DateTime<Utc>,
    pub level: &'static str,
    /// `plugin` for lines the guest wrote, `host` for the host's notes (failures, denials).
    pub source: &'static str,
    pub message: String,
}

#[derive(Default)]
pub struct PluginLog {
    // NB: std Mutex: pushes and snapshots only, never held across an await.
    entries: Mutex<VecDeque<LogEntry>>,
}

impl PluginLog {
    pub fn push(&self, level: &'static str, source: &'static str, mut message: String) {
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let mut entries = self.entries.lock().expect("plugin log lock");
        if entries.len() == CAPACITY {
            entries.pop_front();
        }
        entries.push_back(LogEntry {
            at: Utc::now(),
            level,
            source,
            message,
        });
    }

    pub fn entries(&self) -> Vec<LogEntry> {
        self.entries
            .lock()
            .expect("plugin log lock")
            .iter()
            .cloned()
            .collect()
    }
}
