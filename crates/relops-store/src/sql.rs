//! What every query module shares: the error type, the engines, the pragmas of SQLite
//! connections, and how timestamps and text columns are read and written.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Set on every SQLite connection (the pool's and the ingest writer's). WAL: readers never
/// block the writer; `synchronous = FULL`: a commit is on disk before it returns (DESIGN
/// decision 8).
pub(crate) const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
];

/// Set on the database's connections (the pool's and the ingest writer's, not the ingest
/// journal's): the WAL is copied back into the database file once it holds 16,384 pages
/// (64 MiB) instead of SQLite's default 1,000. Ingest folds rewrite the same pages (the
/// counts, the events' index, the ends of the appended tables); a page rewritten by several
/// folds between two checkpoints is copied back once, so the disk writes less, and the
/// ingest journal's syncs, which acknowledgements wait for, queue behind less (measured in
/// bench/RESULTS.md). The commit that crosses the mark does the copy; under load nearly all
/// commits are the fold's. The WAL file keeps its largest size.
pub(crate) const SQLITE_DB_PRAGMAS: &[&str] = &["PRAGMA wal_autocheckpoint = 16384"];

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("unsupported database_url `{0}`: expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("the ingest writer stopped: {0}")]
    Writer(String),
}

impl DbError {
    /// The database could not be reached, or went away under the query — a restart, a
    /// failover, a broken network, or no connection free within the pool's wait: an
    /// outage to retry after, not a fault of the request or of the data.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Sql(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // SQLSTATE class 08 (connection exception); 57P01–57P03: the server is shutting
            // down, crashed, or is not accepting connections yet.
            Self::Sql(sqlx::Error::Database(d)) => d.code().is_some_and(|c| {
                c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
            }),
            _ => false,
        }
    }

    /// The disk under the database is full (SQLite's `SQLITE_FULL`, or the I/O error):
    /// nothing was written; writes work again once there is space.
    pub fn is_disk_full(&self) -> bool {
        const FULL: &str = "database or disk is full";
        match self {
            Self::Sql(sqlx::Error::Database(d)) => {
                d.code().as_deref() == Some("13") || d.message().contains(FULL)
            }
            Self::Sql(sqlx::Error::Io(e)) => e.kind() == std::io::ErrorKind::StorageFull,
            Self::Sqlite(m) | Self::Writer(m) => m.contains(FULL),
            _ => false,
        }
    }

    pub(crate) fn from_insert(e: sqlx::Error, what: impl FnOnce() -> String) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => Self::Conflict(what()),
            _ => Self::Sql(e),
        }
    }
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse<T: FromStr>(row: &AnyRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse()
        .map_err(|e: T::Err| DbError::Corrupt(format!("column {col} = {s:?}: {e}")))
}

pub(crate) fn parse_opt<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| {
        s.parse()
            .map_err(|e: T::Err| DbError::Corrupt(format!("column {col} = {s:?}: {e}")))
    })
    .transpose()
}

pub(crate) fn count(row: &AnyRow, col: &str) -> Result<u64> {
    let n: i64 = row.try_get(col)?;
    u64::try_from(n).map_err(|_| DbError::Corrupt(format!("column {col} = {n}")))
}
