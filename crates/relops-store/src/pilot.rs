//! Pilot cohorts (issue 33): invitation codes and enrolled installs.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{Result, count, parse, parse_opt, ts};

/// An invitation as stored (the code itself is never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct PilotInviteRecord {
    pub code_sha256: String,
    pub product: String,
    pub organisation: String,
    pub max_installs: u64,
    pub used: u64,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// An enrolled install; `left_at` once it left or was removed.
#[derive(Debug, Clone, PartialEq)]
pub struct PilotInstallRecord {
    pub install_id: String,
    pub organisation: String,
    pub enrolled_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    /// The release it was last seen running in the last 24 h, and when.
    pub last_release: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// What redeeming a code did.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeemed {
    Enrolled { organisation: String },
    Unknown,
    Expired,
    Full,
}

impl Db {
    pub async fn add_pilot_invite(&self, i: &PilotInviteRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO pilot_invites (code_sha256, product, organisation, max_installs, used, \
             expires_at, created_by, created_at) VALUES ($1, $2, $3, $4, 0, $5, $6, $7)",
        )
        .bind(&i.code_sha256)
        .bind(&i.product)
        .bind(&i.organisation)
        .bind(i.max_installs as i64)
        .bind(ts(i.expires_at))
        .bind(&i.created_by)
        .bind(ts(i.created_at))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Enrols `install_id` with the invitation whose code hashes to `code_sha256`, if it
    /// is valid and not used up; enrolling again (or after leaving) uses no new place.
    pub async fn redeem_pilot_invite(
        &self,
        product: &str,
        code_sha256: &str,
        install_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Redeemed> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query(
            "SELECT organisation, max_installs, used, expires_at FROM pilot_invites \
             WHERE code_sha256 = $1 AND product = $2",
        )
        .bind(code_sha256)
        .bind(product)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Redeemed::Unknown);
        };
        let organisation: String = row.try_get("organisation")?;
        let expires: DateTime<Utc> = parse(&row, "expires_at")?;
        if expires < now {
            return Ok(Redeemed::Expired);
        }
        let known = sqlx::query(
            "SELECT COUNT(*) AS n FROM pilot_installs WHERE product = $1 AND install_id = $2",
        )
        .bind(product)
        .bind(install_id)
        .fetch_one(&mut *tx)
        .await?;
        if count(&known, "n")? > 0 {
            sqlx::query(
                "UPDATE pilot_installs SET left_at = NULL, organisation = $1 \
                 WHERE product = $2 AND install_id = $3",
            )
            .bind(&organisation)
            .bind(product)
            .bind(install_id)
            .execute(&mut *tx)
            .await?;
        } else {
            if count(&row, "used")? >= count(&row, "max_installs")? {
                return Ok(Redeemed::Full);
            }
            sqlx::query(
                "INSERT INTO pilot_installs (product, install_id, organisation, enrolled_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(product)
            .bind(install_id)
            .bind(&organisation)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE pilot_invites SET used = used + 1 WHERE code_sha256 = $1")
                .bind(code_sha256)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Redeemed::Enrolled { organisation })
    }

    /// Marks `install_id` as out of the pilot; `false` when it was not in it. `audit`: the
    /// entry when a person removed it (an install leaving by itself is not audited).
    pub async fn leave_pilot(
        &self,
        product: &str,
        install_id: &str,
        now: DateTime<Utc>,
        audit: Option<&AuditRecord>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE pilot_installs SET left_at = $1 WHERE product = $2 AND install_id = $3 \
             AND left_at IS NULL",
        )
        .bind(ts(now))
        .bind(product)
        .bind(install_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(a) = audit {
            append_audit(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The product's invitations, newest first.
    pub async fn pilot_invites(&self, product: &str) -> Result<Vec<PilotInviteRecord>> {
        let rows = sqlx::query(
            "SELECT code_sha256, product, organisation, max_installs, used, expires_at, \
             created_by, created_at FROM pilot_invites WHERE product = $1 \
             ORDER BY created_at DESC",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PilotInviteRecord {
                    code_sha256: r.try_get("code_sha256")?,
                    product: r.try_get("product")?,
                    organisation: r.try_get("organisation")?,
                    max_installs: count(r, "max_installs")?,
                    used: count(r, "used")?,
                    expires_at: parse(r, "expires_at")?,
                    created_by: r.try_get("created_by")?,
                    created_at: parse(r, "created_at")?,
                })
            })
            .collect()
    }

    /// The product's enrolled installs (those that left included), with the release each
    /// ran last in the last 24 hours.
    pub async fn pilot_installs(&self, product: &str) -> Result<Vec<PilotInstallRecord>> {
        let rows = sqlx::query(
            "SELECT p.install_id, p.organisation, p.enrolled_at, p.left_at, \
             (SELECT m.release FROM install_marks m WHERE m.product = p.product \
              AND m.install_id = p.install_id ORDER BY m.seen_at DESC LIMIT 1) AS last_release, \
             (SELECT MAX(m.seen_at) FROM install_marks m WHERE m.product = p.product \
              AND m.install_id = p.install_id) AS last_seen \
             FROM pilot_installs p WHERE p.product = $1 ORDER BY p.enrolled_at, p.install_id",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PilotInstallRecord {
                    install_id: r.try_get("install_id")?,
                    organisation: r.try_get("organisation")?,
                    enrolled_at: parse(r, "enrolled_at")?,
                    left_at: parse_opt(r, "left_at")?,
                    last_release: r.try_get("last_release")?,
                    last_seen: parse_opt(r, "last_seen")?,
                })
            })
            .collect()
    }
}
