//! Release gates: a verdict computed from a real tool's report, with the numbers behind it
//! and the evidence files kept (`PUT /v1/releases/{version}/gates/{kind}`,
//! `GET /v1/releases/{version}/gates`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gate {
    /// Which gate (`"gate"`) and the numbers behind its verdict (`"summary"`).
    #[serde(flatten)]
    pub findings: GateFindings,
    pub passed: bool,
    pub evidence: Vec<Evidence>,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

/// The gates, each with the numbers its verdict is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "gate", content = "summary", rename_all = "snake_case")]
pub enum GateFindings {
    Coverage(CoverageSummary),
    Tests(TestSummary),
    Sbom(SbomSummary),
    Vulnerabilities(VulnerabilitySummary),
    Secrets(SecretsSummary),
    Lint(LintSummary),
}

impl GateFindings {
    /// The gate's name: `coverage`, `tests`, `sbom`, `vulnerabilities` or `secrets`.
    pub fn gate(&self) -> &'static str {
        match self {
            Self::Coverage(_) => "coverage",
            Self::Tests(_) => "tests",
            Self::Sbom(_) => "sbom",
            Self::Vulnerabilities(_) => "vulnerabilities",
            Self::Secrets(_) => "secrets",
            Self::Lint(_) => "lint",
        }
    }
}

/// Linter findings from SARIF 2.1.0 logs (clippy, ruff, ESLint, …); passes without
/// error-level results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LintSummary {
    /// The tools whose runs were read.
    pub tools: Vec<String>,
    pub errors: u64,
    pub warnings: u64,
    pub notes: u64,
    /// Suppressed in the source; not counted above.
    pub suppressed: u64,
    /// The most frequent rules and their counts.
    pub rules: Vec<(String, u64)>,
}

/// Line and branch coverage (lcov or Cobertura).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CoverageSummary {
    /// `lcov` or `cobertura`.
    pub format: String,
    pub files: u64,
    pub lines_valid: u64,
    pub lines_covered: u64,
    pub line_percent: f64,
    pub branches_valid: u64,
    pub branches_covered: u64,
    /// The threshold the verdict used (`[gates] min_line_coverage`).
    pub min_line_coverage: f64,
}

/// JUnit XML results, merged over the files submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestSummary {
    pub tests: u64,
    pub passed: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
    /// `classname::name` of every failed or errored case.
    pub failed: Vec<String>,
    pub suites: Vec<String>,
    /// A UI-smoke suite ran.
    pub ui_smoke: bool,
    /// The counts per kind of run as submitted (`unit`, `integration`, `ui_smoke`;
    /// `unclassified` for files sent without a kind and not recognised as UI smoke).
    #[serde(default)]
    pub by_kind: std::collections::BTreeMap<String, TestCounts>,
}

/// The counts of one kind of test run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestCounts {
    pub tests: u64,
    pub passed: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
}

/// A CycloneDX SBOM's licences against the licence policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SbomSummary {
    pub spec_version: String,
    pub components: Vec<ComponentLicence>,
    pub allowed: u64,
    pub denied: u64,
    pub unknown: u64,
    pub pass: bool,
}

/// One component's licence finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentLicence {
    pub name: String,
    pub version: Option<String>,
    /// The licence as declared, joined with ` / `.
    pub declared: String,
    /// `allowed`, `denied` or `unknown`.
    pub verdict: String,
}

/// A vulnerability scanner's findings (cargo-audit, OSV-Scanner, Grype).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VulnerabilitySummary {
    pub tool: String,
    pub dependencies: Option<u64>,
    pub vulnerabilities: Vec<Vulnerability>,
    /// Advisory ids of warnings (unmaintained, unsound, yanked): shown, not failing.
    pub warnings: Vec<String>,
    /// Vulnerabilities at or above the blocking severity (or of unknown severity).
    pub blocking: u64,
    pub pass: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Vulnerability {
    pub id: String,
    pub package: String,
    pub version: String,
    pub title: String,
    /// `none`, `low`, `medium`, `high`, `critical` or `unknown`.
    pub severity: String,
    pub score: Option<f64>,
}

/// A secrets scanner's findings (detect-secrets, gitleaks); the values are never kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretsSummary {
    pub tool: String,
    pub secrets: Vec<Secret>,
    pub pass: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Secret {
    pub file: String,
    pub line: Option<u64>,
    pub kind: String,
}

/// An evidence file kept with a gate verdict or a checklist sign-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GateList {
    pub gates: Vec<Gate>,
    /// Gates the configuration requires that have no verdict yet.
    pub missing: Vec<String>,
}
