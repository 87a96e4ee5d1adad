//! Plugin memory: a small key-value space per agent, with key quotas per agent and per
//! conversation.

use super::tables::{MEMORY, MEMORY_OWNERS};
use crate::store::{MemoryQuota, Rejection, Result};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

pub(super) fn get(txn: &ReadTransaction, agent: &str, key: &str) -> Result<Option<String>> {
    Ok(txn
        .open_table(MEMORY)?
        .get((agent, key))?
        .map(|v| v.value().to_owned()))
}

pub(super) fn set(
    txn: &WriteTransaction,
    agent: &str,
    conversation: &str,
    key: &str,
    value: &str,
    quota: MemoryQuota,
) -> Result<()> {
    let mut memory = txn.open_table(MEMORY)?;
    if memory.get((agent, key))?.is_none() {
        let mut owners = txn.open_table(MEMORY_OWNERS)?;
        let held = memory
            .range((agent, "")..)?
            .take_while(|e| e.as_ref().is_ok_and(|(k, _)| k.value().0 == agent))
            .count();
        let mut by_conversation = 0;
        for entry in owners.range((agent, "")..)? {
            let (k, owner) = entry?;
            if k.value().0 != agent {
                break;
            }
            by_conversation += usize::from(owner.value() == conversation);
        }
        if held >= quota.per_agent || by_conversation >= quota.per_conversation {
            return Err(Rejection::QuotaExceeded.into());
        }
        owners.insert((agent, key), conversation)?;
    }
    memory.insert((agent, key), value)?;
    Ok(())
}

pub(super) fn delete(txn: &WriteTransaction, agent: &str, key: &str) -> Result<bool> {
    txn.open_table(MEMORY_OWNERS)?.remove((agent, key))?;
    Ok(txn.open_table(MEMORY)?.remove((agent, key))?.is_some())
}

pub(super) fn keys(txn: &ReadTransaction, agent: &str, prefix: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for entry in txn.open_table(MEMORY)?.range((agent, prefix)..)? {
        let (k, _) = entry?;
        let (owner, key) = k.value();
        if owner != agent || !key.starts_with(prefix) {
            break;
        }
        keys.push(key.to_owned());
    }
    Ok(keys)
}
