//! The web console's sessions: an API token (or, through the company's OpenID provider, a
//! person's claims) exchanged for a session whose secret lives in an `HttpOnly` cookie.
//!
//! Invariants: only the SHA-256 of a session's secret is stored; a session made from a token
//! acts with that token's roles *now* (revoking the token ends its sessions); every
//! state-changing form sends the session's CSRF token back ([`Session::csrf_matches`]).

use chrono::{Duration, Utc};
use relops_store::SessionRecord;

use crate::error::OpResult;
use crate::tokens::{new_secret, token_hash};
use crate::{Ops, Principal};

/// A logged-in console user.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who acts, with the roles they hold now.
    pub principal: Principal,
    /// The token every form of the session carries.
    pub csrf: String,
    pub expires_at: chrono::DateTime<Utc>,
}

impl Session {
    /// Whether a form's CSRF token is this session's (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        use subtle::ConstantTimeEq;
        sent.len() == self.csrf.len() && bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

impl Ops {
    /// Logs in with an API token: the new session's secret (for the cookie) and the
    /// session; `None` when the token is unknown or revoked. A token awaiting its second
    /// person is refused as it is on the API.
    pub async fn login_with_token(&self, token: &str) -> OpResult<Option<(String, Session)>> {
        let Some(p) = self.authenticate(token.trim(), None).await? else {
            return Ok(None);
        };
        tracing::info!(name = %p.name, token = %p.id, "console login");
        let token_id = p.id.clone();
        self.open_session(p, Some(token_id)).await.map(Some)
    }

    /// Stores a new session for `p` (made from token `token_id`, or through the OpenID
    /// provider when `None`): the secret for the cookie, and the session.
    pub(crate) async fn open_session(
        &self,
        p: Principal,
        token_id: Option<String>,
    ) -> OpResult<(String, Session)> {
        let now = Utc::now();
        let record = SessionRecord {
            token_id,
            subject: p.id.clone(),
            name: p.name.clone(),
            roles: p.roles.clone(),
            csrf: new_secret()?,
            created_at: now,
            expires_at: now + Duration::hours(i64::from(self.config.console.session_hours)),
        };
        let secret = new_secret()?;
        self.db
            .insert_session(&token_hash(&secret), &record)
            .await?;
        Ok((
            secret,
            Session {
                principal: p,
                csrf: record.csrf,
                expires_at: record.expires_at,
            },
        ))
    }

    /// The live session of a cookie's secret: unexpired, and (for a token's session) its
    /// token still unrevoked, with the token's roles now.
    pub async fn session(
        &self,
        secret: &str,
        request_id: Option<String>,
    ) -> OpResult<Option<Session>> {
        let Some(s) = self.db.session(&token_hash(secret), Utc::now()).await? else {
            return Ok(None);
        };
        let (name, roles) = match &s.token_id {
            Some(id) => match self.db.token(id).await? {
                Some(t) if t.is_live() => (t.name, t.roles),
                _ => return Ok(None),
            },
            None => (s.name, s.roles),
        };
        Ok(Some(Session {
            principal: Principal {
                id: s.subject,
                name,
                roles,
                request_id,
            },
            csrf: s.csrf,
            expires_at: s.expires_at,
        }))
    }

    /// A stamp that changes when anything the console shows may have changed (its live
    /// updates poll it).
    pub async fn change_stamp(&self, actor: &crate::Actor) -> OpResult<String> {
        actor.authorize(relops_core::access::Permission::ReleaseRead)?;
        Ok(self.db.change_stamp().await?)
    }

    /// Ends the session of a cookie's secret (nothing when there is none).
    pub async fn logout(&self, secret: &str) -> OpResult<()> {
        self.db.delete_session(&token_hash(secret)).await?;
        Ok(())
    }
}
