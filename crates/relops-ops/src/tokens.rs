//! API tokens: made by an admin (and the first one by `relops init`), resolved to the caller
//! on every request, and `whoami`.
//!
//! Tokens are `relops_` + 43 characters of base64url (32 random bytes); only their SHA-256
//! is stored.

use base64::Engine;
use chrono::Utc;
use relops_api::{
    CreateToken, TokenConfirmed, TokenCreated, TokenInfo, TokenList, TokenRevoked, WhoAmI,
};
use relops_core::access::{Permission, Role};
use relops_store::{AuditRecord, Db, TokenRecord};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::actor::person;
use crate::error::{OpError, OpResult};
use crate::{Actor, Ops, Principal};

pub const TOKEN_PREFIX: &str = "relops_";

/// A fresh random token.
pub fn new_token() -> anyhow::Result<String> {
    Ok(format!("{TOKEN_PREFIX}{}", new_secret()?))
}

/// 32 random bytes as base64url (43 characters): a token's, a session's or a form's secret.
pub(crate) fn new_secret() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random number generator: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes and stores a token, audited under `actor_name`; shared with `relops init`'s first
/// admin token, which exists before any server does.
/// A token holding a role that checks others waits for a second person when
/// `needs_confirmation` (always, but for `relops init`'s first admin: nobody else exists).
pub(crate) async fn issue_token(
    db: &Db,
    name: &str,
    roles: Vec<Role>,
    actor_name: &str,
    request_id: Option<String>,
    needs_confirmation: bool,
) -> OpResult<TokenCreated> {
    let token = new_token()?;
    let record = TokenRecord {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        name: name.to_owned(),
        roles: roles.clone(),
        created_by: actor_name.to_owned(),
        created_at: Utc::now(),
        needs_confirmation: needs_confirmation && roles.iter().any(|r| r.checks_others()),
        confirmed_by: None,
    };
    let mut detail = json!({ "name": name, "roles": roles });
    if record.needs_confirmation {
        detail["awaits"] = json!("a second person: token.confirm");
    }
    let audit = AuditRecord {
        actor: actor_name.to_owned(),
        action: "token.create".into(),
        target: format!("token/{}", record.id),
        detail,
        request_id,
    };
    db.insert_token(&record, &token_hash(&token), &audit)
        .await?;
    Ok(TokenCreated {
        awaiting_confirmation: record.needs_confirmation,
        id: record.id,
        name: record.name,
        roles,
        token,
    })
}

/// Confirms a token awaiting its second person, audited under `by`; shared with the local
/// confirmation on the server's host (`relops token confirm ID --data-dir`).
pub(crate) async fn confirm(
    db: &Db,
    id: &str,
    by: &str,
    request_id: Option<String>,
) -> OpResult<TokenConfirmed> {
    let t = match db.token(id).await? {
        Some(t) => t,
        None => {
            let mut named = db.tokens_awaiting_named(id).await?;
            match named.len() {
                1 => named.remove(0),
                0 => {
                    return Err(OpError::NotFound(format!(
                        "no token {id} (or it was revoked), and no token named {id:?} awaits confirmation"
                    )));
                }
                _ => {
                    let ids: Vec<&str> = named.iter().map(|t| t.id.as_str()).collect();
                    return Err(OpError::Refused(format!(
                        "{} tokens named {id:?} await confirmation ({}): confirm one by its id",
                        named.len(),
                        ids.join(", ")
                    )));
                }
            }
        }
    };
    let id = t.id.as_str();
    if !t.needs_confirmation || t.confirmed_by.is_some() {
        return Err(OpError::Refused(format!(
            "token {id} ({}) awaits no confirmation{}",
            t.name,
            t.confirmed_by
                .as_deref()
                .map(|c| format!(": {c} confirmed it"))
                .unwrap_or_default()
        )));
    }
    let me = person(by);
    if me == person(&t.created_by) || me == t.name {
        return Err(OpError::Refused(format!(
            "token {id} ({}) was made by {}: a second person confirms it — another admin, or a security engineer",
            t.name, t.created_by
        )));
    }
    let audit = AuditRecord {
        actor: by.to_owned(),
        action: "token.confirm".into(),
        target: format!("token/{id}"),
        detail: json!({ "name": t.name, "roles": t.roles, "created_by": t.created_by }),
        request_id,
    };
    if !db.confirm_token(id, by, Utc::now(), &audit).await? {
        return Err(OpError::Conflict(format!(
            "token {id} was confirmed or revoked meanwhile"
        )));
    }
    Ok(TokenConfirmed {
        id: t.id,
        name: t.name,
        roles: t.roles,
        created_by: t.created_by,
        confirmed_by: by.to_owned(),
    })
}

impl Ops {
    /// The tokens that work or await confirmation (admin).
    pub async fn tokens(&self, actor: &Actor) -> OpResult<TokenList> {
        actor.authorize(Permission::TokenManage)?;
        Ok(TokenList {
            tokens: self
                .db
                .tokens()
                .await?
                .into_iter()
                .map(token_info)
                .collect(),
        })
    }

    /// Revokes a token (admin): it stops working at once, and so do the console sessions
    /// made with it. The last live admin token is kept: without it nobody could make
    /// tokens any more.
    pub async fn revoke_token(&self, actor: &Actor, id: &str) -> OpResult<TokenRevoked> {
        let who = actor.authorize(Permission::TokenManage)?;
        let all = self.db.tokens().await?;
        let t = all.iter().find(|t| t.id == id).cloned().ok_or_else(|| {
            OpError::NotFound(format!(
                "no token {id} (or it was revoked already): `relops token list` shows the tokens and their ids"
            ))
        })?;
        let admin = |t: &TokenRecord| t.is_live() && t.roles.contains(&Role::Admin);
        if admin(&t) && all.iter().filter(|o| admin(o)).count() == 1 {
            return Err(OpError::Refused(format!(
                "token {id} ({}) is the last admin token: make another admin token first (`relops token create --role admin`), or nobody could make tokens any more",
                t.name
            )));
        }
        let at = Utc::now();
        let audit = AuditRecord {
            actor: who.name.clone(),
            action: "token.revoke".into(),
            target: format!("token/{id}"),
            detail: json!({ "name": t.name, "roles": t.roles, "created_by": t.created_by }),
            request_id: who.request_id.clone(),
        };
        if !self.db.revoke_token(id, at, &audit).await? {
            return Err(OpError::Conflict(format!(
                "token {id} was revoked meanwhile"
            )));
        }
        Ok(TokenRevoked {
            id: t.id,
            name: t.name,
            roles: t.roles,
            revoked_by: who.name,
            revoked_at: at,
        })
    }

    /// The caller a bearer token belongs to; `None` for an unknown or revoked token, and
    /// `Forbidden` for one awaiting its second person.
    pub async fn authenticate(
        &self,
        token: &str,
        request_id: Option<String>,
    ) -> OpResult<Option<Principal>> {
        let Some(record) = self.db.token_by_hash(&token_hash(token)).await? else {
            return Ok(None);
        };
        if !record.is_live() {
            return Err(OpError::Forbidden {
                permission: None,
                message: format!(
                    "token {} ({}) awaits a second person's confirmation: another admin or a security engineer runs `relops token confirm {}`",
                    record.id, record.name, record.id
                ),
            });
        }
        Ok(Some(Principal {
            id: record.id,
            name: record.name,
            roles: record.roles,
            request_id,
        }))
    }

    /// The second person's confirmation of a token holding a role that checks others.
    pub async fn confirm_token(&self, actor: &Actor, id: &str) -> OpResult<TokenConfirmed> {
        let who = actor.authorize(Permission::TokenConfirm)?;
        confirm(&self.db, id, &who.name, who.request_id).await
    }

    /// A new API token with the given roles (its secret is shown once).
    pub async fn create_token(&self, actor: &Actor, req: CreateToken) -> OpResult<TokenCreated> {
        let who = actor.authorize(Permission::TokenManage)?;
        let name = relops_core::text::line("name", &req.name, 128).map_err(|_| {
            OpError::Invalid(
                "token name must be 1-128 bytes of printable text, e.g. --name ci-release".into(),
            )
        })?;
        // The audit trail names a caller `name (tok_id) as role`, and separation of duties
        // reads the person back as what comes before " (": a name with parentheses could
        // pose as another person's entry.
        if name.contains(['(', ')']) {
            return Err(OpError::Invalid(format!(
                "token name {name:?} has parentheses, which the audit trail reserves: \
                 name the person or job, e.g. --name anna or --name ci-release"
            )));
        }
        if req.roles.is_empty() {
            return Err(OpError::Invalid(
                "a token needs at least one role: --role ROLE".into(),
            ));
        }
        let mut roles: Vec<Role> = Vec::with_capacity(req.roles.len());
        for r in &req.roles {
            let role: Role = r.parse().map_err(OpError::Invalid)?;
            if roles.contains(&role) {
                return Err(OpError::Invalid(format!(
                    "role {role} is listed twice: name each role once"
                )));
            }
            roles.push(role);
        }
        relops_core::access::check_duties(&roles).map_err(OpError::Invalid)?;
        issue_token(&self.db, name, roles, &who.name, who.request_id, true).await
    }

    /// The caller's name and roles, and the products this server has.
    pub fn whoami(&self, p: &Principal) -> WhoAmI {
        WhoAmI {
            name: p.name.clone(),
            roles: p.roles.clone(),
            products: self.config.products.clone(),
        }
    }
}

fn token_info(t: TokenRecord) -> TokenInfo {
    TokenInfo {
        awaiting_confirmation: !t.is_live(),
        id: t.id,
        name: t.name,
        roles: t.roles,
        created_at: t.created_at,
        created_by: t.created_by,
        confirmed_by: t.confirmed_by,
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
