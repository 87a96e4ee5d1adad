//! Plugin memory: a small key-value space per agent, with a key quota.

use super::tables::MEMORY;
use crate::store::{Rejection, Result};
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
    key: &str,
    value: &str,
    max_keys: usize,
) -> Result<()> {
    let mut memory = txn.open_table(MEMORY)?;
    if memory.get((agent, key))?.is_none() {
        let held = memory
            .range((agent, "")..)?
            .take_while(|e| e.as_ref().is_ok_and(|(k, _)| k.value().0 == agent));
        if held.count() >= max_keys {
            return Err(Rejection::QuotaExceeded.into());
        }
    }
    memory.insert((agent, key), value)?;
    Ok(())
}

pub(super) fn delete(txn: &WriteTransaction, agent: &str, key: &str) -> Result<bool> {
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
