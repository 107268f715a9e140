//! Who acts: a caller holding an API token (a person at the CLI or a CI job), or the health
//! engine acting on an alert. Every operation asks its actor for the permission it needs
//! ([`Actor::authorize`]) before it touches anything; the answer, an [`Authorized`], is
//! what the audit entry is written with — so an action is never recorded under a role that
//! did not allow it.

use relops_core::access::{Permission, Role};

use crate::error::{OpError, OpResult};

/// A caller authenticated by an API token ([`crate::Ops::authenticate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id (not the secret).
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// The request id, recorded in the audit trail.
    pub request_id: Option<String>,
}

/// Who takes an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person or a CI job, by its API token and roles.
    Caller(Principal),
    /// The health engine: the automatic halt and rollback of `[alerts]`. It holds no
    /// role; it may do exactly what [`Permission::engine_may`] lists.
    HealthEngine,
}

/// The engine's name in the audit trail and in notifications.
pub const ENGINE_NAME: &str = "relops health engine (system)";

/// Proof that an actor holds a permission, and the name its action is recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// `name (token id) as role` — the roles that grant the permission — or the engine.
    pub name: String,
    pub request_id: Option<String>,
}

/// The person an audit name (`anna (tok_…) as product_owner`) stands for: the token's name.
/// Separation of duties compares people, not tokens: one person's two tokens are one person.
/// Unambiguous because token names may not hold parentheses (`create_token` refuses them).
pub(crate) fn person(audit_name: &str) -> &str {
    audit_name.split(" (").next().unwrap_or(audit_name)
}

impl Authorized {
    /// The audit entry of an action taken under this authority.
    pub(crate) fn audit(
        &self,
        action: &str,
        target: String,
        detail: serde_json::Value,
    ) -> relops_store::AuditRecord {
        relops_store::AuditRecord {
            actor: self.name.clone(),
            action: action.to_owned(),
            target,
            detail,
            request_id: self.request_id.clone(),
        }
    }
}

impl Actor {
    /// Refuses unless the actor may use `perm`.
    pub fn authorize(&self, perm: Permission) -> OpResult<Authorized> {
        match self {
            Self::HealthEngine if perm.engine_may() => Ok(Authorized {
                name: ENGINE_NAME.to_owned(),
                request_id: None,
            }),
            Self::HealthEngine => Err(OpError::Forbidden {
                permission: Some(perm),
                message: format!("the health engine does not act with permission `{perm}`"),
            }),
            Self::Caller(p) => p.authorize(perm),
        }
    }

    /// The caller's roles (none for the engine).
    pub fn roles(&self) -> &[Role] {
        match self {
            Self::Caller(p) => &p.roles,
            Self::HealthEngine => &[],
        }
    }
}

impl Principal {
    /// Refuses with `Forbidden` naming the permission and the roles that hold it, unless
    /// one of this caller's roles holds `perm`.
    pub fn authorize(&self, perm: Permission) -> OpResult<Authorized> {
        if perm.allows(&self.roles) {
            let roles: Vec<&str> = self
                .roles
                .iter()
                .filter(|r| perm.roles().contains(r))
                .map(|r| r.as_str())
                .collect();
            return Ok(Authorized {
                name: format!("{} ({}) as {}", self.name, self.id, roles.join("+")),
                request_id: self.request_id.clone(),
            });
        }
        let holders: Vec<&str> = perm.roles().iter().map(|r| r.as_str()).collect();
        let mine: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
        Err(OpError::Forbidden {
            permission: Some(perm),
            message: format!(
                "permission `{perm}` is required (held by role {}); this token ({}) has role {}",
                holders.join(", "),
                self.name,
                if mine.is_empty() {
                    "none".to_owned()
                } else {
                    mine.join(", ")
                }
            ),
        })
    }

    /// `name (token id)`: for what needs a name but no permission (`whoami`).
    pub fn name_and_id(&self) -> String {
        format!("{} ({})", self.name, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role]) -> Actor {
        Actor::Caller(Principal {
            id: "t1".into(),
            name: "quinn".into(),
            roles: roles.to_vec(),
            request_id: Some("r-1".into()),
        })
    }

    #[test]
    fn a_caller_acts_as_the_roles_that_grant_the_permission() {
        let a = caller(&[Role::QaLead, Role::ReleaseManager])
            .authorize(Permission::ReleaseWrite)
            .unwrap();
        assert_eq!(a.name, "quinn (t1) as release_manager");
        assert_eq!(a.request_id.as_deref(), Some("r-1"));
        let read = caller(&[Role::QaLead, Role::ReleaseManager])
            .authorize(Permission::ReleaseRead)
            .unwrap();
        assert_eq!(read.name, "quinn (t1) as qa_lead+release_manager");
    }

    #[test]
    fn a_missing_permission_is_named_with_its_holders() {
        match caller(&[Role::SupportAgent]).authorize(Permission::Rollback) {
            Err(OpError::Forbidden {
                permission: Some(Permission::Rollback),
                message,
            }) => {
                assert!(message.contains("`rollout.rollback`"), "{message}");
                assert!(message.contains("oncall_devops"), "{message}");
                assert!(message.contains("has role support_agent"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_engine_may_halt_and_roll_back_and_nothing_else() {
        for p in Permission::ALL {
            let r = Actor::HealthEngine.authorize(p);
            assert_eq!(r.is_ok(), p.engine_may(), "{p}");
        }
        assert_eq!(
            Actor::HealthEngine
                .authorize(Permission::RolloutHalt)
                .unwrap()
                .name,
            ENGINE_NAME
        );
        assert!(
            Actor::HealthEngine
                .authorize(Permission::TokenManage)
                .is_err()
        );
    }
}
