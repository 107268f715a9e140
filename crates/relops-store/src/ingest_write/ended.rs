//! The sessions that have ended in the last [`ENDED_DAYS`] days, kept in memory by the
//! SQLite ingest writer so that a retried end is not counted twice — without a row per
//! session upserted under its random id, which dirtied a page of a large index per record
//! and was most of a fold's cost. Each ended session is appended to `ended_sessions` in the
//! transaction that counts it (rows in time order, at the end of the table) and added here
//! once that transaction has committed; on start the writer loads the window back.
//!
//! A session is remembered by a 64-bit key: SipHash-1-3 of product and id under the
//! database's own random 128-bit key (`ingest_hash_key`, made by the migration), so ids a
//! client chooses cannot be made to collide, and a row holds the key and the day — about
//! 19 bytes instead of the ~75 that product, id and time took as text. Two of ten million
//! sessions share a key with a probability near 3 · 10⁻⁶, and then one end goes
//! uncounted. Memory: a slot of the hash set (9 bytes, the set at most 7/8 full and grown
//! by doubling) and an entry of its day's list (8 bytes) per session ended in the window —
//! 20–40 bytes.
//!
//! The window is whole UTC days: a day's sessions are forgotten together once the day is
//! more than [`ENDED_DAYS`] behind, and their rows deleted up to the day's last row id.

use std::collections::VecDeque;
use std::hash::Hasher;

use chrono::{DateTime, Utc};

use crate::sql::{DbError, Result};
use foldhash::HashSet as FastSet;

/// How long an ended session is remembered at least (whole UTC days after the day it
/// ended, so 7–8 days): a retried end that arrives later than that counts again. Sentry's
/// own server refuses session updates more than 5 days old.
pub const ENDED_DAYS: i64 = 7;

/// The sessions ended in the window, by UTC day.
#[derive(Debug)]
pub(crate) struct EndedSessions {
    /// The database's hash key.
    hash_key: (u64, u64),
    all: FastSet<u64>,
    days: VecDeque<Day>,
}

/// The sessions that ended on one day, and the last `ended_sessions` row among them.
#[derive(Debug)]
struct Day {
    day: i64,
    through: i64,
    keys: Vec<u64>,
}

/// Days since the Unix epoch of `t`.
pub(crate) fn day_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

impl EndedSessions {
    /// An empty window whose keys are made under `hash_key`.
    pub(crate) fn new(hash_key: (u64, u64)) -> Self {
        Self {
            hash_key,
            all: FastSet::default(),
            days: VecDeque::new(),
        }
    }

    /// The key of `product`'s session `id`.
    pub(crate) fn key(&self, product: &str, id: &str) -> u64 {
        let mut h = siphasher::sip::SipHasher13::new_with_keys(self.hash_key.0, self.hash_key.1);
        // The product's length first: ("ab", "c") and ("a", "bc") are different sessions.
        h.write(&(product.len() as u64).to_le_bytes());
        h.write(product.as_bytes());
        h.write(id.as_bytes());
        h.finish()
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.all.contains(&key)
    }

    /// Notes sessions that ended on `day`, the last of them stored as row `through`
    /// (nothing if `keys` is empty).
    pub(crate) fn add(&mut self, day: i64, through: i64, keys: Vec<u64>) {
        if keys.is_empty() {
            return;
        }
        // A clock set back files them under the newest day: days stay in order.
        let fresh = self.days.back().is_none_or(|d| d.day < day);
        if fresh {
            self.days.push_back(Day {
                day,
                through,
                keys: Vec::new(),
            });
        }
        let last = self.days.back_mut().expect("pushed above");
        last.through = last.through.max(through);
        for k in keys {
            if self.all.insert(k) {
                last.keys.push(k);
            }
        }
    }

    /// Forgets the days more than [`ENDED_DAYS`] before `today`; returns the last
    /// `ended_sessions` row of those, which may then be deleted.
    pub(crate) fn expire(&mut self, today: i64) -> Option<i64> {
        let mut through = None;
        while self
            .days
            .front()
            .is_some_and(|d| d.day < today - ENDED_DAYS)
        {
            let d = self.days.pop_front().expect("checked");
            for k in &d.keys {
                self.all.remove(k);
            }
            through = Some(d.through);
        }
        if through.is_some() {
            self.all.shrink_to_fit();
        }
        through
    }

    /// How many sessions are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }

    /// Loads the window ending on `today` from `ended_sessions`, deleting the rows before it
    /// (after converting the rows an older relops wrote as text, if any).
    pub(crate) fn load(conn: &rusqlite::Connection, today: i64) -> Result<Self> {
        let sql = |e: rusqlite::Error| DbError::Sqlite(format!("reading ended_sessions: {e}"));
        let (k0, k1): (i64, i64) = conn
            .query_row("SELECT k0, k1 FROM ingest_hash_key", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(sql)?;
        // The key's bits, stored as SQLite's signed integers.
        let mut me = Self::new((k0.cast_unsigned(), k1.cast_unsigned()));
        me.convert_text_rows(conn)?;
        let mut q = conn
            .prepare("SELECT rowid, key, day FROM ended_sessions ORDER BY rowid")
            .map_err(sql)?;
        let mut rows = q.query([]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let key: i64 = r.get(1).map_err(sql)?;
            me.add(
                r.get(2).map_err(sql)?,
                r.get(0).map_err(sql)?,
                vec![key.cast_unsigned()],
            );
        }
        drop(rows);
        drop(q);
        if let Some(through) = me.expire(today) {
            conn.execute("DELETE FROM ended_sessions WHERE rowid <= $1", [through])
                .map_err(sql)?;
        }
        Ok(me)
    }

    /// Rewrites the rows of `ended_sessions_text` (product, id and end time as text, as
    /// relops wrote them before migration 0013) as keys and days in `ended_sessions`, in
    /// their order, and drops that table — in one transaction. Nothing if it is gone.
    fn convert_text_rows(&self, conn: &rusqlite::Connection) -> Result<()> {
        let sql = |e: rusqlite::Error| DbError::Sqlite(format!("converting ended_sessions: {e}"));
        let old: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ended_sessions_text'",
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if old == 0 {
            return Ok(());
        }
        let tx = conn.unchecked_transaction().map_err(sql)?;
        {
            let mut read = tx
                .prepare(
                    "SELECT product, session_id, ended_at FROM ended_sessions_text ORDER BY rowid",
                )
                .map_err(sql)?;
            let mut write = tx
                .prepare("INSERT INTO ended_sessions (key, day) VALUES ($1, $2)")
                .map_err(sql)?;
            let mut rows = read.query([]).map_err(sql)?;
            while let Some(r) = rows.next().map_err(sql)? {
                let at: String = r.get(2).map_err(sql)?;
                let ended: DateTime<Utc> = at.parse().map_err(|e| {
                    DbError::Corrupt(format!("ended_sessions.ended_at = {at}: {e}"))
                })?;
                let product: String = r.get(0).map_err(sql)?;
                let id: String = r.get(1).map_err(sql)?;
                let key = self.key(&product, &id).cast_signed();
                write.execute((key, day_of(ended))).map_err(sql)?;
            }
        }
        tx.execute("DROP TABLE ended_sessions_text", [])
            .map_err(sql)?;
        tx.commit().map_err(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::{ENDED_DAYS, EndedSessions};

    #[test]
    fn remembers_a_window_of_days() {
        let mut e = EndedSessions::new((1, 2));
        let (a, b, c) = (
            e.key("wizard", "a"),
            e.key("wizard", "b"),
            e.key("other", "a"),
        );
        assert_ne!(a, c, "the product is part of the key");
        assert_ne!(
            e.key("ab", "c"),
            e.key("a", "bc"),
            "product and id are told apart"
        );
        assert_eq!(
            a,
            EndedSessions::new((1, 2)).key("wizard", "a"),
            "the same under the same hash key (they are stored)"
        );
        assert_ne!(a, EndedSessions::new((1, 3)).key("wizard", "a"));
        e.add(100, 1, vec![a]);
        e.add(101, 2, vec![b]);
        assert!(e.contains(a) && e.contains(b) && !e.contains(c));
        assert_eq!(
            e.expire(100 + ENDED_DAYS),
            None,
            "day 100 is still in the window"
        );
        assert_eq!(e.expire(101 + ENDED_DAYS), Some(1));
        assert!(!e.contains(a) && e.contains(b));
        assert_eq!(e.len(), 1);
        // A clock set back: filed under the newest day, expired with it.
        e.add(99, 3, vec![c]);
        assert_eq!(e.expire(102 + ENDED_DAYS), Some(3));
        assert_eq!(e.len(), 0);
        // A batch that ended nothing notes no day (and no row to delete).
        let mut none = EndedSessions::new((1, 2));
        none.add(100, 0, Vec::new());
        assert_eq!(none.expire(200), None);
    }
}
