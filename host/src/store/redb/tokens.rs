//! `agx_live_` tokens, found by the SHA-256 of their text.
//!
//! Every write here must reach `RedbStore` through `Writer::write_then` with
//! `RedbStore::forget_tokens`: lookups are cached until then (see `token_cache`).

use super::tables::{
    TOKEN_HASHES, TOKENS, TOKENS_BY_AGE, get_json, index_age, page_by_age, put_json, require,
};
use crate::model::ApiToken;
use crate::store::{Page, Paged, Result};
use chrono::{DateTime, Utc};
use redb::{ReadTransaction, WriteTransaction};

pub(super) fn insert_token(txn: &WriteTransaction, token: &ApiToken, hash: [u8; 32]) -> Result<()> {
    put_json(&mut txn.open_table(TOKENS)?, &token.id, token)?;
    index_age(txn, TOKENS_BY_AGE, token.created_at, &token.id)?;
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

pub(super) fn tokens(txn: &ReadTransaction, page: Page) -> Result<Paged<ApiToken>> {
    page_by_age(txn, TOKENS, TOKENS_BY_AGE, page)
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
