//! Chat sessions of hosted agents (public-api and daemon tasks).

use super::db::{self, Conn, docs, json};
use crate::model::ChatTurn;
use crate::store::Result;
use deadpool_postgres::Transaction;

pub(super) async fn append_chat(
    tx: &Transaction<'_>,
    agent: &str,
    chat: &str,
    turns: &[ChatTurn],
) -> Result<()> {
    for turn in turns {
        db::exec(
            tx,
            "INSERT INTO chat_turns (agent_id, chat_id, doc) VALUES ($1, $2, $3)",
            &[&agent, &chat, &json(turn)?],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn chat_turns(
    c: &impl Conn,
    agent: &str,
    chat: &str,
    limit: usize,
) -> Result<Vec<ChatTurn>> {
    docs(
        &db::rows(
            c,
            "SELECT doc FROM (SELECT doc, seq FROM chat_turns WHERE agent_id = $1 AND chat_id = $2
                              ORDER BY seq DESC LIMIT $3) last
             ORDER BY seq",
            &[&agent, &chat, &(limit as i64)],
        )
        .await?,
    )
}
