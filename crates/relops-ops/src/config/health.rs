//! The `[health]` and `[alerts]` sections: the sequential test that judges a release's
//! crash rate, and the playbook's alert rules with what relops does when they fire.

use relops_core::alert::{ErrorCodeRule, Rules};
use relops_core::health::Sprt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `[health]`: the crash-rate test (DESIGN decision 7). Defaults and their reasoning:
/// `docs/health.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Acceptable crash rate (crashed ÷ active installs in 24 h).
    pub p0: f64,
    /// The rate that must be told apart from p0.
    pub p1: f64,
    /// Probability of halting a release whose true rate is p0.
    pub alpha: f64,
    /// Probability of passing a release whose true rate is p1.
    pub beta: f64,
    /// Active installs below which the gate reads "unknown".
    pub min_installs: u64,
    /// `relops rollout advance` is refused unless the release's health gate is passing
    /// (`--force --reason` overrides, audited).
    pub gate_rollout: bool,
    /// How often the health of every registered release with installs is recorded for
    /// the console's charts (`GET /v1/releases/{version}/health/history`), in seconds.
    pub history_interval_seconds: u64,
    /// Recorded health is kept this many days.
    pub history_days: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        let s = Sprt::default();
        Self {
            p0: s.p0,
            p1: s.p1,
            alpha: s.alpha,
            beta: s.beta,
            min_installs: s.min_installs,
            gate_rollout: true,
            history_interval_seconds: 3600,
            history_days: 90,
        }
    }
}

impl HealthConfig {
    pub fn sprt(&self) -> Sprt {
        Sprt {
            p0: self.p0,
            p1: self.p1,
            alpha: self.alpha,
            beta: self.beta,
            min_installs: self.min_installs,
        }
    }
}

/// A crash fingerprint rule: a crash event whose tag `tag` has one of `values` is a
/// critical failure (crash on start, on project open, data loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalRule {
    pub name: String,
    /// A tag and the values that make a crash critical when it arrives.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Or, judged once the crash's stack is known (crash analysis): a frame among the top
    /// ten whose function matches this pattern (`*` for any text: `*ProjectLoader::open*`),
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
    /// an exception that matches this pattern (`EXCEPTION_STACK_OVERFLOW`, `SIGABRT*`),
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// a crash within this many seconds of the process's start ("the app will not start").
    /// The stack conditions a rule names must all hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_seconds: Option<u64>,
}

impl CriticalRule {
    fn judges_stacks(&self) -> bool {
        self.frame.is_some() || self.exception.is_some() || self.within_seconds.is_some()
    }
}

/// `[alerts]`: the playbook's rules (all thresholds here; the crash-rate rule is the
/// `[health]` test).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Halt the rollout of a release whose crash-rate test fails.
    pub auto_halt: bool,
    /// Roll back a release with critical failures without waiting for a person.
    pub auto_rollback: bool,
    /// Distinct installs with a critical failure in 24 h that trigger the rollback.
    pub critical_min_installs: u64,
    pub critical: Vec<CriticalRule>,
    pub error_codes: Vec<ErrorCodeRule>,
    /// Host memory use (percent) from which a memory warning counts.
    pub memory_host_percent: u8,
    /// Memory warnings at or above that in 24 h that alert support.
    pub memory_min_warnings: u64,
    /// How often every release is re-judged (episodes end when their window passes) and
    /// overdue post-mortems are reported, in seconds.
    pub maintenance_interval_seconds: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        let rules = Rules::default();
        let rule = |name: &str, tag: &str, values: &[&str]| CriticalRule {
            name: name.into(),
            tag: tag.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            frame: None,
            exception: None,
            within_seconds: None,
        };
        Self {
            auto_halt: true,
            auto_rollback: true,
            critical_min_installs: rules.critical_min_installs,
            critical: vec![
                rule("crash on start", "phase", &["startup"]),
                rule("crash on project open", "phase", &["project_open"]),
                rule("data loss", "data_loss", &["true", "yes", "1"]),
                CriticalRule {
                    within_seconds: Some(10),
                    ..rule("crash on start", "", &[])
                },
            ],
            error_codes: rules.error_codes,
            memory_host_percent: 90,
            memory_min_warnings: rules.memory_min_warnings,
            maintenance_interval_seconds: 60,
        }
    }
}

impl AlertsConfig {
    pub fn rules(&self, health: &HealthConfig) -> Rules {
        Rules {
            sprt: health.sprt(),
            critical_min_installs: self.critical_min_installs,
            error_codes: self.error_codes.clone(),
            memory_min_warnings: self.memory_min_warnings,
        }
    }

    /// The critical rule a crash event matches, if any. Tags may be an object (what
    /// sentry-sdk sends) or a list of `[key, value]` pairs (what Relay normalises to).
    pub fn classify(&self, event: &Value) -> Option<&str> {
        let tag = |key: &str| -> Option<String> {
            match event.get("tags")? {
                Value::Object(m) => m.get(key).map(tag_text),
                Value::Array(pairs) => pairs.iter().find_map(|p| {
                    let p = p.as_array()?;
                    (p.first()?.as_str()? == key).then(|| p.get(1).map(tag_text))?
                }),
                _ => None,
            }
        };
        self.critical
            .iter()
            .filter(|r| !r.tag.is_empty())
            .find(|r| {
                tag(&r.tag).is_some_and(|v| r.values.iter().any(|w| w.eq_ignore_ascii_case(&v)))
            })
            .map(|r| r.name.as_str())
    }

    /// The critical rule a crash's stack matches, if any (rules with `frame`,
    /// `exception` or `within_seconds`; all that a rule names must hold).
    pub fn classify_stack(&self, a: &relops_api::CrashAnalysis) -> Option<&str> {
        let matches = |pattern: &str, text: &str| wildmatch::WildMatch::new(pattern).matches(text);
        self.critical
            .iter()
            .filter(|r| r.judges_stacks())
            .find(|r| {
                r.frame.as_deref().is_none_or(|p| {
                    a.frames
                        .iter()
                        .take(10)
                        .filter_map(|f| f.function.as_deref())
                        .any(|f| matches(p, f))
                }) && r
                    .exception
                    .as_deref()
                    .is_none_or(|p| a.exception.as_deref().is_some_and(|e| matches(p, e)))
                    && r.within_seconds
                        .is_none_or(|n| a.uptime_seconds.is_some_and(|u| u <= n))
            })
            .map(|r| r.name.as_str())
    }

    pub fn validate(&self, health: &HealthConfig) -> Result<(), String> {
        health
            .sprt()
            .validate()
            .map_err(|e| format!("[health] {e}"))?;
        if health.history_interval_seconds == 0 || health.history_days == 0 {
            return Err(
                "[health] history_interval_seconds and history_days must be at least 1".into(),
            );
        }
        if self.maintenance_interval_seconds == 0 {
            return Err("[alerts] maintenance_interval_seconds must be at least 1".into());
        }
        if self.memory_host_percent > 100 {
            return Err("[alerts] memory_host_percent is 0-100".into());
        }
        for r in &self.critical {
            if r.tag.is_empty() != r.values.is_empty() {
                return Err(format!(
                    "[[alerts.critical]] `{}`: set both `tag` and `values` (the tag values that make a crash critical), or neither",
                    r.name
                ));
            }
            if r.tag.is_empty() && !r.judges_stacks() {
                return Err(format!(
                    "[[alerts.critical]] `{}` matches nothing: give it `tag` and `values`, or `frame`, `exception` or `within_seconds`",
                    r.name
                ));
            }
        }
        Ok(())
    }
}

fn tag_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stack_rules() {
        use relops_api::{CrashAnalysis, CrashFrame};
        let mut c = AlertsConfig::default();
        c.critical.push(CriticalRule {
            name: "crash on project open".into(),
            tag: String::new(),
            values: vec![],
            frame: Some("*ProjectLoader::open*".into()),
            exception: Some("EXCEPTION_ACCESS_VIOLATION*".into()),
            within_seconds: None,
        });
        c.validate(&HealthConfig::default()).unwrap();
        let frame = |f: &str| CrashFrame {
            function: Some(f.into()),
            ..CrashFrame::default()
        };
        let a = CrashAnalysis {
            exception: Some("EXCEPTION_ACCESS_VIOLATION_WRITE".into()),
            frames: vec![frame("memcpy"), frame("wizard::ProjectLoader::open(path)")],
            uptime_seconds: Some(600),
            ..CrashAnalysis::default()
        };
        assert_eq!(c.classify_stack(&a), Some("crash on project open"));
        // All conditions must hold: another exception is not this rule.
        let other = CrashAnalysis {
            exception: Some("SIGABRT".into()),
            ..a.clone()
        };
        assert_eq!(c.classify_stack(&other), None);
        // The default: a crash within 10 s of the start.
        let early = CrashAnalysis {
            uptime_seconds: Some(3),
            ..other.clone()
        };
        assert_eq!(c.classify_stack(&early), Some("crash on start"));
        assert_eq!(c.classify_stack(&CrashAnalysis::default()), None);
        // Stack rules do not match tags, tag rules do not match stacks.
        assert_eq!(c.classify(&json!({"tags": {}})), None);
        c.critical.push(CriticalRule {
            name: "nothing".into(),
            tag: String::new(),
            values: vec![],
            frame: None,
            exception: None,
            within_seconds: None,
        });
        assert!(
            c.validate(&HealthConfig::default())
                .unwrap_err()
                .contains("matches nothing")
        );
    }

    #[test]
    fn crash_fingerprint_rules() {
        let c = AlertsConfig::default();
        assert_eq!(
            c.classify(&json!({"tags": {"phase": "startup"}})),
            Some("crash on start")
        );
        assert_eq!(
            c.classify(&json!({"tags": [["phase", "project_open"]]})),
            Some("crash on project open")
        );
        assert_eq!(
            c.classify(&json!({"tags": {"data_loss": true}})),
            Some("data loss")
        );
        assert_eq!(c.classify(&json!({"tags": {"phase": "render"}})), None);
        assert_eq!(c.classify(&json!({"message": "x"})), None);
    }

    #[test]
    fn validation_names_the_section() {
        let h = HealthConfig {
            p1: 0.01,
            ..HealthConfig::default()
        };
        let err = AlertsConfig::default().validate(&h).unwrap_err();
        assert!(err.starts_with("[health]"), "{err}");
    }
}
