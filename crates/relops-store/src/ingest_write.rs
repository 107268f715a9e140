//! Writing ingested records: one transaction per batch, a handful of multi-row statements
//! per batch rather than several statements per record (the per-statement cost dominated
//! ingest). The batch is folded in memory first — the sessions' known states read in one
//! query, counts summed per key, installs merged per key — so that each table gets one
//! upsert per chunk of rows, with the same result as applying the records one by one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::db::{Db, Result, ts};
use crate::ingest::{Record, Scope};

/// Rows per multi-row statement (well below SQLite's and PostgreSQL's parameter limits).
const CHUNK: usize = 400;

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

/// One bound value of a multi-row statement.
#[derive(Debug, Clone)]
enum V<'a> {
    S(&'a str),
    O(Option<&'a str>),
    I(i64),
}

async fn execute(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    head: &str,
    tail: &str,
    cols: usize,
    rows: &[Vec<V<'_>>],
) -> Result<Vec<sqlx::any::AnyRow>> {
    let mut out = Vec::new();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "{head} VALUES {} {tail}",
            placeholders(chunk.len(), cols, 1)
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

type ScopeKey<'a> = (&'a str, &'a str, &'a str);

fn key(s: &Scope) -> ScopeKey<'_> {
    (&s.release, &s.channel, &s.platform)
}

impl Db {
    /// Records one batch in one transaction. Returns, per record, whether it was new (a
    /// retried event or an already ended session is not). Idempotent: a record applied
    /// twice counts once.
    pub async fn record_ingest(
        &self,
        product: &str,
        records: &[Record],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        let t = ts(now);
        let hour = now.format("%Y-%m-%dT%H").to_string();
        let mut tx = self.begin_write().await?;
        let mut fresh = vec![false; records.len()];

        // Sessions: what the database knows, then each update in order.
        let mut sids: Vec<&str> = records
            .iter()
            .filter_map(|r| match r {
                Record::Session { session_id, .. } => Some(session_id.as_str()),
                _ => None,
            })
            .collect();
        sids.sort_unstable();
        sids.dedup();
        let mut state: HashMap<String, String> = HashMap::new();
        for chunk in sids.chunks(CHUNK) {
            let sql = format!(
                "SELECT session_id, status FROM ingest_sessions WHERE product = $1 AND session_id IN ({})",
                (2..chunk.len() + 2)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(product);
            for s in chunk {
                q = q.bind(*s);
            }
            for row in q.fetch_all(&mut *tx).await? {
                state.insert(row.try_get("session_id")?, row.try_get("status")?);
            }
        }
        // Session rows to write (their last state), counts to add, installs seen.
        let mut sessions: HashMap<&str, (&Scope, Option<&str>, &str)> = HashMap::new();
        let mut counts: HashMap<(ScopeKey<'_>, &str), i64> = HashMap::new();
        let mut seen: HashMap<(ScopeKey<'_>, &str), bool> = HashMap::new();
        let mut events: Vec<usize> = Vec::new();
        let mut memory: Vec<&Record> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            match r {
                Record::Session {
                    scope,
                    session_id,
                    install_id,
                    status,
                    crashed,
                } => {
                    let ended = status != "ok";
                    let changes = match state.get(session_id.as_str()) {
                        Some(p) => p == "ok", // an ended session stays as it ended
                        None => true,
                    };
                    if changes {
                        state.insert(session_id.clone(), status.clone());
                        sessions.insert(session_id, (scope, install_id.as_deref(), status));
                        if ended {
                            *counts.entry((key(scope), status.as_str())).or_default() += 1;
                        }
                        fresh[i] = true;
                    }
                    if let Some(install) = install_id {
                        *seen.entry((key(scope), install.as_str())).or_default() |= *crashed;
                    }
                }
                Record::Aggregate {
                    scope,
                    install_id,
                    counts: c,
                    crashed,
                } => {
                    for (status, n) in c.iter().filter(|(_, n)| *n > 0) {
                        *counts.entry((key(scope), status.as_str())).or_default() +=
                            i64::try_from(*n).unwrap_or(i64::MAX);
                    }
                    if let Some(install) = install_id {
                        *seen.entry((key(scope), install.as_str())).or_default() |= *crashed;
                    }
                    fresh[i] = true;
                }
                Record::Event { .. } => events.push(i),
                Record::Memory {
                    scope, install_id, ..
                } => {
                    memory.push(r);
                    seen.entry((key(scope), install_id.as_str())).or_default();
                    fresh[i] = true;
                }
            }
        }

        // Events: stored once per id; RETURNING names the ones that were new.
        let mut first: HashSet<&str> = HashSet::new();
        let rows: Vec<Vec<V<'_>>> = events
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
                } if first.insert(event_id.as_str()) => Some(vec![
                    V::S(product),
                    V::S(event_id),
                    V::S(&scope.release),
                    V::S(&scope.channel),
                    V::S(&scope.platform),
                    V::O(install_id.as_deref()),
                    V::S(if *crash { "crash" } else { "error" }),
                    V::O(code.as_deref()),
                    V::S(&t),
                    V::S(payload),
                    V::O(critical.as_deref()),
                ]),
                _ => None,
            })
            .collect();
        let inserted: HashSet<String> = execute(
            &mut tx,
            "INSERT INTO ingest_events (product, event_id, release, channel, platform, \
             install_id, kind, code, received_at, payload, critical)",
            "ON CONFLICT (product, event_id) DO NOTHING RETURNING event_id",
            11,
            &rows,
        )
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("event_id"))
        .collect::<std::result::Result<_, _>>()?;
        let mut errors: HashMap<(&str, &str), i64> = HashMap::new();
        let mut counted: HashSet<&str> = HashSet::new();
        for &i in &events {
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
            if !inserted.contains(event_id.as_str()) || !counted.insert(event_id.as_str()) {
                continue;
            }
            fresh[i] = true;
            if let Some(c) = code {
                *errors
                    .entry((scope.release.as_str(), c.as_str()))
                    .or_default() += 1;
            }
            if let Some(install) = install_id {
                *seen.entry((key(scope), install.as_str())).or_default() |= *crash;
            }
        }

        let rows: Vec<Vec<V<'_>>> = sessions
            .iter()
            .map(|(sid, (scope, install, status))| {
                vec![
                    V::S(product),
                    V::S(sid),
                    V::S(&scope.release),
                    V::S(&scope.channel),
                    V::S(&scope.platform),
                    V::O(*install),
                    V::S(status),
                    V::S(&t),
                ]
            })
            .collect();
        execute(
            &mut tx,
            "INSERT INTO ingest_sessions (product, session_id, release, channel, platform, \
             install_id, status, updated_at)",
            "ON CONFLICT (product, session_id) DO UPDATE SET status = excluded.status, \
             updated_at = excluded.updated_at",
            8,
            &rows,
        )
        .await?;
        let rows: Vec<Vec<V<'_>>> = counts
            .iter()
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
        execute(
            &mut tx,
            "INSERT INTO session_counts (product, release, channel, platform, status, sessions)",
            "ON CONFLICT (product, release, channel, platform, status) DO UPDATE SET \
             sessions = session_counts.sessions + excluded.sessions",
            6,
            &rows,
        )
        .await?;
        let rows: Vec<Vec<V<'_>>> = errors
            .iter()
            .map(|((release, code), n)| {
                vec![
                    V::S(product),
                    V::S(release),
                    V::S(code),
                    V::S(&hour),
                    V::I(*n),
                ]
            })
            .collect();
        execute(
            &mut tx,
            "INSERT INTO error_counts (product, release, code, hour, events)",
            "ON CONFLICT (product, release, code, hour) DO UPDATE SET \
             events = error_counts.events + excluded.events",
            5,
            &rows,
        )
        .await?;
        let rows: Vec<Vec<V<'_>>> = memory
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
                    V::S(&scope.platform),
                    V::S(install_id),
                    V::I(i64::from(*host_percent)),
                    V::S(&t),
                ]),
                _ => None,
            })
            .collect();
        execute(
            &mut tx,
            "INSERT INTO memory_warnings (product, release, channel, platform, install_id, \
             host_percent, received_at)",
            "",
            7,
            &rows,
        )
        .await?;
        let rows: Vec<Vec<V<'_>>> = seen
            .iter()
            .map(|((k, install), crashed)| {
                vec![
                    V::S(product),
                    V::S(k.0),
                    V::S(k.1),
                    V::S(k.2),
                    V::S(install),
                    V::S(&t),
                    V::O(crashed.then_some(t.as_str())),
                ]
            })
            .collect();
        execute(
            &mut tx,
            "INSERT INTO release_installs (product, release, channel, platform, install_id, \
             last_seen, crashed_at)",
            "ON CONFLICT (product, release, channel, platform, install_id) DO UPDATE SET \
             last_seen = excluded.last_seen, \
             crashed_at = COALESCE(excluded.crashed_at, release_installs.crashed_at)",
            7,
            &rows,
        )
        .await?;
        tx.commit().await?;
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn numbered_rows() {
        assert_eq!(placeholders(2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1, 5), "($5)");
    }
}
