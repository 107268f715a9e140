//! Lint results from SARIF 2.1.0 (R-REL-5), the exchange format every linter can write:
//! `cargo clippy --message-format=json | clippy-sarif`, `ruff check --output-format sarif`,
//! ESLint with `@microsoft/eslint-formatter-sarif`, and many more.
//!
//! Each result counts at its level — its own `level`, else the level its rule's
//! `defaultConfiguration` gives, else SARIF's default `warning`. Results a tool marked
//! suppressed (`suppressions` with status `accepted`, or none given) do not count. The gate
//! passes when no result is at level `error`; warnings are reported, not blocking.
//! Only the fields read are modelled; everything else in the log is ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ReportError, check_size};

/// Largest SARIF file read.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Most rules listed in the summary (the most frequent first).
const TOP_RULES: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LintSummary {
    /// The tools that wrote the runs (`clippy`, `ruff`, …).
    pub tools: Vec<String>,
    pub errors: u64,
    pub warnings: u64,
    pub notes: u64,
    /// Results suppressed in the source (not counted above).
    pub suppressed: u64,
    /// The most frequent rules with their counts (at most 20).
    pub rules: Vec<(String, u64)>,
}

impl LintSummary {
    /// The gate: no result at level `error`.
    pub fn passes(&self) -> bool {
        self.errors == 0
    }
}

#[derive(Deserialize)]
struct Log {
    version: Option<String>,
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct Run {
    tool: Tool,
    #[serde(default)]
    results: Option<Vec<SarifResult>>,
}

#[derive(Deserialize)]
struct Tool {
    driver: Driver,
}

#[derive(Deserialize)]
struct Driver {
    name: String,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "defaultConfiguration")]
    default_configuration: Option<Configuration>,
}

#[derive(Deserialize)]
struct Configuration {
    #[serde(default)]
    level: Option<String>,
}

#[derive(Deserialize)]
struct SarifResult {
    #[serde(default, rename = "ruleId")]
    rule_id: Option<String>,
    #[serde(default, rename = "ruleIndex")]
    rule_index: Option<usize>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    suppressions: Option<Vec<Suppression>>,
}

#[derive(Deserialize)]
struct Suppression {
    #[serde(default)]
    status: Option<String>,
}

fn bad(why: impl Into<String>) -> ReportError {
    ReportError::Format {
        expected: "SARIF 2.1.0",
        why: why.into(),
    }
}

/// Reads one SARIF log.
pub fn parse(bytes: &[u8]) -> Result<LintSummary, ReportError> {
    check_size(bytes, MAX_BYTES)?;
    let log: Log = serde_json::from_slice(bytes).map_err(|e| {
        bad(format!(
            "{e} (write it with the linter's SARIF output, e.g. `cargo clippy --message-format=json | clippy-sarif` or `ruff check --output-format sarif`)"
        ))
    })?;
    match log.version.as_deref() {
        Some("2.1.0") => {}
        Some(v) => return Err(bad(format!("version {v}; only 2.1.0 is read"))),
        None => return Err(bad("no `version`")),
    }
    if log.runs.is_empty() {
        return Err(bad("no runs: the linter did not run"));
    }
    let mut s = LintSummary::default();
    let mut rules: BTreeMap<String, u64> = BTreeMap::new();
    for run in log.runs {
        let name = run.tool.driver.name.trim().to_owned();
        if !name.is_empty() && !s.tools.contains(&name) {
            s.tools.push(name);
        }
        let defaults = &run.tool.driver.rules;
        for r in run.results.unwrap_or_default() {
            if r.suppressions.as_ref().is_some_and(|list| {
                !list.is_empty()
                    && list
                        .iter()
                        .all(|x| x.status.as_deref().is_none_or(|st| st == "accepted"))
            }) {
                s.suppressed += 1;
                continue;
            }
            let rule = r.rule_index.and_then(|i| defaults.get(i)).or_else(|| {
                r.rule_id
                    .as_deref()
                    .and_then(|id| defaults.iter().find(|d| d.id.as_deref() == Some(id)))
            });
            let level = r
                .level
                .as_deref()
                .or_else(|| {
                    rule.and_then(|d| d.default_configuration.as_ref())
                        .and_then(|c| c.level.as_deref())
                })
                .unwrap_or("warning");
            match level {
                "error" => s.errors += 1,
                "warning" => s.warnings += 1,
                "note" => s.notes += 1,
                // `none`: informational, not a finding.
                _ => continue,
            }
            let id = r
                .rule_id
                .clone()
                .or_else(|| rule.and_then(|d| d.id.clone()))
                .unwrap_or_else(|| "(no rule)".into());
            // Rule ids come from the file: bound what is kept.
            let id: String = id.chars().take(120).collect();
            if rules.len() < 10_000 || rules.contains_key(&id) {
                *rules.entry(id).or_insert(0) += 1;
            }
        }
    }
    s.rules = top_rules(rules);
    Ok(s)
}

/// The most frequent rules first (ties by id), at most [`TOP_RULES`].
fn top_rules(rules: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut top: Vec<(String, u64)> = rules.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(TOP_RULES);
    top
}

/// Several logs (one per linter run) as one summary.
pub fn merge(parts: impl IntoIterator<Item = LintSummary>) -> LintSummary {
    let mut total = LintSummary::default();
    let mut rules: BTreeMap<String, u64> = BTreeMap::new();
    for p in parts {
        for t in p.tools {
            if !total.tools.contains(&t) {
                total.tools.push(t);
            }
        }
        total.errors += p.errors;
        total.warnings += p.warnings;
        total.notes += p.notes;
        total.suppressed += p.suppressed;
        for (r, n) in p.rules {
            *rules.entry(r).or_insert(0) += n;
        }
    }
    total.rules = top_rules(rules);
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn levels_defaults_and_suppressions() {
        let sarif = br#"{"version": "2.1.0", "runs": [{
            "tool": {"driver": {"name": "demo", "rules": [
                {"id": "E1", "defaultConfiguration": {"level": "error"}},
                {"id": "W1"}]}},
            "results": [
                {"ruleId": "E1", "message": {"text": "x"}},
                {"ruleId": "W1", "ruleIndex": 1, "message": {"text": "x"}},
                {"ruleId": "W1", "level": "note", "message": {"text": "x"}},
                {"ruleId": "E1", "suppressions": [{"kind": "inSource"}], "message": {"text": "x"}},
                {"ruleId": "E1", "level": "none", "message": {"text": "x"}}
            ]}]}"#;
        let s = parse(sarif).unwrap();
        assert_eq!((s.errors, s.warnings, s.notes, s.suppressed), (1, 1, 1, 1));
        assert!(!s.passes());
        assert_eq!(s.rules, vec![("W1".into(), 2), ("E1".into(), 1)]);
        assert_eq!(s.tools, vec!["demo".to_owned()]);
    }

    #[test]
    fn refusals_say_what_was_expected() {
        for (bytes, why) in [
            (&b"{}"[..], "missing field"),
            (br#"{"version": "2.0.0", "runs": []}"#, "only 2.1.0"),
            (br#"{"version": "2.1.0", "runs": []}"#, "no runs"),
            (b"<xml/>", "clippy-sarif"),
        ] {
            let e = parse(bytes).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    /// Real logs: clippy through clippy-sarif, and ruff.
    #[test]
    fn real_tools() {
        let clippy = parse(&fixture("lint-clippy.sarif")).unwrap();
        assert_eq!(clippy.tools, vec!["clippy".to_owned()]);
        assert!(clippy.errors >= 1 && clippy.warnings >= 1, "{clippy:?}");
        assert!(!clippy.passes());
        let clean = parse(&fixture("lint-clippy-clean.sarif")).unwrap();
        assert!(clean.passes() && clean.errors == 0, "{clean:?}");
        let ruff = parse(&fixture("lint-ruff.sarif")).unwrap();
        assert_eq!(ruff.tools, vec!["ruff".to_owned()]);
        assert!(ruff.errors + ruff.warnings >= 1, "{ruff:?}");
    }
}
