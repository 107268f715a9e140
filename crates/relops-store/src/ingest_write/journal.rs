//! The ingest journal of the SQLite backend: where a batch of telemetry becomes durable
//! before the server answers 2xx. It is a second SQLite file next to the database
//! (`relops.db` → `relops.ingest-journal.db`), append-only: one row per batch and product,
//! the records encoded by [`encode`], numbered by a sequence that never repeats
//! (`AUTOINCREMENT`).
//!
//! Why a journal: a commit to the ingest tables writes whole pages for a few records (and
//! wrote several KiB per record to the WAL while sessions and installs were rows keyed by
//! their random ids — the disk, not the CPU, bounded ingest). Appending to the journal
//! writes a few hundred bytes per record, sequentially; the fold
//! ([`crate::Db::fold_journal`]) applies many batches to the tables in one transaction, where
//! each dirtied page carries many records. The fold records the last sequence it applied
//! in the same transaction (`ingest_folded`), so a batch is applied exactly once even when
//! the server dies between folding and [`IngestJournal::forget_through`].

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{OpenFlags, OptionalExtension, TransactionBehavior};

use super::conn::{Shared, lock, open_shared, sql};
use crate::sql::{DbError, Result};
use relops_ingest::Record;

/// The first byte of an entry's records in the binary encoding: a JSON array (how entries
/// were written before) starts with `[`, so both are told apart and a journal left by an
/// older relops is still folded.
const POSTCARD: u8 = 1;

/// A batch's records as journalled: [`POSTCARD`], then the records in postcard's encoding
/// (no field names: about half the bytes of JSON, several times cheaper to write and read
/// — the journal is written and read once per record on the ingest path).
fn encode(records: &[Record]) -> Result<Vec<u8>> {
    postcard::to_extend(records, vec![POSTCARD])
        .map_err(|e| DbError::Writer(format!("encoding ingest records: {e}")))
}

/// The records of an entry written by [`encode`], or as JSON by an older relops.
fn decode(bytes: &[u8]) -> std::result::Result<Vec<Record>, String> {
    match bytes.split_first() {
        Some((&POSTCARD, rest)) => match postcard::take_from_bytes::<Vec<Record>>(rest) {
            Ok((records, [])) => Ok(records),
            Ok((_, extra)) => Err(format!("{} bytes after the records", extra.len())),
            Err(e) => Err(e.to_string()),
        },
        Some((b'[', _)) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        _ => Err("neither the binary nor the JSON encoding".to_owned()),
    }
}

/// One journalled batch of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub seq: i64,
    pub product: String,
    /// When the server received it.
    pub at: DateTime<Utc>,
    pub records: Vec<Record>,
}

/// The journal file (see the module documentation).
#[derive(Debug, Clone)]
pub struct IngestJournal {
    /// Appends and removals.
    conn: Shared,
    /// Reads ([`IngestJournal::read_after`]) on a connection of their own: in WAL mode
    /// they never wait for an append, and an append never waits for a read — the fold
    /// reads at a low CPU priority, and holding the writer's connection while it decoded
    /// would hold up every request behind it.
    reader: Shared,
    path: PathBuf,
}

/// The journal's page size. SQLite writes every page a commit touches to the WAL whole,
/// and an append touches about five whatever their size (the new leaf, its parent, the
/// database header's page, `sqlite_sequence`, the overflow pages of a batch's records), so
/// small pages write less than half of what 4 KiB pages write per append (bench/RESULTS.md).
/// The journal holds a few unfolded batches, read in order, so small pages cost its reads
/// nothing that matters.
const PAGE_SIZE: u32 = 1024;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS ingest_journal (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    product  TEXT NOT NULL,
    at       TEXT NOT NULL,
    records  BLOB NOT NULL
)";

impl IngestJournal {
    /// The journal file of the database file `db`: `relops.db` → `relops.ingest-journal.db`.
    pub(crate) fn path_for(db: &Path) -> PathBuf {
        let stem = db
            .file_stem()
            .map_or_else(|| "relops".into(), |s| s.to_string_lossy().into_owned());
        db.with_file_name(format!("{stem}.ingest-journal.db"))
    }

    /// Opens (or creates) the journal at `path`, durable like the database (WAL,
    /// `synchronous = FULL`), with pages of [`PAGE_SIZE`] (a journal an older relops made
    /// with larger pages is rewritten once).
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = open_shared(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            "the ingest journal",
            Some(PAGE_SIZE),
        )?;
        {
            let c = lock(&conn)?;
            c.execute_batch(SCHEMA).map_err(sql)?;
            let size: u32 = c
                .pragma_query_value(None, "page_size", |r| r.get(0))
                .map_err(sql)?;
            if size != PAGE_SIZE {
                // A WAL database keeps its page size: leave WAL mode to rebuild it.
                c.execute_batch(&format!(
                    "PRAGMA journal_mode = DELETE; PRAGMA page_size = {PAGE_SIZE}; VACUUM; \
                     PRAGMA journal_mode = WAL"
                ))
                .map_err(|e| {
                    DbError::Sqlite(format!(
                        "rewriting the ingest journal {} with {PAGE_SIZE}-byte pages: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        let reader = open_shared(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            "the ingest journal",
            None,
        )?;
        Ok(Self {
            conn,
            reader,
            path: path.to_owned(),
        })
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one batch (a row per product) in one transaction and returns the last
    /// sequence number written. When this returns, the batch is on disk. Blocking.
    pub fn append(&self, batch: &[(&str, &[Record])], at: DateTime<Utc>) -> Result<i64> {
        let mut conn = lock(&self.conn)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let at = crate::sql::ts(at);
        let mut last = 0;
        {
            let mut q = tx
                .prepare_cached(
                    "INSERT INTO ingest_journal (product, at, records) VALUES ($1, $2, $3)",
                )
                .map_err(sql)?;
            for (product, records) in batch {
                q.execute((product, &at, encode(records)?)).map_err(sql)?;
                last = tx.last_insert_rowid();
            }
        }
        tx.commit().map_err(sql)?;
        Ok(last)
    }

    /// The oldest entries after `after`, at least one and otherwise as many as keep the
    /// records under `max_records`. Blocking.
    pub fn read_after(&self, after: i64, max_records: usize) -> Result<Vec<JournalEntry>> {
        let conn = lock(&self.reader)?;
        let mut q = conn
            .prepare_cached(
                "SELECT seq, product, at, records FROM ingest_journal WHERE seq > $1 ORDER BY seq",
            )
            .map_err(sql)?;
        let mut rows = q.query([after]).map_err(sql)?;
        let mut out: Vec<JournalEntry> = Vec::new();
        let mut n = 0;
        while let Some(r) = rows.next().map_err(sql)? {
            let seq: i64 = r.get(0).map_err(sql)?;
            let at: String = r.get(2).map_err(sql)?;
            let records = r
                .get_ref(3)
                .map_err(sql)?
                .as_blob()
                .map_err(|e| e.to_string())
                .and_then(decode)
                .map_err(|e| {
                    DbError::Corrupt(format!("ingest journal entry {seq} is not readable: {e}"))
                })?;
            if !out.is_empty() && n + records.len() > max_records {
                break;
            }
            n += records.len();
            out.push(JournalEntry {
                seq,
                product: r.get(1).map_err(sql)?,
                at: at.parse().map_err(|e| {
                    DbError::Corrupt(format!("ingest journal entry {seq}: time {at:?}: {e}"))
                })?,
                records,
            });
        }
        Ok(out)
    }

    /// The last sequence number ever appended (0 for a new journal). Blocking.
    pub fn last_seq(&self) -> Result<i64> {
        let conn = lock(&self.conn)?;
        Ok(conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'ingest_journal'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(sql)?
            .unwrap_or(0))
    }

    /// Makes the next entry's number at least `seq + 1`. For a journal that numbers below
    /// what the database has folded already — its file was lost or replaced while the
    /// database kept its fold mark — whose new entries would otherwise be taken as folded
    /// and never applied. Blocking.
    pub fn continue_after(&self, seq: i64) -> Result<()> {
        let mut conn = lock(&self.conn)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        // `sqlite_sequence` has the table's row once anything was ever appended.
        let changed = tx
            .execute(
                "UPDATE sqlite_sequence SET seq = max(seq, $1) WHERE name = 'ingest_journal'",
                [seq],
            )
            .map_err(sql)?;
        if changed == 0 {
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('ingest_journal', $1)",
                [seq],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// Removes the entries up to `seq`, once they are folded. Blocking.
    pub fn forget_through(&self, seq: i64) -> Result<()> {
        let conn = lock(&self.conn)?;
        conn.execute("DELETE FROM ingest_journal WHERE seq <= $1", [seq])
            .map_err(sql)?;
        Ok(())
    }
}
