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
    pub tag: String,
    pub values: Vec<String>,
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
        };
        Self {
            auto_halt: true,
            auto_rollback: true,
            critical_min_installs: rules.critical_min_installs,
            critical: vec![
                rule("crash on start", "phase", &["startup"]),
                rule("crash on project open", "phase", &["project_open"]),
                rule("data loss", "data_loss", &["true", "yes", "1"]),
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
            .find(|r| {
                tag(&r.tag).is_some_and(|v| r.values.iter().any(|w| w.eq_ignore_ascii_case(&v)))
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
        if let Some(r) = self.critical.iter().find(|r| r.values.is_empty()) {
            return Err(format!(
                "[[alerts.critical]] `{}` has no values: name the tag values that make a crash critical",
                r.name
            ));
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
