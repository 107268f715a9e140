//! Release gate verdicts: the latest per gate, replaced in one transaction with its audit
//! entry.

use chrono::{DateTime, Utc};
use relops_core::version::Version;
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{DbError, Result, parse, ts};

/// A gate's stored verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRecord {
    pub gate: String,
    pub passed: bool,
    /// The numbers behind the verdict (JSON).
    pub summary: serde_json::Value,
    /// The evidence files (JSON list of name, sha256, size, blob key).
    pub evidence: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

impl Db {
    /// Replaces the verdict of `gate` for a release.
    pub async fn put_gate(
        &self,
        product: &str,
        version: &Version,
        g: &GateRecord,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM gates WHERE product = $1 AND version = $2 AND gate = $3")
            .bind(product)
            .bind(version.to_string())
            .bind(&g.gate)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO gates (product, version, gate, passed, summary, evidence, recorded_at, recorded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(product)
        .bind(version.to_string())
        .bind(&g.gate)
        .bind(i64::from(g.passed))
        .bind(g.summary.to_string())
        .bind(g.evidence.to_string())
        .bind(ts(g.recorded_at))
        .bind(&g.recorded_by)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The verdicts of a release's gates, by gate name.
    pub async fn gates(&self, product: &str, version: &Version) -> Result<Vec<GateRecord>> {
        let rows = sqlx::query(
            "SELECT gate, passed, summary, evidence, recorded_at, recorded_by FROM gates \
             WHERE product = $1 AND version = $2 ORDER BY gate",
        )
        .bind(product)
        .bind(version.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let json = |col: &str| -> Result<serde_json::Value> {
                    let s: String = r.try_get(col)?;
                    serde_json::from_str(&s)
                        .map_err(|e| DbError::Corrupt(format!("gates.{col}: {e}")))
                };
                let passed: i64 = r.try_get("passed")?;
                Ok(GateRecord {
                    gate: r.try_get("gate")?,
                    passed: passed != 0,
                    summary: json("summary")?,
                    evidence: json("evidence")?,
                    recorded_at: parse(r, "recorded_at")?,
                    recorded_by: r.try_get("recorded_by")?,
                })
            })
            .collect()
    }
}
