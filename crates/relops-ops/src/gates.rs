//! Release gates (R-REL-5): the reports a real tool wrote become a verdict
//! (`relops-gates`), the files are kept as evidence, and verdict, numbers and evidence are
//! recorded in one transaction. A report that cannot be read is refused and nothing
//! changes: the gate keeps its previous verdict.

use bytes::Bytes;
use chrono::Utc;
use relops_api::{
    ComponentLicence, CoverageSummary, Evidence, Gate, GateFindings, GateList, LintSummary,
    SbomSummary, Secret, SecretsSummary, TestCounts, TestSummary, Vulnerability,
    VulnerabilitySummary,
};
use relops_core::access::Permission;
use relops_core::release::ArtifactPolicy;
use relops_core::version::Version;
use relops_gates::{ReportError, coverage, junit, lint, sbom, scan};
use relops_store::GateRecord;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::GATES;
use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

/// Kinds a report can be submitted as; `scan` becomes `vulnerabilities` or `secrets`.
pub const KINDS: [&str; 5] = ["coverage", "tests", "sbom", "scan", "lint"];

/// One report file as submitted.
#[derive(Debug, Clone)]
pub struct ReportFile {
    pub name: String,
    pub bytes: Bytes,
    /// What the file is, as the submitter said (the multipart field name): `report`, or
    /// for the tests gate `unit`, `integration` or `ui_smoke`.
    pub part: String,
}

/// What a tests report may be declared as; `report` leaves it to the content (a suite or
/// class named `*smoke*` is UI smoke).
pub const TEST_KINDS: [&str; 3] = ["unit", "integration", "ui_smoke"];

fn unreadable(name: &str, e: ReportError) -> OpError {
    OpError::Unreadable(format!(
        "{name}: {e}; nothing was stored, the gate keeps its previous verdict"
    ))
}

impl Ops {
    /// Judges the reports of a gate and records the verdict with its evidence.
    pub async fn submit_gate(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        kind: &str,
        files: Vec<ReportFile>,
    ) -> OpResult<Gate> {
        let who = actor.authorize(Permission::GateSubmit)?;
        if !KINDS.contains(&kind) {
            return Err(OpError::NotFound(format!(
                "no gate `{kind}`: submit to coverage, tests, lint, sbom or scan"
            )));
        }
        let release = self.load_release(product, v).await?;
        if release.state.artifact_policy() == ArtifactPolicy::Closed {
            return Err(OpError::Refused(format!(
                "release {} is {}: its gates are settled",
                release.version, release.state
            )));
        }
        let max = self.config.gates.max_report_bytes;
        if files.is_empty() {
            return Err(OpError::Invalid("no report file in the request".into()));
        }
        if let Some(f) = files.iter().find(|f| {
            f.part != "report" && !(kind == "tests" && TEST_KINDS.contains(&f.part.as_str()))
        }) {
            return Err(OpError::Invalid(format!(
                "{}: part `{}` is not known here: send reports as `report`{}",
                f.name,
                f.part,
                if kind == "tests" {
                    ", or as `unit`, `integration` or `ui_smoke`"
                } else {
                    ""
                }
            )));
        }
        if let Some(f) = files.iter().find(|f| f.bytes.len() > max) {
            return Err(OpError::TooLarge(format!(
                "{} is {} bytes; reports up to {max} bytes are accepted ([gates] max_report_bytes)",
                f.name,
                f.bytes.len()
            )));
        }
        let (findings, passed) = self.judge(kind, &files)?;
        let gate = findings.gate().to_owned();
        let summary = findings_json(&findings)?;
        // Evidence first (content-addressed, idempotent), then the verdict that points to it.
        // A secrets report that holds the secret values (gitleaks) is kept redacted.
        let mut evidence = Vec::new();
        for f in &files {
            let redacted = (gate == "secrets")
                .then(|| scan::redacted(&f.bytes))
                .flatten()
                .map(Bytes::from);
            let kept = redacted.clone().unwrap_or_else(|| f.bytes.clone());
            let sha = hex::encode(Sha256::digest(&kept));
            let key = format!("evidence/{sha}");
            let size = kept.len();
            self.blobs.put_raw(&key, kept).await?;
            let mut entry = json!({ "name": f.name, "sha256": sha, "size": size, "blob_key": key });
            if redacted.is_some() {
                entry["redacted"] = true.into();
            }
            evidence.push(entry);
        }
        let record = GateRecord {
            gate: gate.clone(),
            passed,
            summary,
            evidence: serde_json::Value::Array(evidence),
            recorded_at: Utc::now(),
            recorded_by: who.name.clone(),
        };
        let audit = who.audit(
            "gate.submit",
            format!("{product}/{}/{gate}", release.version),
            json!({ "passed": passed, "summary": record.summary, "evidence": record.evidence }),
        );
        self.db
            .put_gate(product, &release.version, &record, &audit)
            .await?;
        to_api(record)
    }

    /// Computes the verdict and its numbers from the files.
    fn judge(&self, kind: &str, files: &[ReportFile]) -> OpResult<(GateFindings, bool)> {
        let cfg = &self.config.gates;
        let one = || -> OpResult<&ReportFile> {
            match files {
                [f] => Ok(f),
                _ => Err(OpError::Invalid(format!(
                    "the {kind} gate takes exactly one report file"
                ))),
            }
        };
        Ok(match kind {
            "coverage" => {
                let f = one()?;
                let c = coverage::parse(&f.bytes).map_err(|e| unreadable(&f.name, e))?;
                let pass = c.passes(cfg.min_line_coverage);
                (
                    GateFindings::Coverage(CoverageSummary {
                        format: match c.format {
                            coverage::Format::Lcov => "lcov",
                            coverage::Format::Cobertura => "cobertura",
                        }
                        .into(),
                        files: c.files,
                        lines_valid: c.lines_valid,
                        lines_covered: c.lines_covered,
                        line_percent: (c.line_percent() * 100.0).round() / 100.0,
                        branches_valid: c.branches_valid,
                        branches_covered: c.branches_covered,
                        min_line_coverage: cfg.min_line_coverage,
                    }),
                    pass,
                )
            }
            "tests" => {
                let mut parts = Vec::new();
                let mut by_kind: std::collections::BTreeMap<String, TestCounts> =
                    Default::default();
                for f in files {
                    let p = junit::parse(&f.bytes).map_err(|e| unreadable(&f.name, e))?;
                    let kind = match f.part.as_str() {
                        k if TEST_KINDS.contains(&k) => k,
                        _ if p.ui_smoke => "ui_smoke",
                        _ => "unclassified",
                    };
                    let c = by_kind.entry(kind.to_owned()).or_default();
                    c.tests += p.tests;
                    c.passed += p.passed;
                    c.failures += p.failures;
                    c.errors += p.errors;
                    c.skipped += p.skipped;
                    parts.push(p);
                }
                let mut s = junit::merge(parts);
                // Declared UI smoke counts as such whatever its suites are named.
                s.ui_smoke |= by_kind.get("ui_smoke").is_some_and(|c| c.tests > 0);
                let pass = s.passes();
                (
                    GateFindings::Tests(TestSummary {
                        tests: s.tests,
                        passed: s.passed,
                        failures: s.failures,
                        errors: s.errors,
                        skipped: s.skipped,
                        failed: s.failed,
                        suites: s.suites,
                        ui_smoke: s.ui_smoke,
                        by_kind,
                    }),
                    pass,
                )
            }
            "lint" => {
                // One log per linter run (clippy, ruff, ESLint …): merged into one verdict.
                let mut parts = Vec::new();
                for f in files {
                    parts.push(lint::parse(&f.bytes).map_err(|e| unreadable(&f.name, e))?);
                }
                let s = lint::merge(parts);
                let pass = s.passes();
                (
                    GateFindings::Lint(LintSummary {
                        tools: s.tools,
                        errors: s.errors,
                        warnings: s.warnings,
                        notes: s.notes,
                        suppressed: s.suppressed,
                        rules: s.rules,
                    }),
                    pass,
                )
            }
            "sbom" => {
                let f = one()?;
                let r = sbom::check(&f.bytes, &cfg.licences).map_err(|e| unreadable(&f.name, e))?;
                (
                    GateFindings::Sbom(SbomSummary {
                        spec_version: r.spec_version,
                        components: r
                            .components
                            .into_iter()
                            .map(|c| ComponentLicence {
                                name: c.name,
                                version: c.version,
                                declared: c.declared,
                                verdict: match c.verdict {
                                    sbom::LicenceVerdict::Allowed => "allowed",
                                    sbom::LicenceVerdict::Denied => "denied",
                                    sbom::LicenceVerdict::Unknown => "unknown",
                                }
                                .into(),
                            })
                            .collect(),
                        allowed: r.allowed,
                        denied: r.denied,
                        unknown: r.unknown,
                        pass: r.pass,
                    }),
                    r.pass,
                )
            }
            _ => {
                let f = one()?;
                match scan::parse(&f.bytes, cfg.fail_at_severity)
                    .map_err(|e| unreadable(&f.name, e))?
                {
                    scan::ScanReport::Vulnerabilities(v) => (
                        GateFindings::Vulnerabilities(VulnerabilitySummary {
                            tool: v.tool.into(),
                            dependencies: v.dependencies,
                            vulnerabilities: v
                                .vulnerabilities
                                .into_iter()
                                .map(|x| Vulnerability {
                                    id: x.id,
                                    package: x.package,
                                    version: x.version,
                                    title: x.title,
                                    severity: x.severity.as_str().into(),
                                    score: x.score,
                                })
                                .collect(),
                            warnings: v.warnings,
                            blocking: v.blocking,
                            pass: v.pass,
                        }),
                        v.pass,
                    ),
                    scan::ScanReport::Secrets(s) => (
                        GateFindings::Secrets(SecretsSummary {
                            tool: s.tool.into(),
                            secrets: s
                                .secrets
                                .into_iter()
                                .map(|x| Secret {
                                    file: x.file,
                                    line: x.line,
                                    kind: x.kind,
                                })
                                .collect(),
                            pass: s.pass,
                        }),
                        s.pass,
                    ),
                }
            }
        })
    }

    /// The gates of a release, and the required ones still missing.
    pub async fn gates(&self, actor: &Actor, product: &str, v: &Version) -> OpResult<GateList> {
        actor.authorize(Permission::ReleaseRead)?;
        let release = self.load_release(product, v).await?;
        self.gate_list(product, &release.version).await
    }

    pub(crate) async fn gate_list(&self, product: &str, version: &Version) -> OpResult<GateList> {
        let gates: Vec<Gate> = self
            .db
            .gates(product, version)
            .await?
            .into_iter()
            .map(to_api)
            .collect::<OpResult<_>>()?;
        let missing = self
            .config
            .gates
            .required
            .iter()
            .filter(|r| {
                GATES.contains(&r.as_str())
                    && !gates.iter().any(|g| g.findings.gate() == r.as_str())
            })
            .cloned()
            .collect();
        Ok(GateList { gates, missing })
    }
}

/// The stored form of a verdict's numbers: the summary alone (its gate is a column).
fn findings_json(f: &GateFindings) -> OpResult<serde_json::Value> {
    let mut v = serde_json::to_value(f)
        .map_err(|e| OpError::Internal(anyhow::anyhow!("gate summary: {e}")))?;
    Ok(v["summary"].take())
}

/// A stored verdict as the API shows it; a summary that no longer reads (an older build's)
/// is an internal error naming the gate.
fn to_api(r: GateRecord) -> OpResult<Gate> {
    let findings: GateFindings =
        serde_json::from_value(json!({"gate": r.gate, "summary": r.summary})).map_err(|e| {
            OpError::Internal(anyhow::anyhow!("stored {} gate summary: {e}", r.gate))
        })?;
    let evidence = r
        .evidence
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| Evidence {
                    name: e["name"].as_str().unwrap_or_default().to_owned(),
                    sha256: e["sha256"].as_str().unwrap_or_default().to_owned(),
                    size: e["size"].as_u64().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Gate {
        findings,
        passed: r.passed,
        evidence,
        recorded_at: r.recorded_at,
        recorded_by: r.recorded_by,
    })
}
