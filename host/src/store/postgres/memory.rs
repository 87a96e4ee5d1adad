//! Plugin memory: a small key-value space per agent, with key quotas per agent and per
//! conversation.

use super::db::{self, Conn};
use crate::store::{MemoryQuota, Rejection, Result};
use deadpool_postgres::Transaction;

pub(super) async fn get(c: &impl Conn, agent: &str, key: &str) -> Result<Option<String>> {
    let row = db::row(
        c,
        "SELECT value FROM plugin_memory WHERE agent_id = $1 AND key = $2",
        &[&agent, &key],
    )
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(super) async fn set(
    tx: &Transaction<'_>,
    agent: &str,
    conversation: &str,
    key: &str,
    value: &str,
    quota: MemoryQuota,
) -> Result<()> {
    // The agent's lock: two new keys set at once (a hosted agent may answer on two
    // nodes) cannot both pass the quota.
    db::exec(
        tx,
        "SELECT pg_advisory_xact_lock(hashtextextended('memory:' || $1, 0))",
        &[&agent],
    )
    .await?;
    let row = db::row(
        tx,
        "SELECT EXISTS (SELECT 1 FROM plugin_memory WHERE agent_id = $1 AND key = $2),
                (SELECT count(*) FROM plugin_memory WHERE agent_id = $1),
                (SELECT count(*) FROM plugin_memory WHERE agent_id = $1 AND conversation = $3)",
        &[&agent, &key, &conversation],
    )
    .await?;
    if let Some(row) = row {
        let exists: bool = row.try_get(0)?;
        let (held, by_conversation): (i64, i64) = (row.try_get(1)?, row.try_get(2)?);
        if !exists
            && (held as usize >= quota.per_agent
                || by_conversation as usize >= quota.per_conversation)
        {
            return Err(Rejection::QuotaExceeded.into());
        }
    }
    // An overwrite keeps the key's first conversation, which its quota counts.
    db::exec(
        tx,
        "INSERT INTO plugin_memory (agent_id, key, conversation, value) VALUES ($1, $2, $3, $4)
         ON CONFLICT (agent_id, key) DO UPDATE SET value = EXCLUDED.value",
        &[&agent, &key, &conversation, &value],
    )
    .await?;
    Ok(())
}

pub(super) async fn delete(c: &impl Conn, agent: &str, key: &str) -> Result<bool> {
    let deleted = db::exec(
        c,
        "DELETE FROM plugin_memory WHERE agent_id = $1 AND key = $2 RETURNING 1",
        &[&agent, &key],
    )
    .await?;
    Ok(deleted > 0)
}

pub(super) async fn keys(c: &impl Conn, agent: &str, prefix: &str) -> Result<Vec<String>> {
    let rows = db::rows(
        c,
        "SELECT key FROM plugin_memory WHERE agent_id = $1 AND starts_with(key, $2) ORDER BY key",
        &[&agent, &prefix],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}
