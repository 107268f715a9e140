//! Retention's facts and removals (issue 28 part 4): the rows each data class holds, with
//! their dates and stored files; one transaction that removes a run's rows, queues their
//! files and writes the audit entries; the queue of files still to delete.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{DbError, Result, count, parse, ts};

/// A row retention may remove, by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowRef {
    Artifact {
        product: String,
        version: String,
        name: String,
    },
    /// An upload a later one of the same name replaced (`artifact_history`).
    Replaced {
        product: String,
        version: String,
        name: String,
        replaced_at: String,
    },
    Symbol {
        product: String,
        module: String,
        debug_id: String,
    },
    LogBundle {
        product: String,
        id: String,
    },
    /// Evidence files are removed; the verdict or sign-off that named them stays.
    Evidence,
}

/// A stored row and the file it names.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRef {
    pub row: RowRef,
    pub product: String,
    pub release: Option<String>,
    /// What it is, in a plan's words (artifact name, gate, module and debug id).
    pub what: String,
    pub blob_key: String,
    pub bytes: u64,
    pub since: DateTime<Utc>,
}

/// A telemetry table, the column its age is read from, and its two queries (sqlx takes
/// only literal SQL).
struct Telemetry {
    table: &'static str,
    column: &'static str,
    count: &'static str,
    delete: &'static str,
}

macro_rules! telemetry {
    ($table:literal, $column:literal) => {
        Telemetry {
            table: $table,
            column: $column,
            count: concat!(
                "SELECT product, COUNT(*) AS n FROM ",
                $table,
                " WHERE ",
                $column,
                " < $1 GROUP BY product ORDER BY product"
            ),
            delete: concat!("DELETE FROM ", $table, " WHERE ", $column, " < $1"),
        }
    };
}

/// Telemetry tables. `error_counts` is by hour. Install marks and ended sessions are pruned
/// by the ingest within days already.
const TELEMETRY: [Telemetry; 4] = [
    telemetry!("ingest_events", "received_at"),
    telemetry!("crash_analyses", "received_at"),
    telemetry!("memory_warnings", "received_at"),
    telemetry!("error_counts", "hour"),
];

/// The value telemetry rows are compared with in `column` (`hour` holds `YYYY-MM-DDTHH`).
fn telemetry_bound(column: &str, before: DateTime<Utc>) -> String {
    if column == "hour" {
        before.format("%Y-%m-%dT%H").to_string()
    } else {
        ts(before)
    }
}

impl Db {
    /// Every release: product, version, state.
    pub async fn retention_releases(&self) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query("SELECT product, version, state FROM releases")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("product")?,
                    r.try_get("version")?,
                    r.try_get("state")?,
                ))
            })
            .collect()
    }

    /// Every artifact and replaced upload, every evidence file named by a gate verdict or a
    /// checklist sign-off, every symbol file.
    pub async fn retention_stored(&self) -> Result<Vec<StoredRef>> {
        let mut out = Vec::new();
        for r in
            sqlx::query("SELECT product, version, name, size, blob_key, uploaded_at FROM artifacts")
                .fetch_all(&self.pool)
                .await?
        {
            let (product, version, name): (String, String, String) = (
                r.try_get("product")?,
                r.try_get("version")?,
                r.try_get("name")?,
            );
            out.push(StoredRef {
                release: Some(version.clone()),
                what: name.clone(),
                blob_key: r.try_get("blob_key")?,
                bytes: count(&r, "size")?,
                since: parse(&r, "uploaded_at")?,
                row: RowRef::Artifact {
                    product: product.clone(),
                    version,
                    name,
                },
                product,
            });
        }
        for r in sqlx::query(
            "SELECT product, version, name, size, blob_key, replaced_at FROM artifact_history",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let (product, version, name): (String, String, String) = (
                r.try_get("product")?,
                r.try_get("version")?,
                r.try_get("name")?,
            );
            let replaced_at: String = r.try_get("replaced_at")?;
            out.push(StoredRef {
                // A replaced upload is nobody's rollback stock: its release does not pin it.
                release: None,
                what: format!("{name} of {version} (replaced)"),
                blob_key: r.try_get("blob_key")?,
                bytes: count(&r, "size")?,
                since: parse(&r, "replaced_at")?,
                row: RowRef::Replaced {
                    product: product.clone(),
                    version,
                    name,
                    replaced_at,
                },
                product,
            });
        }
        for (sql, what) in [
            (
                "SELECT product, version, gate AS what, evidence, recorded_at AS at FROM gates",
                "gate",
            ),
            (
                "SELECT product, version, item AS what, evidence, signed_at AS at \
                 FROM checklist_signoffs WHERE evidence IS NOT NULL",
                "checklist item",
            ),
        ] {
            for r in sqlx::query(sql).fetch_all(&self.pool).await? {
                let evidence: String = r.try_get("evidence")?;
                let files = match serde_json::from_str::<Value>(&evidence) {
                    Ok(Value::Array(files)) => files,
                    Ok(one @ Value::Object(_)) => vec![one],
                    _ => Vec::new(),
                };
                let product: String = r.try_get("product")?;
                let version: String = r.try_get("version")?;
                let name: String = r.try_get("what")?;
                let since = parse(&r, "at")?;
                for f in files {
                    let Some(key) = f.get("blob_key").and_then(Value::as_str) else {
                        continue;
                    };
                    out.push(StoredRef {
                        row: RowRef::Evidence,
                        product: product.clone(),
                        release: Some(version.clone()),
                        what: format!(
                            "{what} {name}: {}",
                            f["name"].as_str().unwrap_or("evidence")
                        ),
                        blob_key: key.to_owned(),
                        bytes: f["size"].as_u64().unwrap_or(0),
                        since,
                    });
                }
            }
        }
        for r in sqlx::query(
            "SELECT product, module, debug_id, release, size, blob_key, uploaded_at FROM crash_symbols",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let (product, module, debug_id): (String, String, String) =
                (r.try_get("product")?, r.try_get("module")?, r.try_get("debug_id")?);
            out.push(StoredRef {
                release: r.try_get("release")?,
                what: format!("{module} {debug_id}"),
                blob_key: r.try_get("blob_key")?,
                bytes: count(&r, "size")?,
                since: parse(&r, "uploaded_at")?,
                row: RowRef::Symbol {
                    product: product.clone(),
                    module,
                    debug_id,
                },
                product,
            });
        }
        Ok(out)
    }

    /// Log bundles received before `before`, oldest first, at most `limit`: product, id,
    /// release, size, received.
    pub async fn log_bundles_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(String, String, String, u64, DateTime<Utc>)>> {
        let rows = sqlx::query(
            "SELECT product, id, release, size, received_at FROM log_bundles \
             WHERE received_at < $1 ORDER BY received_at LIMIT $2",
        )
        .bind(ts(before))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("product")?,
                    r.try_get("id")?,
                    r.try_get("release")?,
                    count(r, "size")?,
                    parse(r, "received_at")?,
                ))
            })
            .collect()
    }

    /// The payloads of crash rows received at or after `since` (the files they name stay).
    pub async fn crash_payloads_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, String)>> {
        let rows = sqlx::query(
            "SELECT received_at, payload FROM ingest_events WHERE kind = 'crash' AND received_at >= $1",
        )
        .bind(ts(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((parse(r, "received_at")?, r.try_get("payload")?)))
            .collect()
    }

    /// Telemetry rows older than `before`: (table, product, rows).
    pub async fn telemetry_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<(String, String, u64)>> {
        let mut out = Vec::new();
        for t in &TELEMETRY {
            for r in sqlx::query(t.count)
                .bind(telemetry_bound(t.column, before))
                .fetch_all(&self.pool)
                .await?
            {
                out.push((t.table.to_owned(), r.try_get("product")?, count(&r, "n")?));
            }
        }
        Ok(out)
    }

    /// Audit entries written before `before`.
    pub async fn audit_entries_before(&self, before: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE at < $1")
            .bind(ts(before))
            .fetch_one(&self.pool)
            .await?;
        count(&r, "n")
    }

    /// One retention run's removals in one transaction: the rows, telemetry older than
    /// `telemetry_before`, the files to delete queued (`(key, class)`), and the audit entries.
    /// Nothing is removed unless all of it is.
    pub async fn retention_remove(
        &self,
        rows: &[RowRef],
        telemetry_before: Option<DateTime<Utc>>,
        blobs: &[(String, String)],
        audit: &[AuditRecord],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for row in rows {
            let q = match row {
                RowRef::Artifact { product, version, name } => sqlx::query(
                    "DELETE FROM artifacts WHERE product = $1 AND version = $2 AND name = $3",
                )
                .bind(product)
                .bind(version)
                .bind(name),
                RowRef::Replaced { product, version, name, replaced_at } => sqlx::query(
                    "DELETE FROM artifact_history WHERE product = $1 AND version = $2 AND name = $3 \
                     AND replaced_at = $4",
                )
                .bind(product)
                .bind(version)
                .bind(name)
                .bind(replaced_at),
                RowRef::Symbol { product, module, debug_id } => sqlx::query(
                    "DELETE FROM crash_symbols WHERE product = $1 AND module = $2 AND debug_id = $3",
                )
                .bind(product)
                .bind(module)
                .bind(debug_id),
                RowRef::LogBundle { product, id } => {
                    sqlx::query("DELETE FROM log_bundles WHERE product = $1 AND id = $2")
                        .bind(product)
                        .bind(id)
                }
                RowRef::Evidence => continue,
            };
            q.execute(&mut *tx).await?;
        }
        if let Some(before) = telemetry_before {
            // Missing-symbol marks go with the analyses they belong to.
            sqlx::query(
                "DELETE FROM crash_missing_symbols WHERE crash_id IN \
                 (SELECT crash_id FROM crash_analyses WHERE received_at < $1)",
            )
            .bind(ts(before))
            .execute(&mut *tx)
            .await?;
            for t in &TELEMETRY {
                sqlx::query(t.delete)
                    .bind(telemetry_bound(t.column, before))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        // A delta goes with either of its files; its own file is then queued like theirs.
        let deltas = crate::deltas::remove_orphaned(&mut tx).await?;
        let delta_blobs = deltas.into_iter().map(|k| (k, "artifacts".to_owned()));
        let now = ts(Utc::now());
        for (key, class) in blobs.iter().cloned().chain(delta_blobs) {
            sqlx::query(
                "INSERT INTO retention_blob_queue (blob_key, class, queued_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (blob_key) DO NOTHING",
            )
            .bind(key)
            .bind(class)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        for a in audit {
            append_audit(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Files whose rows are gone and that are still to delete: (key, class).
    pub async fn retention_blob_queue(&self) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT blob_key, class FROM retention_blob_queue ORDER BY queued_at")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("blob_key")?, r.try_get("class")?)))
            .collect()
    }

    /// A queued file was deleted (or is named again, and stays).
    pub async fn retention_blob_done(&self, key: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM retention_blob_queue WHERE blob_key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether a row names `key` again (the same bytes uploaded anew since the run removed
    /// the last row that did). Verdicts and sign-offs keep naming the evidence files removed
    /// from under them, and old crash rows their dumps: those are searched from `since` on
    /// (the class's cutoff), where only a new submission or upload can be.
    pub async fn blob_named(&self, key: &str, since: DateTime<Utc>) -> Result<bool> {
        let exact = sqlx::query(
            "SELECT 1 FROM artifacts WHERE blob_key = $1 \
             UNION ALL SELECT 1 FROM artifact_history WHERE blob_key = $1 \
             UNION ALL SELECT 1 FROM crash_symbols WHERE blob_key = $1 \
             UNION ALL SELECT 1 FROM artifact_deltas WHERE blob_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        if exact.is_some() {
            return Ok(true);
        }
        // Evidence and dumps are named inside JSON; keys are [a-z0-9/-] only, so LIKE is exact.
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-')
        {
            return Err(DbError::Corrupt(format!("unexpected blob key {key:?}")));
        }
        let quoted = format!("%\"{key}\"%");
        let named = if key.starts_with("evidence/") {
            sqlx::query(
                "SELECT 1 FROM gates WHERE recorded_at >= $2 AND evidence LIKE $1 \
                 UNION ALL SELECT 1 FROM checklist_signoffs WHERE signed_at >= $2 AND evidence LIKE $1",
            )
            .bind(&quoted)
            .bind(ts(since))
            .fetch_optional(&self.pool)
            .await?
        } else if key.starts_with("crashes/") {
            sqlx::query(
                "SELECT 1 FROM ingest_events WHERE kind = 'crash' AND received_at >= $2 AND payload LIKE $1",
            )
            .bind(&quoted)
            .bind(ts(since))
            .fetch_optional(&self.pool)
            .await?
        } else {
            None
        };
        Ok(named.is_some())
    }

    /// Claims today's retention run for this deployment: true for exactly one caller per
    /// `every` (the replicas' maintenance loops all ask).
    pub async fn claim_retention_run(
        &self,
        now: DateTime<Utc>,
        every: chrono::Duration,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n =
            sqlx::query("UPDATE retention_runs SET last_run = $1 WHERE id = 1 AND last_run < $2")
                .bind(ts(now))
                .bind(ts(now - every))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }
}
