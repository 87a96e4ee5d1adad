//! Last-seen times: updated on every authenticated request, persisted in batches.
//!
//! Writing `last_seen_at` per request would put a disk write on every read-only call, and the
//! contract needs only a few seconds of precision, so touches collect in memory and a
//! background task flushes them (see [`Presence::flush`]). Readers overlay the unflushed value.

use crate::model::AgentId;
use crate::store::{Result, Store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct Presence {
    store: Arc<dyn Store>,
    // NB: std Mutex: held only to insert or swap out the map, never across an await.
    unflushed: Mutex<HashMap<AgentId, DateTime<Utc>>>,
}

impl Presence {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            unflushed: Mutex::default(),
        }
    }

    pub fn touch(&self, agent: &str, at: DateTime<Utc>) {
        let mut map = self.unflushed.lock().expect("presence lock");
        match map.get_mut(agent) {
            Some(seen) => *seen = (*seen).max(at),
            None => {
                map.insert(agent.to_owned(), at);
            }
        }
    }

    /// The freshest last-seen time: unflushed if there is one, else what the store had.
    pub fn last_seen(&self, agent: &str, stored: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let pending = self
            .unflushed
            .lock()
            .expect("presence lock")
            .get(agent)
            .copied();
        pending.max(stored)
    }

    /// Writes the collected times in one store write.
    pub async fn flush(&self) -> Result<()> {
        let batch: Vec<_> = std::mem::take(&mut *self.unflushed.lock().expect("presence lock"))
            .into_iter()
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        self.store.record_last_seen(batch).await
    }
}
