//! Security scanner reports: dependency vulnerabilities (cargo-audit, OSV-Scanner and Grype
//! JSON) and secrets (detect-secrets baselines, gitleaks JSON), told apart by their fields.
//!
//! Vulnerabilities fail the gate at or above the configured severity (default `high`); an
//! advisory with no severity at all counts as `unknown` and fails too, since it cannot be
//! shown to be harmless. Informational advisories (unmaintained, unsound, yanked) are listed
//! as warnings, not failing. Any secret fails the gate. A gitleaks report carries the secrets
//! themselves: [`redacted`] gives the copy to keep as evidence.

mod secrets;
mod vulns;

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
    /// Neither a CVSS vector or score nor a rating in the report.
    Unknown,
}

impl Severity {
    /// The band's name (`none`, `low`, `medium`, `high`, `critical`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
            Self::Unknown => "unknown",
        }
    }

    /// The CVSS qualitative band of a base score (0.0 none, < 4 low, < 7 medium, < 9 high).
    pub fn of_score(score: f64) -> Self {
        match score {
            s if s <= 0.0 => Self::None,
            s if s < 4.0 => Self::Low,
            s if s < 7.0 => Self::Medium,
            s if s < 9.0 => Self::High,
            _ => Self::Critical,
        }
    }

    /// Severity and base score of a CVSS vector (v2 with prefix, 3.0, 3.1, 4.0).
    fn of_vector(vector: &str) -> Option<(Self, f64)> {
        let parsed = vector.parse::<cvss::Cvss>().ok()?;
        let sev = match parsed.severity() {
            cvss::Severity::None => Self::None,
            cvss::Severity::Low => Self::Low,
            cvss::Severity::Medium => Self::Medium,
            cvss::Severity::High => Self::High,
            cvss::Severity::Critical => Self::Critical,
        };
        Some((sev, parsed.score()))
    }

    /// A rating word as scanners and advisory databases write it (`HIGH`, `Moderate`,
    /// Grype's `Negligible`, …).
    fn of_word(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "negligible" | "low" => Self::Low,
            "medium" | "moderate" => Self::Medium,
            "high" | "important" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }
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

impl VulnReport {
    fn judged(
        tool: &'static str,
        dependencies: Option<u64>,
        vulnerabilities: Vec<Vulnerability>,
        warnings: Vec<String>,
        fail_at: Severity,
    ) -> Self {
        let blocking = vulnerabilities
            .iter()
            .filter(|v| v.severity == Severity::Unknown || v.severity >= fail_at)
            .count() as u64;
        Self {
            tool,
            dependencies,
            vulnerabilities,
            warnings,
            blocking,
            pass: blocking == 0,
        }
    }
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

const EXPECTED: &str =
    "scanner JSON (cargo-audit, OSV-Scanner, Grype, detect-secrets baseline or gitleaks)";

fn bad(why: impl Into<String>) -> ReportError {
    ReportError::Format {
        expected: EXPECTED,
        why: why.into(),
    }
}

/// The tools whose reports are read, recognised by their top-level fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    CargoAudit,
    OsvScanner,
    Grype,
    DetectSecrets,
    Gitleaks,
}

fn recognise(doc: &Value) -> Option<Tool> {
    match doc {
        Value::Object(o) => {
            if o.contains_key("vulnerabilities") && o.contains_key("lockfile") {
                Some(Tool::CargoAudit)
            } else if o.get("results").is_some_and(Value::is_object)
                && o.contains_key("plugins_used")
            {
                Some(Tool::DetectSecrets)
            } else if o.get("results").is_some_and(Value::is_array) {
                Some(Tool::OsvScanner)
            } else if o.get("matches").is_some_and(Value::is_array)
                && o.get("descriptor").and_then(|d| d.get("name")) == Some(&Value::from("grype"))
            {
                Some(Tool::Grype)
            } else {
                None
            }
        }
        // gitleaks writes an array of findings, `[]` when it found nothing.
        Value::Array(a) if a.iter().all(|f| f.get("RuleID").is_some()) => Some(Tool::Gitleaks),
        _ => None,
    }
}

/// Reads a scanner report of any supported tool; `fail_at` is the lowest severity that
/// blocks.
pub fn parse(bytes: &[u8], fail_at: Severity) -> Result<ScanReport, ReportError> {
    check_size(bytes, MAX_BYTES)?;
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    Ok(match recognise(&doc) {
        Some(Tool::CargoAudit) => ScanReport::Vulnerabilities(vulns::cargo_audit(&doc, fail_at)?),
        Some(Tool::OsvScanner) => ScanReport::Vulnerabilities(vulns::osv_scanner(&doc, fail_at)?),
        Some(Tool::Grype) => ScanReport::Vulnerabilities(vulns::grype(&doc, fail_at)?),
        Some(Tool::DetectSecrets) => ScanReport::Secrets(secrets::detect_secrets(&doc)?),
        Some(Tool::Gitleaks) => ScanReport::Secrets(secrets::gitleaks(&doc)?),
        None => {
            return Err(bad(
                "found none of the fields that identify one: cargo-audit (`vulnerabilities`, `lockfile`), \
                 OSV-Scanner (`results` list), Grype (`matches`, `descriptor.name` = grype), \
                 detect-secrets (`results` object, `plugins_used`) or gitleaks (a list of findings with `RuleID`)",
            ));
        }
    })
}

/// The copy of a report to keep as evidence: for a gitleaks report, the same findings with
/// the secret values (`Secret`, `Match`, `Line`) replaced by `REDACTED`, as
/// `gitleaks --redact` writes them; `None` when the report holds no secret values (every
/// other format — detect-secrets keeps only hashes) and can be kept as it came.
pub fn redacted(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(bytes).ok()?;
    if recognise(&doc) != Some(Tool::Gitleaks) {
        return None;
    }
    secrets::redact_gitleaks(&mut doc);
    Some(serde_json::to_vec_pretty(&doc).expect("a JSON value serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_fall_into_the_cvss_bands() {
        let bands: Vec<Severity> = [0.0, 0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0, 10.0]
            .into_iter()
            .map(Severity::of_score)
            .collect();
        use Severity::*;
        assert_eq!(
            bands,
            [
                None, Low, Low, Medium, Medium, High, High, Critical, Critical
            ]
        );
        assert_eq!(Severity::of_word("MODERATE"), Some(Medium));
        assert_eq!(Severity::of_word("Negligible"), Some(Low));
        assert_eq!(Severity::of_word("Unknown"), Option::None);
    }

    #[test]
    fn unknown_reports_are_refused() {
        for (bytes, needle) in [
            (&b"{\"matches\": []}"[..], "found none of the fields"),
            (&b"[{\"rule\": 1}]"[..], "found none of the fields"),
            (
                &b"{\"bomFormat\": \"CycloneDX\"}"[..],
                "found none of the fields",
            ),
            (&b"[1,2"[..], "invalid JSON"),
            (&b""[..], "empty"),
        ] {
            let err = parse(bytes, Severity::High).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
