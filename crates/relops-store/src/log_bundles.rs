//! Log bundles' rows (issue 27): what each sealed bundle in the blob store belongs to.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::pool::Db;
use crate::sql::{Result, count, parse, parse_opt, ts};

/// A log bundle as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LogBundleRecord {
    pub product: String,
    pub id: String,
    pub crash_id: Option<String>,
    pub ticket: Option<String>,
    pub install_id: String,
    pub release: String,
    pub platform: String,
    pub days: u64,
    pub files: u64,
    pub size: u64,
    pub sha256: String,
    pub created_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

/// The columns every query reads, in one place (sqlx takes only literal SQL).
macro_rules! columns {
    () => {
        "product, id, crash_id, ticket, install_id, release, platform, days, files, size, \
         sha256, created_at, received_at"
    };
}

fn record(r: &AnyRow) -> Result<LogBundleRecord> {
    Ok(LogBundleRecord {
        product: r.try_get("product")?,
        id: r.try_get("id")?,
        crash_id: r.try_get("crash_id")?,
        ticket: r.try_get("ticket")?,
        install_id: r.try_get("install_id")?,
        release: r.try_get("release")?,
        platform: r.try_get("platform")?,
        days: count(r, "days")?,
        files: count(r, "files")?,
        size: count(r, "size")?,
        sha256: r.try_get("sha256")?,
        created_at: parse_opt(r, "created_at")?,
        received_at: parse(r, "received_at")?,
    })
}

impl Db {
    /// Records a bundle; a second insert of the same id changes nothing. Answers the row as
    /// stored (the first one's, for a repeat).
    pub async fn put_log_bundle(&self, b: &LogBundleRecord) -> Result<LogBundleRecord> {
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "INSERT INTO log_bundles (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13) ON CONFLICT (product, id) DO NOTHING"
        ))
        .bind(&b.product)
        .bind(&b.id)
        .bind(&b.crash_id)
        .bind(&b.ticket)
        .bind(&b.install_id)
        .bind(&b.release)
        .bind(&b.platform)
        .bind(b.days as i64)
        .bind(b.files as i64)
        .bind(b.size as i64)
        .bind(&b.sha256)
        .bind(b.created_at.map(ts))
        .bind(ts(b.received_at))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM log_bundles WHERE product = $1 AND id = $2"
        ))
        .bind(&b.product)
        .bind(&b.id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        record(&row)
    }

    pub async fn log_bundle(&self, product: &str, id: &str) -> Result<Option<LogBundleRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM log_bundles WHERE product = $1 AND id = $2"
        ))
        .bind(product)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(record)
        .transpose()
    }

    /// The bundles `install_id` attached to crash `crash_id`, newest first. The install is
    /// part of the key: a bundle naming another install's crash is not that crash's.
    pub async fn crash_log_bundles(
        &self,
        product: &str,
        crash_id: &str,
        install_id: &str,
    ) -> Result<Vec<LogBundleRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM log_bundles WHERE product = $1 AND crash_id = $2 \
             AND install_id = $3 ORDER BY received_at DESC, id LIMIT 100"
        ))
        .bind(product)
        .bind(crash_id)
        .bind(install_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// The bundles attached to ticket `ticket`, newest first.
    pub async fn ticket_log_bundles(&self, ticket: &str) -> Result<Vec<LogBundleRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM log_bundles WHERE ticket = $1 \
             ORDER BY received_at DESC, id LIMIT 100"
        ))
        .bind(ticket)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// How many bundles `install_id` sent since `since`.
    pub async fn log_bundles_since(
        &self,
        product: &str,
        install_id: &str,
        since: DateTime<Utc>,
    ) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM log_bundles WHERE product = $1 AND install_id = $2 \
             AND received_at >= $3",
        )
        .bind(product)
        .bind(install_id)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        count(&row, "n")
    }
}
