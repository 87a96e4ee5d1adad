//! Users, agents and their API keys; the node-wide secrets.

use super::db::{self, Conn, doc, json, nanos, require};
use crate::model::*;
use crate::store::{Page, Paged, Rejection, Result, StoreError};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

/// The named secret, made on first use; every node reads the same one.
pub(super) async fn secret(c: &impl Conn, name: &str) -> Result<Vec<u8>> {
    let made: [u8; 32] = rand::random();
    // A node starting at the same moment may insert first: then its secret is kept.
    db::exec(
        c,
        "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&name, &made.as_slice()],
    )
    .await?;
    let row = db::row(c, "SELECT value FROM secrets WHERE name = $1", &[&name]).await?;
    Ok(require(row)?.try_get(0)?)
}

pub(super) async fn insert_account(
    tx: &Transaction<'_>,
    user: &User,
    agent: &Agent,
    key_hash: [u8; 32],
) -> Result<()> {
    let email = user.email.to_lowercase();
    let claimed = db::exec(
        tx,
        "INSERT INTO emails (email, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        &[&email, &agent.id],
    )
    .await?;
    if claimed == 0 {
        return Err(Rejection::EmailTaken.into());
    }
    db::exec(
        tx,
        "INSERT INTO users (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc",
        &[&user.id, &json(user)?],
    )
    .await?;
    put_agent(tx, agent).await?;
    db::exec(
        tx,
        "INSERT INTO api_keys (agent_id, key_hash) VALUES ($1, $2)",
        &[&agent.id, &key_hash.as_slice()],
    )
    .await?;
    Ok(())
}

async fn put_agent(c: &impl Conn, agent: &Agent) -> Result<()> {
    db::exec(
        c,
        "INSERT INTO agents (id, created_at_ns, doc) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc",
        &[&agent.id, &nanos(agent.created_at), &json(agent)?],
    )
    .await?;
    Ok(())
}

/// The agent, locked until the transaction ends.
async fn locked_agent(tx: &Transaction<'_>, id: &str) -> Result<Option<Agent>> {
    let row = db::row(
        tx,
        "SELECT doc FROM agents WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?;
    row.map(|r| doc(&r, 0)).transpose()
}

pub(super) async fn ensure_hosted_agent(tx: &Transaction<'_>, agent: Agent) -> Result<()> {
    // Every node registers the hosted agents at start: the first creates each, the others
    // find it (created_at stays the first one's) and rename it under the row lock. NB:
    // nodes starting together lock the rows of one transaction in the same order (the
    // configuration's, sorted by id), so they wait for each other rather than deadlock.
    db::exec(
        tx,
        "INSERT INTO agents (id, created_at_ns, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        &[&agent.id, &nanos(agent.created_at), &json(&agent)?],
    )
    .await?;
    let mut stored = require(locked_agent(tx, &agent.id).await?)?;
    stored.name = agent.name;
    put_agent(tx, &stored).await
}

pub(super) async fn agent(c: &impl Conn, id: &str) -> Result<Option<Agent>> {
    let row = db::row(c, "SELECT doc FROM agents WHERE id = $1", &[&id]).await?;
    row.map(|r| doc(&r, 0)).transpose()
}

pub(super) async fn agents(c: &impl Conn, page: Page) -> Result<Paged<Agent>> {
    db::paged(c, "agents", "created_at_ns, id", page).await
}

pub(super) async fn agent_by_key_hash(c: &impl Conn, key_hash: [u8; 32]) -> Result<Option<Agent>> {
    let row = db::row(
        c,
        "SELECT a.doc FROM api_keys k JOIN agents a ON a.id = k.agent_id WHERE k.key_hash = $1",
        &[&key_hash.as_slice()],
    )
    .await?;
    row.map(|r| doc(&r, 0)).transpose()
}

/// `email` is already lower-cased.
pub(super) async fn account_by_email(
    c: &impl Conn,
    email: &str,
) -> Result<Option<(User, Agent, [u8; 32])>> {
    let Some(row) = db::row(
        c,
        "SELECT a.doc, k.key_hash FROM emails e
         JOIN agents a ON a.id = e.agent_id
         JOIN api_keys k ON k.agent_id = e.agent_id
         WHERE e.email = $1",
        &[&email],
    )
    .await?
    else {
        return Ok(None);
    };
    let agent: Agent = doc(&row, 0)?;
    let hash: [u8; 32] = row
        .try_get::<_, &[u8]>(1)?
        .try_into()
        .map_err(|_| StoreError::backend("malformed key hash"))?;
    let user = db::row(c, "SELECT doc FROM users WHERE id = $1", &[&agent.user_id]).await?;
    let user: User = doc(&require(user)?, 0)?;
    Ok(Some((user, agent, hash)))
}

pub(super) async fn set_webhook(
    tx: &Transaction<'_>,
    id: &str,
    url: Option<String>,
) -> Result<Agent> {
    let mut agent = require(locked_agent(tx, id).await?)?;
    agent.webhook_url = url;
    put_agent(tx, &agent).await?;
    Ok(agent)
}

pub(super) async fn record_last_seen(
    tx: &Transaction<'_>,
    mut seen: Vec<(AgentId, DateTime<Utc>)>,
) -> Result<()> {
    // In id order, so that nodes flushing at once lock rows in the same order.
    seen.sort();
    for (id, at) in seen {
        if let Some(mut agent) = locked_agent(tx, &id).await? {
            agent.last_seen_at = agent.last_seen_at.max(Some(at));
            put_agent(tx, &agent).await?;
        }
    }
    Ok(())
}
