//! The few ways the record families talk to PostgreSQL: prepared (and cached) statements on
//! a pooled connection or inside a transaction, JSON documents, and error mapping.

use crate::store::{Page, Paged, Rejection, Result, StoreError};
use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};
use std::future::Future;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A connection or a transaction: both prepare through the pool's per-connection statement
/// cache, so a statement is parsed once per connection, not once per call.
pub(super) trait Conn: Sync {
    fn prepared(
        &self,
        sql: &str,
    ) -> impl Future<Output = Result<Statement, tokio_postgres::Error>> + Send;
    fn run(
        &self,
        statement: &Statement,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send;
}

impl Conn for deadpool_postgres::ClientWrapper {
    fn prepared(
        &self,
        sql: &str,
    ) -> impl Future<Output = Result<Statement, tokio_postgres::Error>> + Send {
        self.prepare_cached(sql)
    }
    fn run(
        &self,
        statement: &Statement,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send {
        tokio_postgres::Client::query(self, statement, params)
    }
}

impl Conn for deadpool_postgres::Transaction<'_> {
    fn prepared(
        &self,
        sql: &str,
    ) -> impl Future<Output = Result<Statement, tokio_postgres::Error>> + Send {
        self.prepare_cached(sql)
    }
    fn run(
        &self,
        statement: &Statement,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send {
        tokio_postgres::Transaction::query(self, statement, params)
    }
}

pub(super) async fn rows(c: &impl Conn, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
    let statement = c.prepared(sql).await?;
    Ok(c.run(&statement, params).await?)
}

pub(super) async fn row(c: &impl Conn, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
    Ok(rows(c, sql, params).await?.into_iter().next())
}

/// Runs a statement for its effect; the number of rows it returned.
pub(super) async fn exec(c: &impl Conn, sql: &str, params: Params<'_>) -> Result<usize> {
    Ok(rows(c, sql, params).await?.len())
}

/// The JSON document in column `col` of `row`.
pub(super) fn doc<T: DeserializeOwned>(row: &Row, col: usize) -> Result<T> {
    Ok(serde_json::from_str(row.try_get::<_, &str>(col)?)?)
}

pub(super) fn docs<T: DeserializeOwned>(rows: &[Row]) -> Result<Vec<T>> {
    rows.iter().map(|r| doc(r, 0)).collect()
}

pub(super) fn json<T: Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string(value)?)
}

/// `page` of the documents of `table` in the order `order_by` (an index's columns), and how
/// many rows the table has, in one statement (one snapshot, so the two agree; the count row
/// comes even when the page is empty). Only the page's documents are read.
pub(super) async fn paged<T: DeserializeOwned>(
    c: &impl Conn,
    table: &'static str,
    order_by: &'static str,
    page: Page,
) -> Result<Paged<T>> {
    let sql = format!(
        "SELECT t.total, p.doc FROM (SELECT count(*) AS total FROM {table}) t
         LEFT JOIN LATERAL (SELECT doc, row_number() OVER (ORDER BY {order_by}) AS n
                            FROM {table} ORDER BY {order_by} LIMIT $1 OFFSET $2) p ON true
         ORDER BY p.n"
    );
    // Postgres counts in i64; a page past that is past the end anyway.
    let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
    let rows = rows(c, &sql, &[&limit, &offset]).await?;
    let total = match rows.first() {
        Some(row) => row.try_get::<_, i64>(0)?,
        None => 0,
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(doc) = row.try_get::<_, Option<&str>>(1)? {
            items.push(serde_json::from_str(doc)?);
        }
    }
    Ok(Paged {
        items,
        total: usize::try_from(total).unwrap_or(usize::MAX),
    })
}

/// A time as an exactly comparable number (what redb's records compare too).
pub(super) fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

pub(super) fn require<T>(value: Option<T>) -> Result<T> {
    value.ok_or(StoreError::Rejected(Rejection::NotFound))
}

macro_rules! backend_errors {
    ($($t:ty),+) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::backend(e) }
        }
    )+};
}
backend_errors!(tokio_postgres::Error, deadpool_postgres::PoolError);
