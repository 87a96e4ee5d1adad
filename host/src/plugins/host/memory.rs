//! `memory`: a small key-value space per agent, kept in the store, bounded in key size,
//! value size and number of keys.

use super::{CallState, Outcome, bounded, store_failed};
use crate::plugins::bindings::responder::agentx::plugin::{memory, types::HostError};
use crate::plugins::manifest::Capability;
use crate::store::{MemoryQuota, Store};
use std::sync::Arc;

const MAX_MEMORY_KEY_BYTES: usize = 256;
const MAX_MEMORY_VALUE_BYTES: usize = 64 * 1024;
/// Keys one agent may keep in memory, and how many of them one conversation (a chat or a
/// thread) may create: a tenth, so one caller cannot take what every caller shares.
const QUOTA: MemoryQuota = MemoryQuota {
    per_agent: 1000,
    per_conversation: 100,
};

impl CallState {
    /// Runs a memory operation on this agent's memory, if granted, within the I/O budget.
    async fn with_memory<T, F, Fut>(&self, op: F) -> Result<T, HostError>
    where
        F: FnOnce(Arc<dyn Store>, String) -> Fut,
        Fut: Future<Output = crate::store::Result<T>>,
    {
        self.require(Capability::Memory)?;
        let io = op(self.services.store.clone(), self.conversation.agent.clone());
        bounded(async move { io.await.map_err(store_failed) }).await
    }
}

impl memory::Host for CallState {
    async fn get(&mut self, key: String) -> Outcome<Option<String>> {
        Ok(self
            .with_memory(|store, agent| async move { store.memory_get(&agent, &key).await })
            .await)
    }

    async fn set(&mut self, key: String, value: String) -> Outcome<()> {
        if let Err(e) = self.require(Capability::Memory) {
            return Ok(Err(e));
        }
        if key.is_empty() || key.len() > MAX_MEMORY_KEY_BYTES {
            return Ok(Err(HostError::Invalid(format!(
                "memory keys are 1 to {MAX_MEMORY_KEY_BYTES} bytes"
            ))));
        }
        if value.len() > MAX_MEMORY_VALUE_BYTES {
            return Ok(Err(HostError::TooLarge));
        }
        let conversation = self.conversation.session.quota_key();
        Ok(self
            .with_memory(|store, agent| async move {
                store
                    .memory_set(&agent, &conversation, &key, &value, QUOTA)
                    .await
            })
            .await)
    }

    async fn delete(&mut self, key: String) -> Outcome<bool> {
        Ok(self
            .with_memory(|store, agent| async move { store.memory_delete(&agent, &key).await })
            .await)
    }

    async fn list_keys(&mut self, prefix: String) -> Outcome<Vec<String>> {
        Ok(self
            .with_memory(|store, agent| async move { store.memory_keys(&agent, &prefix).await })
            .await)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Session, testing::call_state};
    use super::*;
    use memory::Host;

    #[tokio::test]
    async fn every_operation_is_denied_without_the_grant() {
        let mut h = call_state(&[], Session::None);
        let s = &mut h.state;
        assert!(matches!(
            s.get("k".into()).await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(matches!(
            s.set("k".into(), "v".into()).await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(matches!(
            s.delete("k".into()).await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(matches!(
            s.list_keys(String::new()).await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(h.logged_denial());
        let stored = h.state.services.store.memory_keys("agent-a", "").await;
        assert!(stored.unwrap().is_empty());
    }

    #[tokio::test]
    async fn keys_and_values_are_bounded() {
        let mut h = call_state(&[Capability::Memory], Session::None);
        let s = &mut h.state;
        for key in [String::new(), "k".repeat(MAX_MEMORY_KEY_BYTES + 1)] {
            assert!(matches!(
                s.set(key, "v".into()).await.unwrap(),
                Err(HostError::Invalid(_))
            ));
        }
        let max_key = "k".repeat(MAX_MEMORY_KEY_BYTES);
        let max_value = "v".repeat(MAX_MEMORY_VALUE_BYTES);
        s.set(max_key.clone(), max_value.clone())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.get(max_key).await.unwrap().unwrap(), Some(max_value));
        assert!(matches!(
            s.set("k".into(), "v".repeat(MAX_MEMORY_VALUE_BYTES + 1))
                .await
                .unwrap(),
            Err(HostError::TooLarge)
        ));
    }

    #[tokio::test]
    async fn the_key_quota_answers_too_large_and_overwrites_still_pass() {
        let mut h = call_state(&[Capability::Memory], Session::Chat("mine".into()));
        let store = h.state.services.store.clone();
        // Concurrent, so they share group commits; spread over conversations, so only the
        // agent's quota is reached.
        let fill = (0..QUOTA.per_agent).map(|i| {
            let store = store.clone();
            async move {
                let key = format!("k{i:04}");
                let conversation = format!("chat:{}", i % 10);
                store
                    .memory_set("agent-a", &conversation, &key, "v", QUOTA)
                    .await
            }
        });
        for done in futures::future::join_all(fill).await {
            done.unwrap();
        }
        let s = &mut h.state;
        assert!(matches!(
            s.set("one-more".into(), "v".into()).await.unwrap(),
            Err(HostError::TooLarge)
        ));
        s.set("k0000".into(), "w".into()).await.unwrap().unwrap();
        assert!(s.delete("k0000".into()).await.unwrap().unwrap());
        assert_eq!(s.list_keys("k000".into()).await.unwrap().unwrap().len(), 9);
    }

    #[tokio::test]
    async fn one_conversation_creates_at_most_its_share_of_keys() {
        let mut h = call_state(&[Capability::Memory], Session::Chat("greedy".into()));
        let s = &mut h.state;
        for i in 0..QUOTA.per_conversation {
            s.set(format!("g{i}"), "v".into()).await.unwrap().unwrap();
        }
        assert!(matches!(
            s.set("one-more".into(), "v".into()).await.unwrap(),
            Err(HostError::TooLarge)
        ));
        // Its own keys can still be rewritten, and freeing one makes room again.
        s.set("g0".into(), "w".into()).await.unwrap().unwrap();
        assert!(s.delete("g1".into()).await.unwrap().unwrap());
        s.set("one-more".into(), "v".into()).await.unwrap().unwrap();

        // Another conversation of the same agent still has its whole share, and a thread
        // whose id equals the chat id is another conversation.
        let mut other = call_state(&[Capability::Memory], Session::Thread("greedy".into()));
        other.state.services = h.state.services.clone();
        other
            .state
            .set("t0".into(), "v".into())
            .await
            .unwrap()
            .unwrap();
    }
}
