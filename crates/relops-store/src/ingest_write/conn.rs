//! The ingest writer's plain SQLite connections (`rusqlite`): how they are opened and
//! shared, and the handle of the table connection that the database holds.

use std::path::PathBuf;
use std::str::FromStr;

use chrono::Utc;
use rusqlite::OpenFlags;

use super::ended::{EndedSessions, day_of};
use crate::sql::{DbError, Result};

pub(crate) use foldhash::{HashMap, HashSet as FastSet};

/// A plain SQLite connection of the ingest writer's (the table connection or the
/// journal), used from blocking tasks one at a time.
pub(super) type Shared = std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>;

/// Opens `path` with `flags` and the pragmas of the pool's connections
/// ([`crate::sql::SQLITE_PRAGMAS`]: WAL, `synchronous = FULL`); `what` names it in errors.
/// `page_size` applies to a file this creates (an existing WAL file keeps its own).
pub(super) fn open_shared(
    path: &std::path::Path,
    flags: rusqlite::OpenFlags,
    what: &str,
    page_size: Option<u32>,
) -> Result<Shared> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        flags | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| DbError::Sqlite(format!("opening {what} {}: {e}", path.display())))?;
    if let Some(size) = page_size {
        // Before the WAL pragma, which writes a new file's first page.
        conn.pragma_update(None, "page_size", size).map_err(sql)?;
    }
    conn.execute_batch(&crate::sql::SQLITE_PRAGMAS.join(";"))
        .map_err(sql)?;
    Ok(std::sync::Arc::new(std::sync::Mutex::new(conn)))
}

/// The connection, or an error if a task panicked while holding it.
pub(super) fn lock(conn: &Shared) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>> {
    conn.lock()
        .map_err(|_| DbError::Writer("an earlier ingest write panicked".to_owned()))
}

pub(super) fn sql(e: rusqlite::Error) -> DbError {
    DbError::Sqlite(e.to_string())
}

/// Runs `f` — work on one of the ingest writer's plain SQLite connections — on a
/// blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbError::Writer(e.to_string()))?
}

/// The ingest writer's own connection to an SQLite database file, and the sessions ended
/// in the last days ([`EndedSessions`]). Only used while the batch holds the database's
/// writer turn, so it never waits on SQLite's lock.
#[derive(Debug, Clone)]
pub(crate) struct IngestConnection {
    pub(super) conn: Shared,
    /// Locked after `conn`, and only while holding it.
    pub(super) ended: std::sync::Arc<std::sync::Mutex<EndedSessions>>,
}

impl IngestConnection {
    /// The database file of an `sqlite://` URL, read the way sqlx reads it (percent-
    /// decoded). An in-memory database is refused: each of relops' connections would get
    /// a database of its own.
    pub(crate) fn file_of(url: &str) -> Result<PathBuf> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
            return Err(DbError::UnsupportedUrl(url.to_owned()));
        }
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
        Ok(opts.get_filename().to_path_buf())
    }

    /// Opens `path` (which the migrations have created) with the pragmas of the pool's
    /// connections ([`crate::sql::SQLITE_PRAGMAS`]: WAL, `synchronous = FULL`;
    /// [`crate::sql::SQLITE_DB_PRAGMAS`]: the checkpoint mark) and a large page cache.
    pub(crate) fn open(path: &std::path::Path) -> Result<Self> {
        let conn = open_shared(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            "the database",
            None,
        )?;
        // A fold touches pages all over the ingest tables' indexes: keep them in memory
        // (up to 128 MiB; SQLite grows the cache as it is used).
        let pragmas = format!(
            "PRAGMA cache_size = -131072; {}",
            crate::sql::SQLITE_DB_PRAGMAS.join("; ")
        );
        let ended = {
            let c = lock(&conn)?;
            c.execute_batch(&pragmas).map_err(sql)?;
            EndedSessions::load(&c, day_of(Utc::now()))?
        };
        Ok(Self {
            conn,
            ended: std::sync::Arc::new(std::sync::Mutex::new(ended)),
        })
    }

    pub(super) fn ended(&self) -> Result<std::sync::MutexGuard<'_, EndedSessions>> {
        self.ended
            .lock()
            .map_err(|_| DbError::Writer("an earlier ingest write panicked".to_owned()))
    }
}
