//! What the update feed reads and writes: the artifacts of published releases, and the
//! signed metadata files, each set written in one transaction.

use chrono::Utc;
use relops_core::release::ReleaseState;
use relops_core::version::Version;
use sqlx::Row;

use crate::artifacts::{StoredArtifact, artifact_from_row};
use crate::pool::Db;
use crate::sql::{Backend, Result, parse, ts};

/// The release states whose artifacts the feed publishes.
pub const PUBLISHED_STATES: [ReleaseState; 6] = [
    ReleaseState::Approved,
    ReleaseState::Piloting,
    ReleaseState::RollingOut,
    ReleaseState::Released,
    ReleaseState::Halted,
    ReleaseState::RolledBack,
];

/// One stored metadata file.
#[derive(Debug, Clone)]
pub struct MetadataRow {
    pub role: String,
    pub version: u64,
    pub body: String,
}

impl Db {
    /// The artifacts of every published release of `product`, with their release version.
    pub async fn published_artifacts(
        &self,
        product: &str,
    ) -> Result<Vec<(Version, StoredArtifact)>> {
        let rows = sqlx::query(concat!(
            "SELECT a.version AS release_version, ",
            "a.name, a.platform, a.kind, a.size, a.sha256, a.blob_key, a.signature, a.key_id, ",
            "a.uploaded_at, a.uploaded_by, a.notarization_id, a.authenticode_signer, ",
            "a.critical_fix_reason, a.replaces, a.sha1, a.sha512, a.file_signature, a.minimum_os ",
            "FROM artifacts a JOIN releases r ON r.product = a.product AND r.version = a.version ",
            "WHERE a.product = $1 AND r.state IN ($2, $3, $4, $5, $6, $7)"
        ))
        .bind(product)
        .bind(PUBLISHED_STATES[0].as_str())
        .bind(PUBLISHED_STATES[1].as_str())
        .bind(PUBLISHED_STATES[2].as_str())
        .bind(PUBLISHED_STATES[3].as_str())
        .bind(PUBLISHED_STATES[4].as_str())
        .bind(PUBLISHED_STATES[5].as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((parse(r, "release_version")?, artifact_from_row(r)?)))
            .collect()
    }

    /// Every root, and the newest `keep` versions of the other roles.
    pub async fn feed_metadata(&self, product: &str, keep: u64) -> Result<Vec<MetadataRow>> {
        let rows = sqlx::query(
            "SELECT m.role, m.version, m.body FROM tuf_metadata m \
             WHERE m.product = $1 AND (m.role = 'root' OR m.version > \
               (SELECT MAX(x.version) FROM tuf_metadata x WHERE x.product = m.product AND x.role = m.role) - $2) \
             ORDER BY m.role, m.version",
        )
        .bind(product)
        .bind(keep as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let v: i64 = r.try_get("version")?;
                Ok(MetadataRow {
                    role: r.try_get("role")?,
                    version: v as u64,
                    body: r.try_get("body")?,
                })
            })
            .collect()
    }

    /// Stores a set of new metadata files atomically: all of them or none. A version that
    /// exists already is a conflict (another replica published first).
    pub async fn insert_feed_metadata(&self, product: &str, files: &[MetadataRow]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now = ts(Utc::now());
        for f in files {
            sqlx::query(
                "INSERT INTO tuf_metadata (product, role, version, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(product)
            .bind(&f.role)
            .bind(f.version as i64)
            .bind(&f.body)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                crate::DbError::from_insert(e, || {
                    format!("{} version {} of {product}'s feed", f.role, f.version)
                })
            })?;
        }
        if self.backend() == Backend::Postgres {
            // Delivered at commit to every replica's `FeedListener`.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(crate::changes::FEED_CHANNEL)
                .bind(product)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest stored `timestamp.json` version of `product`'s feed (0: none yet).
    pub async fn feed_timestamp_version(&self, product: &str) -> Result<u64> {
        let v: Option<i64> = sqlx::query(
            "SELECT MAX(version) AS v FROM tuf_metadata WHERE product = $1 AND role = 'timestamp'",
        )
        .bind(product)
        .fetch_one(&self.pool)
        .await?
        .try_get("v")?;
        Ok(v.unwrap_or(0) as u64)
    }
}
