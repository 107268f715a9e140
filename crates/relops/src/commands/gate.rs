//! `relops gate …`: submit reports, show verdicts. A failing verdict exits 1, so a CI
//! pipeline stops where the playbook says it must.

use std::path::PathBuf;

use relops_api::{Gate, GateFindings, GateList};
use reqwest::Method;

use crate::cli::GateCmd;
use crate::client::{Client, segment};
use crate::output::{failed, print, print_json, table, usage};

pub async fn run(client: &Client, cmd: GateCmd, json: bool) -> anyhow::Result<()> {
    let report = |files: Vec<PathBuf>| files.into_iter().map(|f| ("report", f)).collect();
    let (version, kind, files): (String, &str, Vec<(&str, PathBuf)>) = match cmd {
        GateCmd::List { version } => return list(client, &version, json).await,
        GateCmd::Coverage { version, file } => (version, "coverage", report(vec![file])),
        GateCmd::Tests {
            version,
            files,
            unit,
            integration,
            ui_smoke,
        } => {
            let mut all: Vec<(&str, PathBuf)> = report(files);
            all.extend(unit.into_iter().map(|f| ("unit", f)));
            all.extend(integration.into_iter().map(|f| ("integration", f)));
            all.extend(ui_smoke.into_iter().map(|f| ("ui_smoke", f)));
            if all.is_empty() {
                return Err(usage(
                    "no JUnit file: pass FILES, or --unit / --integration / --ui-smoke FILE",
                ));
            }
            (version, "tests", all)
        }
        GateCmd::Sbom { version, file } => (version, "sbom", report(vec![file])),
        GateCmd::Scan { version, file } => (version, "scan", report(vec![file])),
        GateCmd::Lint { version, files } => (version, "lint", report(files)),
    };
    let gate = submit(client, &version, kind, &files).await?;
    if json {
        print_json(&gate)?;
    } else {
        print(&describe(&gate))?;
    }
    if gate.passed {
        Ok(())
    } else {
        Err(failed(format!(
            "the {} gate of {version} failed: the release cannot be approved until a passing report is submitted",
            gate.findings.gate()
        )))
    }
}

async fn submit(
    client: &Client,
    version: &str,
    kind: &str,
    files: &[(&str, PathBuf)],
) -> anyhow::Result<Gate> {
    let mut form = reqwest::multipart::Form::new();
    for (part, f) in files {
        let bytes = tokio::fs::read(f)
            .await
            .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("report")
            .to_owned();
        form = form.part(
            part.to_string(),
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    let rb = client
        .request(
            Method::PUT,
            &format!("/releases/{}/gates/{kind}", segment(version)),
        )?
        .multipart(form);
    Ok(client.send(rb).await?.json().await?)
}

/// One line of numbers per gate.
fn numbers(g: &Gate) -> String {
    match &g.findings {
        GateFindings::Coverage(c) => format!(
            "{}% of {} lines (needs {}%)",
            c.line_percent, c.lines_valid, c.min_line_coverage
        ),
        GateFindings::Tests(t) => format!(
            "{} tests: {} passed, {} failed, {} errors, {} skipped{}",
            t.tests,
            t.passed,
            t.failures,
            t.errors,
            t.skipped,
            if t.by_kind.is_empty() {
                String::new()
            } else {
                format!(
                    "; {}",
                    t.by_kind
                        .iter()
                        .map(|(k, c)| format!("{} {}", k.replace('_', " "), c.tests))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
        GateFindings::Sbom(s) => format!(
            "{} components: {} allowed, {} denied, {} unknown licence",
            s.components.len(),
            s.allowed,
            s.denied,
            s.unknown
        ),
        GateFindings::Vulnerabilities(v) => format!(
            "{} vulnerabilities, {} at or above the blocking severity",
            v.vulnerabilities.len(),
            v.blocking
        ),
        GateFindings::Secrets(s) => format!("{} secrets found", s.secrets.len()),
        GateFindings::Lint(l) => format!(
            "{}: {} errors, {} warnings, {} notes{}",
            if l.tools.is_empty() {
                "lint".to_owned()
            } else {
                l.tools.join(", ")
            },
            l.errors,
            l.warnings,
            l.notes,
            if l.suppressed > 0 {
                format!(" ({} suppressed in the source)", l.suppressed)
            } else {
                String::new()
            }
        ),
    }
}

fn describe(g: &Gate) -> String {
    let mut out = format!(
        "{} gate: {} — {}\n",
        g.findings.gate(),
        if g.passed { "PASS" } else { "FAIL" },
        numbers(g)
    );
    match &g.findings {
        GateFindings::Tests(t) => {
            for f in &t.failed {
                out += &format!("  failed: {f}\n");
            }
        }
        GateFindings::Sbom(s) => {
            for c in s.components.iter().filter(|c| c.verdict != "allowed") {
                out += &format!("  {}: {} ({})\n", c.name, c.verdict, c.declared);
            }
        }
        GateFindings::Vulnerabilities(v) => {
            for v in &v.vulnerabilities {
                out += &format!(
                    "  {} {} {}: {} ({})\n",
                    v.id, v.package, v.version, v.severity, v.title
                );
            }
        }
        GateFindings::Secrets(s) => {
            for sct in &s.secrets {
                out += &format!(
                    "  {}:{} {}\n",
                    sct.file,
                    sct.line.map_or_else(|| "?".to_owned(), |l| l.to_string()),
                    sct.kind
                );
            }
        }
        GateFindings::Lint(l) => {
            for (rule, n) in l.rules.iter().take(10) {
                out += &format!("  {rule}: {n}\n");
            }
        }
        GateFindings::Coverage(_) => {}
    }
    out
}

async fn list(client: &Client, version: &str, json: bool) -> anyhow::Result<()> {
    let list: GateList = client
        .get(&format!("/releases/{}/gates", segment(version)))
        .await?;
    if json {
        return print_json(&list);
    }
    let mut rows: Vec<Vec<String>> = list
        .gates
        .iter()
        .map(|g| {
            vec![
                g.findings.gate().to_owned(),
                if g.passed {
                    "pass".into()
                } else {
                    "FAIL".into()
                },
                numbers(g),
                g.evidence
                    .iter()
                    .map(|e| e.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                format!(
                    "{} by {}",
                    g.recorded_at.format("%Y-%m-%d %H:%M"),
                    g.recorded_by
                ),
            ]
        })
        .collect();
    for m in &list.missing {
        rows.push(vec![
            m.clone(),
            "missing".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    print(&table(
        &["GATE", "VERDICT", "NUMBERS", "EVIDENCE", "RECORDED"],
        &rows,
    ))
}
