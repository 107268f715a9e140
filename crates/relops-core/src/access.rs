//! Roles, permissions and the one table that maps them (R-ROLE-1).
//!
//! Every HTTP route names the [`Permission`] it needs; [`Permission::roles`] is the only
//! place that says which roles hold it. A principal may hold several roles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    ReleaseManager,
    QaLead,
    SecurityEngineer,
    SupportLead,
    SupportAgent,
    ProductOwner,
    OncallDevops,
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Self::ReleaseManager,
        Self::QaLead,
        Self::SecurityEngineer,
        Self::SupportLead,
        Self::SupportAgent,
        Self::ProductOwner,
        Self::OncallDevops,
        Self::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReleaseManager => "release_manager",
            Self::QaLead => "qa_lead",
            Self::SecurityEngineer => "security_engineer",
            Self::SupportLead => "support_lead",
            Self::SupportAgent => "support_agent",
            Self::ProductOwner => "product_owner",
            Self::OncallDevops => "oncall_devops",
            Self::Admin => "admin",
        }
    }
}

/// Separation of duties (issue 15: an admin minted one token holding `product_owner` and
/// `security_engineer`, approved with every checklist item waived, then pruned the record).
/// The roles that check one another — the admin mints tokens, the product owner approves
/// releases, the security engineer keeps the keys and the audit trail — never share a
/// token, and a token holding one of them is live only once a second person confirmed it
/// ([`Permission::TokenConfirm`]).
impl Role {
    pub const CHECKING: [Role; 3] = [Self::Admin, Self::ProductOwner, Self::SecurityEngineer];

    /// Whether a token with this role needs a second person's confirmation.
    pub fn checks_others(self) -> bool {
        Self::CHECKING.contains(&self)
    }
}

/// Refuses a role set that puts two roles checking one another in one token.
pub fn check_duties(roles: &[Role]) -> Result<(), String> {
    let checking: Vec<&str> = roles
        .iter()
        .filter(|r| r.checks_others())
        .map(|r| r.as_str())
        .collect();
    if checking.len() > 1 {
        return Err(format!(
            "one token may hold only one of admin, product_owner and security_engineer (it asks for {}): they check one another, so each belongs to its own person's token (docs/permissions.md, \"Separation of duties\")",
            checking.join(" and ")
        ));
    }
    Ok(())
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<_> = Self::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role `{s}`: expected one of {}", all.join(", "))
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read releases, artifacts and checksums.
    ReleaseRead,
    /// Create and freeze releases.
    ReleaseWrite,
    /// Upload or replace artifacts before the freeze.
    ArtifactWrite,
    /// Add or replace an artifact after the freeze (critical fix, R-REL-4).
    ArtifactCriticalFix,
    /// Approve a release for the update feed (go).
    ReleaseApprove,
    /// Upload release notes.
    ReleaseNotes,
    /// Submit evidence to a release gate (coverage, tests, SBOM, scans).
    GateSubmit,
    /// Rotate signing keys.
    KeyRotate,
    /// Verify and export the audit trail.
    AuditRead,
    /// Sign audit checkpoints and prune old entries.
    AuditManage,
    /// Create API tokens.
    TokenManage,
    RolloutManage,
    RolloutHalt,
    Rollback,
    ChecklistSign,
    /// Acknowledge an alert.
    AlertAck,
    /// Decide an incident: rollback, hotfix or next patch.
    IncidentDecide,
    /// File an incident's post-mortem.
    IncidentPostmortem,
    /// Escalate a critical failure confirmed by support (rolls the release back).
    IncidentEscalate,
    /// Open and read crash dumps (sealed on the client).
    CrashDump,
    /// Confirm, as the second person, a token holding a role that checks others.
    TokenConfirm,
    /// Confirm, as the second person, an emergency go with waived checklist items.
    WaiverConfirm,
    /// Read support tickets (they hold customers' names and addresses).
    TicketRead,
    /// Work tickets: open, reply, note, link, solve, close, reopen; take customers' mail.
    TicketWork,
    /// Lead support: assign tickets, set priorities, record a customer's confirmation.
    TicketLead,
    /// Write knowledge-base drafts: FAQ articles and known issues.
    KbWrite,
    /// Publish knowledge-base articles (the public FAQ) and record "no FAQ change".
    KbPublish,
    /// Run retention: remove what the `[retention]` rules say has expired.
    RetentionApply,
}

impl Permission {
    pub const ALL: [Permission; 28] = [
        Self::ReleaseRead,
        Self::ReleaseWrite,
        Self::ArtifactWrite,
        Self::ArtifactCriticalFix,
        Self::ReleaseApprove,
        Self::ReleaseNotes,
        Self::GateSubmit,
        Self::KeyRotate,
        Self::AuditRead,
        Self::AuditManage,
        Self::TokenManage,
        Self::RolloutManage,
        Self::RolloutHalt,
        Self::Rollback,
        Self::ChecklistSign,
        Self::AlertAck,
        Self::IncidentDecide,
        Self::IncidentPostmortem,
        Self::IncidentEscalate,
        Self::CrashDump,
        Self::TokenConfirm,
        Self::WaiverConfirm,
        Self::TicketRead,
        Self::TicketWork,
        Self::TicketLead,
        Self::KbWrite,
        Self::KbPublish,
        Self::RetentionApply,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReleaseRead => "release.read",
            Self::ReleaseWrite => "release.write",
            Self::ArtifactWrite => "artifact.write",
            Self::ArtifactCriticalFix => "artifact.critical_fix",
            Self::ReleaseApprove => "release.approve",
            Self::ReleaseNotes => "release.notes",
            Self::GateSubmit => "gate.submit",
            Self::KeyRotate => "key.rotate",
            Self::AuditRead => "audit.read",
            Self::AuditManage => "audit.manage",
            Self::TokenManage => "token.manage",
            Self::RolloutManage => "rollout.manage",
            Self::RolloutHalt => "rollout.halt",
            Self::Rollback => "rollout.rollback",
            Self::ChecklistSign => "checklist.sign",
            Self::AlertAck => "alert.ack",
            Self::IncidentDecide => "incident.decide",
            Self::IncidentPostmortem => "incident.postmortem",
            Self::IncidentEscalate => "incident.escalate",
            Self::CrashDump => "crash.dump",
            Self::TokenConfirm => "token.confirm",
            Self::WaiverConfirm => "release.confirm_waiver",
            Self::TicketRead => "ticket.read",
            Self::TicketWork => "ticket.work",
            Self::TicketLead => "ticket.lead",
            Self::KbWrite => "kb.write",
            Self::KbPublish => "kb.publish",
            Self::RetentionApply => "retention.apply",
        }
    }

    /// The roles that hold this permission: the one table.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Self::ReleaseRead => &Role::ALL,
            Self::ReleaseWrite | Self::ArtifactWrite => &[ReleaseManager, Admin],
            // Go/no-go is the product owner's alone (playbook §1.3).
            Self::ReleaseApprove => &[ProductOwner],
            // The playbook: only the release manager approves a critical fix after the
            // freeze. An admin who is also release manager holds both roles.
            Self::ArtifactCriticalFix => &[ReleaseManager],
            // The playbook: release notes are final when the support lead says so.
            Self::ReleaseNotes => &[ReleaseManager, SupportLead, Admin],
            // The pipeline (release manager) and the areas' owners (QA, security).
            Self::GateSubmit => &[ReleaseManager, QaLead, SecurityEngineer, Admin],
            // The playbook: certificates and keys belong to the security engineer.
            Self::KeyRotate => &[SecurityEngineer],
            // The playbook: the security engineer controls the audit log.
            Self::AuditRead => &[SecurityEngineer, Admin],
            Self::AuditManage => &[SecurityEngineer],
            Self::TokenManage => &[Admin],
            // Starting and moving a rollout is the release manager's job; stopping one is
            // everyone's who may be woken up for it.
            Self::RolloutManage => &[ReleaseManager, Admin],
            // Each item has one owner role; the handler checks it.
            Self::ChecklistSign => &[QaLead, SecurityEngineer, OncallDevops, SupportLead],
            Self::RolloutHalt | Self::Rollback => {
                &[ReleaseManager, OncallDevops, ProductOwner, Admin]
            }
            // Whoever an alert is for: on-call (crash rate, critical), QA (error codes),
            // support (memory), and the people who run the release.
            Self::AlertAck => &[
                OncallDevops,
                ReleaseManager,
                QaLead,
                SupportLead,
                ProductOwner,
                Admin,
            ],
            // The playbook's decision matrix: on-call DevOps and the Product Owner decide.
            Self::IncidentDecide => &[OncallDevops, ProductOwner],
            Self::IncidentPostmortem => &[ReleaseManager, OncallDevops, ProductOwner, Admin],
            // The playbook: support escalates to an incident through its lead; on-call and
            // the Product Owner may raise one themselves.
            Self::IncidentEscalate => &[SupportLead, OncallDevops, ProductOwner],
            // Dumps hold users' memory: QA and support analyse crashes, security audits.
            Self::CrashDump => &[QaLead, SupportLead, SupportAgent, SecurityEngineer],
            // Separation of duties: a second admin, or the security engineer, who keeps the
            // audit trail the minting is recorded in.
            Self::TokenConfirm => &[Admin, SecurityEngineer],
            // The emergency path's second person: another product owner, or on-call, who
            // carries the risk of the hotfix.
            Self::WaiverConfirm => &[ProductOwner, OncallDevops],
            // Tickets hold personal data: support, and those who decide from their evidence
            // (the rollback decision, R-RB-2; QA reproduces).
            Self::TicketRead => &[
                SupportAgent,
                SupportLead,
                OncallDevops,
                ProductOwner,
                QaLead,
                ReleaseManager,
            ],
            Self::TicketWork => &[SupportAgent, SupportLead],
            // The playbook's support lead: assigns, prioritises, and vouches for a
            // customer's confirmation given by phone.
            Self::TicketLead => &[SupportLead],
            // Support writes the FAQ, QA documents known issues; the support lead decides
            // what customers read.
            Self::KbWrite => &[SupportAgent, SupportLead, QaLead],
            Self::KbPublish => &[SupportLead],
            // Storage is the admin's; the security engineer keeps the record. What goes is
            // the configuration's rule, never the caller's choice; the audit trail is pruned
            // only for a caller who also holds audit.manage (or by the daily run).
            Self::RetentionApply => &[Admin, SecurityEngineer],
        }
    }

    pub fn allows(self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.roles().contains(r))
    }

    /// What the health engine may do on its own (`[alerts] auto_halt`, `auto_rollback`):
    /// read, halt a rollout and roll back. It approves, signs, waives and erases nothing.
    pub fn engine_may(self) -> bool {
        matches!(self, Self::ReleaseRead | Self::RolloutHalt | Self::Rollback)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert!(Permission::ReleaseWrite.allows(&[Role::ReleaseManager]));
        assert!(Permission::ReleaseWrite.allows(&[Role::QaLead, Role::Admin]));
        assert!(!Permission::ReleaseWrite.allows(&[Role::QaLead]));
        assert!(!Permission::ArtifactCriticalFix.allows(&[Role::Admin]));
        assert!(Permission::ArtifactCriticalFix.allows(&[Role::Admin, Role::ReleaseManager]));
        assert!(!Permission::TokenManage.allows(&[Role::ReleaseManager]));
        assert!(!Permission::ReleaseRead.allows(&[]));
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert!(Permission::ReleaseRead.allows(&[r]));
        }
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("release_manager")
        );
    }

    #[test]
    fn duties_are_separated() {
        use Role::*;
        assert!(check_duties(&[ProductOwner, OncallDevops]).is_ok());
        assert!(check_duties(&[ReleaseManager, Admin]).is_ok());
        let e = check_duties(&[ProductOwner, QaLead, SecurityEngineer]).unwrap_err();
        assert!(e.contains("product_owner and security_engineer"), "{e}");
        assert!(check_duties(&[Admin, ProductOwner]).is_err());
        // Nobody confirms alone what they could not do: the confirmers are of other roles.
        assert!(!Permission::TokenConfirm.allows(&[ProductOwner]));
        assert!(Permission::WaiverConfirm.allows(&[OncallDevops]));
        assert!(!Permission::WaiverConfirm.allows(&[Admin]));
    }
}
