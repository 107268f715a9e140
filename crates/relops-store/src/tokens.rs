//! API tokens, stored by their hash.

use chrono::{DateTime, Utc};
use relops_core::access::Role;
use sqlx::Row;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{DbError, Result, count, ts};

/// A stored API token (its hash only).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// Made, and by whom (the audit name).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Live only once a second person confirmed it (separation of duties) …
    pub needs_confirmation: bool,
    /// … which this person did.
    pub confirmed_by: Option<String>,
}

impl TokenRecord {
    /// Whether the token may be used now.
    pub fn is_live(&self) -> bool {
        !self.needs_confirmation || self.confirmed_by.is_some()
    }
}

fn token_record(row: &sqlx::any::AnyRow) -> Result<TokenRecord> {
    let roles: String = row.try_get("roles")?;
    let roles = roles
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Role>().map_err(DbError::Corrupt))
        .collect::<Result<_>>()?;
    let needs: i64 = row.try_get("needs_confirmation")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        roles,
        created_by: row.try_get("created_by")?,
        created_at: crate::sql::parse(row, "created_at")?,
        needs_confirmation: needs != 0,
        confirmed_by: row.try_get("confirmed_by")?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, name, roles, created_by, created_at, needs_confirmation, confirmed_by";

impl Db {
    /// Stores a new token by its hash.
    pub async fn insert_token(
        &self,
        token: &TokenRecord,
        token_hash: &str,
        audit: &AuditRecord,
    ) -> Result<()> {
        let roles: Vec<&str> = token.roles.iter().map(|r| r.as_str()).collect();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (id, name, token_hash, roles, created_at, created_by, needs_confirmation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(token_hash)
        .bind(roles.join(","))
        .bind(ts(token.created_at))
        .bind(&token.created_by)
        .bind(i64::from(token.needs_confirmation))
        .execute(&mut *tx)
        .await
        .map_err(|e| DbError::from_insert(e, || format!("token {}", token.name)))?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The unrevoked token with this hash (live or awaiting confirmation).
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_record).transpose()
    }

    /// The unrevoked token with this id.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1 AND revoked_at IS NULL"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_record).transpose()
    }

    /// The unrevoked tokens of this name that await their second person.
    pub async fn tokens_awaiting_named(&self, name: &str) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE name = $1 AND needs_confirmation = 1 \
             AND confirmed_by IS NULL AND revoked_at IS NULL ORDER BY id"
        )))
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_record).collect()
    }

    /// Confirms a token awaiting confirmation; false when it was confirmed meanwhile.
    pub async fn confirm_token(
        &self,
        id: &str,
        by: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tokens SET confirmed_by = $1, confirmed_at = $2 \
             WHERE id = $3 AND needs_confirmation = 1 AND confirmed_by IS NULL AND revoked_at IS NULL",
        )
        .bind(by)
        .bind(ts(at))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !done {
            return Ok(false);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The unrevoked tokens, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE revoked_at IS NULL ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_record).collect()
    }

    /// Revokes a token and ends the console sessions made with it; false when it was
    /// revoked meanwhile.
    pub async fn revoke_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(ts(at))
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if !done {
            return Ok(false);
        }
        sqlx::query("DELETE FROM console_sessions WHERE token_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// How many tokens exist (to know whether `init` must make the first one).
    pub async fn token_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens")
            .fetch_one(&self.pool)
            .await?;
        count(&row, "n")
    }
}
