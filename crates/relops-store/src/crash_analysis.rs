//! Crash analysis (migration 0027): symbol files, one analysis per crash, the modules a
//! crash still lacks symbols for, and crash groups.
//!
//! The queue is the `crash_analyses` table: [`Db::enqueue_new_crashes`] adds a `pending`
//! row for every crash stored since a time that has none; the worker takes pending rows
//! ([`Db::pending_crashes`]) and writes each result with [`Db::save_analysis`]. Symbols
//! arriving set the crashes that lacked them back to `pending`. Two replicas may process
//! the same crash; both write the same result.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{Result, count, parse, parse_opt, ts};

/// A stored symbol file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolRecord {
    pub module: String,
    pub debug_id: String,
    pub os: String,
    pub arch: String,
    pub release: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub blob_key: String,
    pub uploaded_at: DateTime<Utc>,
}

/// A crash to process: where its dump is (the event row's payload) and what it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCrash {
    pub product: String,
    pub crash_id: String,
    pub release: String,
    pub channel: String,
    pub platform: String,
    pub install_id: Option<String>,
    /// The critical rule that classed it when it arrived.
    pub critical: Option<String>,
    pub received_at: DateTime<Utc>,
    pub attempts: u32,
    /// The crash event's stored payload (where its dump is, its event).
    pub payload: String,
}

/// A crash's analysis as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRecord {
    pub crash_id: String,
    pub status: String,
    pub group_id: Option<String>,
    /// The analysis JSON.
    pub result: String,
    pub processed_at: Option<DateTime<Utc>>,
}

/// The outcome of processing one crash.
#[derive(Debug, Clone)]
pub struct AnalysisOutcome<'a> {
    pub status: &'a str,
    pub result: String,
    /// The group (id, fingerprint, signature, exception), when the crash has one.
    pub group: Option<(&'a str, &'a str, &'a str, Option<&'a str>)>,
    /// (module, debug id) pairs it has no symbols for.
    pub missing: &'a [(String, String)],
    /// When the crash was received (the group's first or last sighting).
    pub at: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
    /// The critical rule its stack matched: the crash is classed so unless it was
    /// critical already.
    pub critical: Option<&'a str>,
}

/// A crash group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: String,
    pub fingerprint: String,
    pub signature: String,
    pub exception: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub fixed_in: Option<String>,
}

/// A group's crashes in one release on one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStat {
    pub group_id: String,
    pub release: String,
    pub platform: String,
    pub count: u64,
    pub installs: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

fn group_from_row(r: &sqlx::any::AnyRow) -> Result<GroupRecord> {
    Ok(GroupRecord {
        id: r.try_get("id")?,
        fingerprint: r.try_get("fingerprint")?,
        signature: r.try_get("signature")?,
        exception: r.try_get("exception")?,
        first_seen: parse(r, "first_seen")?,
        last_seen: parse(r, "last_seen")?,
        fixed_in: r.try_get("fixed_in")?,
    })
}

fn symbol_from_row(r: &sqlx::any::AnyRow) -> Result<SymbolRecord> {
    Ok(SymbolRecord {
        module: r.try_get("module")?,
        debug_id: r.try_get("debug_id")?,
        os: r.try_get("os")?,
        arch: r.try_get("arch")?,
        release: r.try_get("release")?,
        size: count(r, "size")?,
        sha256: r.try_get("sha256")?,
        blob_key: r.try_get("blob_key")?,
        uploaded_at: parse(r, "uploaded_at")?,
    })
}

const SYMBOL_COLUMNS: &str =
    "module, debug_id, os, arch, release, size, sha256, blob_key, uploaded_at";

impl Db {
    /// Stores a symbol file's row (replacing one for the same module and debug id), queues
    /// again the crashes that lacked it, and appends the audit entry, in one transaction.
    /// Returns how many crashes were queued.
    pub async fn save_symbols(
        &self,
        product: &str,
        s: &SymbolRecord,
        by: &str,
        audit: &AuditRecord,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO crash_symbols (product, module, debug_id, os, arch, release, size, \
             sha256, blob_key, uploaded_at, uploaded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (product, module, debug_id) DO UPDATE SET os = excluded.os, \
             arch = excluded.arch, release = excluded.release, size = excluded.size, \
             sha256 = excluded.sha256, blob_key = excluded.blob_key, \
             uploaded_at = excluded.uploaded_at, uploaded_by = excluded.uploaded_by",
        )
        .bind(product)
        .bind(&s.module)
        .bind(&s.debug_id)
        .bind(&s.os)
        .bind(&s.arch)
        .bind(s.release.as_deref())
        .bind(i64::try_from(s.size).unwrap_or(i64::MAX))
        .bind(&s.sha256)
        .bind(&s.blob_key)
        .bind(ts(s.uploaded_at))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        let queued = sqlx::query(
            "UPDATE crash_analyses SET status = 'pending', attempts = 0 \
             WHERE product = $1 AND crash_id IN (SELECT crash_id FROM crash_missing_symbols \
             WHERE product = $1 AND module = $2 AND debug_id = $3)",
        )
        .bind(product)
        .bind(&s.module)
        .bind(&s.debug_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM crash_missing_symbols WHERE product = $1 AND module = $2 AND debug_id = $3",
        )
        .bind(product)
        .bind(&s.module)
        .bind(&s.debug_id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// The symbol file of a module, if uploaded.
    pub async fn symbols_of(
        &self,
        product: &str,
        module: &str,
        debug_id: &str,
    ) -> Result<Option<SymbolRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SYMBOL_COLUMNS} FROM crash_symbols \
             WHERE product = $1 AND module = $2 AND debug_id = $3"
        )))
        .bind(product)
        .bind(module)
        .bind(debug_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(symbol_from_row)
        .transpose()
    }

    /// Symbol files of a product (of one release, if named), newest first (at most 1000).
    pub async fn symbol_files(
        &self,
        product: &str,
        release: Option<&str>,
    ) -> Result<Vec<SymbolRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SYMBOL_COLUMNS} FROM crash_symbols WHERE product = $1 \
             AND ($2 IS NULL OR release = $2) ORDER BY uploaded_at DESC, module LIMIT 1000"
        )))
        .bind(product)
        .bind(release)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(symbol_from_row)
        .collect()
    }

    /// Adds a pending analysis for every crash received since `since` that has none.
    /// Returns how many were added.
    pub async fn enqueue_new_crashes(&self, since: DateTime<Utc>) -> Result<u64> {
        Ok(sqlx::query(
            "INSERT INTO crash_analyses (product, crash_id, release, platform, install_id, \
             received_at, status, result) \
             SELECT e.product, e.event_id, e.release, e.platform, e.install_id, e.received_at, \
             'pending', '{}' FROM ingest_events e \
             WHERE e.kind = 'crash' AND e.received_at >= $1 AND NOT EXISTS \
             (SELECT 1 FROM crash_analyses a WHERE a.product = e.product AND a.crash_id = e.event_id) \
             ON CONFLICT (product, crash_id) DO NOTHING",
        )
        .bind(ts(since))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Up to `limit` pending crashes, oldest first, with their event's payload; each taken
    /// counts an attempt, and a crash taken `max_attempts` times without a result (it
    /// stopped the server, say) ends as unprocessable instead of staying in the backlog.
    pub async fn pending_crashes(
        &self,
        limit: u32,
        max_attempts: u32,
    ) -> Result<Vec<PendingCrash>> {
        let gave_up = serde_json::json!({
            "status": "unprocessable",
            "reason": format!("processing did not finish in {max_attempts} tries (`[crashes] max_attempts`)"),
        })
        .to_string();
        sqlx::query(
            "UPDATE crash_analyses SET status = 'unprocessable', result = $2 \
             WHERE status = 'pending' AND attempts >= $1",
        )
        .bind(i64::from(max_attempts))
        .bind(&gave_up)
        .execute(&self.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT a.product, a.crash_id, a.release, e.channel, e.platform, e.install_id, \
             e.critical, a.received_at, a.attempts, e.payload \
             FROM crash_analyses a JOIN ingest_events e \
             ON e.product = a.product AND e.event_id = a.crash_id \
             WHERE a.status = 'pending' AND a.attempts < $1 ORDER BY a.received_at LIMIT $2",
        )
        .bind(i64::from(max_attempts))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let p = PendingCrash {
                product: r.try_get("product")?,
                crash_id: r.try_get("crash_id")?,
                release: r.try_get("release")?,
                channel: r.try_get("channel")?,
                platform: r.try_get("platform")?,
                install_id: r.try_get("install_id")?,
                critical: r.try_get("critical")?,
                received_at: parse(r, "received_at")?,
                attempts: u32::try_from(count(r, "attempts")?).unwrap_or(u32::MAX),
                payload: r.try_get("payload")?,
            };
            sqlx::query(
                "UPDATE crash_analyses SET attempts = attempts + 1 WHERE product = $1 AND crash_id = $2",
            )
            .bind(&p.product)
            .bind(&p.crash_id)
            .execute(&self.pool)
            .await?;
            out.push(p);
        }
        Ok(out)
    }

    /// Crashes still pending (of one release, if named).
    pub async fn pending_count(&self, product: &str, release: Option<&str>) -> Result<u64> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM crash_analyses WHERE product = $1 \
             AND ($2 IS NULL OR release = $2) AND status = 'pending'",
        )
        .bind(product)
        .bind(release)
        .fetch_one(&self.pool)
        .await?;
        count(&r, "n")
    }

    /// Writes a crash's analysis, its group (made or its sightings moved), the modules it
    /// lacks symbols for and the critical rule its stack matched, in one transaction.
    /// Returns whether the crash became critical by it.
    pub async fn save_analysis(
        &self,
        product: &str,
        crash_id: &str,
        o: &AnalysisOutcome<'_>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let mut became_critical = false;
        if let Some(rule) = o.critical {
            became_critical = sqlx::query(
                "UPDATE ingest_events SET critical = $3 WHERE product = $1 AND event_id = $2 \
                 AND kind = 'crash' AND critical IS NULL",
            )
            .bind(product)
            .bind(crash_id)
            .bind(rule)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        }
        if let Some((id, fingerprint, signature, exception)) = o.group {
            sqlx::query(
                "INSERT INTO crash_groups (product, id, fingerprint, signature, exception, \
                 first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (product, id) DO UPDATE SET \
                 first_seen = CASE WHEN excluded.first_seen < crash_groups.first_seen \
                 THEN excluded.first_seen ELSE crash_groups.first_seen END, \
                 last_seen = CASE WHEN crash_groups.last_seen < excluded.last_seen \
                 THEN excluded.last_seen ELSE crash_groups.last_seen END",
            )
            .bind(product)
            .bind(id)
            .bind(fingerprint)
            .bind(signature)
            .bind(exception)
            .bind(ts(o.at))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE crash_analyses SET status = $3, result = $4, group_id = $5, processed_at = $6 \
             WHERE product = $1 AND crash_id = $2",
        )
        .bind(product)
        .bind(crash_id)
        .bind(o.status)
        .bind(&o.result)
        .bind(o.group.map(|g| g.0))
        .bind(ts(o.processed_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM crash_missing_symbols WHERE product = $1 AND crash_id = $2")
            .bind(product)
            .bind(crash_id)
            .execute(&mut *tx)
            .await?;
        for (module, debug_id) in o.missing {
            sqlx::query(
                "INSERT INTO crash_missing_symbols (product, module, debug_id, crash_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(product)
            .bind(module)
            .bind(debug_id)
            .bind(crash_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(became_critical)
    }

    /// The analyses of the given crashes.
    pub async fn analyses(&self, product: &str, ids: &[&str]) -> Result<Vec<AnalysisRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        // Lists are at most 1000 crashes; chunks keep the statement's parameters few.
        for chunk in ids.chunks(100) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT crash_id, status, group_id, result, processed_at FROM crash_analyses \
                 WHERE product = $1 AND crash_id IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(product);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(AnalysisRecord {
                    crash_id: r.try_get("crash_id")?,
                    status: r.try_get("status")?,
                    group_id: r.try_get("group_id")?,
                    result: r.try_get("result")?,
                    processed_at: parse_opt(&r, "processed_at")?,
                });
            }
        }
        Ok(out)
    }

    /// A group by id.
    pub async fn crash_group(&self, product: &str, id: &str) -> Result<Option<GroupRecord>> {
        sqlx::query(
            "SELECT id, fingerprint, signature, exception, first_seen, last_seen, fixed_in \
             FROM crash_groups WHERE product = $1 AND id = $2",
        )
        .bind(product)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(group_from_row)
        .transpose()
    }

    /// The groups with crashes in `release`, and every release's figures of those groups.
    pub async fn groups_of_release(
        &self,
        product: &str,
        release: &str,
    ) -> Result<(Vec<GroupRecord>, Vec<GroupStat>)> {
        let groups = sqlx::query(
            "SELECT id, fingerprint, signature, exception, first_seen, last_seen, fixed_in \
             FROM crash_groups WHERE product = $1 AND id IN \
             (SELECT group_id FROM crash_analyses WHERE product = $1 AND release = $2 \
             AND group_id IS NOT NULL)",
        )
        .bind(product)
        .bind(release)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(group_from_row)
        .collect::<Result<Vec<_>>>()?;
        let stats = self
            .group_stats(
                product,
                "group_id IN (SELECT group_id FROM crash_analyses WHERE product = $1 \
                 AND release = $2 AND group_id IS NOT NULL)",
                release,
            )
            .await?;
        Ok((groups, stats))
    }

    /// One group's figures per release and platform.
    pub async fn group_history(&self, product: &str, id: &str) -> Result<Vec<GroupStat>> {
        self.group_stats(product, "group_id = $2", id).await
    }

    async fn group_stats(&self, product: &str, filter: &str, arg: &str) -> Result<Vec<GroupStat>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT group_id, release, platform, COUNT(*) AS n, \
             COUNT(DISTINCT install_id) AS installs, MIN(received_at) AS first_seen, \
             MAX(received_at) AS last_seen FROM crash_analyses \
             WHERE product = $1 AND {filter} GROUP BY group_id, release, platform"
        )))
        .bind(product)
        .bind(arg)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(GroupStat {
                group_id: r.try_get("group_id")?,
                release: r.try_get("release")?,
                platform: r.try_get("platform")?,
                count: count(r, "n")?,
                installs: count(r, "installs")?,
                first_seen: parse(r, "first_seen")?,
                last_seen: parse(r, "last_seen")?,
            })
        })
        .collect()
    }

    /// The newest crashes of a group (ids), and the result of its newest processed one.
    pub async fn group_crashes(
        &self,
        product: &str,
        id: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        sqlx::query(
            "SELECT crash_id, result FROM crash_analyses WHERE product = $1 AND group_id = $2 \
             ORDER BY received_at DESC LIMIT $3",
        )
        .bind(product)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("crash_id")?, r.try_get("result")?)))
        .collect()
    }

    /// Marks the release that fixes a group (`None`: not fixed), with its audit entry.
    pub async fn mark_group_fixed(
        &self,
        product: &str,
        id: &str,
        fixed_in: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE crash_groups SET fixed_in = $3 WHERE product = $1 AND id = $2")
            .bind(product)
            .bind(id)
            .bind(fixed_in)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
