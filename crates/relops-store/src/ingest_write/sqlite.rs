//! The SQLite executor of a [`Plan`]: a plain connection of its own (`rusqlite`, the same
//! SQLite library sqlx links) with cached prepared statements, one row per execution.
//! Within one transaction a prepared SQLite statement costs microseconds, so the batch's
//! cost is SQLite's own work instead of the per-statement hand-offs between the async
//! runtime and sqlx's SQLite worker thread that bounded ingest before.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, TransactionBehavior};

use super::conn::{IngestConnection, lock, sql};
use super::ended::{EndedSessions, day_of};
use super::{EVENTS, FastSet, Plan, Upsert, V, event_rows, first_events, placeholders, times};
use crate::ingest::Replay;
use crate::sql::{DbError, Result};
use relops_ingest::{Record, Scope};

impl rusqlite::ToSql for V<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            V::S(s) | V::O(Some(s)) => ValueRef::Text(s.as_bytes()),
            V::O(None) => ValueRef::Null,
            V::I(i) => ValueRef::Integer(i),
        }))
    }
}

/// The sessions a transaction ended, added to [`EndedSessions`] once it has committed.
#[derive(Debug, Default)]
struct Ended {
    keys: Vec<u64>,
    day: i64,
    through: i64,
}

impl IngestConnection {
    /// Deletes install marks older than `marks_hours` and forgets the sessions that ended
    /// before the retry window ([`super::ENDED_DAYS`]). Blocking.
    pub(crate) fn prune(&self, now: DateTime<Utc>, marks_hours: i64) -> Result<()> {
        let conn = lock(&self.conn)?;
        let mut ended = self.ended()?;
        let cutoff = crate::sql::ts(now - chrono::Duration::hours(marks_hours));
        // Marks are in time order: the old ones are the rows before the first recent one
        // (all of them when none is recent). Read up to there, not the whole table. After a
        // clock set back, an old mark behind a newer one waits for a later prune (counts
        // and replays select by time, so it is never counted).
        conn.execute(
            "DELETE FROM install_marks WHERE rowid < coalesce(\
             (SELECT rowid FROM install_marks WHERE seen_at >= $1 ORDER BY rowid LIMIT 1), \
             (SELECT max(rowid) + 1 FROM install_marks))",
            [cutoff],
        )
        .map_err(sql)?;
        if let Some(through) = ended.expire(day_of(now)) {
            conn.execute("DELETE FROM ended_sessions WHERE rowid <= $1", [through])
                .map_err(sql)?;
        }
        Ok(())
    }

    /// The install marks seen since `since`, as the health engine replays them: in row
    /// order, which is the order they were folded in (SQLite keeps no index on them).
    /// Blocking.
    pub(crate) fn replay_marks(&self, since: &str) -> Result<Vec<Replay>> {
        let conn = lock(&self.conn)?;
        let mut q = conn
            .prepare(
                "SELECT product, release, channel, platform, install_id, seen_at, crashed \
                 FROM install_marks WHERE seen_at >= $1 ORDER BY rowid",
            )
            .map_err(sql)?;
        let mut rows = q.query([since]).map_err(sql)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql)? {
            let at: String = r.get(5).map_err(sql)?;
            let seen: DateTime<Utc> = at
                .parse()
                .map_err(|e| DbError::Corrupt(format!("install_marks.seen_at = {at}: {e}")))?;
            out.push(Replay::Install {
                product: r.get(0).map_err(sql)?,
                scope: Scope {
                    release: r.get(1).map_err(sql)?,
                    channel: r.get(2).map_err(sql)?,
                    platform: relops_ingest::record::platform_named(
                        r.get_ref(3).map_err(sql)?.as_str().map_err(|e| {
                            DbError::Corrupt(format!("install_marks.platform: {e}"))
                        })?,
                    ),
                },
                install_id: r.get(4).map_err(sql)?,
                last_seen: seen,
                crashed_at: (r.get::<_, i64>(6).map_err(sql)? == 1).then_some(seen),
            });
        }
        Ok(out)
    }

    /// How many ended sessions are remembered.
    #[cfg(test)]
    pub(crate) fn ended_len(&self) -> Result<usize> {
        let _conn = lock(&self.conn)?;
        Ok(self.ended()?.len())
    }

    /// Runs `write` in one immediate transaction, with the sessions ended before it; the
    /// sessions it ends are remembered once it has committed.
    fn transaction<T>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction<'_>, &EndedSessions, &mut Ended) -> Result<T>,
    ) -> Result<T> {
        let mut conn = lock(&self.conn)?;
        let mut memory = self.ended()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let mut ended = Ended::default();
        let out = write(&tx, &memory, &mut ended)?;
        tx.commit().map_err(sql)?;
        memory.add(ended.day, ended.through, ended.keys);
        Ok(out)
    }

    /// Records one batch in one transaction (see [`crate::Db::record_ingest`]). Blocking.
    pub(crate) fn record(
        &self,
        product: &str,
        records: &[Record],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        self.transaction(|tx, memory, ended| record_in(tx, memory, ended, product, records, now))
    }

    /// Folds journalled batches in one transaction: each group (product, records, time) is
    /// recorded in order, and `through` — the last journal sequence they came from — is
    /// noted with them, so that no batch is folded twice. Returns each group's fresh
    /// flags. Blocking.
    pub(crate) fn fold(
        &self,
        groups: &[(&str, &[Record], DateTime<Utc>)],
        through: i64,
    ) -> Result<Vec<Vec<bool>>> {
        self.transaction(|tx, memory, ended| {
            let mut out = Vec::with_capacity(groups.len());
            for (product, records, at) in groups {
                out.push(record_in(tx, memory, ended, product, records, *at)?);
            }
            tx.execute(
                "INSERT INTO ingest_folded (id, seq) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
                [through],
            )
            .map_err(sql)?;
            Ok(out)
        })
    }

    /// The last journal sequence folded (0 before the first fold). Blocking.
    pub(crate) fn folded(&self) -> Result<i64> {
        let conn = lock(&self.conn)?;
        Ok(conn
            .query_row("SELECT seq FROM ingest_folded WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map_err(sql)?
            .unwrap_or(0))
    }
}

/// Writes one product's records inside `tx`; returns, per record, whether it was new.
/// `memory` names the sessions that had ended before; those this batch ends are
/// appended to `ended_sessions` and noted in `ended`.
fn record_in<'r>(
    tx: &rusqlite::Transaction<'_>,
    memory: &EndedSessions,
    ended: &mut Ended,
    product: &str,
    records: &'r [Record],
    now: DateTime<Utc>,
) -> Result<Vec<bool>> {
    let (t, hour) = times(now);
    let mut before: FastSet<&'r str> = FastSet::default();
    for r in records {
        if let Record::Session { session_id, .. } = r
            && memory.contains(memory.key(product, session_id))
        {
            before.insert(session_id);
        }
    }
    let mut plan = Plan::fold(records, before, first_events(records));
    if !plan.ended_now.is_empty() {
        let mut q = tx
            .prepare_cached("INSERT INTO ended_sessions (key, day) VALUES ($1, $2)")
            .map_err(sql)?;
        let mut bound = Vec::new();
        let day = day_of(now);
        for sid in &plan.ended_now {
            let key = memory.key(product, sid);
            execute(&mut q, &mut bound, vec![V::I(key.cast_signed()), V::I(day)])?;
            ended.keys.push(key);
        }
        ended.day = ended.day.max(day);
        ended.through = tx.last_insert_rowid();
    }

    // Events: stored once per id; a row that changed nothing was there already.
    let mut inserted = HashSet::new();
    {
        let mut q = tx.prepare_cached(&single_row(&EVENTS)).map_err(sql)?;
        let rows = event_rows(&plan.events, product, records, &t);
        for (&i, row) in plan.events.iter().zip(rows) {
            if q.execute(rusqlite::params_from_iter(row)).map_err(sql)? == 1
                && let Record::Event { event_id, .. } = &records[i]
            {
                inserted.insert(event_id.clone());
            }
        }
    }
    plan.count_events(records, &inserted);
    for (table, rows) in plan.table_rows(product, &t, &hour) {
        let mut q = tx.prepare_cached(&single_row(table)).map_err(sql)?;
        let mut bound = Vec::new();
        for row in rows {
            execute(&mut q, &mut bound, row)?;
        }
    }
    Ok(plan.fresh)
}

/// Executes `q` with `row`, binding only the values that differ from `bound` (the row
/// executed before; empty for the first). SQLite keeps a statement's bindings from one
/// execution to the next and copies every text bound, and a batch's rows share most of
/// their values (product, release, channel, platform, time): binding every value of
/// every row took a tenth of the fold. Returns the rows changed.
fn execute<'v>(
    q: &mut rusqlite::Statement<'_>,
    bound: &mut Vec<V<'v>>,
    row: Vec<V<'v>>,
) -> Result<usize> {
    for (i, v) in row.iter().enumerate() {
        if bound.get(i) != Some(v) {
            q.raw_bind_parameter(i + 1, v).map_err(sql)?;
        }
    }
    *bound = row;
    q.raw_execute().map_err(sql)
}

/// `{head} VALUES ($1, …) {tail}`.
fn single_row(table: &Upsert) -> String {
    format!(
        "{} VALUES {} {}",
        table.head(),
        placeholders(1, table.columns.len(), 1),
        table.tail
    )
}

#[cfg(test)]
mod tests {
    use super::super::conn::{IngestConnection, lock};
    use std::path::Path;

    /// The pool's connections and the ingest writer's copy the WAL back at the same mark.
    #[tokio::test]
    async fn checkpoint_mark() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::connect(&format!("sqlite://{}/relops.db", dir.path().display()))
            .await
            .unwrap();
        let pool: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let conn = db.ingest_connection().unwrap();
        let ingest: i64 = lock(&conn.conn)
            .unwrap()
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!((pool, ingest), (16384, 16384));
    }

    #[test]
    fn database_file_of_a_url() {
        let file = |u: &str| IngestConnection::file_of(u).expect("parses");
        assert_eq!(
            file("sqlite:///data/relops.db?mode=rwc"),
            Path::new("/data/relops.db")
        );
        assert_eq!(
            file("sqlite:///my%20data/relops.db"),
            Path::new("/my data/relops.db")
        );
        for memory in ["sqlite::memory:", "sqlite://x.db?mode=memory"] {
            let e = IngestConnection::file_of(memory).expect_err("in memory");
            assert!(e.to_string().contains("expected sqlite://PATH"), "{e}");
        }
    }
}
