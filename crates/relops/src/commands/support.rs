//! `relops support …`: mail-outs, subscribers, erasure.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use relops_api::{
    Mailout, NewPriorityRule, PriorityRuleList, RemovePriorityRule, StartMailout, Subscribe,
    Subscriber, SubscriberList,
};

use crate::cli::SupportCmd;
use crate::client::{Client, segment};
use crate::output::{print, print_json, table, usage};

pub async fn run(client: &Client, cmd: SupportCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        SupportCmd::Erase { customer } => {
            let done: relops_api::Erased = client
                .post("/support/erase", &relops_api::EraseCustomer { customer })
                .await?;
            if json {
                return print_json(&done);
            }
            let mut out = if done.tickets.is_empty() {
                "No ticket holds this customer's data.\n".to_owned()
            } else {
                format!(
                    "Erased the customer's data from {} ticket(s) ({}); {} attachment(s) deleted.\n",
                    done.tickets.len(),
                    done.tickets.join(", "),
                    done.attachments_deleted
                )
            };
            if done.subscriptions_erased > 0 {
                out.push_str("Their incident-mail subscription is erased too.\n");
            }
            print(&out)
        }
        SupportCmd::Mailout {
            incident,
            subject,
            message,
            text,
            dry_run,
            no_wait,
        } => {
            let body = match (message, text) {
                (Some(f), _) => std::fs::read_to_string(&f)
                    .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?,
                (None, Some(t)) => t,
                (None, None) => {
                    return Err(usage("give the message: --message FILE or --text TEXT"));
                }
            };
            let req = StartMailout {
                incident,
                subject,
                body,
                dry_run,
            };
            let m: Mailout = client.post("/support/mailouts", &req).await?;
            if json {
                return print_json(&m);
            }
            if m.dry_run {
                let mut out = format!(
                    "Dry run — nothing sent. \"{}\" would reach {} of {} address(es) on {} {} (the others had it already):\n",
                    m.subject,
                    m.would_reach.len(),
                    m.audience,
                    m.product,
                    m.release
                );
                for e in &m.would_reach {
                    out.push_str(&format!("  {e}\n"));
                }
                return print(&out);
            }
            print(&format!(
                "Mail-out {} \"{}\": {} new message(s) queued, {} in all for {} {}.\n",
                m.id, m.subject, m.newly_queued, m.queued, m.product, m.release
            ))?;
            let m = if no_wait { m } else { watch(client, m).await? };
            print(&summary(&m))
        }
        SupportCmd::MailoutStatus { id } => {
            let m: Mailout = client
                .get(&format!("/support/mailouts/{}", segment(&id)))
                .await?;
            if json {
                return print_json(&m);
            }
            print(&summary(&m))
        }
        SupportCmd::Subscribe {
            email,
            consent,
            name,
        } => {
            let s: Subscriber = client
                .post(
                    "/support/subscribers",
                    &Subscribe {
                        email,
                        name,
                        consent,
                    },
                )
                .await?;
            if json {
                return print_json(&s);
            }
            print(&format!(
                "{} receives incident mail from now on (consent: {}).\n",
                s.email,
                s.consent.unwrap_or_default()
            ))
        }
        SupportCmd::Subscribers => {
            let l: SubscriberList = client.get("/support/subscribers").await?;
            if json {
                return print_json(&l);
            }
            let rows: Vec<Vec<String>> = l
                .subscribers
                .iter()
                .map(|s| {
                    vec![
                        s.email.clone(),
                        match (&s.unsubscribed_at, &s.subscribed_at) {
                            (Some(at), _) => format!("opted out {}", at.format("%Y-%m-%d")),
                            (None, Some(at)) => format!("since {}", at.format("%Y-%m-%d")),
                            (None, None) => String::new(),
                        },
                        s.consent.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print(&table(&["ADDRESS", "STATUS", "CONSENT"], &rows))
        }
        SupportCmd::Rule { phrase, priority } => {
            let l: PriorityRuleList = client
                .post(
                    "/support/priority-rules",
                    &NewPriorityRule { phrase, priority },
                )
                .await?;
            rules(&l, json)
        }
        SupportCmd::RuleRemove { phrase } => {
            let l: PriorityRuleList = client
                .post(
                    "/support/priority-rules/remove",
                    &RemovePriorityRule { phrase },
                )
                .await?;
            rules(&l, json)
        }
        SupportCmd::Rules => rules(&client.get("/support/priority-rules").await?, json),
    }
}

fn rules(l: &PriorityRuleList, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(l);
    }
    if l.rules.is_empty() {
        return print(
            "No priority rules: new tickets are high unless they report data loss or an app that does not start (critical).\n",
        );
    }
    let rows: Vec<Vec<String>> = l
        .rules
        .iter()
        .map(|r| {
            vec![
                format!("\"{}\"", r.phrase),
                r.priority.clone(),
                format!("{} ({})", r.created_by, r.created_at.format("%Y-%m-%d")),
            ]
        })
        .collect();
    print(&table(&["PHRASE", "PRIORITY", "SET BY"], &rows))
}

/// Follows a mail-out until every queued message is sent, with a progress bar on a
/// terminal.
async fn watch(client: &Client, mut m: Mailout) -> anyhow::Result<Mailout> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(m.queued);
        bar.set_style(
            ProgressStyle::with_template("sent [{bar:30}] {pos}/{len} eta {eta} {msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    while m.sent < m.queued {
        bar.set_length(m.queued);
        bar.set_position(m.sent);
        bar.set_message(match &m.last_error {
            Some(e) if m.failing > 0 => format!("{} failing, retried: {e}", m.failing),
            _ => String::new(),
        });
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        m = client
            .get(&format!("/support/mailouts/{}", segment(&m.id)))
            .await?;
    }
    bar.finish_and_clear();
    Ok(m)
}

fn summary(m: &Mailout) -> String {
    let mut s = format!(
        "{} \"{}\" ({} {}): {} of {} sent",
        m.id, m.subject, m.product, m.release, m.sent, m.queued
    );
    if m.failing > 0 {
        s.push_str(&format!(
            "; {} failing and retried ({})",
            m.failing,
            m.last_error.as_deref().unwrap_or("no detail")
        ));
    }
    if let Some(t) = m.done_by {
        s.push_str(&format!("; the last is due {}", t.format("%H:%M:%S UTC")));
    }
    let left = m.audience.saturating_sub(m.queued);
    if left > 0 {
        s.push_str(&format!(
            ". {left} address(es) have not had it yet: run the mail-out again to reach them"
        ));
    }
    s.push_str(".\n");
    s
}
