//! The web console's sessions, stored by the SHA-256 of the cookie's secret.

use chrono::{DateTime, Utc};
use relops_core::access::Role;
use sqlx::Row;

use crate::pool::Db;
use crate::sql::{DbError, Result, parse, ts};

/// A console session.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The API token it was made from; `None` for a login through the OpenID provider.
    pub token_id: Option<String>,
    /// Who: the token's id, or `sso-…` for a provider's subject.
    pub subject: String,
    pub name: String,
    /// The roles at login (a token session reads its token's roles instead).
    pub roles: Vec<Role>,
    /// The session's CSRF token, which every form of the console sends back.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Db {
    /// Stores a new session and drops the expired ones.
    pub async fn insert_session(&self, id_hash: &str, s: &SessionRecord) -> Result<()> {
        let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(ts(s.created_at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, token_id, subject, name, roles, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id_hash)
        .bind(&s.token_id)
        .bind(&s.subject)
        .bind(&s.name)
        .bind(roles.join(","))
        .bind(&s.csrf)
        .bind(ts(s.created_at))
        .bind(ts(s.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| DbError::from_insert(e, || "session".to_owned()))?;
        tx.commit().await?;
        Ok(())
    }

    /// The session with this hash, unless it expired by `now`.
    pub async fn session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT token_id, subject, name, roles, csrf, created_at, expires_at \
             FROM console_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let roles: String = row.try_get("roles")?;
        Ok(Some(SessionRecord {
            token_id: row.try_get("token_id")?,
            subject: row.try_get("subject")?,
            name: row.try_get("name")?,
            roles: roles
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<Role>().map_err(DbError::Corrupt))
                .collect::<Result<_>>()?,
            csrf: row.try_get("csrf")?,
            created_at: parse(&row, "created_at")?,
            expires_at: parse(&row, "expires_at")?,
        }))
    }

    /// Ends a session (logout); false when there was none.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// A stamp that changes whenever something a console page shows may have changed: a
    /// new audit entry (every action of a person or the health engine), an alert fired or
    /// resolved, a ticket updated.
    pub async fn change_stamp(&self) -> Result<String> {
        let row = sqlx::query(
            "SELECT COALESCE((SELECT MAX(seq) FROM audit_log), 0) AS audit, \
             COALESCE((SELECT MAX(seq) FROM alerts), 0) AS alerts, \
             (SELECT COUNT(*) FROM alerts WHERE status <> 'resolved') AS open_alerts, \
             COALESCE((SELECT MAX(updated_at) FROM tickets), '') AS tickets",
        )
        .fetch_one(&self.pool)
        .await?;
        let (a, b, c): (i64, i64, i64) = (
            row.try_get("audit")?,
            row.try_get("alerts")?,
            row.try_get("open_alerts")?,
        );
        let d: String = row.try_get("tickets")?;
        Ok(format!("{a}.{b}.{c}.{d}"))
    }
}

/// A login through the OpenID provider, between the redirect there and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcLoginRecord {
    pub nonce: String,
    pub verifier: String,
    pub next: String,
    pub expires_at: DateTime<Utc>,
}

impl Db {
    /// Stores a login under way (and drops the expired ones).
    pub async fn insert_oidc_login(
        &self,
        state_hash: &str,
        l: &OidcLoginRecord,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at <= $1")
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oidc_logins (state_hash, nonce, verifier, next, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_hash)
        .bind(&l.nonce)
        .bind(&l.verifier)
        .bind(&l.next)
        .bind(ts(l.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| DbError::from_insert(e, || "login".to_owned()))?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the login of `state_hash` (it can be used once), unless it expired by `now`.
    pub async fn take_oidc_login(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OidcLoginRecord>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT nonce, verifier, next, expires_at FROM oidc_logins WHERE state_hash = $1",
        )
        .bind(state_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM oidc_logins WHERE state_hash = $1")
            .bind(state_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let l = OidcLoginRecord {
            nonce: row.try_get("nonce")?,
            verifier: row.try_get("verifier")?,
            next: row.try_get("next")?,
            expires_at: parse(&row, "expires_at")?,
        };
        Ok((l.expires_at > now).then_some(l))
    }
}
