//! `relops ticket …`: the support desk from the terminal.

use chrono::{DateTime, Utc};
use relops_api::{
    MailTaken, OpenTicket, Ticket, TicketAssign, TicketConfirm, TicketEscalate, TicketLink,
    TicketList, TicketMessage, TicketPriority, TicketReopen, TicketSolve,
};

use crate::cli::TicketCmd;
use crate::client::{Client, segment};
use crate::output::{CliError, print, print_json, table, usage};

pub async fn run(client: &Client, cmd: TicketCmd, json: bool) -> anyhow::Result<()> {
    let path = |id: &str, what: &str| format!("/tickets/{}/{what}", segment(id));
    let t: Ticket = match cmd {
        TicketCmd::Open {
            subject,
            customer,
            name,
            priority,
            body,
            release,
            platform,
            install,
            crashes,
        } => {
            let release = release
                .map(|v| {
                    v.parse()
                        .map_err(|e| usage(format!("--release `{v}`: {e}")))
                })
                .transpose()?;
            let req = OpenTicket {
                subject,
                customer,
                customer_name: name,
                priority,
                body,
                release,
                platform,
                install,
                crashes,
            };
            client.post("/tickets", &req).await?
        }
        TicketCmd::List { status, limit } => {
            let mut q = format!("/tickets?limit={limit}");
            if let Some(s) = status {
                q.push_str(&format!("&status={}", segment(&s)));
            }
            let list: TicketList = client.get(&q).await?;
            if json {
                return print_json(&list);
            }
            return print(&queue(&list, Utc::now()));
        }
        TicketCmd::Show { id } => client.get(&format!("/tickets/{}", segment(&id))).await?,
        TicketCmd::Attachment { id, sha256, output } => {
            return attachment(client, &id, &sha256, output, json).await;
        }
        TicketCmd::Reply { id, body, wait } => {
            let req = TicketMessage {
                body,
                wait_on_customer: wait,
            };
            client.post(&path(&id, "reply"), &req).await?
        }
        TicketCmd::Note { id, body } => {
            let req = TicketMessage {
                body,
                wait_on_customer: false,
            };
            client.post(&path(&id, "note"), &req).await?
        }
        TicketCmd::Assign { id, to } => {
            client
                .post(&path(&id, "assign"), &TicketAssign { assignee: to })
                .await?
        }
        TicketCmd::Priority {
            id,
            priority,
            reason,
        } => {
            client
                .post(&path(&id, "priority"), &TicketPriority { priority, reason })
                .await?
        }
        TicketCmd::Link {
            id,
            crashes,
            incident,
            known_issue,
        } => {
            let req = TicketLink {
                crashes,
                incident,
                known_issue,
            };
            client.post(&path(&id, "link"), &req).await?
        }
        TicketCmd::Solve {
            id,
            resolution,
            known_issue,
        } => {
            let req = TicketSolve {
                resolution,
                known_issue,
            };
            client.post(&path(&id, "solve"), &req).await?
        }
        TicketCmd::Confirm { id, note } => {
            client
                .post(&path(&id, "confirm"), &TicketConfirm { note })
                .await?
        }
        TicketCmd::Escalate { id, tracker, note } => {
            client
                .post(&path(&id, "escalate"), &TicketEscalate { tracker, note })
                .await?
        }
        TicketCmd::MailIn => return mail_in(client, json).await,
        TicketCmd::Close { id } => client.post(&path(&id, "close"), &()).await?,
        TicketCmd::Reopen { id, reason } => {
            client
                .post(&path(&id, "reopen"), &TicketReopen { reason })
                .await?
        }
    };
    if json {
        return print_json(&t);
    }
    print(&show(&t, Utc::now()))
}

/// `relops ticket mail-in`: stdin to `POST /v1/tickets/mail`. A refusal (4xx) exits 1 so
/// that the MTA bounces with the reason; anything that may pass later exits 75.
async fn mail_in(client: &Client, json: bool) -> anyhow::Result<()> {
    use std::io::Read;
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut raw)
        .map_err(|e| CliError::TempFail(format!("cannot read the message from stdin: {e}")))?;
    let rb = client
        .request(reqwest::Method::POST, "/tickets/mail")?
        .header(reqwest::header::CONTENT_TYPE, "message/rfc822")
        .body(raw);
    let taken: MailTaken = match client.send(rb).await {
        Ok(r) => r
            .json()
            .await
            .map_err(|e| CliError::TempFail(format!("relops' answer did not read: {e}")))?,
        Err(e) => {
            let temporary = match e.downcast_ref::<CliError>() {
                Some(CliError::Server { body, .. }) => {
                    matches!(
                        body.code.as_str(),
                        "rate_limited" | "unavailable" | "internal" | "conflict"
                    ) || body.code.starts_with("http_5")
                }
                _ => true,
            };
            return Err(if temporary {
                CliError::TempFail(format!("{e:#}; the mail stays with the MTA, which retries"))
                    .into()
            } else {
                e
            });
        }
    };
    if json {
        return print_json(&taken);
    }
    print(&match (&taken.ticket, taken.action.as_str()) {
        (Some(t), "opened") => format!("{t}\n"),
        (Some(t), a) => format!(
            "{t} ({a}{})\n",
            taken
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        (None, a) => format!("{a}: {}\n", taken.reason.as_deref().unwrap_or("no ticket")),
    })
}

/// "due in 3 h 20 min", "OVERDUE by 40 min", "answered", "waiting on the customer".
fn time_left(t: &Ticket, now: DateTime<Utc>) -> String {
    if t.first_response_at.is_some() {
        return "answered".into();
    }
    let Some(due) = t.sla.due else {
        return if t.status == "waiting_on_customer" {
            "waiting on the customer".into()
        } else {
            "-".into()
        };
    };
    let mins = (due - now).num_minutes();
    let span = |m: i64| {
        let m = m.abs();
        match (m / 60, m % 60) {
            (0, m) => format!("{m} min"),
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        }
    };
    if mins < 0 {
        format!("OVERDUE by {}", span(mins))
    } else if t.sla.warn {
        format!("due in {} (75 % used)", span(mins))
    } else {
        format!("due in {}", span(mins))
    }
}

fn queue(list: &TicketList, now: DateTime<Utc>) -> String {
    if list.tickets.is_empty() {
        return "The queue is empty: no ticket waits for support.\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .tickets
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.priority.clone(),
                t.status.clone(),
                time_left(t, now),
                t.assignee.clone().unwrap_or_else(|| "-".into()),
                t.subject.chars().take(60).collect(),
            ]
        })
        .collect();
    let mut s = table(
        &[
            "TICKET",
            "PRIORITY",
            "STATUS",
            "FIRST RESPONSE",
            "ASSIGNEE",
            "SUBJECT",
        ],
        &rows,
    );
    if list.total > list.tickets.len() as u64 {
        s.push_str(&format!(
            "{} of {} tickets shown (--limit for more).\n",
            list.tickets.len(),
            list.total
        ));
    }
    s
}

fn show(t: &Ticket, now: DateTime<Utc>) -> String {
    let mut s = format!(
        "{} [{}] {} — {}\n  customer {}{}; via {}; opened {}\n  first response: {}\n",
        t.id,
        t.priority,
        t.status,
        t.subject,
        t.customer_name
            .as_deref()
            .map(|n| format!("{n} <{}>", t.customer))
            .unwrap_or_else(|| t.customer.clone()),
        t.assignee
            .as_deref()
            .map(|a| format!(", assigned to {a}"))
            .unwrap_or_default(),
        t.source,
        t.opened_at.format("%Y-%m-%d %H:%M UTC"),
        time_left(t, now),
    );
    if let Some(r) = &t.priority_reason {
        s.push_str(&format!("  priority: {r}\n"));
    }
    let about: Vec<String> = [
        t.release.as_ref().map(|v| format!("release {v}")),
        t.platform.as_ref().map(|p| format!("platform {p}")),
        t.install.as_ref().map(|i| format!("install {i}")),
        (!t.crashes.is_empty()).then(|| format!("crashes {}", t.crashes.join(", "))),
        t.incident.as_ref().map(|i| format!("incident {i}")),
        t.known_issue.as_ref().map(|k| format!("known issue {k}")),
        t.issue.as_ref().map(|i| match &t.issue_url {
            Some(u) => format!("issue {i} ({u})"),
            None => format!("issue {i}"),
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !about.is_empty() {
        s.push_str(&format!("  {}\n", about.join("; ")));
    }
    for b in &t.log_bundles {
        s.push_str(&super::logs::bundle_line(b));
        s.push('\n');
    }
    if let Some(r) = &t.resolution {
        s.push_str(&format!("  resolution: {r}\n"));
    }
    if let Some(c) = &t.confirmed {
        s.push_str(&format!("  customer confirmed: {c}\n"));
    }
    if !t.close_blockers.is_empty() && t.status == "solved" {
        s.push_str(&format!("  to close: {}\n", t.close_blockers.join("; ")));
    }
    if let Some(a) = &t.analysis {
        if let Some(h) = &a.release_health {
            s.push_str(&format!(
                "  release {}: health gate {}; {} ticket(s) about it; open alerts: {}\n",
                h.release,
                super::health::gate_words(&h.gate).0,
                a.release_tickets,
                if a.open_alerts.is_empty() {
                    "none".to_owned()
                } else {
                    a.open_alerts
                        .iter()
                        .map(|x| format!("{} {} ({})", x.id, x.rule, x.summary))
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            ));
        }
        for c in a.crashes.iter().chain(&a.install_crashes).take(10) {
            s.push_str(&format!(
                "  crash {} on {} {} at {}{}{}\n",
                c.id,
                c.release,
                c.platform,
                c.received_at.format("%Y-%m-%d %H:%M"),
                c.analysis
                    .signature
                    .as_deref()
                    .map(|w| format!(" in {w}"))
                    .unwrap_or_default(),
                c.critical
                    .as_deref()
                    .map(|r| format!(" — critical: {r}"))
                    .unwrap_or_default()
            ));
        }
        // The stack of the crash the customer named (`relops crash show` has the rest).
        if let Some(c) = a.crashes.first() {
            for (i, f) in c.analysis.frames.iter().take(5).enumerate() {
                s.push_str(&super::crash::frame_line(i, f));
            }
        }
        if !a.crash_groups.is_empty() {
            let top: Vec<String> = a
                .crash_groups
                .iter()
                .take(3)
                .map(|g| format!("{} ({} crashes)", g.signature, g.count))
                .collect();
            s.push_str(&format!(
                "  what crashes in this release: {}\n",
                top.join("; ")
            ));
        }
    }
    for e in &t.timeline {
        let head = format!(
            "  {} {} by {}",
            e.at.format("%Y-%m-%d %H:%M"),
            e.kind,
            e.author
        );
        match &e.body {
            Some(b) => {
                s.push_str(&format!("{head}:\n"));
                for line in b.lines().take(20) {
                    s.push_str(&format!("      {line}\n"));
                }
            }
            None => s.push_str(&format!("{head} {}\n", e.detail)),
        }
        for a in &e.attachments {
            s.push_str(&format!(
                "      attachment {} ({}, {} bytes)\n",
                a.name, a.content_type, a.size
            ));
        }
    }
    s
}

/// Writes an attachment of ticket `id` to `output` (default: its name as the server gives
/// it, which keeps only plain characters).
async fn attachment(
    client: &Client,
    id: &str,
    sha256: &str,
    output: Option<std::path::PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let (name, bytes) = client
        .download(
            &format!("/tickets/{}/attachments/{}", segment(id), segment(sha256)),
            format!("attachment-{sha256}"),
        )
        .await?;
    let out = output.unwrap_or_else(|| std::path::PathBuf::from(name));
    std::fs::write(&out, &bytes)
        .map_err(|e| usage(format!("cannot write {}: {e}", out.display())))?;
    if json {
        return print_json(&serde_json::json!({
            "ticket": id,
            "sha256": sha256,
            "written": out,
            "bytes": bytes.len(),
        }));
    }
    print(&format!(
        "{id}: attachment opened, {} bytes written to {}\n",
        bytes.len(),
        out.display()
    ))
}
