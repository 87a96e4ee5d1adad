//! `agx_live_` tokens, found by the SHA-256 of their text.

use super::tables::{TOKEN_HASHES, TOKENS, get_json, put_json, require};
use crate::model::ApiToken;
use crate::store::Result;
use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

pub(super) fn insert_token(txn: &WriteTransaction, token: &ApiToken, hash: [u8; 32]) -> Result<()> {
    put_json(&mut txn.open_table(TOKENS)?, &token.id, token)?;
    txn.open_table(TOKEN_HASHES)?
        .insert(hash.as_slice(), token.id.as_str())?;
    Ok(())
}

pub(super) fn token_by_hash(txn: &ReadTransaction, hash: [u8; 32]) -> Result<Option<ApiToken>> {
    let Some(id) = txn.open_table(TOKEN_HASHES)?.get(hash.as_slice())? else {
        return Ok(None);
    };
    get_json(&txn.open_table(TOKENS)?, id.value())
}

pub(super) fn tokens(txn: &ReadTransaction) -> Result<Vec<ApiToken>> {
    let mut tokens = txn
        .open_table(TOKENS)?
        .iter()?
        .map(|entry| Ok(serde_json::from_slice::<ApiToken>(entry?.1.value())?))
        .collect::<Result<Vec<_>>>()?;
    tokens.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(tokens)
}

pub(super) fn revoke_token(
    txn: &WriteTransaction,
    id: &str,
    at: DateTime<Utc>,
) -> Result<ApiToken> {
    let mut tokens = txn.open_table(TOKENS)?;
    let mut token: ApiToken = require(get_json(&tokens, id)?)?;
    if token.revoked_at.is_none() {
        token.revoked_at = Some(at);
        put_json(&mut tokens, id, &token)?;
    }
    Ok(token)
}
