//! Consistent copies of the SQLite files while the server runs (`relops backup`).

use std::path::{Path, PathBuf};

use rusqlite::OpenFlags;

use crate::ingest_write::IngestJournal;
use crate::sql::{DbError, Result};

/// The SQLite database file of a `sqlite://PATH[?…]` URL; `None` for another engine.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    Some(PathBuf::from(path))
}

/// The ingest journal beside the database file `db` (`relops.ingest-journal.db`).
pub fn journal_path(db: &Path) -> PathBuf {
    IngestJournal::path_for(db)
}

/// Writes a consistent copy of the SQLite database `src` to `dst` (which must not exist)
/// with `VACUUM INTO`: one read transaction, so the copy is the database as of one moment
/// while writers go on (WAL), compacted. `dst` is complete when this returns.
pub fn snapshot_sqlite(src: &Path, dst: &Path) -> Result<()> {
    let conn = rusqlite::Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| DbError::Writer(format!("opening {}: {e}", src.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| DbError::Writer(e.to_string()))?;
    let to = dst
        .to_str()
        .ok_or_else(|| DbError::Writer(format!("{} is not UTF-8", dst.display())))?;
    conn.execute("VACUUM INTO ?1", [to])
        .map_err(|e| DbError::Writer(format!("copying {} to {to}: {e}", src.display())))?;
    Ok(())
}
