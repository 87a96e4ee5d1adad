//! Invites and the connections they open.

use super::db::{self, Conn, doc, docs, json, require};
use crate::model::*;
use crate::store::{Rejection, Result};
use deadpool_postgres::Transaction;

pub(super) async fn insert_invite(c: &impl Conn, invite: &Invite) -> Result<()> {
    db::exec(
        c,
        "INSERT INTO invites (code, doc) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET doc = EXCLUDED.doc",
        &[&invite.code, &json(invite)?],
    )
    .await?;
    Ok(())
}

pub(super) async fn invite(c: &impl Conn, code: &str) -> Result<Option<Invite>> {
    let row = db::row(c, "SELECT doc FROM invites WHERE code = $1", &[&code]).await?;
    row.map(|r| doc(&r, 0)).transpose()
}

pub(super) async fn accept_invite(
    tx: &Transaction<'_>,
    code: &str,
    connection: Connection,
) -> Result<Connection> {
    let row = db::row(
        tx,
        "SELECT doc FROM invites WHERE code = $1 FOR UPDATE",
        &[&code],
    )
    .await?;
    let mut invite: Invite = doc(&require(row)?, 0)?;
    if invite.used_by.is_some() {
        return Err(Rejection::InviteUsed.into());
    }
    let [inviter, acceptor] = &connection.agents;
    // Two invites between one pair accepted at once: the pair's lock makes the second
    // see the first's connection.
    let pair = if inviter < acceptor {
        format!("connect:{inviter}:{acceptor}")
    } else {
        format!("connect:{acceptor}:{inviter}")
    };
    db::exec(
        tx,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&pair],
    )
    .await?;
    let already = connections_of(tx, inviter)
        .await?
        .iter()
        .any(|c| c.is_active() && c.involves(acceptor));
    if already {
        return Err(Rejection::AlreadyConnected.into());
    }
    invite.used_by = Some(acceptor.clone());
    db::exec(
        tx,
        "UPDATE invites SET doc = $2 WHERE code = $1",
        &[&code, &json(&invite)?],
    )
    .await?;
    insert(tx, &connection).await?;
    Ok(connection)
}

/// A new connection, with the index from each of its agents to it (also what an import
/// writes).
pub(super) async fn insert(tx: &Transaction<'_>, connection: &Connection) -> Result<()> {
    let [a, b] = &connection.agents;
    db::exec(
        tx,
        "INSERT INTO connections (id, doc) VALUES ($1, $2)",
        &[&connection.id, &json(connection)?],
    )
    .await?;
    db::exec(
        tx,
        "INSERT INTO agent_connections (agent_id, connection_id) VALUES ($1, $3), ($2, $3)",
        &[a, b, &connection.id],
    )
    .await?;
    Ok(())
}

pub(super) async fn connection(c: &impl Conn, id: &str) -> Result<Option<Connection>> {
    let row = db::row(c, "SELECT doc FROM connections WHERE id = $1", &[&id]).await?;
    row.map(|r| doc(&r, 0)).transpose()
}

pub(super) async fn connections_of(c: &impl Conn, agent: &str) -> Result<Vec<Connection>> {
    docs(
        &db::rows(
            c,
            "SELECT c.doc FROM agent_connections ac JOIN connections c ON c.id = ac.connection_id
             WHERE ac.agent_id = $1 ORDER BY ac.connection_id",
            &[&agent],
        )
        .await?,
    )
}

/// The connection, locked until the transaction ends.
async fn locked(tx: &Transaction<'_>, id: &str) -> Result<Connection> {
    let row = db::row(
        tx,
        "SELECT doc FROM connections WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?;
    doc(&require(row)?, 0)
}

async fn put(tx: &Transaction<'_>, connection: &Connection) -> Result<()> {
    db::exec(
        tx,
        "UPDATE connections SET doc = $2 WHERE id = $1",
        &[&connection.id, &json(connection)?],
    )
    .await?;
    Ok(())
}

pub(super) async fn remove_connection(tx: &Transaction<'_>, id: &str) -> Result<()> {
    let mut connection = locked(tx, id).await?;
    connection.status = ConnectionStatus::Removed;
    put(tx, &connection).await
}

pub(super) async fn set_level(
    tx: &Transaction<'_>,
    id: &str,
    agent: &str,
    category: Category,
    level: Level,
) -> Result<Connection> {
    let mut connection = locked(tx, id).await?;
    if !connection.is_active() {
        return Err(Rejection::ConnectionInactive.into());
    }
    require(connection.permissions.get_mut(agent))?.set(category, level);
    put(tx, &connection).await?;
    Ok(connection)
}
