//! Security scanner reports: dependency vulnerabilities (cargo-audit JSON) and secrets
//! (detect-secrets baselines).
//!
//! Vulnerabilities fail the gate at or above the configured CVSS severity (default
//! `high`); an advisory without a CVSS vector counts as `unknown` and fails too, since it
//! cannot be shown to be harmless. Any secret fails the gate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ReportError, check_size};

/// Largest scanner report read.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// CVSS severity bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
    /// No CVSS vector in the advisory.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vulnerability {
    pub id: String,
    pub package: String,
    pub version: String,
    pub title: String,
    pub severity: Severity,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VulnReport {
    pub tool: &'static str,
    pub dependencies: Option<u64>,
    pub vulnerabilities: Vec<Vulnerability>,
    /// Advisory ids of warnings (unmaintained, unsound, yanked): shown, not failing.
    pub warnings: Vec<String>,
    /// Vulnerabilities at or above the threshold (or of unknown severity).
    pub blocking: u64,
    pub pass: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub file: String,
    pub line: Option<u64>,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretsReport {
    pub tool: &'static str,
    pub secrets: Vec<Secret>,
    pub pass: bool,
}

/// A scanner report of either kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanReport {
    Vulnerabilities(VulnReport),
    Secrets(SecretsReport),
}

impl ScanReport {
    pub fn passes(&self) -> bool {
        match self {
            Self::Vulnerabilities(v) => v.pass,
            Self::Secrets(s) => s.pass,
        }
    }
}

fn bad(why: impl Into<String>) -> ReportError {
    ReportError::Format {
        expected: "scanner JSON (cargo-audit or detect-secrets)",
        why: why.into(),
    }
}

/// Reads a cargo-audit or detect-secrets report (told apart by their fields); `fail_at` is
/// the lowest severity that blocks.
pub fn parse(bytes: &[u8], fail_at: Severity) -> Result<ScanReport, ReportError> {
    check_size(bytes, MAX_BYTES)?;
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if doc.get("vulnerabilities").is_some() && doc.get("lockfile").is_some() {
        return cargo_audit(&doc, fail_at).map(ScanReport::Vulnerabilities);
    }
    if doc.get("results").is_some() && doc.get("plugins_used").is_some() {
        return detect_secrets(&doc).map(ScanReport::Secrets);
    }
    Err(bad(
        "neither a cargo-audit report (`vulnerabilities`, `lockfile`) nor a detect-secrets baseline (`results`, `plugins_used`)",
    ))
}

fn severity_of(vector: Option<&str>) -> (Severity, Option<f64>) {
    let Some(parsed) = vector.and_then(|v| v.parse::<cvss::Cvss>().ok()) else {
        return (Severity::Unknown, None);
    };
    let sev = match parsed.severity() {
        cvss::Severity::None => Severity::None,
        cvss::Severity::Low => Severity::Low,
        cvss::Severity::Medium => Severity::Medium,
        cvss::Severity::High => Severity::High,
        cvss::Severity::Critical => Severity::Critical,
    };
    (sev, Some(parsed.score()))
}

fn cargo_audit(doc: &Value, fail_at: Severity) -> Result<VulnReport, ReportError> {
    let list = doc["vulnerabilities"]
        .get("list")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`vulnerabilities.list` is missing"))?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let vulnerabilities: Vec<Vulnerability> = list
        .iter()
        .map(|v| {
            let adv = &v["advisory"];
            let (severity, score) = severity_of(adv.get("cvss").and_then(Value::as_str));
            Vulnerability {
                id: s(&adv["id"]),
                package: s(&v["package"]["name"]),
                version: s(&v["package"]["version"]),
                title: s(&adv["title"]),
                severity,
                score,
            }
        })
        .collect();
    let warnings = doc
        .get("warnings")
        .and_then(Value::as_object)
        .map(|w| {
            w.values()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(|x| x["advisory"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let blocking = vulnerabilities
        .iter()
        .filter(|v| v.severity == Severity::Unknown || v.severity >= fail_at)
        .count() as u64;
    Ok(VulnReport {
        tool: "cargo-audit",
        dependencies: doc["lockfile"]
            .get("dependency-count")
            .and_then(Value::as_u64),
        vulnerabilities,
        warnings,
        blocking,
        pass: blocking == 0,
    })
}

fn detect_secrets(doc: &Value) -> Result<SecretsReport, ReportError> {
    let results = doc["results"]
        .as_object()
        .ok_or_else(|| bad("`results` is not an object"))?;
    let mut secrets = Vec::new();
    for (file, found) in results {
        for f in found
            .as_array()
            .ok_or_else(|| bad(format!("`results.{file}` is not an array")))?
        {
            secrets.push(Secret {
                file: file.clone(),
                line: f.get("line_number").and_then(Value::as_u64),
                kind: f
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("secret")
                    .to_owned(),
            });
        }
    }
    Ok(SecretsReport {
        tool: "detect-secrets",
        pass: secrets.is_empty(),
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn cargo_audit_reports() {
        let ScanReport::Vulnerabilities(r) =
            parse(&fixture("vulns-cargo-audit.json"), Severity::High).unwrap()
        else {
            panic!("not a vulnerability report")
        };
        assert_eq!(r.dependencies, Some(13));
        let ids: Vec<(&str, Severity)> = r
            .vulnerabilities
            .iter()
            .map(|v| (v.id.as_str(), v.severity))
            .collect();
        assert_eq!(
            ids,
            [
                ("RUSTSEC-2022-0013", Severity::High),
                ("RUSTSEC-2021-0003", Severity::Critical),
                ("RUSTSEC-2020-0071", Severity::Medium),
            ]
        );
        assert_eq!(r.blocking, 2);
        assert!(!r.pass);
        assert_eq!(r.warnings.len(), 2);
        // The threshold is configurable.
        let ScanReport::Vulnerabilities(c) =
            parse(&fixture("vulns-cargo-audit.json"), Severity::Critical).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.blocking, 1);
        let clean = parse(&fixture("vulns-cargo-audit-clean.json"), Severity::Low).unwrap();
        assert!(clean.passes());
    }

    #[test]
    fn detect_secrets_baselines() {
        let ScanReport::Secrets(s) =
            parse(&fixture("secrets-findings.baseline.json"), Severity::High).unwrap()
        else {
            panic!("not a secrets report")
        };
        assert_eq!(s.secrets.len(), 2);
        assert!(!s.pass);
        let kinds: Vec<&str> = s.secrets.iter().map(|x| x.kind.as_str()).collect();
        assert_eq!(kinds, ["AWS Access Key", "Private Key"]);
        assert_eq!(s.secrets[0].line, Some(4));
        assert!(
            parse(&fixture("secrets-clean.baseline.json"), Severity::High)
                .unwrap()
                .passes()
        );
    }

    #[test]
    fn unknown_reports_are_refused() {
        for (bytes, needle) in [
            (&b"{\"matches\": []}"[..], "neither a cargo-audit"),
            (&b"[1,2"[..], "invalid JSON"),
            (&b""[..], "empty"),
        ] {
            let err = parse(bytes, Severity::High).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
