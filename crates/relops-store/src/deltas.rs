//! Binary deltas between two artifacts of a product, keyed by the files' SHA-256 (issue 29
//! part 5): made once per pair by the lead; a row without a file records a delta found not
//! worth serving, so it is not made again.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::pool::Db;
use crate::sql::{Result, count, ts};

/// One made delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaRecord {
    pub base_sha256: String,
    pub new_sha256: String,
    /// The stored delta: its blob key, length and SHA-256; `None` when it was not worth
    /// keeping.
    pub file: Option<DeltaFile>,
}

/// A stored delta file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaFile {
    pub blob_key: String,
    pub size: u64,
    pub sha256: String,
}

impl Db {
    /// Every delta made for `product`'s artifacts.
    pub async fn deltas_of(&self, product: &str) -> Result<Vec<DeltaRecord>> {
        let rows = sqlx::query(
            "SELECT base_sha256, new_sha256, blob_key, size, sha256 FROM artifact_deltas \
             WHERE product = $1",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let key: Option<String> = r.try_get("blob_key")?;
                let file = match key {
                    Some(blob_key) => Some(DeltaFile {
                        blob_key,
                        size: count(r, "size")?,
                        sha256: r.try_get("sha256")?,
                    }),
                    None => None,
                };
                Ok(DeltaRecord {
                    base_sha256: r.try_get("base_sha256")?,
                    new_sha256: r.try_get("new_sha256")?,
                    file,
                })
            })
            .collect()
    }

    /// Records a made delta (once: a pair made twice, by two leads in turn, keeps the first).
    pub async fn insert_delta(
        &self,
        product: &str,
        delta: &DeltaRecord,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let f = delta.file.as_ref();
        sqlx::query(
            "INSERT INTO artifact_deltas \
             (product, base_sha256, new_sha256, blob_key, size, sha256, made_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (product, base_sha256, new_sha256) DO NOTHING",
        )
        .bind(product)
        .bind(&delta.base_sha256)
        .bind(&delta.new_sha256)
        .bind(f.map(|f| f.blob_key.as_str()))
        .bind(f.map(|f| i64::try_from(f.size).unwrap_or(i64::MAX)))
        .bind(f.map(|f| f.sha256.as_str()))
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Within a retention run's transaction: removes the deltas one of whose files no artifact
/// of the product has any longer, and returns their stored files' keys (to delete once no
/// row names them).
pub(crate) async fn remove_orphaned(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<Vec<String>> {
    // Static text only (sqlx wants audited SQL): the same condition in both statements.
    macro_rules! orphaned {
        () => {
            "(NOT EXISTS (SELECT 1 FROM artifacts a \
              WHERE a.product = artifact_deltas.product AND a.sha256 = artifact_deltas.base_sha256) \
              OR NOT EXISTS (SELECT 1 FROM artifacts a \
              WHERE a.product = artifact_deltas.product AND a.sha256 = artifact_deltas.new_sha256))"
        };
    }
    let keys = sqlx::query(concat!(
        "SELECT blob_key FROM artifact_deltas WHERE blob_key IS NOT NULL AND ",
        orphaned!()
    ))
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get("blob_key"))
    .collect::<std::result::Result<Vec<String>, _>>()?;
    sqlx::query(concat!("DELETE FROM artifact_deltas WHERE ", orphaned!()))
        .execute(&mut **tx)
        .await?;
    Ok(keys)
}
