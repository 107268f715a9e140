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
}

impl Db {
    /// Stores a new token by its hash.
    pub async fn insert_token(
        &self,
        token: &TokenRecord,
        token_hash: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<()> {
        let roles: Vec<&str> = token.roles.iter().map(|r| r.as_str()).collect();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (id, name, token_hash, roles, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(token_hash)
        .bind(roles.join(","))
        .bind(ts(at))
        .bind(&audit.actor)
        .execute(&mut *tx)
        .await
        .map_err(|e| DbError::from_insert(e, || format!("token {}", token.name)))?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live token with this hash.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT id, name, roles FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let roles: String = row.try_get("roles")?;
        let roles = roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Role>().map_err(DbError::Corrupt))
            .collect::<Result<_>>()?;
        Ok(Some(TokenRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            roles,
        }))
    }

    /// How many tokens exist (to know whether `init` must make the first one).
    pub async fn token_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens")
            .fetch_one(&self.pool)
            .await?;
        count(&row, "n")
    }
}
