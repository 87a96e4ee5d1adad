//! The schema, as versioned migrations embedded in the binary.
//!
//! Every node runs [`migrate`] at start. An advisory lock makes concurrent starts take turns,
//! so any number of nodes may start at once; a database migrated by a newer agentx (a
//! version this binary does not know) is refused rather than misread.

use super::db;
use crate::store::{Result, StoreError};

/// Migration `n` is `MIGRATIONS[n - 1]`; append, never edit a released one.
const MIGRATIONS: &[&str] = &[
    include_str!("schema/1.sql"),
    include_str!("schema/2.sql"),
    include_str!("schema/3.sql"),
];

/// An arbitrary key for `pg_advisory_lock`, held while migrating.
const MIGRATION_LOCK: i64 = 0x6167_656e_7478_0001;

/// The schema version this binary writes.
pub(super) fn version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database to [`version`], or refuses one that is newer.
pub(super) async fn migrate(client: &mut deadpool_postgres::Client) -> Result<()> {
    db::exec(&**client, "SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let outcome = apply(client).await;
    // Also released when the connection closes, should the unlock itself fail.
    db::exec(
        &**client,
        "SELECT pg_advisory_unlock($1)",
        &[&MIGRATION_LOCK],
    )
    .await?;
    outcome
}

async fn apply(client: &mut deadpool_postgres::Client) -> Result<()> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS agentx_schema (version bigint NOT NULL)")
        .await?;
    let found: i64 = db::row(&**client, "SELECT max(version) FROM agentx_schema", &[])
        .await?
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .unwrap_or(0);
    if found > version() {
        return Err(StoreError::SchemaMismatch {
            holder: "the PostgreSQL database",
            found: found as u64,
            expected: version() as u64,
        });
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        let n = n as i64 + 1;
        db::exec(
            &tx,
            "INSERT INTO agentx_schema (version) VALUES ($1)",
            &[&n],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = n, "database schema migrated");
    }
    Ok(())
}
