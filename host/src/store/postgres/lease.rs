//! Leases across nodes: a PostgreSQL session advisory lock, held on a connection of its own.
//!
//! PostgreSQL releases a session lock the moment the session ends, so a node that dies (its
//! sockets closed by the kernel) hands its leases over at once: the nodes waiting in
//! `pg_advisory_lock` get them. A holder whose connection fails learns it within
//! [`CHECK_EVERY`] and gives up what the lease guarded.

use super::db::{self, Conn};
use crate::store::{Lease, Result};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a held lease's connection is checked.
const CHECK_EVERY: Duration = Duration::from_secs(2);

pub(super) async fn lease(
    config: &tokio_postgres::Config,
    name: &str,
    lost: CancellationToken,
) -> Result<Lease> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    // Waits, on the server, until no other session holds it.
    client
        .execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&name])
        .await?;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut check = tokio::time::interval(CHECK_EVERY);
        tokio::pin!(released);
        loop {
            tokio::select! {
                _ = &mut released => break,
                _ = check.tick() => {
                    if client.simple_query("SELECT 1").await.is_err() {
                        tracing::warn!("lost a lease: its database connection failed");
                        lost.cancel();
                        break;
                    }
                }
            }
        }
        // Closing the session releases the lock.
        drop(client);
        let _ = driver.await;
    });
    Ok(Lease::new(release))
}

/// Whether some session holds the lock of lease `name`: taken at once (then let go at once)
/// only when none does. `c` is a pooled connection, which holds no session lock of its own.
pub(super) async fn is_held(c: &impl Conn, name: &str) -> Result<bool> {
    let row = db::row(
        c,
        // NB: CASE, so the lock is let go exactly when it was taken.
        "SELECT CASE WHEN pg_try_advisory_lock(hashtextextended($1, 0))
                THEN NOT pg_advisory_unlock(hashtextextended($1, 0)) ELSE true END",
        &[&name],
    )
    .await?;
    Ok(db::require(row)?.try_get(0)?)
}
