//! Users, agents and their API keys.

use super::tables::{
    AGENT_KEYS, AGENTS, AGENTS_BY_AGE, EMAILS, KEYS, USERS, get_json, index_age, page_by_age,
    put_json, require,
};
use crate::model::*;
use crate::store::{Page, Paged, Rejection, Result, StoreError};
use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

pub(super) fn insert_account(
    txn: &WriteTransaction,
    user: &User,
    agent: &Agent,
    key_hash: [u8; 32],
) -> Result<()> {
    let email = user.email.to_lowercase();
    let mut emails = txn.open_table(EMAILS)?;
    if emails.get(email.as_str())?.is_some() {
        return Err(Rejection::EmailTaken.into());
    }
    emails.insert(email.as_str(), agent.id.as_str())?;
    put_json(&mut txn.open_table(USERS)?, &user.id, user)?;
    put_json(&mut txn.open_table(AGENTS)?, &agent.id, agent)?;
    index_age(txn, AGENTS_BY_AGE, agent.created_at, &agent.id)?;
    txn.open_table(KEYS)?
        .insert(key_hash.as_slice(), agent.id.as_str())?;
    txn.open_table(AGENT_KEYS)?
        .insert(agent.id.as_str(), key_hash.as_slice())?;
    Ok(())
}

pub(super) fn ensure_hosted_agent(txn: &WriteTransaction, agent: Agent) -> Result<()> {
    let mut agents = txn.open_table(AGENTS)?;
    let stored = match get_json::<Agent>(&agents, &agent.id)? {
        Some(existing) => Agent {
            name: agent.name,
            ..existing
        },
        None => {
            index_age(txn, AGENTS_BY_AGE, agent.created_at, &agent.id)?;
            agent
        }
    };
    put_json(&mut agents, &stored.id, &stored)
}

pub(super) fn agent(txn: &ReadTransaction, id: &str) -> Result<Option<Agent>> {
    get_json(&txn.open_table(AGENTS)?, id)
}

pub(super) fn agents(txn: &ReadTransaction, page: Page) -> Result<Paged<Agent>> {
    page_by_age(txn, AGENTS, AGENTS_BY_AGE, page)
}

pub(super) fn agent_by_key_hash(
    txn: &ReadTransaction,
    key_hash: [u8; 32],
) -> Result<Option<Agent>> {
    let keys = txn.open_table(KEYS)?;
    match keys.get(key_hash.as_slice())? {
        Some(id) => get_json(&txn.open_table(AGENTS)?, id.value()),
        None => Ok(None),
    }
}

/// `email` is already lower-cased.
pub(super) fn account_by_email(
    txn: &ReadTransaction,
    email: &str,
) -> Result<Option<(User, Agent, [u8; 32])>> {
    let Some(agent_id) = txn
        .open_table(EMAILS)?
        .get(email)?
        .map(|v| v.value().to_owned())
    else {
        return Ok(None);
    };
    let agent: Agent = require(get_json(&txn.open_table(AGENTS)?, &agent_id)?)?;
    let user: User = require(get_json(&txn.open_table(USERS)?, &agent.user_id)?)?;
    let hash = require(txn.open_table(AGENT_KEYS)?.get(agent_id.as_str())?)?;
    let hash: [u8; 32] = hash
        .value()
        .try_into()
        .map_err(|_| StoreError::backend("malformed key hash"))?;
    Ok(Some((user, agent, hash)))
}

pub(super) fn set_webhook(txn: &WriteTransaction, id: &str, url: Option<String>) -> Result<Agent> {
    let mut agents = txn.open_table(AGENTS)?;
    let mut agent: Agent = require(get_json(&agents, id)?)?;
    agent.webhook_url = url;
    put_json(&mut agents, id, &agent)?;
    Ok(agent)
}

pub(super) fn record_last_seen(
    txn: &WriteTransaction,
    seen: Vec<(AgentId, DateTime<Utc>)>,
) -> Result<()> {
    let mut agents = txn.open_table(AGENTS)?;
    for (id, at) in seen {
        if let Some(mut agent) = get_json::<Agent>(&agents, &id)? {
            agent.last_seen_at = agent.last_seen_at.max(Some(at));
            put_json(&mut agents, &id, &agent)?;
        }
    }
    Ok(())
}
