//! A2A tasks, kept under their token so a token reads only its own.

use super::db::{self, Conn, doc, docs, json, nanos, require};
use crate::model::A2aTask;
use crate::store::{Rejection, Result};

pub(super) async fn insert_task(c: &impl Conn, task: A2aTask) -> Result<A2aTask> {
    // A concurrent insert of the same message (on any node) waits for this one, then finds it.
    let inserted = db::exec(
        c,
        "INSERT INTO a2a_tasks (token_id, id, agent, message_id, created_at_ns, doc)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (token_id, agent, message_id) DO NOTHING RETURNING 1",
        &[
            &task.token_id,
            &task.id,
            &task.agent,
            &task.message_id,
            &nanos(task.created_at),
            &json(&task)?,
        ],
    )
    .await?;
    if inserted > 0 {
        return Ok(task);
    }
    let first = db::row(
        c,
        "SELECT doc FROM a2a_tasks WHERE token_id = $1 AND agent = $2 AND message_id = $3",
        &[&task.token_id, &task.agent, &task.message_id],
    )
    .await?;
    doc(&require(first)?, 0)
}

pub(super) async fn update_task(c: &impl Conn, task: &A2aTask) -> Result<()> {
    let updated = db::exec(
        c,
        "UPDATE a2a_tasks SET doc = $3 WHERE token_id = $1 AND id = $2 RETURNING 1",
        &[&task.token_id, &task.id, &json(task)?],
    )
    .await?;
    if updated == 0 {
        return Err(Rejection::NotFound.into());
    }
    Ok(())
}

pub(super) async fn task(c: &impl Conn, token_id: &str, id: &str) -> Result<Option<A2aTask>> {
    let row = db::row(
        c,
        "SELECT doc FROM a2a_tasks WHERE token_id = $1 AND id = $2",
        &[&token_id, &id],
    )
    .await?;
    row.map(|r| doc(&r, 0)).transpose()
}

pub(super) async fn tasks(c: &impl Conn, token_id: &str, agent: &str) -> Result<Vec<A2aTask>> {
    docs(
        &db::rows(
            c,
            "SELECT doc FROM a2a_tasks WHERE token_id = $1 AND agent = $2
             ORDER BY created_at_ns DESC, id DESC",
            &[&token_id, &agent],
        )
        .await?,
    )
}

pub(super) async fn working_tasks(c: &impl Conn) -> Result<Vec<A2aTask>> {
    let working = "SELECT doc FROM a2a_tasks WHERE doc::jsonb ->> 'state' = 'working'";
    docs(&db::rows(c, working, &[]).await?)
}
