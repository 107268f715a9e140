//! Secrets-scan reports: detect-secrets baselines (hashes only) and gitleaks JSON (which
//! holds the secrets themselves, hence [`redact_gitleaks`]).

use serde_json::Value;

use super::{Secret, SecretsReport, bad};
use crate::ReportError;

/// A detect-secrets baseline: `results` maps each file to its findings.
pub(super) fn detect_secrets(doc: &Value) -> Result<SecretsReport, ReportError> {
    let results = doc["results"].as_object().expect("recognised by `results`");
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

/// `gitleaks detect --report-format json`: a list of findings (`RuleID`, `File`,
/// `StartLine`, …); `[]` when clean.
pub(super) fn gitleaks(doc: &Value) -> Result<SecretsReport, ReportError> {
    let findings = doc.as_array().expect("recognised as a list");
    let mut secrets = Vec::with_capacity(findings.len());
    for (i, f) in findings.iter().enumerate() {
        let file = f["File"]
            .as_str()
            .ok_or_else(|| bad(format!("finding {i} has no `File`")))?;
        secrets.push(Secret {
            file: file.to_owned(),
            line: f["StartLine"].as_u64(),
            kind: f["RuleID"].as_str().unwrap_or("secret").to_owned(),
        });
    }
    Ok(SecretsReport {
        tool: "gitleaks",
        pass: secrets.is_empty(),
        secrets,
    })
}

/// Replaces the secret values of every gitleaks finding by `REDACTED`.
pub(super) fn redact_gitleaks(doc: &mut Value) {
    for f in doc.as_array_mut().into_iter().flatten() {
        for field in ["Secret", "Match", "Line"] {
            if let Some(v) = f.get_mut(field).filter(|v| v.is_string()) {
                *v = Value::from("REDACTED");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ScanReport, Severity, parse, redacted};
    use crate::fixture;

    fn secrets(name: &str) -> super::SecretsReport {
        match parse(&fixture(name), Severity::High).unwrap() {
            ScanReport::Secrets(s) => s,
            other => panic!("{name} read as {other:?}"),
        }
    }

    #[test]
    fn detect_secrets_baselines() {
        let s = secrets("secrets-findings.baseline.json");
        assert_eq!(s.tool, "detect-secrets");
        assert_eq!(s.secrets.len(), 2);
        assert!(!s.pass);
        let kinds: Vec<&str> = s.secrets.iter().map(|x| x.kind.as_str()).collect();
        assert_eq!(kinds, ["AWS Access Key", "Private Key"]);
        assert_eq!(s.secrets[0].line, Some(4));
        assert!(secrets("secrets-clean.baseline.json").pass);
        // Nothing to redact: a baseline holds hashes.
        assert_eq!(redacted(&fixture("secrets-findings.baseline.json")), None);
    }

    #[test]
    fn gitleaks_reports() {
        let s = secrets("modelled/gitleaks.json");
        assert_eq!(s.tool, "gitleaks");
        let found: Vec<(&str, Option<u64>, &str)> = s
            .secrets
            .iter()
            .map(|x| (x.file.as_str(), x.line, x.kind.as_str()))
            .collect();
        // The same two findings detect-secrets reports for the same file.
        assert_eq!(
            found,
            [
                ("inventory/deploy_config.py", Some(4), "aws-access-token"),
                ("inventory/deploy_config.py", Some(6), "private-key"),
            ]
        );
        assert!(!s.pass);
        assert!(secrets("modelled/gitleaks-clean.json").pass);
        let err = parse(br#"[{"RuleID":"x"}]"#, Severity::High)
            .unwrap_err()
            .to_string();
        assert!(err.contains("finding 0 has no `File`"), "{err}");
    }

    #[test]
    fn gitleaks_evidence_is_kept_without_the_secrets() {
        let original = fixture("modelled/gitleaks.json");
        let kept = redacted(&original).expect("a gitleaks report is redacted");
        let text = String::from_utf8(kept.clone()).unwrap();
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert_eq!(text.matches("REDACTED").count(), 4);
        // The redacted copy still reads as the same report.
        assert_eq!(
            parse(&kept, Severity::High).unwrap(),
            parse(&original, Severity::High).unwrap()
        );
    }
}
