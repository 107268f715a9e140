//! Support tickets' rules (R-CR-6, issue #9), pure: the status machine, the close rule and
//! the default priority.
//!
//! - **Statuses**: `new → open → waiting_on_customer ⇄ open → escalated → solved → closed`;
//!   a customer's reply reopens a closed ticket, ends the wait of a waiting one, and to a
//!   solved one is their confirmation (the agent reopens it if it says otherwise). The SLA clock
//!   ([`crate::sla`]) stands while `waiting_on_customer`.
//! - **Close rule**: a ticket closes only when its cause or a workaround is documented (text,
//!   or a linked known issue) **and** the customer confirmed (a reply, the signed link in the
//!   solve mail, or a support lead's recorded note). [`close_refusal`] names each unmet
//!   condition.
//! - **Default priority**: Critical when a linked crash belongs to an open critical-failure
//!   alert or the text says the app loses data or does not start (German and English);
//!   otherwise what was asked, High when nothing was.

use serde::{Deserialize, Serialize};

use crate::sla::Priority;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Open,
    WaitingOnCustomer,
    Escalated,
    Solved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Self::New,
        Self::Open,
        Self::WaitingOnCustomer,
        Self::Escalated,
        Self::Solved,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Open => "open",
            Self::WaitingOnCustomer => "waiting_on_customer",
            Self::Escalated => "escalated",
            Self::Solved => "solved",
            Self::Closed => "closed",
        }
    }

    /// Whether the SLA clock runs (it stands while the customer is to answer, and once
    /// the ticket is solved or closed).
    pub fn clock_runs(self) -> bool {
        matches!(self, Self::New | Self::Open | Self::Escalated)
    }

    /// Whether a person may move a ticket from `self` to `to` (a customer's reply is
    /// [`Status::on_customer_reply`]; closing also needs [`close_refusal`] to pass).
    pub fn may_become(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (a, b) if a == b => false,
            (Closed, _) => false,
            (_, New) => false,
            (New | Open | WaitingOnCustomer | Escalated, Open | WaitingOnCustomer | Escalated) => {
                true
            }
            (New | Open | WaitingOnCustomer | Escalated, Solved) => true,
            (Solved, Open | Closed) => true,
            _ => false,
        }
    }

    /// Where a customer's reply takes the ticket: back to work (`open`) from waiting or
    /// closed; unchanged otherwise (to a solved ticket the reply is the confirmation).
    pub fn on_customer_reply(self) -> Status {
        match self {
            Self::WaitingOnCustomer | Self::Closed => Self::Open,
            s => s,
        }
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
            format!(
                "unknown ticket status `{s}`: expected new, open, waiting_on_customer, escalated, solved or closed"
            )
        })
    }
}

/// What the close rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseFacts {
    pub status_solved: bool,
    /// A cause or workaround written on the ticket.
    pub cause_or_workaround: bool,
    /// A linked known issue (which documents cause and workaround).
    pub known_issue_linked: bool,
    /// The customer confirmed: replied after the solution, used the confirmation link, or a
    /// support lead recorded their confirmation.
    pub customer_confirmed: bool,
}

/// Why a ticket may not close yet — every unmet condition, in words — or `None`.
pub fn close_refusal(f: &CloseFacts) -> Option<String> {
    let mut missing = Vec::new();
    if !f.status_solved {
        missing.push("it is not solved yet (`relops ticket solve` first)");
    }
    if !(f.cause_or_workaround || f.known_issue_linked) {
        missing.push(
            "no cause or workaround is documented (write it on the ticket, or link a known issue)",
        );
    }
    if !f.customer_confirmed {
        missing.push("the customer has not confirmed (their reply, the confirmation link in the solve mail, or a support lead's recorded confirmation)");
    }
    (!missing.is_empty()).then(|| format!("the ticket cannot close: {}", missing.join("; ")))
}

/// Words that mean the app loses data or does not start, in German and English
/// (lower case; matched on word starts of the lower-cased text).
const CRITICAL_PHRASES: [&str; 14] = [
    "data loss",
    "lost data",
    "lost my data",
    "lost all",
    "won't start",
    "will not start",
    "does not start",
    "doesn't start",
    "crashes on start",
    "datenverlust",
    "daten verloren",
    "startet nicht",
    "lässt sich nicht starten",
    "absturz beim start",
];

/// A support lead's priority rule: a ticket whose subject or text holds `phrase` (compared
/// in lower case) gets `priority`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityRule {
    pub phrase: String,
    pub priority: Priority,
}

/// The priority a new ticket gets, and why when a rule decided it: Critical when a linked
/// crash belongs to an open critical-failure alert or the subject or text says the app
/// loses data or does not start; else the most urgent of the support lead's `rules` whose
/// phrase the text holds — unless the requested priority is more urgent still; else the
/// requested one, or High.
pub fn default_priority(
    requested: Option<Priority>,
    text: &str,
    crash_in_critical_alert: bool,
    rules: &[PriorityRule],
) -> (Priority, Option<String>) {
    if crash_in_critical_alert {
        return (
            Priority::Critical,
            Some("a linked crash belongs to an open critical-failure alert".into()),
        );
    }
    let lower = text.to_lowercase();
    if let Some(p) = CRITICAL_PHRASES.iter().find(|p| lower.contains(**p)) {
        return (Priority::Critical, Some(phrase_reason(p).into()));
    }
    // `Priority` orders Critical first: the most urgent is the least.
    let rule = rules
        .iter()
        .filter(|r| lower.contains(&r.phrase.to_lowercase()))
        .min_by_key(|r| r.priority);
    match (rule, requested) {
        (Some(r), Some(asked)) if asked <= r.priority => (asked, None),
        (Some(r), _) => (
            r.priority,
            Some(format!("the support lead's rule \"{}\"", r.phrase)),
        ),
        (None, asked) => (asked.unwrap_or(Priority::High), None),
    }
}

fn phrase_reason(p: &str) -> &'static str {
    if [
        "data loss",
        "lost data",
        "lost my data",
        "lost all",
        "datenverlust",
        "daten verloren",
    ]
    .contains(&p)
    {
        "the customer reports data loss"
    } else {
        "the customer reports that the app does not start"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_move_as_support_works() {
        use Status::*;
        let working = [New, Open, WaitingOnCustomer, Escalated];
        for from in Status::ALL {
            for to in Status::ALL {
                let want = from != to
                    && ((working.contains(&from)
                        && matches!(to, Open | WaitingOnCustomer | Escalated | Solved))
                        || (from == Solved && matches!(to, Open | Closed)));
                assert_eq!(from.may_become(to), want, "{from:?} -> {to:?}");
            }
        }
        // Closing never skips solving; a closed ticket moves only by the customer's reply.
        assert!(!Open.may_become(Closed) && !Closed.may_become(Open));
        assert_eq!(Closed.on_customer_reply(), Open);
        assert_eq!(Solved.on_customer_reply(), Solved);
        assert_eq!(WaitingOnCustomer.on_customer_reply(), Open);
        assert_eq!(Escalated.on_customer_reply(), Escalated);
        assert!(!WaitingOnCustomer.clock_runs() && Escalated.clock_runs());
        assert_eq!(
            "waiting_on_customer".parse::<Status>(),
            Ok(WaitingOnCustomer)
        );
    }

    #[test]
    fn the_close_rule_names_every_unmet_condition() {
        let none = close_refusal(&CloseFacts::default()).unwrap();
        assert!(
            none.contains("not solved")
                && none.contains("no cause or workaround")
                && none.contains("not confirmed"),
            "{none}"
        );
        let ki = CloseFacts {
            status_solved: true,
            known_issue_linked: true,
            ..CloseFacts::default()
        };
        let why = close_refusal(&ki).unwrap();
        assert!(
            !why.contains("cause") && why.contains("not confirmed"),
            "{why}"
        );
        assert_eq!(
            close_refusal(&CloseFacts {
                customer_confirmed: true,
                ..ki
            }),
            None
        );
    }

    #[test]
    fn default_priority_table() {
        let cases: &[(&str, Option<Priority>, bool, Priority)] = &[
            (
                "Absturz beim Öffnen eines Projekts",
                Some(Priority::Normal),
                false,
                Priority::Normal,
            ),
            (
                "WIZARD startet nicht mehr nach dem Update",
                None,
                false,
                Priority::Critical,
            ),
            (
                "Datenverlust beim Speichern",
                Some(Priority::Normal),
                false,
                Priority::Critical,
            ),
            (
                "The app won't start since 2.1.0",
                None,
                false,
                Priority::Critical,
            ),
            (
                "I LOST MY DATA after saving",
                None,
                false,
                Priority::Critical,
            ),
            ("Toolbar icons look blurry", None, false, Priority::High),
            (
                "Toolbar icons look blurry",
                Some(Priority::Normal),
                true,
                Priority::Critical,
            ),
        ];
        for (text, asked, alert, want) in cases {
            let (p, why) = default_priority(*asked, text, *alert, &[]);
            assert_eq!(p, *want, "{text}");
            assert_eq!(
                why.is_some(),
                *want == Priority::Critical && asked != &Some(Priority::Critical),
                "{text}"
            );
        }
    }

    #[test]
    fn a_leads_rules_set_the_default_and_raise_a_request() {
        let rules = [
            PriorityRule {
                phrase: "Lizenz abgelaufen".into(),
                priority: Priority::Normal,
            },
            PriorityRule {
                phrase: "drucken".into(),
                priority: Priority::High,
            },
        ];
        let cases: &[(&str, Option<Priority>, Priority, bool)] = &[
            // Nothing asked: the rule's priority, even below the default High.
            ("Meine LIZENZ ABGELAUFEN?", None, Priority::Normal, true),
            // Asked more urgent than the rule: the request stands.
            (
                "Lizenz abgelaufen",
                Some(Priority::High),
                Priority::High,
                false,
            ),
            // Asked less urgent: the rule raises it.
            (
                "Drucken geht nicht",
                Some(Priority::Normal),
                Priority::High,
                true,
            ),
            // Two rules match: the most urgent.
            (
                "Lizenz abgelaufen, drucken geht nicht",
                None,
                Priority::High,
                true,
            ),
            // The built-in critical phrases come first.
            (
                "Lizenz abgelaufen, Datenverlust",
                None,
                Priority::Critical,
                true,
            ),
            ("Toolbar icons", None, Priority::High, false),
        ];
        for (text, asked, want, ruled) in cases {
            let (p, why) = default_priority(*asked, text, false, &rules);
            assert_eq!((p, why.is_some()), (*want, *ruled), "{text}: {why:?}");
        }
    }
}
