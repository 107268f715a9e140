//! Alert rules (playbook §2, §3; R-RB-1, R-RB-2): which conditions hold for a release's
//! health figures. A condition that starts to hold opens an episode — one alert, however
//! many events keep it true — and the episode ends when the condition no longer holds.
//! What each rule does when it fires (halt, rollback, page, notify) is the server's.

use serde::{Deserialize, Serialize};

use crate::health::tracker::Figures;
use crate::health::{Sprt, Verdict, wilson};

/// The rules of the playbook's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// The SPRT accepts "crash rate above p0": page, halt, incident, rollback decision.
    CrashRate,
    /// Crashes classed critical (start, project open, data loss): roll back at once.
    CriticalFailure,
    /// Too many events of an error code in 24 h: QA analysis, hotfix planning item.
    ErrorCode,
    /// Hosts near their memory limit: tell support, draft a known-issue entry.
    Memory,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CrashRate => "crash_rate",
            Self::CriticalFailure => "critical_failure",
            Self::ErrorCode => "error_code",
            Self::Memory => "memory",
        }
    }

    /// `critical`, `high` or `low`, as in the decision matrix.
    pub fn severity(self) -> &'static str {
        match self {
            Self::CriticalFailure => "critical",
            Self::CrashRate => "high",
            Self::ErrorCode | Self::Memory => "low",
        }
    }
}

impl std::str::FromStr for RuleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::CrashRate,
            Self::CriticalFailure,
            Self::ErrorCode,
            Self::Memory,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            format!("unknown alert rule `{s}`: crash_rate, critical_failure, error_code, memory")
        })
    }
}

/// `code` more than `max_24h` times in 24 h.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCodeRule {
    pub code: String,
    pub max_24h: u64,
}

/// The configured thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    pub sprt: Sprt,
    /// Distinct installs with a critical crash in 24 h that trigger a rollback.
    pub critical_min_installs: u64,
    pub error_codes: Vec<ErrorCodeRule>,
    /// Memory warnings (at or above the host percentage) in 24 h that alert.
    pub memory_min_warnings: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            sprt: Sprt::default(),
            critical_min_installs: 3,
            error_codes: vec![ErrorCodeRule {
                code: "TOB_PARSE_ERROR".into(),
                max_24h: 10,
            }],
            memory_min_warnings: 1,
        }
    }
}

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub rule: RuleKind,
    /// Tells episodes of one rule apart within a release (the error code; else empty).
    pub key: String,
    pub summary: String,
}

/// The episode key of a critical failure raised by a person (a support escalation) rather
/// than by the fingerprint rules; such an episode ends with its incident's post-mortem.
pub const ESCALATION_KEY: &str = "support-escalation";

impl Condition {
    /// A critical failure escalated by support (R-RB-1: a confirmed critical failure rolls
    /// back at once, however it was found).
    pub fn escalation(reason: &str, ticket: Option<&str>) -> Self {
        Self {
            rule: RuleKind::CriticalFailure,
            key: ESCALATION_KEY.to_owned(),
            summary: format!(
                "support escalation{}: {reason}",
                ticket.map(|t| format!(" ({t})")).unwrap_or_default()
            ),
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// One line on a crash rate: point estimate, counts, Wilson interval.
pub fn describe_rate(crashed: u64, active: u64) -> String {
    match wilson(crashed, active, 1.96) {
        None => "no active installs".into(),
        Some((lo, hi)) => format!(
            "crash rate {} ({crashed} of {active} active installs; 95 % interval {}–{})",
            pct(crashed as f64 / active as f64),
            pct(lo),
            pct(hi)
        ),
    }
}

/// The conditions that hold for a release with figures `f`. `truncated`: the release's
/// rollout stage has soaked, so an undecided crash-rate test is decided by Wald's
/// truncation rule ([`crate::health::Sprt::truncated_verdict`]).
pub fn holding(rules: &Rules, f: &Figures, truncated: bool) -> Vec<Condition> {
    let mut out = Vec::new();
    let (k, n) = (f.crashed_installs, f.active_installs);
    let sequential = rules.sprt.verdict(k, n);
    if sequential == Verdict::Failing
        || (truncated && rules.sprt.truncated_verdict(k, n) == Verdict::Failing)
    {
        out.push(Condition {
            rule: RuleKind::CrashRate,
            key: String::new(),
            summary: format!(
                "{}: the {} test says the rate is above {}",
                describe_rate(k, n),
                if sequential == Verdict::Failing {
                    "sequential"
                } else {
                    "sequential (truncated at the end of the soak)"
                },
                pct(rules.sprt.p0)
            ),
        });
    }
    if rules.critical_min_installs > 0 && f.critical_installs >= rules.critical_min_installs {
        out.push(Condition {
            rule: RuleKind::CriticalFailure,
            key: String::new(),
            summary: format!(
                "critical failures (crash on start, on project open or data loss) on {} installs in 24 h",
                f.critical_installs
            ),
        });
    }
    for r in &rules.error_codes {
        let n = f
            .errors
            .iter()
            .find(|(c, _)| *c == r.code)
            .map_or(0, |(_, n)| *n);
        if n > r.max_24h {
            out.push(Condition {
                rule: RuleKind::ErrorCode,
                key: r.code.clone(),
                summary: format!("{} {n} times in 24 h (more than {})", r.code, r.max_24h),
            });
        }
    }
    if rules.memory_min_warnings > 0 && f.memory_warnings >= rules.memory_min_warnings {
        out.push(Condition {
            rule: RuleKind::Memory,
            key: String::new(),
            summary: format!(
                "{} memory warnings near the host's limit in 24 h",
                f.memory_warnings
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(active: u64, crashed: u64) -> Figures {
        Figures {
            active_installs: active,
            crashed_installs: crashed,
            ..Figures::default()
        }
    }

    #[test]
    fn crash_rate_only_when_the_test_says_so() {
        let r = Rules::default();
        assert!(
            holding(&r, &figures(40, 20), false).is_empty(),
            "below the minimum"
        );
        assert!(
            holding(&r, &figures(1000, 10), false).is_empty(),
            "1 % is fine"
        );
        let c = holding(&r, &figures(500, 40), false);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].rule, RuleKind::CrashRate);
        assert!(c[0].summary.contains("40 of 500"), "{}", c[0].summary);
        assert!(c[0].summary.contains("8.00 %"), "{}", c[0].summary);
        // 3.5 %: undecided, unless the stage has soaked.
        assert!(holding(&r, &figures(519, 18), false).is_empty());
        let t = holding(&r, &figures(519, 18), true);
        assert_eq!(t[0].rule, RuleKind::CrashRate);
        assert!(t[0].summary.contains("truncated"), "{}", t[0].summary);
    }

    #[test]
    fn thresholds_of_the_other_rules() {
        let r = Rules::default();
        let mut f = figures(10, 0);
        f.errors = vec![("TOB_PARSE_ERROR".into(), 10), ("X".into(), 99)];
        assert!(holding(&r, &f, false).is_empty(), "10 is not more than 10");
        f.errors[0].1 = 11;
        f.critical_installs = 2;
        let c = holding(&r, &f, false);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].rule, c[0].key.as_str()),
            (RuleKind::ErrorCode, "TOB_PARSE_ERROR")
        );
        f.critical_installs = 3;
        f.memory_warnings = 1;
        let kinds: Vec<RuleKind> = holding(&r, &f, false).iter().map(|c| c.rule).collect();
        assert_eq!(
            kinds,
            vec![
                RuleKind::CriticalFailure,
                RuleKind::ErrorCode,
                RuleKind::Memory
            ]
        );
    }

    #[test]
    fn rule_names_round_trip() {
        for k in [
            RuleKind::CrashRate,
            RuleKind::CriticalFailure,
            RuleKind::ErrorCode,
            RuleKind::Memory,
        ] {
            assert_eq!(k.as_str().parse::<RuleKind>(), Ok(k));
        }
        assert!("nope".parse::<RuleKind>().is_err());
    }
}
