//! `relops gate …`: submit reports, show verdicts. A failing verdict exits 1, so a CI
//! pipeline stops where the playbook says it must.

use std::path::PathBuf;

use relops_api::{Gate, GateList};
use reqwest::Method;

use crate::cli::GateCmd;
use crate::client::{Client, segment};
use crate::output::{failed, print, print_json, table, usage};

pub async fn run(client: &Client, cmd: GateCmd, json: bool) -> anyhow::Result<()> {
    let (version, kind, files) = match cmd {
        GateCmd::List { version } => return list(client, &version, json).await,
        GateCmd::Coverage { version, file } => (version, "coverage", vec![file]),
        GateCmd::Tests { version, files } => (version, "tests", files),
        GateCmd::Sbom { version, file } => (version, "sbom", vec![file]),
        GateCmd::Scan { version, file } => (version, "scan", vec![file]),
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
            gate.gate
        )))
    }
}

async fn submit(
    client: &Client,
    version: &str,
    kind: &str,
    files: &[PathBuf],
) -> anyhow::Result<Gate> {
    let mut form = reqwest::multipart::Form::new();
    for f in files {
        let bytes = tokio::fs::read(f)
            .await
            .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("report")
            .to_owned();
        form = form.part(
            "report",
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
    let s = &g.summary;
    match g.gate.as_str() {
        "coverage" => format!(
            "{}% of {} lines (needs {}%)",
            s["line_percent"], s["lines_valid"], s["min_line_coverage"]
        ),
        "tests" => format!(
            "{} tests: {} passed, {} failed, {} errors, {} skipped{}",
            s["tests"],
            s["passed"],
            s["failures"],
            s["errors"],
            s["skipped"],
            if s["ui_smoke"] == true {
                "; UI smoke ran"
            } else {
                ""
            }
        ),
        "sbom" => format!(
            "{} components: {} allowed, {} denied, {} unknown licence",
            s["components"].as_array().map_or(0, Vec::len),
            s["allowed"],
            s["denied"],
            s["unknown"]
        ),
        "vulnerabilities" => format!(
            "{} vulnerabilities, {} at or above the blocking severity",
            s["vulnerabilities"].as_array().map_or(0, Vec::len),
            s["blocking"]
        ),
        "secrets" => format!(
            "{} secrets found",
            s["secrets"].as_array().map_or(0, Vec::len)
        ),
        _ => s.to_string(),
    }
}

fn describe(g: &Gate) -> String {
    let mut out = format!(
        "{} gate: {} — {}\n",
        g.gate,
        if g.passed { "PASS" } else { "FAIL" },
        numbers(g)
    );
    for f in g.summary["failed"].as_array().into_iter().flatten() {
        out += &format!("  failed: {}\n", f.as_str().unwrap_or_default());
    }
    for c in g.summary["components"].as_array().into_iter().flatten() {
        if c["verdict"] != "allowed" {
            out += &format!(
                "  {}: {} ({})\n",
                c["name"].as_str().unwrap_or_default(),
                c["verdict"],
                c["declared"]
            );
        }
    }
    for v in g.summary["vulnerabilities"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out += &format!(
            "  {} {} {}: {} ({})\n",
            v["id"].as_str().unwrap_or_default(),
            v["package"].as_str().unwrap_or_default(),
            v["version"].as_str().unwrap_or_default(),
            v["severity"].as_str().unwrap_or_default(),
            v["title"].as_str().unwrap_or_default()
        );
    }
    for sct in g.summary["secrets"].as_array().into_iter().flatten() {
        out += &format!(
            "  {}:{} {}\n",
            sct["file"].as_str().unwrap_or_default(),
            sct["line"],
            sct["kind"].as_str().unwrap_or_default()
        );
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
                g.gate.clone(),
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
