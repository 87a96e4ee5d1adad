//! Chat sessions of hosted agents (public-api and daemon tasks).

use super::tables::CHATS;
use super::txn::Txn;
use crate::model::ChatTurn;
use crate::store::Result;
use redb::ReadTransaction;

pub(super) fn append_chat(txn: &Txn, agent: &str, chat: &str, turns: &[ChatTurn]) -> Result<()> {
    let first = txn.next_seqs(turns.len() as u64)?;
    let mut chats = txn.open_table(CHATS)?;
    for (seq, turn) in (first..).zip(turns) {
        chats.insert((agent, chat, seq), serde_json::to_vec(turn)?.as_slice())?;
    }
    Ok(())
}

pub(super) fn chat_turns(
    txn: &ReadTransaction,
    agent: &str,
    chat: &str,
    limit: usize,
) -> Result<Vec<ChatTurn>> {
    let chats = txn.open_table(CHATS)?;
    let range = chats.range((agent, chat, 0)..=(agent, chat, u64::MAX))?;
    let mut turns = range
        .rev()
        .take(limit)
        .map(|entry| Ok(serde_json::from_slice::<ChatTurn>(entry?.1.value())?))
        .collect::<Result<Vec<_>>>()?;
    turns.reverse();
    Ok(turns)
}
