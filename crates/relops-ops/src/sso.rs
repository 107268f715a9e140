//! Console login through the company's OpenID provider (`[console.oidc]`): the person's
//! groups become relops roles by `[console.oidc.roles]`, and a console session holds
//! them until it expires (roles are read at login; a group change takes effect at the
//! next login).
//!
//! Invariants: a login is bound to the browser that started it (the state is in the
//! browser's cookie and, by its SHA-256, in `oidc_logins`; the callback needs both to
//! match) and is used once; the ID token must carry the nonce stored with it; a person in
//! no mapped group gets no session.

use chrono::{Duration, Utc};
use relops_core::access::Role;
use relops_store::OidcLoginRecord;

use crate::error::{OpError, OpResult};
use crate::services::oidc::OidcError;
use crate::sessions::Session;
use crate::tokens::token_hash;
use crate::{Ops, Principal};

/// How long a login may take at the provider.
const LOGIN_MINUTES: i64 = 10;
/// Longest subject and name kept from the provider.
const MAX_CLAIM: usize = 200;

impl Ops {
    /// The login page's single sign-on button, when `[console.oidc]` is configured.
    pub fn sso_button(&self) -> Option<&str> {
        self.oidc.as_ref().map(|o| o.button())
    }

    /// Starts a login: the provider's address to send the browser to, and the state for
    /// the browser's cookie. `next` is the page to return to.
    pub async fn sso_start(&self, next: &str) -> OpResult<(String, String)> {
        let oidc = self.oidc.as_ref().ok_or_else(not_configured)?;
        let s = oidc.start().await.map_err(unavailable)?;
        let now = Utc::now();
        let record = OidcLoginRecord {
            nonce: s.nonce,
            verifier: s.verifier,
            next: next.to_owned(),
            expires_at: now + Duration::minutes(LOGIN_MINUTES),
        };
        self.db
            .insert_oidc_login(&token_hash(&s.state), &record, now)
            .await?;
        Ok((s.url, s.state))
    }

    /// Ends a login at the callback: the provider's `state` and `code`, and the state of
    /// the browser's cookie. The session's secret, the session, and the page to go to.
    pub async fn sso_finish(
        &self,
        cookie_state: Option<&str>,
        state: &str,
        code: &str,
    ) -> OpResult<(String, Session, String)> {
        use subtle::ConstantTimeEq;
        let oidc = self.oidc.as_ref().ok_or_else(not_configured)?;
        let same = cookie_state.is_some_and(|c| {
            c.len() == state.len() && bool::from(c.as_bytes().ct_eq(state.as_bytes()))
        });
        if !same {
            return Err(OpError::Forbidden {
                permission: None,
                message: "this login was not started in this browser (or its cookie expired): start it again from the login page".into(),
            });
        }
        let now = Utc::now();
        let Some(login) = self.db.take_oidc_login(&token_hash(state), now).await? else {
            return Err(OpError::Refused(format!(
                "this login is unknown, used or older than {LOGIN_MINUTES} minutes: start it again from the login page"
            )));
        };
        let person = oidc
            .finish(code, &login.verifier, &login.nonce)
            .await
            .map_err(|e| match e {
                OidcError::Provider(_) => unavailable(e),
                OidcError::Invalid(_) => OpError::Forbidden {
                    permission: None,
                    message: e.to_string(),
                },
            })?;
        let roles = roles_of(&oidc.config().roles, &person.groups);
        if roles.is_empty() {
            tracing::warn!(subject = %person.subject, groups = ?person.groups, "single sign-on refused: no mapped group");
            return Err(OpError::Forbidden {
                permission: None,
                message: format!(
                    "your account's groups ({}) hold no relops role: ask an admin to map one in [console.oidc.roles]",
                    if person.groups.is_empty() {
                        format!("none in the `{}` claim", oidc.roles_claim())
                    } else {
                        person.groups.join(", ")
                    }
                ),
            });
        }
        let p = Principal {
            id: format!("sso:{}", clip(&person.subject)),
            name: clip(&person.name),
            roles,
            request_id: None,
        };
        tracing::info!(name = %p.name, subject = %p.id, roles = ?p.roles, "console login through single sign-on");
        let (secret, session) = self.open_session(p, None).await?;
        Ok((secret, session, login.next))
    }
}

/// The roles of the mapped groups among `groups`, each once, in the table's order.
fn roles_of(map: &std::collections::BTreeMap<String, Vec<Role>>, groups: &[String]) -> Vec<Role> {
    let mut roles: Vec<Role> = groups
        .iter()
        .filter_map(|g| map.get(g))
        .flatten()
        .copied()
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// A claim cut to [`MAX_CLAIM`] bytes (at a character boundary), without control
/// characters.
fn clip(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_CLAIM {
            break;
        }
        out.push(c);
    }
    out
}

fn not_configured() -> OpError {
    OpError::NotFound(
        "single sign-on is not configured: set [console.oidc] (docs/console.md), or log in with an API token".into(),
    )
}

fn unavailable(e: OidcError) -> OpError {
    OpError::Unavailable(format!("{e}; try again, or log in with an API token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_to_roles_once_and_unmapped_groups_to_none() {
        let map = [
            ("wizard-oncall".to_owned(), vec![Role::OncallDevops]),
            (
                "wizard-leads".to_owned(),
                vec![Role::SupportLead, Role::OncallDevops],
            ),
        ]
        .into_iter()
        .collect();
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            roles_of(&map, &g(&["wizard-leads", "wizard-oncall", "staff"])),
            vec![Role::SupportLead, Role::OncallDevops]
        );
        assert_eq!(roles_of(&map, &g(&["staff"])), Vec::<Role>::new());
    }

    #[test]
    fn claims_are_clipped_and_lose_control_characters() {
        assert_eq!(clip("Olga\nOncall"), "OlgaOncall");
        let long = "ä".repeat(150);
        let c = clip(&long);
        assert!(c.len() <= MAX_CLAIM && c.chars().all(|ch| ch == 'ä'));
    }
}
