//! Artifacts: the signed files of a release, and the history of replaced ones.

use chrono::{DateTime, Utc};
use relops_core::artifact::ArtifactKind;
use relops_core::offer::FileFacts;
use relops_core::platform::Platform;
use relops_core::release::ReleaseState;
use relops_core::version::Version;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{DbError, Result, count, parse, ts};

/// A stored, signed artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactRecord {
    pub name: String,
    pub platform: Platform,
    pub kind: ArtifactKind,
    pub size: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// Hex Ed25519 signature by the release key.
    pub signature: String,
    /// Key id of the release key.
    pub key_id: String,
    pub uploaded_at: DateTime<Utc>,
    pub uploaded_by: String,
    pub notarization_id: Option<String>,
    pub authenticode_signer: Option<String>,
    pub critical_fix_reason: Option<String>,
    /// How many earlier uploads of the same name this one replaced.
    pub replaces: u32,
    /// The file's SHA-1, SHA-512 and Ed25519 signature, for other updaters' feeds; `None` on
    /// artifacts uploaded before relops made them.
    pub file: Option<FileFacts>,
    /// The oldest operating system version the file runs on, e.g. `11.0`, where declared.
    pub minimum_os: Option<String>,
}

/// An artifact as stored: what the API shows plus where its bytes are.
#[derive(Debug, Clone)]
pub struct StoredArtifact {
    pub artifact: ArtifactRecord,
    pub blob_key: String,
}

/// What an upload hands to [`Db::put_artifact`].
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub product: String,
    pub version: Version,
    pub artifact: ArtifactRecord,
    pub blob_key: String,
}

macro_rules! artifact_columns {
    () => {
        "name, platform, kind, size, sha256, blob_key, signature, key_id, uploaded_at, \
         uploaded_by, notarization_id, authenticode_signer, critical_fix_reason, replaces, \
         sha1, sha512, file_signature, minimum_os"
    };
}

pub(crate) fn artifact_from_row(row: &AnyRow) -> Result<StoredArtifact> {
    let kind: String = row.try_get("kind")?;
    let replaces = count(row, "replaces")?;
    Ok(StoredArtifact {
        artifact: ArtifactRecord {
            name: row.try_get("name")?,
            platform: parse(row, "platform")?,
            kind: ArtifactKind::parse(&kind)
                .ok_or_else(|| DbError::Corrupt(format!("artifact kind {kind:?}")))?,
            size: count(row, "size")?,
            sha256: row.try_get("sha256")?,
            signature: row.try_get("signature")?,
            key_id: row.try_get("key_id")?,
            uploaded_at: parse(row, "uploaded_at")?,
            uploaded_by: row.try_get("uploaded_by")?,
            notarization_id: row.try_get("notarization_id")?,
            authenticode_signer: row.try_get("authenticode_signer")?,
            critical_fix_reason: row.try_get("critical_fix_reason")?,
            replaces: u32::try_from(replaces).unwrap_or(u32::MAX),
            file: file_facts_from_row(row)?,
            minimum_os: row.try_get("minimum_os")?,
        },
        blob_key: row.try_get("blob_key")?,
    })
}

fn file_facts_from_row(row: &AnyRow) -> Result<Option<FileFacts>> {
    let sha1: Option<String> = row.try_get("sha1")?;
    let sha512: Option<String> = row.try_get("sha512")?;
    let ed25519: Option<String> = row.try_get("file_signature")?;
    Ok(match (sha1, sha512, ed25519) {
        (Some(sha1), Some(sha512), Some(ed25519)) => Some(FileFacts {
            sha1,
            sha512,
            ed25519,
        }),
        _ => None,
    })
}

impl Db {
    /// The artifacts of a release, by name.
    pub async fn artifacts(&self, product: &str, version: &Version) -> Result<Vec<StoredArtifact>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts WHERE product = $1 AND version = $2 \
             ORDER BY name"
        ))
        .bind(product)
        .bind(version.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(artifact_from_row).collect()
    }

    pub async fn artifact(
        &self,
        product: &str,
        version: &Version,
        name: &str,
    ) -> Result<Option<StoredArtifact>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts \
             WHERE product = $1 AND version = $2 AND name = $3"
        ))
        .bind(product)
        .bind(version.to_string())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(artifact_from_row).transpose()
    }

    /// Makes an uploaded artifact visible, replacing one of the same name (which moves to
    /// `artifact_history`), provided the release is still in `expected_state`. Returns the
    /// stored artifact, or `None` if the release changed state meanwhile.
    pub async fn put_artifact(
        &self,
        new: &NewArtifact,
        expected_state: ReleaseState,
        audit: &AuditRecord,
    ) -> Result<Option<ArtifactRecord>> {
        let mut tx = self.begin_write().await?;
        let version = new.version.to_string();
        let a = &new.artifact;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM releases WHERE product = $1 AND version = $2")
                .bind(&new.product)
                .bind(&version)
                .fetch_optional(&mut *tx)
                .await?;
        if state.as_deref() != Some(expected_state.as_str()) {
            return Ok(None);
        }
        let old = sqlx::query(concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts \
             WHERE product = $1 AND version = $2 AND name = $3"
        ))
        .bind(&new.product)
        .bind(&version)
        .bind(&a.name)
        .fetch_optional(&mut *tx)
        .await?;
        let mut stored = a.clone();
        if let Some(old) = old.as_ref().map(artifact_from_row).transpose()? {
            stored.replaces = old.artifact.replaces + 1;
            sqlx::query(
                "INSERT INTO artifact_history (product, version, name, platform, size, sha256, \
                 blob_key, signature, uploaded_at, uploaded_by, replaced_at, replaced_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&new.product)
            .bind(&version)
            .bind(&a.name)
            .bind(old.artifact.platform.as_str())
            .bind(old.artifact.size as i64)
            .bind(&old.artifact.sha256)
            .bind(&old.blob_key)
            .bind(&old.artifact.signature)
            .bind(ts(old.artifact.uploaded_at))
            .bind(&old.artifact.uploaded_by)
            .bind(ts(a.uploaded_at))
            .bind(&a.uploaded_by)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM artifacts WHERE product = $1 AND version = $2 AND name = $3")
                .bind(&new.product)
                .bind(&version)
                .bind(&a.name)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(concat!(
            "INSERT INTO artifacts (product, version, ",
            artifact_columns!(),
            ") \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20)"
        ))
        .bind(&new.product)
        .bind(&version)
        .bind(&stored.name)
        .bind(stored.platform.as_str())
        .bind(stored.kind.as_str())
        .bind(stored.size as i64)
        .bind(&stored.sha256)
        .bind(&new.blob_key)
        .bind(&stored.signature)
        .bind(&stored.key_id)
        .bind(ts(stored.uploaded_at))
        .bind(&stored.uploaded_by)
        .bind(stored.notarization_id.as_deref())
        .bind(stored.authenticode_signer.as_deref())
        .bind(stored.critical_fix_reason.as_deref())
        .bind(i64::from(stored.replaces))
        .bind(stored.file.as_ref().map(|f| f.sha1.as_str()))
        .bind(stored.file.as_ref().map(|f| f.sha512.as_str()))
        .bind(stored.file.as_ref().map(|f| f.ed25519.as_str()))
        .bind(stored.minimum_os.as_deref())
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(stored))
    }

    /// Up to `limit` artifacts without their file digests and signature yet: product,
    /// version, name, blob key and SHA-256.
    pub async fn artifacts_without_file_facts(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, Version, String, String, String)>> {
        let rows = sqlx::query(
            "SELECT product, version, name, blob_key, sha256 FROM artifacts \
             WHERE sha1 IS NULL OR sha512 IS NULL OR file_signature IS NULL \
             ORDER BY product, version, name LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("product")?,
                    parse(r, "version")?,
                    r.try_get("name")?,
                    r.try_get("blob_key")?,
                    r.try_get("sha256")?,
                ))
            })
            .collect()
    }

    /// Records an artifact's file digests and signature, if it still lacks them and still
    /// has the same bytes (`blob_key`); whether it did.
    pub async fn set_file_facts(
        &self,
        product: &str,
        version: &Version,
        name: &str,
        blob_key: &str,
        facts: &FileFacts,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE artifacts SET sha1 = $1, sha512 = $2, file_signature = $3 \
             WHERE product = $4 AND version = $5 AND name = $6 AND blob_key = $7 \
             AND (sha1 IS NULL OR sha512 IS NULL OR file_signature IS NULL)",
        )
        .bind(&facts.sha1)
        .bind(&facts.sha512)
        .bind(&facts.ed25519)
        .bind(product)
        .bind(version.to_string())
        .bind(name)
        .bind(blob_key)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Every blob key a row still points at (current artifacts and replaced ones).
    pub async fn referenced_blob_keys(&self) -> Result<std::collections::HashSet<String>> {
        let rows = sqlx::query(
            "SELECT blob_key FROM artifacts UNION SELECT blob_key FROM artifact_history \
             UNION SELECT blob_key FROM artifact_deltas WHERE blob_key IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("blob_key").map_err(DbError::from))
            .collect()
    }
}
