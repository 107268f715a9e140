//! Releases: their rows, states and release notes.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use relops_core::data_schema::DataSchema;
use relops_core::platform::Platform;
use relops_core::release::ReleaseState;
use relops_core::version::{ReleaseKind, Version};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::artifacts::ArtifactRecord;
use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{DbError, Result, count, parse, parse_opt, ts};

/// A release as stored, with its artifacts.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRecord {
    pub product: String,
    pub version: Version,
    pub kind: ReleaseKind,
    pub state: ReleaseState,
    pub go_live: NaiveDate,
    pub freeze_date: NaiveDate,
    pub branch: String,
    pub tag: String,
    pub commit: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub frozen_at: Option<DateTime<Utc>>,
    pub frozen_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    /// SHA-256 of the release notes, once uploaded.
    pub notes_sha256: Option<String>,
    /// The app data's schema facts, when declared.
    pub data_schema: Option<DataSchema>,
    /// The security advisory the release fixes (e.g. a CVE), where declared.
    pub security: Option<String>,
    pub artifacts: Vec<ArtifactRecord>,
}

/// One release of a product's list, with its artifacts counted.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSummaryRecord {
    pub product: String,
    pub version: Version,
    pub kind: ReleaseKind,
    pub state: ReleaseState,
    pub go_live: NaiveDate,
    pub freeze_date: NaiveDate,
    pub artifact_count: u64,
    pub platforms: Vec<Platform>,
    pub data_schema: Option<DataSchema>,
}

// Column lists as macros so that queries stay `&'static str` (sqlx refuses dynamic SQL).
macro_rules! release_columns {
    () => {
        "product, version, kind, state, go_live, freeze_date, branch, tag, commit_sha, \
         created_at, created_by, frozen_at, frozen_by, approved_at, approved_by, notes_sha256, \
         data_schema, downgrades_to, security"
    };
}

fn release_from_row(row: &AnyRow) -> Result<ReleaseRecord> {
    Ok(ReleaseRecord {
        product: row.try_get("product")?,
        version: parse(row, "version")?,
        kind: parse(row, "kind")?,
        state: parse(row, "state")?,
        go_live: parse(row, "go_live")?,
        freeze_date: parse(row, "freeze_date")?,
        branch: row.try_get("branch")?,
        tag: row.try_get("tag")?,
        commit: row.try_get("commit_sha")?,
        created_at: parse(row, "created_at")?,
        created_by: row.try_get("created_by")?,
        frozen_at: parse_opt(row, "frozen_at")?,
        frozen_by: row.try_get("frozen_by")?,
        approved_at: parse_opt(row, "approved_at")?,
        approved_by: row.try_get("approved_by")?,
        notes_sha256: row.try_get("notes_sha256")?,
        data_schema: schema_from_row(row)?,
        security: row.try_get("security")?,
        artifacts: Vec::new(),
    })
}

fn schema_from_row(row: &AnyRow) -> Result<Option<DataSchema>> {
    let schema: Option<i64> = row.try_get("data_schema")?;
    let down: Option<i64> = row.try_get("downgrades_to")?;
    Ok(schema.map(|s| DataSchema {
        schema: s as u32,
        downgrades_to: down.unwrap_or(s) as u32,
    }))
}

impl Db {
    /// All versions of a product, for kind inference.
    pub async fn versions(&self, product: &str) -> Result<Vec<Version>> {
        let rows = sqlx::query("SELECT version FROM releases WHERE product = $1")
            .bind(product)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| parse(r, "version")).collect()
    }

    /// Inserts a new release (no artifacts) and its audit entry; `Conflict` if the version
    /// exists.
    pub async fn insert_release(&self, r: &ReleaseRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "INSERT INTO releases (",
            release_columns!(),
            ", major, minor, patch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        ))
        .bind(&r.product)
        .bind(r.version.to_string())
        .bind(r.kind.as_str())
        .bind(r.state.as_str())
        .bind(r.go_live.to_string())
        .bind(r.freeze_date.to_string())
        .bind(&r.branch)
        .bind(&r.tag)
        .bind(r.commit.as_deref())
        .bind(ts(r.created_at))
        .bind(&r.created_by)
        .bind(r.frozen_at.map(ts))
        .bind(r.frozen_by.as_deref())
        .bind(r.approved_at.map(ts))
        .bind(r.approved_by.as_deref())
        .bind(r.notes_sha256.as_deref())
        .bind(r.data_schema.map(|d| i64::from(d.schema)))
        .bind(r.data_schema.map(|d| i64::from(d.downgrades_to)))
        .bind(r.security.as_deref())
        .bind(r.version.major() as i64)
        .bind(r.version.minor() as i64)
        .bind(r.version.patch() as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            DbError::from_insert(e, || format!("release {} of {}", r.version, r.product))
        })?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One release with its artifacts.
    pub async fn release(&self, product: &str, version: &Version) -> Result<Option<ReleaseRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            release_columns!(),
            " FROM releases WHERE product = $1 AND version = $2"
        ))
        .bind(product)
        .bind(version.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut release = release_from_row(&row)?;
        release.artifacts = self
            .artifacts(product, version)
            .await?
            .into_iter()
            .map(|a| a.artifact)
            .collect();
        Ok(Some(release))
    }

    /// All releases of a product, newest version first, with artifact counts and platforms:
    /// two queries whatever the number of releases.
    pub async fn list_releases(&self, product: &str) -> Result<Vec<ReleaseSummaryRecord>> {
        let rows = sqlx::query(
            "SELECT version, kind, state, go_live, freeze_date, data_schema, downgrades_to FROM releases \
             WHERE product = $1 ORDER BY major DESC, minor DESC, patch DESC",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        let counts = sqlx::query(
            "SELECT version, platform, COUNT(*) AS n FROM artifacts WHERE product = $1 \
             GROUP BY version, platform",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        let mut per_version: BTreeMap<String, (u64, Vec<Platform>)> = BTreeMap::new();
        for row in &counts {
            let version: String = row.try_get("version")?;
            let entry = per_version.entry(version).or_default();
            entry.0 += count(row, "n")?;
            entry.1.push(parse(row, "platform")?);
        }
        rows.iter()
            .map(|row| {
                let version: String = row.try_get("version")?;
                let (artifact_count, mut platforms) =
                    per_version.remove(&version).unwrap_or_default();
                platforms.sort();
                Ok(ReleaseSummaryRecord {
                    product: product.to_owned(),
                    version: version
                        .parse()
                        .map_err(|e| DbError::Corrupt(format!("version {version:?}: {e}")))?,
                    kind: parse(row, "kind")?,
                    state: parse(row, "state")?,
                    go_live: parse(row, "go_live")?,
                    freeze_date: parse(row, "freeze_date")?,
                    artifact_count,
                    platforms,
                    data_schema: schema_from_row(row)?,
                })
            })
            .collect()
    }

    /// Moves a release from `from` to `to` state, recording who froze or approved it when
    /// `to` is `frozen` or `approved`. Returns false if the release was not in `from` (a
    /// concurrent change).
    pub async fn transition(
        &self,
        product: &str,
        version: &Version,
        from: ReleaseState,
        to: ReleaseState,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let stamp = match to {
            ReleaseState::Frozen => 1i64,
            ReleaseState::Approved => 2,
            _ => 0,
        };
        let done = sqlx::query(
            "UPDATE releases SET state = $1, \
             frozen_at = CASE WHEN $2 = 1 THEN $3 ELSE frozen_at END, \
             frozen_by = CASE WHEN $2 = 1 THEN $4 ELSE frozen_by END, \
             approved_at = CASE WHEN $2 = 2 THEN $3 ELSE approved_at END, \
             approved_by = CASE WHEN $2 = 2 THEN $4 ELSE approved_by END \
             WHERE product = $5 AND version = $6 AND state = $7",
        )
        .bind(to.as_str())
        .bind(stamp)
        .bind(ts(at))
        .bind(&audit.actor)
        .bind(product)
        .bind(version.to_string())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            append_audit(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok(done)
    }

    /// Points a release at its release notes (stored in the blob store by `sha256`).
    pub async fn set_notes(
        &self,
        product: &str,
        version: &Version,
        sha256: &str,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE releases SET notes_sha256 = $1 WHERE product = $2 AND version = $3",
        )
        .bind(sha256)
        .bind(product)
        .bind(version.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            append_audit(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok(n == 1)
    }

    /// Version → data-schema facts of the product's releases that declare them (for the
    /// feed).
    pub async fn schemas_of(
        &self,
        product: &str,
    ) -> Result<std::collections::HashMap<String, DataSchema>> {
        let rows = sqlx::query(
            "SELECT version, data_schema, downgrades_to FROM releases WHERE product = $1 AND data_schema IS NOT NULL",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        let mut out = std::collections::HashMap::new();
        for r in &rows {
            if let Some(d) = schema_from_row(r)? {
                out.insert(r.try_get("version")?, d);
            }
        }
        Ok(out)
    }

    /// Version → the security advisory of the product's releases that declare one (for the
    /// feed).
    pub async fn security_of(
        &self,
        product: &str,
    ) -> Result<std::collections::HashMap<String, String>> {
        let rows = sqlx::query(
            "SELECT version, security FROM releases WHERE product = $1 AND security IS NOT NULL",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("security")?)))
            .collect()
    }

    /// Release notes digests of the product's releases in `states` (for the feed).
    pub async fn notes_of(
        &self,
        product: &str,
    ) -> Result<std::collections::HashMap<String, String>> {
        let rows = sqlx::query(
            "SELECT version, notes_sha256 FROM releases WHERE product = $1 AND notes_sha256 IS NOT NULL",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("notes_sha256")?)))
            .collect()
    }
}
