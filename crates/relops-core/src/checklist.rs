//! The readiness checklist of playbook §1.3 (R-REL-8) and the go/no-go rule.
//!
//! Five items, one per area, each owned by a role. QA and Security are fed by gates: their
//! owner can sign only once those gates have passed. Support needs the release notes.
//! Management is the go-live approval itself (`relops approve`). Go is allowed when every
//! other item is signed (or waived on the emergency path) and every required gate passed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::access::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    Qa,
    Security,
    Ops,
    Support,
    Management,
}

impl Item {
    pub const ALL: [Item; 5] = [
        Self::Qa,
        Self::Security,
        Self::Ops,
        Self::Support,
        Self::Management,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qa => "qa",
            Self::Security => "security",
            Self::Ops => "ops",
            Self::Support => "support",
            Self::Management => "management",
        }
    }

    /// What the owner confirms by signing.
    pub fn title(self) -> &'static str {
        match self {
            Self::Qa => "Regression tests and UI smoke tests passed",
            Self::Security => "Dependency scan (SCA) and secrets scan clean, SBOM licences checked",
            Self::Ops => "Monitoring configuration checked",
            Self::Support => "Release notes final, FAQ updated",
            Self::Management => "Go-live approval",
        }
    }

    pub fn owner(self) -> Role {
        match self {
            Self::Qa => Role::QaLead,
            Self::Security => Role::SecurityEngineer,
            Self::Ops => Role::OncallDevops,
            Self::Support => Role::SupportLead,
            Self::Management => Role::ProductOwner,
        }
    }

    /// The gates whose verdicts feed this item.
    pub fn gates(self) -> &'static [&'static str] {
        match self {
            Self::Qa => &["tests", "coverage", "lint"],
            Self::Security => &["vulnerabilities", "secrets", "sbom"],
            _ => &[],
        }
    }

    /// Signed with `relops checklist sign` (all but management, which is the approval).
    pub fn signable(self) -> bool {
        self != Self::Management
    }
}

impl FromStr for Item {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| {
                format!("unknown checklist item `{s}`: expected qa, security, ops, support or management")
            })
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A gate's state as the checklist sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateState {
    Passed,
    Failed,
    Missing,
}

/// Why `owner` may not sign `item` now, if so.
pub fn sign_refusal(
    item: Item,
    gate: impl Fn(&str) -> GateState,
    has_notes: bool,
    faq_updated: bool,
) -> Option<String> {
    if !item.signable() {
        return Some(
            "management is signed by the go-live decision itself: `relops approve VERSION`".into(),
        );
    }
    let open: Vec<String> = item
        .gates()
        .iter()
        .filter_map(|g| match gate(g) {
            GateState::Passed => None,
            GateState::Failed => Some(format!("{g} failed")),
            GateState::Missing => Some(format!("{g} missing")),
        })
        .collect();
    if !open.is_empty() {
        return Some(format!(
            "{item} is fed by its gates and they have not all passed ({}): submit the reports with `relops gate …` first",
            open.join(", ")
        ));
    }
    if item == Item::Support && !has_notes {
        return Some(
            "support signs off final release notes: upload them first with `relops release notes VERSION FILE`".into(),
        );
    }
    if item == Item::Support && !faq_updated {
        return Some(
            "support signs off the FAQ updated for this release: publish a knowledge-base revision that names it (`relops kb add --title … FILE.md --release VERSION --publish`), or sign with --no-faq-change --note \"why\"".into(),
        );
    }
    None
}

/// What blocks go: items neither signed nor waived, and gates (of `required`, plus any
/// recorded failure) that did not pass and are not covered by a waived item.
pub fn go_blockers(
    signed: impl Fn(Item) -> bool,
    waived: &[Item],
    required_gates: &[&str],
    gate: impl Fn(&str) -> GateState,
    recorded_gates: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    for item in Item::ALL.into_iter().filter(|i| i.signable()) {
        if !signed(item) && !waived.contains(&item) {
            out.push(format!(
                "checklist item {item} ({}) is not signed",
                item.owner()
            ));
        }
    }
    let waived_gates: Vec<&str> = waived.iter().flat_map(|i| i.gates()).copied().collect();
    let mut gates: Vec<&str> = required_gates.to_vec();
    gates.extend(recorded_gates.iter().copied());
    gates.sort_unstable();
    gates.dedup();
    for g in gates {
        if waived_gates.contains(&g) {
            continue;
        }
        match gate(g) {
            GateState::Passed => {}
            GateState::Failed => out.push(format!("gate {g} failed")),
            GateState::Missing => out.push(format!("gate {g} missing")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(
        passed: &'static [&'static str],
        failed: &'static [&'static str],
    ) -> impl Fn(&str) -> GateState {
        move |g| {
            if passed.contains(&g) {
                GateState::Passed
            } else if failed.contains(&g) {
                GateState::Failed
            } else {
                GateState::Missing
            }
        }
    }

    #[test]
    fn owners_and_feeding_gates() {
        assert_eq!(Item::Qa.owner(), Role::QaLead);
        assert_eq!(Item::Management.owner(), Role::ProductOwner);
        assert_eq!("security".parse::<Item>(), Ok(Item::Security));
        assert!("legal".parse::<Item>().unwrap_err().contains("expected qa"));
        let g = gates(&["tests"], &["coverage"]);
        let why = sign_refusal(Item::Qa, &g, true, true).unwrap();
        assert!(why.contains("coverage failed"), "{why}");
        let why = sign_refusal(Item::Qa, gates(&["tests", "coverage"], &[]), true, true).unwrap();
        assert!(why.contains("lint missing"), "{why}");
        assert!(
            sign_refusal(
                Item::Qa,
                gates(&["tests", "coverage", "lint"], &[]),
                true,
                true
            )
            .is_none()
        );
        assert!(sign_refusal(Item::Ops, gates(&[], &[]), false, false).is_none());
        assert!(
            sign_refusal(Item::Support, gates(&[], &[]), false, true)
                .unwrap()
                .contains("release notes")
        );
        assert!(
            sign_refusal(Item::Support, gates(&[], &[]), true, false)
                .unwrap()
                .contains("FAQ updated")
        );
        assert!(sign_refusal(Item::Support, gates(&[], &[]), true, true).is_none());
        assert!(
            sign_refusal(Item::Management, gates(&[], &[]), true, true)
                .unwrap()
                .contains("relops approve")
        );
    }

    #[test]
    fn go_needs_every_item_and_gate_unless_waived() {
        let all_gates = ["coverage", "tests", "sbom", "vulnerabilities", "secrets"];
        let none_signed = |_: Item| false;
        let b = go_blockers(none_signed, &[], &all_gates, gates(&[], &[]), &[]);
        assert_eq!(b.len(), 4 + 5, "{b:?}");
        let all_signed = |_: Item| true;
        let ok = gates(
            &["coverage", "tests", "sbom", "vulnerabilities", "secrets"],
            &[],
        );
        assert!(go_blockers(all_signed, &[], &all_gates, &ok, &[]).is_empty());
        // A recorded failure blocks even when the gate is not required.
        let b = go_blockers(all_signed, &[], &[], gates(&[], &["secrets"]), &["secrets"]);
        assert_eq!(b, ["gate secrets failed"]);
        // Waiving security covers its item and its gates, nothing else.
        let only_qa = |i: Item| i != Item::Security;
        let b = go_blockers(
            only_qa,
            &[Item::Security],
            &all_gates,
            gates(&["coverage", "tests"], &["vulnerabilities"]),
            &["vulnerabilities"],
        );
        assert!(b.is_empty(), "{b:?}");
        let b = go_blockers(
            only_qa,
            &[Item::Security],
            &all_gates,
            gates(&["tests"], &[]),
            &[],
        );
        assert_eq!(b, ["gate coverage missing"]);
    }
}
