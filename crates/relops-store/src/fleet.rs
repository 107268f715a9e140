//! The fleet's health across replicas (issue 28 part 1). On PostgreSQL the transaction
//! that stores an ingest batch also appends what the health engine counts of it (its
//! [`Tally`]s, one row per batch) to `health_log`, under the writing replica's name and
//! transaction id. Every replica reads the rows the others wrote, in a stable order, and
//! counts them too: every replica judges the whole fleet.
//!
//! The order is `(xid, seq)`, and a row is read only once every transaction with a smaller
//! id has ended (`xid < pg_snapshot_xmin(pg_current_snapshot())`): a sequence alone is
//! handed out before commit, so a reader going by it would pass over a row whose
//! transaction commits late. Read that way, nothing is skipped and nothing is read twice.
//! The cost is latency while a long write transaction runs elsewhere in the database.
//!
//! After a restart the engine is rebuilt from the ingest tables ([`Db::health_replay`]),
//! read in one snapshot; the reader then starts at that snapshot's oldest running
//! transaction and passes over rows the snapshot already saw. Rows are pruned with the
//! install marks (25 h). SQLite is one process: nothing is written or read.

use chrono::{DateTime, Utc};
use relops_ingest::Tally;
use sqlx::Row;

use crate::pool::Db;
use crate::sql::{Backend, DbError, Result, ts};

/// Where a replica has read the log up to, and what its rebuilt state already holds.
#[derive(Debug, Clone, Default)]
pub struct FleetCursor {
    /// The last `(xid, seq)` read.
    after: (u64, i64),
    /// The snapshot the engine was rebuilt in, until the cursor has passed its `xmax`.
    seen: Option<Snapshot>,
}

/// A PostgreSQL snapshot (`pg_current_snapshot()`): transactions below `xmin` had ended,
/// those from `xmax` on had not begun, `xip` were running.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    xmin: u64,
    xmax: u64,
    xip: Vec<u64>,
}

impl Snapshot {
    /// Parses `xmin:xmax:xip,…`.
    fn parse(text: &str) -> Result<Self> {
        let bad = || DbError::Corrupt(format!("pg_current_snapshot() = {text}"));
        let mut parts = text.split(':');
        let mut next = || parts.next().ok_or_else(bad);
        let xmin = next()?.parse().map_err(|_| bad())?;
        let xmax = next()?.parse().map_err(|_| bad())?;
        let xip = next()?
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        Ok(Self { xmin, xmax, xip })
    }

    /// Were the writes of transaction `xid` visible in this snapshot?
    fn saw(&self, xid: u64) -> bool {
        xid < self.xmin || (xid < self.xmax && !self.xip.contains(&xid))
    }
}

impl FleetCursor {
    /// The cursor of an engine rebuilt in the snapshot `pg_current_snapshot()` printed as
    /// `text`: everything from its oldest running transaction on, less what it saw.
    pub(crate) fn after_snapshot(text: &str) -> Result<Self> {
        let seen = Snapshot::parse(text)?;
        Ok(Self {
            after: (seen.xmin, 0),
            seen: Some(seen),
        })
    }
}

/// Another replica's batch, as the health engine counts it.
#[derive(Debug, Clone)]
pub struct SharedBatch {
    pub product: String,
    /// When that replica stored it.
    pub at: DateTime<Utc>,
    pub tallies: Vec<Tally<'static>>,
}

/// The log's text of `tallies`; none for none.
pub(crate) fn tallies_json(tallies: &[Tally<'_>]) -> Result<Option<String>> {
    if tallies.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(tallies)
        .map(Some)
        .map_err(|e| DbError::Corrupt(format!("writing tallies: {e}")))
}

/// Appends what `tallies` count to the log inside `tx` (PostgreSQL; nothing for none).
pub(crate) async fn share_in(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    product: &str,
    tallies: &[Tally<'_>],
    at: &str,
) -> Result<()> {
    if db.backend() != Backend::Postgres {
        return Ok(());
    }
    let Some(json) = tallies_json(tallies)? else {
        return Ok(());
    };
    sqlx::query("INSERT INTO health_log (origin, product, at, tallies) VALUES ($1, $2, $3, $4)")
        .bind(db.origin())
        .bind(product)
        .bind(at)
        .bind(json)
        .execute(tx)
        .await?;
    Ok(())
}

impl Db {
    /// Tells the other replicas about something this one counted outside an ingest batch
    /// (a crash a stack rule classed critical). Nothing on SQLite.
    pub async fn share_tallies(
        &self,
        product: &str,
        tallies: &[Tally<'_>],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        share_in(&mut tx, self, product, tallies, &ts(at)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The other replicas' batches after `cursor`, at most `limit` rows of the log, in
    /// the log's order; advances `cursor` past them (and past this replica's own rows,
    /// counted when they were written); and whether the page was full (more may wait).
    /// Nothing on SQLite.
    pub async fn shared_tallies(
        &self,
        cursor: &mut FleetCursor,
        limit: u32,
    ) -> Result<(Vec<SharedBatch>, bool)> {
        if self.backend() != Backend::Postgres {
            return Ok((Vec::new(), false));
        }
        let rows = sqlx::query(
            "SELECT seq, xid::text AS xid, product, at, \
             CASE WHEN origin = $1 THEN NULL ELSE tallies END AS tallies FROM health_log \
             WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) \
             AND (xid, seq) > ($2::text::xid8, $3) ORDER BY xid, seq LIMIT $4",
        )
        .bind(self.origin())
        .bind(cursor.after.0.to_string())
        .bind(cursor.after.1)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        // Advanced on a copy: an error leaves the cursor where it was, nothing lost.
        let mut next = cursor.clone();
        let mut out = Vec::new();
        for r in &rows {
            let xid: String = r.try_get("xid")?;
            let xid: u64 = xid
                .parse()
                .map_err(|_| DbError::Corrupt(format!("health_log.xid = {xid}")))?;
            let product: String = r.try_get("product")?;
            let at = crate::sql::parse(r, "at")?;
            next.after = (xid, r.try_get("seq")?);
            let Some(json) = r.try_get::<Option<String>, _>("tallies")? else {
                continue;
            };
            if next.seen.as_ref().is_some_and(|s| s.saw(xid)) {
                continue;
            }
            // A row this build cannot read (written by a newer replica during a rolling
            // upgrade) is passed over: the rest of the fleet's figures still arrive.
            let tallies: Vec<Tally<'_>> = match serde_json::from_str(&json) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(seq = next.after.1, error = %e, "passing over another replica's health tallies this version cannot read");
                    continue;
                }
            };
            out.push(SharedBatch {
                product,
                at,
                tallies: tallies.into_iter().map(Tally::into_owned).collect(),
            });
        }
        if next.seen.as_ref().is_some_and(|s| next.after.0 >= s.xmax) {
            next.seen = None;
        }
        *cursor = next;
        Ok((out, rows.len() == limit as usize))
    }
}

/// The name a batch's tallies carry, so that the replica that wrote them does not count
/// them twice: new for every process.
pub(crate) fn new_origin() -> std::sync::Arc<str> {
    uuid::Uuid::new_v4().simple().to_string().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_says_what_it_saw() {
        let s = Snapshot::parse("100:105:100,103").unwrap();
        assert_eq!(s.xip, [100, 103]);
        assert!(s.saw(99) && s.saw(101) && s.saw(102) && s.saw(104));
        assert!(!s.saw(100) && !s.saw(103) && !s.saw(105) && !s.saw(200));
        assert_eq!(Snapshot::parse("7:7:").unwrap().xip, Vec::<u64>::new());
        assert!(Snapshot::parse("7:x:").is_err());
        assert!(Snapshot::parse("7").is_err());
    }
}
