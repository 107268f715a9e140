//! The PostgreSQL executor of a [`Plan`]: a batch is two statements in one transaction on
//! the writer's own connection. The first upserts the sessions and inserts the events and
//! names the rows it wrote (which sessions had not ended yet, which events were new); the
//! plan is folded from that answer, and the second writes everything else — the counts,
//! memory warnings, install marks and the batch's health tallies for the other replicas.
//!
//! Each statement's text is the same for every batch: the rows travel as one JSON array
//! per table (`json_populate_recordset`), not as `VALUES` lists of as many placeholders as
//! rows. The statements stay prepared on the connection whatever the batch's size, and a
//! batch costs four round trips (BEGIN, the two statements, COMMIT), however many tables
//! it touches — on PostgreSQL a batch's cost is mostly its round trips (issue 28: with
//! several replicas each commits smaller batches).

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, SerializeSeq};
use sqlx::{Connection, Row};

use super::{
    COUNTS, ERRORS, EVENTS, FastSet, MARKS, MEMORY, Plan, Rows, SESSIONS, Upsert, V, first_events,
    session_rows, times,
};
use crate::pool::Db;
use crate::sql::{DbError, Result};
use relops_ingest::Record;

/// How long the writer waits for its own connection to open (the pool's acquire timeout:
/// while the database is down a batch fails in this time, and its clients retry).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `{head} SELECT {columns} FROM` the JSON array bound as `$param` `{tail}`.
fn from_json(table: &Upsert, param: usize) -> String {
    format!(
        "{} SELECT {} FROM json_populate_recordset(NULL::{}, ${param}::text::json) {}",
        table.head(),
        table.columns.join(", "),
        table.table,
        table.tail
    )
}

/// Sessions ($1) and events ($2); answers `(kind, id)`: `s` for a session the upsert
/// wrote (it had not ended), `e` for an event that was new.
static FIRST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH s AS ({} RETURNING session_id), e AS ({} RETURNING event_id) \
         SELECT 's' AS kind, session_id AS id FROM s UNION ALL SELECT 'e', event_id FROM e",
        from_json(&SESSIONS, 1),
        from_json(&EVENTS, 2)
    )
});

/// Counts ($1), errors ($2), memory warnings ($3), install marks ($4), and the batch's
/// tallies ($5–$8: origin, product, time, tallies; no row when the tallies are NULL).
static SECOND: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH c AS ({}), r AS ({}), m AS ({}), k AS ({}) \
         INSERT INTO health_log (origin, product, at, tallies) \
         SELECT $5, $6, $7, $8::text WHERE $8::text IS NOT NULL",
        from_json(&COUNTS, 1),
        from_json(&ERRORS, 2),
        from_json(&MEMORY, 3),
        from_json(&MARKS, 4)
    )
});

/// A table's rows as a JSON array of objects keyed by column name.
struct JsonRows<'a>(&'a Upsert, &'a Rows<'a>);

impl serde::Serialize for JsonRows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1.len()))?;
        for row in self.1 {
            seq.serialize_element(&JsonRow(self.0.columns, row))?;
        }
        seq.end()
    }
}

struct JsonRow<'a>(&'a [&'a str], &'a [V<'a>]);

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (column, v) in self.0.iter().zip(self.1) {
            match v {
                V::S(text) => map.serialize_entry(column, text)?,
                V::O(text) => map.serialize_entry(column, text)?,
                V::I(n) => map.serialize_entry(column, n)?,
            }
        }
        map.end()
    }
}

fn json(table: &Upsert, rows: &Rows<'_>) -> Result<String> {
    serde_json::to_string(&JsonRows(table, rows))
        .map_err(|e| DbError::Corrupt(format!("writing {} rows: {e}", table.table)))
}

/// Records one batch in one transaction (see [`Db::record_ingest`]) on the writer's own
/// connection ([`Db::pg_ingest`]), opened when there is none. The connection is taken out
/// while the batch is written and put back only after a commit: one that failed, or was
/// dropped halfway (the task cancelled), is closed, never reused in an unknown state.
pub(super) async fn record(
    db: &Db,
    product: &str,
    records: &[Record],
    now: DateTime<Utc>,
) -> Result<Vec<bool>> {
    let mut slot = db.pg_ingest.lock().await;
    let mut conn = match slot.take() {
        Some(conn) => conn,
        None => {
            let url = db.listen_url.as_ref().ok_or_else(|| {
                DbError::Writer("a PostgreSQL database without its URL".to_owned())
            })?;
            // Timed out: an outage like a pool's wait, answered 503 with Retry-After.
            tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(&url.0))
                .await
                .map_err(|_| DbError::Sql(sqlx::Error::PoolTimedOut))??
        }
    };
    let fresh = write(&mut conn, db, product, records, now).await?;
    *slot = Some(conn);
    Ok(fresh)
}

async fn write(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    product: &str,
    records: &[Record],
    now: DateTime<Utc>,
) -> Result<Vec<bool>> {
    let (t, hour) = times(now);
    let (ids, sessions) = session_rows(product, records, &t);
    let to_insert = first_events(records);
    let events = super::event_rows(&to_insert, product, records, &t);
    let sessions = json(&SESSIONS, &sessions)?;
    let events = json(&EVENTS, &events)?;

    let mut tx = conn.begin().await?;
    // Sessions first in each batch (in id order) and counts in key order: concurrent
    // batches of several replicas lock shared rows in the same order.
    let answer = sqlx::query(sqlx::AssertSqlSafe(FIRST.as_str()))
        .bind(sessions)
        .bind(events)
        .fetch_all(&mut *tx)
        .await?;
    let mut written: HashSet<String> = HashSet::new();
    let mut inserted: HashSet<String> = HashSet::new();
    for row in &answer {
        let kind: String = row.try_get("kind")?;
        let id: String = row.try_get("id")?;
        match kind.as_str() {
            "s" => written.insert(id),
            _ => inserted.insert(id),
        };
    }
    let ended: FastSet<&str> = ids
        .into_iter()
        .filter(|sid| !written.contains(*sid))
        .collect();
    let mut plan = Plan::fold(records, ended, to_insert);
    plan.count_events(records, &inserted);

    let mut q = sqlx::query(sqlx::AssertSqlSafe(SECOND.as_str()));
    for (table, rows) in plan.table_rows(product, &t, &hour) {
        q = q.bind(json(table, &rows)?);
    }
    // The other replicas count what this one counts of the batch (issue 28).
    let tallies: Vec<_> = relops_ingest::tallies(records, &plan.fresh).collect();
    q.bind(db.origin())
        .bind(product)
        .bind(t.as_str())
        .bind(crate::fleet::tallies_json(&tallies)?)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(plan.fresh)
}
