//! `relops health VERSION`, `relops alert …`, `relops incident …`

use relops_api::{
    Alert, AlertAck, AlertList, Escalation, Incident, IncidentDecision, IncidentList,
};
use relops_api::{HealthGate, HealthReport};
use relops_core::health::Verdict;
use reqwest::Method;

use crate::cli::{AlertCmd, IncidentCmd};
use crate::client::{Client, segment};
use crate::output::{print, print_json, table, usage};

fn pct(x: Option<f64>) -> String {
    x.map(|f| format!("{:.2} %", f * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn interval(w: Option<(f64, f64)>) -> String {
    match w {
        Some((lo, hi)) => format!("{} – {}", pct(Some(lo)), pct(Some(hi))),
        None => "-".into(),
    }
}

/// `E_IO 3, E_NET 2`, or `none`.
fn counts(m: &std::collections::BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A limit as people write it: `2 %`, `2.5 %`.
fn limit(x: f64) -> String {
    format!("{} %", (x * 10_000.0).round() / 100.0)
}

/// `1,282`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The health gate in a release manager's words: the verdict and why, then notes (how
/// many installs the test still needs, whether a stage is too small for it). The test's
/// own numbers are in `--json`.
pub(crate) fn gate_words(g: &HealthGate) -> (String, Vec<String>) {
    let s = &g.sprt;
    let n = g.active_installs;
    let rate = format!(
        "crash rate {} (95 % interval {}) of {} active installs",
        pct(g.crash_rate),
        interval(g.crash_rate_wilson_95),
        thousands(n)
    );
    let (p0, p1) = (limit(s.p0), limit(s.p1));
    let mut headline = match g.gate {
        Verdict::Unknown => format!(
            "UNKNOWN: {} active installs have reported; the gate judges from {} on",
            thousands(n),
            thousands(s.min_installs)
        ),
        Verdict::Undecided => {
            format!("UNDECIDED: {rate} — not yet certain whether it is within the {p0} limit")
        }
        Verdict::Passing => format!("PASSING: {rate}, within the {p0} limit"),
        Verdict::Failing => format!("FAILING: {rate}, above the {p0} limit"),
    };
    if g.truncated {
        headline.push_str(&format!(
            " — judged at the end of the stage's soak with the test still undecided: the rate is nearer {} than {}",
            if g.gate == Verdict::Failing { &p1 } else { &p0 },
            if g.gate == Verdict::Failing { &p0 } else { &p1 },
        ));
    }
    let mut notes = Vec::new();
    if matches!(g.gate, Verdict::Undecided) {
        notes.push(match s.installs_to_decide {
            Some(k) => format!(
                "at this rate the test decides at about {} active installs ({} more)",
                thousands(k),
                thousands(k.saturating_sub(n))
            ),
            None => format!(
                "the rate sits between {p0} and {p1}, where the test needs the most installs (about {})",
                thousands(s.worst_case_installs)
            ),
        });
    }
    if (g.gate == Verdict::Undecided || g.truncated) && n < s.worst_case_installs {
        notes.push(format!(
            "this stage has {} active installs; to be sure at rates between {p0} and {p1} (α {}, β {}) the test may need up to about {} — a stage that soaks undecided is judged by the rate it is nearer, with weaker guarantees: a larger pilot group decides sooner",
            thousands(n),
            limit(s.alpha),
            limit(s.beta),
            thousands(s.worst_case_installs)
        ));
    }
    (headline, notes)
}

pub async fn health(client: &Client, version: &str, json: bool) -> anyhow::Result<()> {
    let v: HealthReport = client
        .get(&format!("/releases/{}/health", segment(version)))
        .await?;
    if json {
        return print_json(&v);
    }
    let g = &v.gate;
    let (headline, notes) = gate_words(g);
    let mut out = format!(
        "{} {}{}\n  health gate:            {headline}\n",
        v.product,
        v.release,
        if v.known_release {
            ""
        } else {
            " (not a registered release)"
        },
    );
    for n in notes {
        out.push_str(&format!("                          {n}\n"));
    }
    let ended: u64 = v.sessions.values().sum();
    out.push_str(&format!(
        "  crashed installs:       {} of {} active (24 h)\n  sessions (24 h):        {}\n  errors (24 h):          {}\n  memory warnings (24 h): {}\n",
        thousands(g.crashed_installs),
        thousands(g.active_installs),
        if ended == 0 {
            "none ended yet".to_owned()
        } else {
            format!(
                "{} ended ({}); {} crash-free",
                thousands(ended),
                counts(&v.sessions),
                pct(v.crash_free_sessions)
            )
        },
        counts(&v.errors_24h),
        v.memory_warnings_24h,
    ));
    let rows: Vec<Vec<String>> = g
        .slices
        .iter()
        .map(|s| {
            vec![
                s.channel.clone(),
                s.platform.clone(),
                s.active_installs.to_string(),
                s.crashed_installs.to_string(),
                pct(s.crash_rate),
                interval(s.crash_rate_wilson_95),
            ]
        })
        .collect();
    if !v.bounded_networks.is_empty() {
        out.push_str(&format!(
            "  not counted:            {} records from installs beyond their network's share ([ingest] installs_per_network): {}\n",
            v.uncounted_records_24h,
            v.bounded_networks
                .iter()
                .map(|b| format!("{} ({})", b.network, b.uncounted_records))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &[
                "CHANNEL",
                "PLATFORM",
                "ACTIVE",
                "CRASHED",
                "RATE",
                "95 % INTERVAL",
            ],
            &rows,
        ));
    }
    print(&out)
}

fn alert_line(a: &Alert) -> Vec<String> {
    vec![
        a.id.clone(),
        a.release.clone(),
        if a.key.is_empty() {
            a.rule.clone()
        } else {
            format!("{} {}", a.rule, a.key)
        },
        a.severity.clone(),
        a.status.clone(),
        a.fired_at.format("%Y-%m-%d %H:%M").to_string(),
        a.incident.clone().unwrap_or_default(),
        a.summary.clone(),
    ]
}

pub async fn alert(client: &Client, cmd: AlertCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        AlertCmd::List { all } => {
            let list: AlertList = client
                .get(if all { "/alerts?all=true" } else { "/alerts" })
                .await?;
            if json {
                return print_json(&list);
            }
            if list.alerts.is_empty() {
                return print(if all {
                    "No alerts.\n"
                } else {
                    "No open alerts (--all shows resolved ones).\n"
                });
            }
            let rows: Vec<Vec<String>> = list.alerts.iter().map(alert_line).collect();
            print(&table(
                &[
                    "ID", "RELEASE", "RULE", "SEVERITY", "STATUS", "FIRED", "INCIDENT", "SUMMARY",
                ],
                &rows,
            ))
        }
        AlertCmd::Show { id } => {
            let a: Alert = client.get(&format!("/alerts/{}", segment(&id))).await?;
            if json {
                return print_json(&a);
            }
            print(&show_alert(&a)?)
        }
        AlertCmd::Ack { id, note } => {
            let a: Alert = client
                .post(&format!("/alerts/{}/ack", segment(&id)), &AlertAck { note })
                .await?;
            if json {
                return print_json(&a);
            }
            print(&format!(
                "{} acknowledged by {}.\n",
                a.id,
                a.acked_by.as_deref().unwrap_or("?")
            ))
        }
        AlertCmd::Escalate {
            version,
            reason,
            ticket,
        } => {
            let a: Alert = client
                .post(
                    &format!("/releases/{}/escalate", segment(&version)),
                    &Escalation { reason, ticket },
                )
                .await?;
            if json {
                return print_json(&a);
            }
            print(&show_alert(&a)?)
        }
    }
}

fn show_alert(a: &Alert) -> anyhow::Result<String> {
    let mut s = format!(
        "{} ({}, {}, {}) — {} {}\n  {}\n  fired {}",
        a.id,
        a.rule,
        a.severity,
        a.status,
        a.product,
        a.release,
        a.summary,
        a.fired_at.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    if let (Some(at), Some(by)) = (a.acked_at, &a.acked_by) {
        s.push_str(&format!(
            "; acknowledged {} by {by}",
            at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if let Some(at) = a.resolved_at {
        s.push_str(&format!("; resolved {}", at.format("%Y-%m-%d %H:%M UTC")));
    }
    s.push('\n');
    for act in &a.actions {
        s.push_str(&format!("  - {act}\n"));
    }
    if let Some(f) = &a.follow_up {
        s.push_str(&format!(
            "  follow-up ({}, for {}): {}\n",
            f.kind, f.owner, f.title
        ));
        if let Some(w) = &f.workaround {
            s.push_str(&format!("    workaround: {w}\n"));
        }
    }
    s.push_str(&format!(
        "  evidence: {}\n",
        serde_json::to_string(&a.evidence)?
    ));
    Ok(s)
}

pub async fn incident(client: &Client, cmd: IncidentCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        IncidentCmd::List => {
            let list: IncidentList = client.get("/incidents").await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .incidents
                .iter()
                .map(|i| {
                    vec![
                        i.id.clone(),
                        i.version.to_string(),
                        i.severity.clone(),
                        i.status.clone(),
                        format!(
                            "{}{}",
                            i.postmortem_due,
                            if i.overdue { " OVERDUE" } else { "" }
                        ),
                        i.summary.clone(),
                    ]
                })
                .collect();
            print(&table(
                &[
                    "ID",
                    "VERSION",
                    "SEVERITY",
                    "STATUS",
                    "POST-MORTEM DUE",
                    "SUMMARY",
                ],
                &rows,
            ))
        }
        IncidentCmd::Show { id } => {
            let i: Incident = client.get(&format!("/incidents/{}", segment(&id))).await?;
            if json {
                return print_json(&i);
            }
            print(&show_incident(&i)?)
        }
        IncidentCmd::Decide {
            id,
            action,
            note,
            to,
            force,
        } => {
            let to = to
                .map(|t| t.parse().map_err(|e| usage(format!("--to `{t}`: {e}"))))
                .transpose()?;
            let i: Incident = client
                .post(
                    &format!("/incidents/{}/decision", segment(&id)),
                    &IncidentDecision {
                        action,
                        note,
                        to,
                        force,
                    },
                )
                .await?;
            if json {
                return print_json(&i);
            }
            print(&show_incident(&i)?)
        }
        IncidentCmd::Postmortem { id, file } => {
            let text = std::fs::read(&file)
                .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
            let rb = client
                .request(
                    Method::PUT,
                    &format!("/incidents/{}/postmortem", segment(&id)),
                )?
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "text/markdown; charset=utf-8",
                )
                .body(text);
            let i: Incident = client.send(rb).await?.json().await?;
            if json {
                return print_json(&i);
            }
            print(&format!(
                "{}: post-mortem filed by {}; the incident is {}.\n",
                i.id,
                i.postmortem_by.as_deref().unwrap_or("?"),
                i.status
            ))
        }
    }
}

fn show_incident(i: &Incident) -> anyhow::Result<String> {
    let mut s = format!(
        "{} ({}, {}) — {} {}\n  {}\n  opened {} by {}; post-mortem due {}{}\n",
        i.id,
        i.severity,
        i.status,
        i.product,
        i.version,
        i.summary,
        i.opened_at.format("%Y-%m-%d %H:%M UTC"),
        i.opened_by,
        i.postmortem_due,
        if i.overdue { " (OVERDUE)" } else { "" },
    );
    match (&i.decision, &i.decided_by, i.decided_at) {
        (Some(d), Some(by), Some(at)) => s.push_str(&format!(
            "  decided {} by {by}: {}{}\n",
            at.format("%Y-%m-%d %H:%M UTC"),
            d.action,
            d.note
                .as_deref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default()
        )),
        _ => s.push_str(&format!(
            "  decision pending: `relops incident decide {} --action rollback|hotfix|next-patch`\n",
            i.id
        )),
    }
    match (&i.fixed_by, i.hotfix_overdue) {
        (Some(v), _) => s.push_str(&format!(
            "  fixed by {v} (the first release out after it)\n"
        )),
        (None, true) => {
            s.push_str("  HOTFIX OVERDUE: the 24 h have passed and no later release is out\n")
        }
        _ => {}
    }
    if let (Some(by), Some(at)) = (&i.postmortem_by, i.postmortem_at) {
        s.push_str(&format!(
            "  post-mortem filed {} by {by}\n",
            at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    let d = &i.detail;
    if let Some(alert) = &d.alert {
        s.push_str(&format!(
            "  opened by alert {alert} ({}): `relops alert show {alert}`\n",
            d.rule.as_deref().unwrap_or("rule unknown")
        ));
        if let Some(g) = d.evidence.as_ref().and_then(|e| e.health.as_ref()) {
            s.push_str(&format!("  health gate then: {}\n", gate_words(g).0));
        }
    }
    if let Some(rb) = &d.rollback {
        let withdrawn: Vec<String> = rb.withdrawn.iter().map(ToString::to_string).collect();
        s.push_str(&format!(
            "  opened by a rollback to {}, withdrawing {}{}\n",
            rb.to,
            withdrawn.join(", "),
            rb.next_fix
                .map(|d| format!("; next fix planned for {d}"))
                .unwrap_or_default()
        ));
    }
    if !i.support_tickets.is_empty() {
        let t: Vec<String> = i
            .support_tickets
            .iter()
            .map(|t| format!("{} ({}, {})", t.id, t.priority, t.status))
            .collect();
        s.push_str(&format!(
            "  support tickets about {}: {}\n",
            i.version,
            t.join(", ")
        ));
    }
    if !i.crash_groups.is_empty() {
        s.push_str(&format!("  what crashes in {}:\n", i.version));
        for g in &i.crash_groups {
            s.push_str(&format!(
                "    {} — {} crashes, {} installs: {}{}\n",
                g.id,
                g.count,
                g.installs,
                g.signature,
                if g.new_in_release { " (new)" } else { "" }
            ));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use relops_api::{HealthGate, SprtFigures};
    use relops_core::health::{Sprt, Verdict};

    fn gate(crashed: u64, active: u64, truncated: bool) -> HealthGate {
        let t = Sprt::default();
        let (lower, upper) = t.bounds();
        let v = t.verdict(crashed, active);
        HealthGate {
            window_hours: 24,
            active_installs: active,
            crashed_installs: crashed,
            crash_rate: Some(crashed as f64 / active as f64),
            crash_rate_wilson_95: relops_core::health::wilson(crashed, active, 1.96),
            gate: if truncated {
                t.truncated_verdict(crashed, active)
            } else {
                v
            },
            truncated,
            sprt: SprtFigures {
                llr: t.llr(crashed, active),
                accept_h0_at: lower,
                accept_h1_at: upper,
                p0: t.p0,
                p1: t.p1,
                alpha: t.alpha,
                beta: t.beta,
                min_installs: t.min_installs,
                installs_to_decide: t.installs_to_decide(crashed, active),
                worst_case_installs: t.worst_case_installs(),
            },
            critical_installs: 0,
            slices: Vec::new(),
        }
    }

    /// The verdict in words, with no statistics jargon; the numbers a release manager acts
    /// on (how many more installs, whether the stage is too small) are said.
    #[test]
    fn the_gate_in_words() {
        let (head, notes) = super::gate_words(&gate(17, 502, false));
        assert!(
            head.starts_with("UNDECIDED: crash rate 3.39 % (95 % interval ")
                && head.ends_with(
                    "of 502 active installs — not yet certain whether it is within the 2 % limit"
                ),
            "{head}"
        );
        assert!(
            notes[0].starts_with("at this rate the test decides at about 1,"),
            "{notes:?}"
        );
        assert!(
            notes[1].contains("this stage has 502 active installs"),
            "{notes:?}"
        );
        let (head, notes) = super::gate_words(&gate(17, 502, true));
        assert!(head.starts_with("FAILING: crash rate 3.39 %"), "{head}");
        assert!(head.ends_with("the rate is nearer 4 % than 2 %"), "{head}");
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (head, notes) = super::gate_words(&gate(0, 3000, false));
        assert_eq!(gate(0, 3000, false).gate, Verdict::Passing);
        assert!(
            head.starts_with("PASSING")
                && head.ends_with("of 3,000 active installs, within the 2 % limit"),
            "{head}"
        );
        assert!(notes.is_empty());
        for words in [head.as_str()]
            .into_iter()
            .chain(notes.iter().map(String::as_str))
        {
            assert!(
                !words.contains("log-likelihood") && !words.contains('{'),
                "{words}"
            );
        }
    }
}
