//! A2A tasks, keyed under their token so a token reads only its own.

use super::tables::{A2A_MESSAGES, A2A_TASKS};
use crate::model::{A2aState, A2aTask};
use crate::store::{Rejection, Result};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

pub(super) fn insert_task(txn: &WriteTransaction, task: A2aTask) -> Result<A2aTask> {
    let mut messages = txn.open_table(A2A_MESSAGES)?;
    let mut tasks = txn.open_table(A2A_TASKS)?;
    let message = (
        task.token_id.as_str(),
        task.agent.as_str(),
        task.message_id.as_str(),
    );
    if let Some(id) = messages.get(message)? {
        let key = (task.token_id.as_str(), id.value());
        if let Some(first) = tasks.get(key)? {
            return Ok(serde_json::from_slice(first.value())?);
        }
    }
    messages.insert(message, task.id.as_str())?;
    tasks.insert(
        (task.token_id.as_str(), task.id.as_str()),
        serde_json::to_vec(&task)?.as_slice(),
    )?;
    Ok(task)
}

pub(super) fn update_task(txn: &WriteTransaction, task: &A2aTask) -> Result<()> {
    let mut tasks = txn.open_table(A2A_TASKS)?;
    let key = (task.token_id.as_str(), task.id.as_str());
    if tasks.get(key)?.is_none() {
        return Err(Rejection::NotFound.into());
    }
    tasks.insert(key, serde_json::to_vec(task)?.as_slice())?;
    Ok(())
}

pub(super) fn task(txn: &ReadTransaction, token_id: &str, id: &str) -> Result<Option<A2aTask>> {
    match txn.open_table(A2A_TASKS)?.get((token_id, id))? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

pub(super) fn tasks(txn: &ReadTransaction, token_id: &str, agent: &str) -> Result<Vec<A2aTask>> {
    let table = txn.open_table(A2A_TASKS)?;
    let mut tasks = Vec::new();
    // NB: "" sorts before every id, and an id never reaches U+10FFFF's encoding.
    for entry in table.range((token_id, "")..=(token_id, "\u{10FFFF}"))? {
        let task: A2aTask = serde_json::from_slice(entry?.1.value())?;
        if task.agent == agent {
            tasks.push(task);
        }
    }
    tasks.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(tasks)
}

pub(super) fn working_tasks(txn: &ReadTransaction) -> Result<Vec<A2aTask>> {
    let mut working = Vec::new();
    for entry in txn.open_table(A2A_TASKS)?.iter()? {
        let task: A2aTask = serde_json::from_slice(entry?.1.value())?;
        if task.state == A2aState::Working {
            working.push(task);
        }
    }
    Ok(working)
}
