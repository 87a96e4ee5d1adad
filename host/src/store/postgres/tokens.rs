//! `agx_live_` tokens, found by the SHA-256 of their text.

use super::db::{self, Conn, doc, json, nanos, require};
use crate::model::ApiToken;
use crate::store::{Page, Paged, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

pub(super) async fn insert_token(c: &impl Conn, token: &ApiToken, hash: [u8; 32]) -> Result<()> {
    db::exec(
        c,
        "INSERT INTO tokens (id, hash, created_at_ns, doc) VALUES ($1, $2, $3, $4)",
        &[
            &token.id,
            &hash.as_slice(),
            &nanos(token.created_at),
            &json(token)?,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn token_by_hash(c: &impl Conn, hash: [u8; 32]) -> Result<Option<ApiToken>> {
    let row = db::row(
        c,
        "SELECT doc FROM tokens WHERE hash = $1",
        &[&hash.as_slice()],
    )
    .await?;
    row.map(|r| doc(&r, 0)).transpose()
}

pub(super) async fn tokens(c: &impl Conn, page: Page) -> Result<Paged<ApiToken>> {
    db::paged(c, "tokens", "created_at_ns, id", page).await
}

pub(super) async fn revoke_token(
    tx: &Transaction<'_>,
    id: &str,
    at: DateTime<Utc>,
) -> Result<ApiToken> {
    let row = db::row(
        tx,
        "SELECT doc FROM tokens WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?;
    let mut token: ApiToken = doc(&require(row)?, 0)?;
    if token.revoked_at.is_none() {
        token.revoked_at = Some(at);
        db::exec(
            tx,
            "UPDATE tokens SET doc = $2 WHERE id = $1",
            &[&id, &json(&token)?],
        )
        .await?;
    }
    Ok(token)
}
