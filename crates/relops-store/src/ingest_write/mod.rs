//! Writing ingested records: one transaction per batch. First the sessions that had
//! already ended before the batch are found — their records are not new, and a session's
//! status counts once, when it first ends. The batch is then folded in memory ([`Plan`]:
//! counts summed per key, installs merged per key), so each table gets one write per
//! distinct key, with the same result as applying the records one by one. Installs seen
//! are appended as marks (`install_marks`, in time order), not upserted under their ids.
//! Two executors write a plan:
//!
//! - `sqlite.rs`, the embedded default: a plain SQLite connection of its own (`rusqlite`)
//!   with prepared statements, run on a blocking thread while the batch holds the
//!   database's writer turn — one hand-off per batch instead of one per statement. Ended
//!   sessions are remembered in memory for the retry window (`ended.rs`), each appended
//!   to `ended_sessions` as it ends. The server does not write request batches here
//!   directly: it appends them to the journal (`journal.rs`) and folds many of them at a
//!   time ([`Db::fold_journal`]);
//! - `multirow.rs`, PostgreSQL (which several servers may share): each session's state is
//!   upserted into `ingest_sessions` ([`session_rows`], [`SESSIONS`]) by an upsert that
//!   leaves an ended session as it was, which names the sessions that had ended; two
//!   statements per batch on the writer's own connection, each table's rows bound as one
//!   JSON array, where a round trip per row or per table would cost more than the rows.

pub(crate) mod conn;
mod ended;
pub(crate) mod journal;
mod multirow;
mod sqlite;

pub use ended::ENDED_DAYS;
pub use journal::{IngestJournal, JournalEntry};

/// How long install marks are kept: the health figures and the health engine's replay
/// read the last 24 h.
const MARKS_HOURS: i64 = 25;

use std::collections::HashSet;
use std::sync::Arc;

// Keys are client-chosen ids: a seeded hasher (foldhash), several times cheaper than SipHash.
pub(super) use conn::{FastSet, HashMap};

use chrono::{DateTime, Utc};

use crate::pool::Db;
use crate::sql::{DbError, Result, ts};
use relops_ingest::session::Status;
use relops_ingest::{Record, Scope};

use conn::blocking;

/// A record's release, channel and platform.
type ScopeKey<'a> = (&'a str, &'a str, &'a str);

fn key(s: &Scope) -> ScopeKey<'_> {
    (&s.release, &s.channel, s.platform_name())
}

/// What one batch writes besides the sessions, folded from its records.
#[derive(Debug, Default)]
struct Plan<'r> {
    /// Per record: was it new (a retried event or an already ended session is not)?
    fresh: Vec<bool>,
    /// The sessions that end in this batch (first ends only).
    ended_now: Vec<&'r str>,
    /// Ended sessions to add, per scope and status.
    counts: HashMap<(ScopeKey<'r>, &'r str), i64>,
    /// Installs seen, per scope, and whether they crashed.
    seen: HashMap<(ScopeKey<'r>, &'r str), bool>,
    /// Events to insert: the first record of each event id in the batch.
    events: Vec<usize>,
    /// Memory warnings to insert.
    memory: Vec<&'r Record>,
    /// Error events to add, per release and code (known once the events are inserted).
    errors: HashMap<(&'r str, &'r str), i64>,
}

/// A session's state after a batch: the scope, install and status of the update that
/// set it.
type SessionState<'r> = (&'r Scope, Option<&'r str>, &'r str);

/// The rows of [`SESSIONS`]: each session's state after the batch if it had not ended
/// before (an update applies while the session is `ok`; the first other status ends it),
/// and their ids, in id order — consecutive upserts then land in the same or the next
/// index page, still in the CPU's cache, instead of anywhere in the index. The upsert
/// leaves a session that had already ended as it was.
fn session_rows<'r>(
    product: &'r str,
    records: &'r [Record],
    t: &'r str,
) -> (Vec<&'r str>, Rows<'r>) {
    let mut last: HashMap<&str, SessionState<'r>> = HashMap::default();
    for r in records {
        if let Record::Session {
            scope,
            session_id,
            install_id,
            status,
            ..
        } = r
        {
            let now = (scope, install_id.as_deref(), status.as_str());
            let state = last.entry(session_id.as_str()).or_insert(now);
            if state.2 == "ok" {
                *state = now;
            }
        }
    }
    let mut rows: Vec<_> = last.into_iter().collect();
    rows.sort_unstable_by_key(|(sid, _)| *sid);
    let ids = rows.iter().map(|(sid, _)| *sid).collect();
    let rows = rows
        .into_iter()
        .map(|(sid, (scope, install, status))| {
            vec![
                V::S(product),
                V::S(sid),
                V::S(&scope.release),
                V::S(&scope.channel),
                V::S(scope.platform_name()),
                V::O(install),
                V::S(status),
                V::S(t),
            ]
        })
        .collect();
    (ids, rows)
}

impl<'r> Plan<'r> {
    /// Folds `records`, given the sessions that had already ended before the batch and
    /// the batch's events to insert ([`first_events`]).
    fn fold(records: &'r [Record], mut ended: FastSet<&'r str>, events: Vec<usize>) -> Self {
        let mut p = Plan {
            fresh: vec![false; records.len()],
            events,
            ..Plan::default()
        };
        for (i, r) in records.iter().enumerate() {
            match r {
                Record::Session {
                    scope,
                    session_id,
                    install_id,
                    status,
                    crashed,
                } => {
                    // An ended session stays as it ended.
                    if !ended.contains(session_id.as_str()) {
                        if *status != Status::Ok {
                            ended.insert(session_id);
                            p.ended_now.push(session_id);
                            *p.counts.entry((key(scope), status.as_str())).or_default() += 1;
                        }
                        p.fresh[i] = true;
                    }
                    if let Some(install) = install_id {
                        *p.seen.entry((key(scope), install.as_str())).or_default() |= *crashed;
                    }
                }
                Record::Aggregate {
                    scope,
                    install_id,
                    counts,
                    crashed,
                } => {
                    for (status, n) in counts.iter().filter(|(_, n)| *n > 0) {
                        *p.counts.entry((key(scope), status.as_str())).or_default() +=
                            i64::try_from(*n).unwrap_or(i64::MAX);
                    }
                    if let Some(install) = install_id {
                        *p.seen.entry((key(scope), install.as_str())).or_default() |= *crashed;
                    }
                    p.fresh[i] = true;
                }
                Record::Event { .. } => {}
                Record::Memory {
                    scope, install_id, ..
                } => {
                    p.memory.push(r);
                    p.seen.entry((key(scope), install_id.as_str())).or_default();
                    p.fresh[i] = true;
                }
            }
        }
        p
    }

    /// Counts the events that were new (`inserted`: their ids): error codes per hour and
    /// the installs they came from.
    fn count_events(&mut self, records: &'r [Record], inserted: &HashSet<String>) {
        for &i in &self.events {
            let Record::Event {
                scope,
                event_id,
                install_id,
                crash,
                code,
                ..
            } = &records[i]
            else {
                continue;
            };
            if !inserted.contains(event_id.as_str()) {
                continue;
            }
            self.fresh[i] = true;
            if let Some(c) = code {
                *self
                    .errors
                    .entry((scope.release.as_str(), c.as_str()))
                    .or_default() += 1;
            }
            if let Some(install) = install_id {
                *self.seen.entry((key(scope), install.as_str())).or_default() |= *crash;
            }
        }
    }
}

/// The events to insert: the first record of each event id in `records`, by index.
fn first_events(records: &[Record]) -> Vec<usize> {
    let mut seen: FastSet<&str> = FastSet::default();
    records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Record::Event { event_id, .. } if seen.insert(event_id) => Some(i),
            _ => None,
        })
        .collect()
}

/// The rows of [`EVENTS`] for the records at `events`; `t` is the batch's time.
fn event_rows<'r>(
    events: &[usize],
    product: &'r str,
    records: &'r [Record],
    t: &'r str,
) -> Rows<'r> {
    events
        .iter()
        .filter_map(|&i| match &records[i] {
            Record::Event {
                scope,
                event_id,
                install_id,
                crash,
                critical,
                code,
                payload,
            } => Some(vec![
                V::S(product),
                V::S(event_id),
                V::S(&scope.release),
                V::S(&scope.channel),
                V::S(scope.platform_name()),
                V::O(install_id.as_deref()),
                V::S(if *crash { "crash" } else { "error" }),
                V::O(code.as_deref()),
                V::S(t),
                V::S(payload),
                V::O(critical.as_deref()),
            ]),
            _ => None,
        })
        .collect()
}

/// One of the tables a batch writes: `INSERT INTO {table} ({columns}) … {tail}`.
pub(super) struct Upsert {
    table: &'static str,
    columns: &'static [&'static str],
    tail: &'static str,
}

impl Upsert {
    /// `INSERT INTO {table} ({columns})`.
    fn head(&self) -> String {
        format!("INSERT INTO {} ({})", self.table, self.columns.join(", "))
    }
}

const EVENTS: Upsert = Upsert {
    table: "ingest_events",
    columns: &[
        "product",
        "event_id",
        "release",
        "channel",
        "platform",
        "install_id",
        "kind",
        "code",
        "received_at",
        "payload",
        "critical",
    ],
    tail: "ON CONFLICT (product, event_id) DO NOTHING",
};
const SESSIONS: Upsert = Upsert {
    table: "ingest_sessions",
    columns: &[
        "product",
        "session_id",
        "release",
        "channel",
        "platform",
        "install_id",
        "status",
        "updated_at",
    ],
    // A session that has ended stays as it ended: the upsert then changes no row.
    tail: "ON CONFLICT (product, session_id) DO UPDATE SET status = excluded.status, \
           updated_at = excluded.updated_at WHERE ingest_sessions.status = 'ok'",
};
const COUNTS: Upsert = Upsert {
    table: "session_counts",
    columns: &[
        "product", "release", "channel", "platform", "status", "sessions",
    ],
    tail: "ON CONFLICT (product, release, channel, platform, status) DO UPDATE SET \
           sessions = session_counts.sessions + excluded.sessions",
};
const ERRORS: Upsert = Upsert {
    table: "error_counts",
    columns: &["product", "release", "code", "hour", "events"],
    tail: "ON CONFLICT (product, release, code, hour) DO UPDATE SET \
           events = error_counts.events + excluded.events",
};
const MEMORY: Upsert = Upsert {
    table: "memory_warnings",
    columns: &[
        "product",
        "release",
        "channel",
        "platform",
        "install_id",
        "host_percent",
        "received_at",
    ],
    tail: "",
};
/// Appended, not upserted: one mark per install and scope a batch saw, at the end of the
/// table (see `migrations/sqlite/0012_ingest_marks.sql`).
const MARKS: Upsert = Upsert {
    table: "install_marks",
    columns: &[
        "product",
        "release",
        "channel",
        "platform",
        "install_id",
        "seen_at",
        "crashed",
    ],
    tail: "",
};

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `cols` values, numbered from `first`.
fn placeholders(rows: usize, cols: usize, first: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(first + r * cols + c).to_string());
        }
        s.push(')');
    }
    s
}

/// One bound value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum V<'a> {
    S(&'a str),
    O(Option<&'a str>),
    I(i64),
}

type Rows<'a> = Vec<Vec<V<'a>>>;

impl<'r> Plan<'r> {
    /// The other tables' rows (all but the sessions' and events'), in the order they are
    /// written.
    fn table_rows(
        &self,
        product: &'r str,
        t: &'r str,
        hour: &'r str,
    ) -> [(&'static Upsert, Rows<'r>); 4] {
        // In key order: upserts of shared rows take their locks in the same order in every
        // replica's transaction (no deadlock between two batches).
        let mut counts: Vec<_> = self.counts.iter().collect();
        counts.sort_unstable();
        let counts = counts
            .into_iter()
            .map(|((k, status), n)| {
                vec![
                    V::S(product),
                    V::S(k.0),
                    V::S(k.1),
                    V::S(k.2),
                    V::S(status),
                    V::I(*n),
                ]
            })
            .collect();
        let mut errors: Vec<_> = self.errors.iter().collect();
        errors.sort_unstable();
        let errors = errors
            .into_iter()
            .map(|((release, code), n)| {
                vec![
                    V::S(product),
                    V::S(release),
                    V::S(code),
                    V::S(hour),
                    V::I(*n),
                ]
            })
            .collect();
        let memory = self
            .memory
            .iter()
            .filter_map(|r| match r {
                Record::Memory {
                    scope,
                    install_id,
                    host_percent,
                } => Some(vec![
                    V::S(product),
                    V::S(&scope.release),
                    V::S(&scope.channel),
                    V::S(scope.platform_name()),
                    V::S(install_id),
                    V::I(i64::from(*host_percent)),
                    V::S(t),
                ]),
                _ => None,
            })
            .collect();
        let marks = self
            .seen
            .iter()
            .map(|((k, install), crashed)| {
                vec![
                    V::S(product),
                    V::S(k.0),
                    V::S(k.1),
                    V::S(k.2),
                    V::S(install),
                    V::S(t),
                    V::I(i64::from(*crashed)),
                ]
            })
            .collect();
        [
            (&COUNTS, counts),
            (&ERRORS, errors),
            (&MEMORY, memory),
            (&MARKS, marks),
        ]
    }
}

/// The batch's time as stored, and its hour (the key of the error counts).
fn times(now: DateTime<Utc>) -> (String, String) {
    (ts(now), now.format("%Y-%m-%dT%H").to_string())
}

impl Db {
    /// Records one batch in one transaction. Returns, per record, whether it was new (a
    /// retried event or an already ended session is not). Idempotent: a record applied
    /// twice counts once.
    pub async fn record_ingest(
        &self,
        product: &str,
        records: Arc<[Record]>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        match self.ingest_connection() {
            Some(conn) => {
                // Wait for the writer's turn like every other write (first come, first
                // served), then write on a blocking thread with the plain connection.
                let turn = self.writer_turn().await?;
                let product = product.to_owned();
                let fresh = blocking(move || conn.record(&product, &records, now)).await;
                drop(turn);
                fresh
            }
            None => multirow::record(self, product, &records, now).await,
        }
    }
}

impl Db {
    /// Deletes what the ingest no longer needs as of `now`: install marks older than the
    /// 24 h the health figures read, and the record of sessions that ended before the
    /// retry window ([`ENDED_DAYS`]; a retried end older than that counts again). The
    /// server runs it hourly.
    pub async fn prune_ingest(&self, now: DateTime<Utc>) -> Result<()> {
        match self.ingest_connection() {
            Some(conn) => {
                let turn = self.writer_turn().await?;
                blocking(move || conn.prune(now, MARKS_HOURS)).await?;
                drop(turn);
            }
            None => {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM install_marks WHERE seen_at < $1")
                    .bind(ts(now - chrono::Duration::hours(MARKS_HOURS)))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM ingest_sessions WHERE updated_at < $1")
                    .bind(ts(now - chrono::Duration::days(ENDED_DAYS)))
                    .execute(&mut *tx)
                    .await?;
                if self.backend() == crate::Backend::Postgres {
                    sqlx::query("DELETE FROM health_log WHERE at < $1")
                        .bind(ts(now - chrono::Duration::hours(MARKS_HOURS)))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// How many ended sessions the SQLite ingest writer remembers (0 on PostgreSQL).
    #[cfg(test)]
    pub(crate) async fn ingest_ended_sessions(&self) -> Result<usize> {
        match self.ingest_connection() {
            Some(conn) => blocking(move || conn.ended_len()).await,
            None => Ok(0),
        }
    }

    /// The ingest journal (SQLite only): batches are made durable there, then folded.
    pub fn ingest_journal(&self) -> Option<IngestJournal> {
        self.journal.clone()
    }

    /// The last journal sequence folded into the ingest tables (0 before the first fold,
    /// and always on PostgreSQL, which has no journal).
    pub async fn ingest_folded(&self) -> Result<i64> {
        match self.ingest_connection() {
            Some(conn) => blocking(move || conn.folded()).await,
            None => Ok(0),
        }
    }

    /// Applies journal `entries` (in order, all after [`Db::ingest_folded`]) to the ingest
    /// tables in one transaction and notes the last one as folded. Each product's records
    /// are applied as one batch at the time of its newest entry. Returns, per product in
    /// order of first appearance, the records and which of them were new.
    pub async fn fold_journal(&self, entries: Vec<JournalEntry>) -> Result<Vec<Folded>> {
        let Some(conn) = self.ingest_connection() else {
            return Err(DbError::Writer(
                "the ingest journal exists only on SQLite".to_owned(),
            ));
        };
        let Some(through) = entries.last().map(|e| e.seq) else {
            return Ok(Vec::new());
        };
        let mut groups: Vec<Folded> = Vec::new();
        for e in entries {
            match groups.iter_mut().find(|g| g.product == e.product) {
                Some(g) => {
                    g.records.extend(e.records);
                    g.at = g.at.max(e.at);
                }
                None => groups.push(Folded {
                    product: e.product,
                    at: e.at,
                    records: e.records,
                    fresh: Vec::new(),
                }),
            }
        }
        let turn = self.writer_turn().await?;
        let groups = blocking(move || {
            let args: Vec<(&str, &[Record], DateTime<Utc>)> = groups
                .iter()
                .map(|g| (g.product.as_str(), g.records.as_slice(), g.at))
                .collect();
            let fresh = conn.fold(&args, through)?;
            for (g, f) in groups.iter_mut().zip(fresh) {
                g.fresh = f;
            }
            Ok(groups)
        })
        .await?;
        drop(turn);
        Ok(groups)
    }
}

/// One product's share of a fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    pub product: String,
    /// The time the records were stored under (the newest entry's).
    pub at: DateTime<Utc>,
    pub records: Vec<Record>,
    /// Per record: was it new?
    pub fresh: Vec<bool>,
}

#[cfg(test)]
mod tests;
