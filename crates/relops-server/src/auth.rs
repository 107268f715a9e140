//! Bearer-token authentication and the permission check.
//!
//! Tokens are `relops_` + 43 characters of base64url (32 random bytes); only their
//! SHA-256 is stored. A request without a valid token is refused with 401; one whose
//! roles lack the route's permission with 403 naming the permission and the roles that
//! hold it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use relops_core::access::{Permission, Role};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

pub const TOKEN_PREFIX: &str = "relops_";

/// A fresh random token.
pub fn new_token() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random number generator: {e}"))?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    ))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// The request id (for the audit trail).
    pub request_id: Option<String>,
    /// The caller's roles that hold the route's permission — the role(s) used, recorded
    /// in the audit trail. Empty for routes that need only a token.
    pub acting_as: Vec<Role>,
}

impl Principal {
    /// Refuses with 403 unless one of the caller's roles holds `perm`; otherwise records
    /// which roles grant it.
    pub fn require(&mut self, perm: Permission) -> Result<(), ApiError> {
        if perm.allows(&self.roles) {
            self.acting_as = self
                .roles
                .iter()
                .copied()
                .filter(|r| perm.roles().contains(r))
                .collect();
            return Ok(());
        }
        let holders: Vec<&str> = perm.roles().iter().map(|r| r.as_str()).collect();
        let mine: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::Forbidden(format!(
            "permission `{perm}` is required (held by role {}); this token ({}) has role {}",
            holders.join(", "),
            self.name,
            if mine.is_empty() {
                "none".to_owned()
            } else {
                mine.join(", ")
            }
        )))
    }

    /// Actor string for audit entries: `name (token id) as role` — the role(s) used.
    pub fn actor(&self) -> String {
        if self.acting_as.is_empty() {
            format!("{} ({})", self.name, self.id)
        } else {
            let roles: Vec<&str> = self.acting_as.iter().map(|r| r.as_str()).collect();
            format!("{} ({}) as {}", self.name, self.id, roles.join("+"))
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// The principal the route guard already authenticated, or authenticates now.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        authenticate(state, &parts.headers).await
    }
}

/// Resolves the bearer token of a request to its principal.
pub async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, ApiError> {
    {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "no API token: send `Authorization: Bearer TOKEN` (the CLI reads RELOPS_TOKEN or --token)".into(),
                )
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "malformed Authorization header: expected `Bearer TOKEN`".into(),
                )
            })?;
        let record = state
            .db
            .token_by_hash(&token_hash(token))
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "unknown or revoked API token: check RELOPS_TOKEN, or ask an admin for a new one (`relops token create`)".into(),
                )
            })?;
        let request_id = headers
            .get(relops_api::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Principal {
            acting_as: Vec::new(),
            id: record.id,
            name: record.name,
            roles: record.roles,
            request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
