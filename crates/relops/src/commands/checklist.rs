//! `relops checklist …` and `relops approve`

use relops_api::{ApproveRequest, Checklist};

use crate::cli::ChecklistCmd;
use crate::client::{Client, segment};
use crate::output::{failed, print, print_json, table};

pub async fn run(client: &Client, cmd: ChecklistCmd, json: bool) -> anyhow::Result<()> {
    let c: Checklist = match cmd {
        ChecklistCmd::Show { version } => {
            client
                .get(&format!("/releases/{}/checklist", segment(&version)))
                .await?
        }
        ChecklistCmd::Sign {
            version,
            item,
            evidence,
            note,
            no_faq_change,
        } => {
            let body = match &evidence {
                Some(p) => std::fs::read(p).map_err(|e| {
                    crate::output::usage(format!("cannot read {}: {e}", p.display()))
                })?,
                None => Vec::new(),
            };
            let mut rb = client.request(
                reqwest::Method::PUT,
                &format!(
                    "/releases/{}/checklist/{}",
                    segment(&version),
                    segment(&item)
                ),
            )?;
            if let Some(n) = &note {
                rb = rb.query(&[("note", n)]);
            }
            if no_faq_change {
                rb = rb.query(&[("no_faq_change", "true")]);
            }
            if let Some(p) = &evidence {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                rb = rb.query(&[("evidence_name", name)]);
            }
            client.send(rb.body(body)).await?.json().await?
        }
    };
    if json {
        print_json(&c)
    } else {
        print(&render(&c))
    }
}

pub async fn approve(
    client: &Client,
    version: &str,
    req: &ApproveRequest,
    confirm: bool,
    json: bool,
) -> anyhow::Result<()> {
    let c: Checklist = if confirm {
        client
            .post(
                &format!("/releases/{}/approve/confirm", segment(version)),
                &(),
            )
            .await?
    } else {
        client
            .post(&format!("/releases/{}/approve", segment(version)), req)
            .await?
    };
    if json {
        return print_json(&c);
    }
    if c.decisions.last().is_some_and(|d| d.is_pending()) {
        return print(&format!(
            "emergency go for {} {} recorded, waiving {}: it takes effect once a second person confirms it — another product owner, or on-call: `relops approve {} --confirm`\n",
            c.product,
            c.version,
            req.waive.join(", "),
            c.version
        ));
    }
    if req.no_go {
        return print(&format!(
            "no-go recorded for {} {}\n{}",
            c.product,
            c.version,
            render(&c)
        ));
    }
    if c.state.as_str() != "approved" {
        return Err(failed(format!("{} is {}", c.version, c.state)));
    }
    print(&format!(
        "{} {} approved: it is in the update feed at {}/tuf/{}/ — `relops rollout start {}` offers it to installs\n",
        c.product,
        c.version,
        client.base(),
        c.product,
        c.version
    ))
}

fn render(c: &Checklist) -> String {
    let rows: Vec<Vec<String>> = c
        .items
        .iter()
        .map(|i| {
            // Gates grouped by status ("coverage, tests passed"); the evidence's file name
            // and the signer's name and time — digests, token ids and roles are in --json.
            let mut by_status: Vec<(&str, Vec<&str>)> = Vec::new();
            for (g, st) in &i.gates {
                match by_status.iter_mut().find(|(s, _)| s == st) {
                    Some((_, names)) => names.push(g),
                    None => by_status.push((st, vec![g])),
                }
            }
            let gates: Vec<String> = by_status
                .iter()
                .map(|(st, names)| format!("{} {st}", names.join(", ")))
                .collect();
            vec![
                i.item.clone(),
                i.status.clone(),
                i.owner.to_string(),
                if gates.is_empty() {
                    "-".into()
                } else {
                    gates.join("; ")
                },
                i.evidence
                    .as_ref()
                    .map(|e| e.name.clone())
                    .unwrap_or_else(|| "-".into()),
                match (&i.signed_by, i.signed_at) {
                    (Some(by), Some(at)) => format!(
                        "{}, {}",
                        by.split(" (").next().unwrap_or(by),
                        at.format("%Y-%m-%d %H:%M")
                    ),
                    _ => "-".into(),
                },
            ]
        })
        .collect();
    let mut out = format!("{} {} — {}\n", c.product, c.version, c.state);
    out += &table(
        &["ITEM", "STATUS", "OWNER", "GATES", "EVIDENCE", "SIGNED"],
        &rows,
    );
    if !c.blockers.is_empty() {
        out += &format!("no go yet: {}\n", c.blockers.join("; "));
    }
    for d in &c.decisions {
        out += &format!(
            "{} by {} at {}{}{}\n",
            d.decision,
            d.decided_by,
            d.decided_at.format("%Y-%m-%d %H:%M UTC"),
            d.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            match (&d.waived[..], &d.confirmed_by) {
                ([], _) => String::new(),
                (w, None) => format!(" (waived: {})", w.join(", ")),
                (w, Some(c)) => format!(" (waived: {}; confirmed by {c})", w.join(", ")),
            }
        );
    }
    out
}
