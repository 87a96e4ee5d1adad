//! Invites and the connections they open.

use super::tables::{AGENT_CONNECTIONS, CONNECTIONS, INVITES, get_json, put_json, require};
use crate::model::*;
use crate::store::{Rejection, Result};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

pub(super) fn insert_invite(txn: &WriteTransaction, invite: &Invite) -> Result<()> {
    put_json(&mut txn.open_table(INVITES)?, &invite.code, invite)
}

pub(super) fn invite(txn: &ReadTransaction, code: &str) -> Result<Option<Invite>> {
    get_json(&txn.open_table(INVITES)?, code)
}

pub(super) fn accept_invite(
    txn: &WriteTransaction,
    code: &str,
    connection: Connection,
) -> Result<Connection> {
    let mut invites = txn.open_table(INVITES)?;
    let mut invite: Invite = require(get_json(&invites, code)?)?;
    if invite.used_by.is_some() {
        return Err(Rejection::InviteUsed.into());
    }
    let [inviter, acceptor] = &connection.agents;
    let mut connections = txn.open_table(CONNECTIONS)?;
    let mut index = txn.open_multimap_table(AGENT_CONNECTIONS)?;
    let already = connections_in(&connections, &index, inviter)?
        .iter()
        .any(|c| c.is_active() && c.involves(acceptor));
    if already {
        return Err(Rejection::AlreadyConnected.into());
    }
    invite.used_by = Some(acceptor.clone());
    put_json(&mut invites, code, &invite)?;
    put_json(&mut connections, &connection.id, &connection)?;
    index.insert(inviter.as_str(), connection.id.as_str())?;
    index.insert(acceptor.as_str(), connection.id.as_str())?;
    Ok(connection)
}

pub(super) fn connection(txn: &ReadTransaction, id: &str) -> Result<Option<Connection>> {
    get_json(&txn.open_table(CONNECTIONS)?, id)
}

pub(super) fn connections_of(txn: &ReadTransaction, agent: &str) -> Result<Vec<Connection>> {
    connections_in(
        &txn.open_table(CONNECTIONS)?,
        &txn.open_multimap_table(AGENT_CONNECTIONS)?,
        agent,
    )
}

fn connections_in(
    connections: &impl ReadableTable<&'static str, &'static [u8]>,
    index: &impl redb::ReadableMultimapTable<&'static str, &'static str>,
    agent: &str,
) -> Result<Vec<Connection>> {
    let mut out = Vec::new();
    for id in index.get(agent)? {
        if let Some(c) = get_json(connections, id?.value())? {
            out.push(c);
        }
    }
    Ok(out)
}

pub(super) fn remove_connection(txn: &WriteTransaction, id: &str) -> Result<()> {
    let mut connections = txn.open_table(CONNECTIONS)?;
    let mut connection: Connection = require(get_json(&connections, id)?)?;
    connection.status = ConnectionStatus::Removed;
    put_json(&mut connections, id, &connection)
}

pub(super) fn set_level(
    txn: &WriteTransaction,
    id: &str,
    agent: &str,
    category: Category,
    level: Level,
) -> Result<Connection> {
    let mut connections = txn.open_table(CONNECTIONS)?;
    let mut connection: Connection = require(get_json(&connections, id)?)?;
    if !connection.is_active() {
        return Err(Rejection::ConnectionInactive.into());
    }
    require(connection.permissions.get_mut(agent))?.set(category, level);
    put_json(&mut connections, id, &connection)?;
    Ok(connection)
}
