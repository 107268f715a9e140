//! Dependency-vulnerability reports: cargo-audit, OSV-Scanner and Grype JSON, each read into
//! the same [`VulnReport`].

use serde_json::Value;

use super::{Severity, VulnReport, Vulnerability, bad};
use crate::ReportError;

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The first line of a description, shortened to a title.
fn title_of(v: &Value) -> String {
    let line = v.as_str().unwrap_or_default().lines().next().unwrap_or("");
    match line.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// `cargo audit --json`: `vulnerabilities.list[]` with the RustSec advisory (CVSS vector
/// or none) and the package; `warnings` by kind.
pub(super) fn cargo_audit(doc: &Value, fail_at: Severity) -> Result<VulnReport, ReportError> {
    let list = doc["vulnerabilities"]
        .get("list")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`vulnerabilities.list` is missing"))?;
    let vulnerabilities = list
        .iter()
        .map(|v| {
            let adv = &v["advisory"];
            let rated = adv
                .get("cvss")
                .and_then(Value::as_str)
                .and_then(Severity::of_vector);
            Vulnerability {
                id: text(&adv["id"]),
                package: text(&v["package"]["name"]),
                version: text(&v["package"]["version"]),
                title: text(&adv["title"]),
                severity: rated.map_or(Severity::Unknown, |r| r.0),
                score: rated.map(|r| r.1),
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
    let dependencies = doc["lockfile"]
        .get("dependency-count")
        .and_then(Value::as_u64);
    Ok(VulnReport::judged(
        "cargo-audit",
        dependencies,
        vulnerabilities,
        warnings,
        fail_at,
    ))
}

/// Whether an OSV record is informational only (RustSec's unmaintained, unsound, notice).
fn informational(record: &Value) -> bool {
    record["affected"].as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter()
                .all(|x| x["database_specific"]["informational"].is_string())
    })
}

/// The worst rating among OSV records: CVSS vectors in `severity[]`, else the advisory
/// database's word (`database_specific.severity`, e.g. GitHub's `MODERATE`).
fn osv_rating(records: &[&Value]) -> Option<(Severity, Option<f64>)> {
    let vectors = records
        .iter()
        .flat_map(|r| r["severity"].as_array().into_iter().flatten())
        .filter_map(|s| s["score"].as_str().and_then(Severity::of_vector))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((sev, score)) = vectors {
        return Some((sev, Some(score)));
    }
    records
        .iter()
        .filter_map(|r| r["database_specific"]["severity"].as_str())
        .filter_map(Severity::of_word)
        .max()
        .map(|s| (s, None))
}

/// `osv-scanner --format json`: `results[].packages[]`, each with full OSV records in
/// `vulnerabilities` and the aliases of one issue grouped in `groups` (with the highest
/// CVSS base score as `max_severity`, empty when none is known). One vulnerability per group.
pub(super) fn osv_scanner(doc: &Value, fail_at: Severity) -> Result<VulnReport, ReportError> {
    let mut vulnerabilities = Vec::new();
    let mut warnings = Vec::new();
    let results = doc["results"].as_array().expect("recognised by `results`");
    for (i, result) in results.iter().enumerate() {
        let packages = match result.get("packages") {
            None => continue,
            Some(p) => p
                .as_array()
                .ok_or_else(|| bad(format!("`results[{i}].packages` is not a list")))?,
        };
        for p in packages {
            let records = p["vulnerabilities"]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            // Each group's ids and highest CVSS score (empty when unknown). Reports without
            // `groups` (before osv-scanner 1.3): each record stands alone, unscored.
            let groups: Vec<(Vec<String>, Option<f64>)> = match p["groups"].as_array() {
                Some(g) => g
                    .iter()
                    .map(|g| {
                        let ids = g["ids"].as_array().into_iter().flatten().map(text);
                        let max = g["max_severity"].as_str().and_then(|s| s.parse().ok());
                        (ids.collect(), max)
                    })
                    .collect(),
                None => records
                    .iter()
                    .map(|r| (vec![text(&r["id"])], None))
                    .collect(),
            };
            for (ids, max) in groups {
                if ids.is_empty() {
                    return Err(bad(format!(
                        "a group of `{}` has no ids",
                        text(&p["package"]["name"])
                    )));
                }
                let members: Vec<&Value> = records
                    .iter()
                    .filter(|r| ids.iter().any(|id| r["id"] == **id))
                    .collect();
                if !members.is_empty() && members.iter().all(|r| informational(r)) {
                    warnings.extend(ids);
                    continue;
                }
                let (severity, score) = match max {
                    Some(score) => (Severity::of_score(score), Some(score)),
                    None => osv_rating(&members).unwrap_or((Severity::Unknown, None)),
                };
                let title = members
                    .iter()
                    .map(|r| title_of(&r["summary"]))
                    .find(|t| !t.is_empty())
                    .or_else(|| members.first().map(|r| title_of(&r["details"])))
                    .unwrap_or_default();
                vulnerabilities.push(Vulnerability {
                    id: ids.join(", "),
                    package: text(&p["package"]["name"]),
                    version: text(&p["package"]["version"]),
                    title,
                    severity,
                    score,
                });
            }
        }
    }
    Ok(VulnReport::judged(
        "osv-scanner",
        None,
        vulnerabilities,
        warnings,
        fail_at,
    ))
}

/// `grype -o json`: `matches[]` of a vulnerability (id, rating word, CVSS entries) and the
/// artifact it was found in. `ignoredMatches` (ignored by the project's grype configuration)
/// are not counted.
pub(super) fn grype(doc: &Value, fail_at: Severity) -> Result<VulnReport, ReportError> {
    let mut vulnerabilities: Vec<Vulnerability> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let matches = doc["matches"].as_array().expect("recognised by `matches`");
    for (i, m) in matches.iter().enumerate() {
        let v = &m["vulnerability"];
        let id = v["id"]
            .as_str()
            .ok_or_else(|| bad(format!("`matches[{i}].vulnerability.id` is missing")))?;
        let (package, version) = (
            text(&m["artifact"]["name"]),
            text(&m["artifact"]["version"]),
        );
        if !seen.insert((id, package.clone(), version.clone())) {
            continue; // the same package found in several places
        }
        let scores = |v: &Value| -> Option<f64> {
            v["cvss"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["metrics"]["baseScore"].as_f64())
                .max_by(f64::total_cmp)
        };
        let score = scores(v).or_else(|| {
            m["relatedVulnerabilities"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(scores)
                .max_by(f64::total_cmp)
        });
        let severity = v["severity"]
            .as_str()
            .and_then(Severity::of_word)
            .or(score.map(Severity::of_score))
            .unwrap_or(Severity::Unknown);
        vulnerabilities.push(Vulnerability {
            id: id.to_owned(),
            package,
            version,
            title: title_of(&v["description"]),
            severity,
            score,
        });
    }
    Ok(VulnReport::judged(
        "grype",
        None,
        vulnerabilities,
        Vec::new(),
        fail_at,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{ScanReport, parse};
    use super::*;
    use crate::fixture;

    fn vulns(name: &str, fail_at: Severity) -> VulnReport {
        match parse(&fixture(name), fail_at).unwrap() {
            ScanReport::Vulnerabilities(v) => v,
            other => panic!("{name} read as {other:?}"),
        }
    }

    /// (package, severity) in report order.
    fn rated(r: &VulnReport) -> Vec<(&str, Severity)> {
        r.vulnerabilities
            .iter()
            .map(|v| (v.package.as_str(), v.severity))
            .collect()
    }

    /// (advisory id, severity) in report order.
    fn ids(r: &VulnReport) -> Vec<(&str, Severity)> {
        r.vulnerabilities
            .iter()
            .map(|v| (v.id.as_str(), v.severity))
            .collect()
    }

    #[test]
    fn cargo_audit_reports() {
        let r = vulns("vulns-cargo-audit.json", Severity::High);
        assert_eq!(r.tool, "cargo-audit");
        assert_eq!(r.dependencies, Some(13));
        assert_eq!(
            ids(&r),
            [
                ("RUSTSEC-2022-0013", Severity::High),
                ("RUSTSEC-2021-0003", Severity::Critical),
                ("RUSTSEC-2020-0071", Severity::Medium),
            ]
        );
        assert_eq!(r.vulnerabilities[0].score, Some(7.5));
        assert_eq!(r.blocking, 2);
        assert!(!r.pass);
        assert_eq!(r.warnings.len(), 2);
        // The threshold is configurable.
        assert_eq!(
            vulns("vulns-cargo-audit.json", Severity::Critical).blocking,
            1
        );
        assert!(vulns("vulns-cargo-audit-clean.json", Severity::Low).pass);
    }

    #[test]
    fn osv_scanner_reports_one_vulnerability_per_group() {
        let r = vulns("modelled/osv-scanner.json", Severity::High);
        assert_eq!(r.tool, "osv-scanner");
        assert_eq!(
            rated(&r),
            [
                ("regex", Severity::High),
                ("smallvec", Severity::Critical),
                ("time", Severity::Medium),
            ]
        );
        let regex = &r.vulnerabilities[0];
        assert_eq!(regex.id, "GHSA-m5pq-gvj9-9vr8, RUSTSEC-2022-0013");
        assert_eq!(regex.version, "1.5.4");
        assert_eq!(regex.score, Some(7.5));
        assert!(regex.title.starts_with("Regexes with large repetitions"));
        // The unmaintained notice is a warning, as cargo-audit has it.
        assert_eq!(r.warnings, ["RUSTSEC-2024-0375"]);
        assert_eq!((r.blocking, r.pass), (2, false));
        assert_eq!(
            vulns("modelled/osv-scanner.json", Severity::Critical).blocking,
            1
        );
        assert!(vulns("modelled/osv-scanner-clean.json", Severity::Low).pass);
    }

    #[test]
    fn osv_scanner_without_max_severity_falls_back_to_the_records() {
        let doc = |groups: &str, severity: &str, db: &str| {
            format!(
                r#"{{"results":[{{"source":{{"path":"Cargo.lock","type":"lockfile"}},"packages":[{{
                "package":{{"name":"p","version":"1.0.0","ecosystem":"crates.io"}},{groups}
                "vulnerabilities":[{{"id":"GHSA-1","summary":"s",{severity}"database_specific":{{{db}}}}}]}}]}}]}}"#
            )
        };
        let group = r#""groups":[{"ids":["GHSA-1"],"aliases":["GHSA-1"],"max_severity":""}],"#;
        let vector = r#""severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"#;
        for (json, want) in [
            (doc(group, vector, ""), (Severity::Critical, Some(9.8))),
            (
                doc(group, "", r#""severity":"MODERATE""#),
                (Severity::Medium, None),
            ),
            (doc(group, "", ""), (Severity::Unknown, None)),
            // No `groups` at all (older osv-scanner): each record stands alone.
            (doc("", vector, ""), (Severity::Critical, Some(9.8))),
        ] {
            let ScanReport::Vulnerabilities(r) = parse(json.as_bytes(), Severity::High).unwrap()
            else {
                panic!()
            };
            let v = &r.vulnerabilities[0];
            assert_eq!((v.severity, v.score), want, "{json}");
            // Unknown sorts above critical: it blocks like high and critical.
            assert_eq!(r.pass, want.0 < Severity::High, "{json}");
        }
    }

    #[test]
    fn grype_reports() {
        let r = vulns("modelled/grype.json", Severity::High);
        assert_eq!(r.tool, "grype");
        assert_eq!(
            rated(&r),
            [
                ("smallvec", Severity::Critical),
                ("regex", Severity::High),
                ("time", Severity::Medium),
            ]
        );
        assert_eq!(r.vulnerabilities[0].id, "GHSA-43w2-9j62-hq99");
        assert_eq!(r.vulnerabilities[0].score, Some(9.8));
        assert_eq!((r.blocking, r.pass), (2, false));
        assert!(vulns("modelled/grype.json", Severity::Unknown).pass);
        assert!(vulns("modelled/grype-clean.json", Severity::Low).pass);
    }

    #[test]
    fn every_reader_judges_the_same_project_alike() {
        for fail_at in [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            let blocking: Vec<u64> = [
                "vulns-cargo-audit.json",
                "modelled/osv-scanner.json",
                "modelled/grype.json",
            ]
            .iter()
            .map(|f| vulns(f, fail_at).blocking)
            .collect();
            assert!(
                blocking.iter().all(|b| *b == blocking[0]),
                "{fail_at:?}: {blocking:?}"
            );
        }
    }

    #[test]
    fn grype_rating_comes_from_the_score_when_the_word_is_unknown() {
        let doc = br#"{"matches":[
            {"vulnerability":{"id":"CVE-1","severity":"Unknown","cvss":[{"metrics":{"baseScore":5.3}}]},"artifact":{"name":"a","version":"1"}},
            {"vulnerability":{"id":"CVE-2","severity":"Unknown","cvss":[]},"artifact":{"name":"b","version":"1"}},
            {"vulnerability":{"id":"CVE-2","severity":"Unknown","cvss":[]},"artifact":{"name":"b","version":"1"}},
            {"vulnerability":{"id":"CVE-3","severity":"Negligible"},"artifact":{"name":"c","version":"1"}}
        ],"descriptor":{"name":"grype"}}"#;
        let ScanReport::Vulnerabilities(r) = parse(doc, Severity::High).unwrap() else {
            panic!()
        };
        assert_eq!(
            ids(&r),
            [
                ("CVE-1", Severity::Medium),
                ("CVE-2", Severity::Unknown),
                ("CVE-3", Severity::Low)
            ]
        );
        assert_eq!(r.blocking, 1);
        let missing = br#"{"matches":[{"vulnerability":{}}],"descriptor":{"name":"grype"}}"#;
        let err = parse(missing, Severity::High).unwrap_err().to_string();
        assert!(
            err.contains("`matches[0].vulnerability.id` is missing"),
            "{err}"
        );
    }
}
