//! The sqlx executor of a [`Plan`]: one multi-row statement per table and chunk of rows
//! (PostgreSQL, where a round trip per row would dominate).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{EVENTS, FastSet, Plan, SESSIONS, Upsert, V, placeholders, session_rows, times};
use crate::pool::Db;
use crate::sql::Result;
use relops_ingest::Record;

/// Rows per multi-row statement (well below SQLite's and PostgreSQL's parameter limits).
const CHUNK: usize = 400;

async fn execute(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &Upsert,
    returning: &str,
    rows: &[Vec<V<'_>>],
) -> Result<Vec<sqlx::any::AnyRow>> {
    let mut out = Vec::new();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "{} VALUES {} {} {returning}",
            table.head,
            placeholders(chunk.len(), table.cols, 1),
            table.tail
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    V::S(s) => q.bind(*s),
                    V::O(o) => q.bind(*o),
                    V::I(i) => q.bind(*i),
                };
            }
        }
        out.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

/// Records one batch in one transaction (see [`Db::record_ingest`]).
pub(super) async fn record(
    db: &Db,
    product: &str,
    records: &[Record],
    now: DateTime<Utc>,
) -> Result<Vec<bool>> {
    let (t, hour) = times(now);
    let mut tx = db.begin_write().await?;

    // Sessions first: RETURNING names the ones the upsert wrote; it leaves a session that
    // had ended as it was.
    let (ids, rows) = session_rows(product, records, &t);
    let written: HashSet<String> = execute(&mut tx, &SESSIONS, "RETURNING session_id", &rows)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("session_id"))
        .collect::<std::result::Result<_, _>>()?;
    let ended: FastSet<&str> = ids
        .into_iter()
        .filter(|sid| !written.contains(*sid))
        .collect();
    let mut plan = Plan::fold(records, ended);

    // Events: stored once per id; RETURNING names the ones that were new.
    let inserted: HashSet<String> = execute(
        &mut tx,
        &EVENTS,
        "RETURNING event_id",
        &plan.event_rows(product, records, &t),
    )
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("event_id"))
    .collect::<std::result::Result<_, _>>()?;
    plan.count_events(records, &inserted);
    for (table, rows) in plan.table_rows(product, &t, &hour) {
        execute(&mut tx, table, "", &rows).await?;
    }
    // The other replicas count what this one counts of the batch (issue 28).
    let tallies: Vec<_> = relops_ingest::tallies(records, &plan.fresh).collect();
    crate::fleet::share_in(&mut tx, db, product, &tallies, &t).await?;
    tx.commit().await?;
    Ok(plan.fresh)
}
