//! `relops rollout …`, `relops rollback`, `relops notify list`, `relops incident …`

use relops_api::{NotificationList, RollbackAnswer, RollbackRequest, RolloutStatus, RolloutStep};

use crate::cli::{NotifyCmd, RolloutCmd};
use crate::client::{Client, segment};
use crate::output::{print, print_json, table};

pub async fn run(client: &Client, cmd: RolloutCmd, json: bool) -> anyhow::Result<()> {
    let (version, action, step) = match cmd {
        RolloutCmd::Status { version } => {
            let s: RolloutStatus = client
                .get(&format!("/releases/{}/rollout", segment(&version)))
                .await?;
            return if json {
                print_json(&s)
            } else {
                print(&describe(&s))
            };
        }
        RolloutCmd::Start { version } => (version, "start", RolloutStep::default()),
        RolloutCmd::Advance {
            version,
            force,
            reason,
        } => (version, "advance", RolloutStep { force, reason }),
        RolloutCmd::Pause { version } => (version, "pause", RolloutStep::default()),
        RolloutCmd::Resume { version } => (version, "resume", RolloutStep::default()),
        RolloutCmd::Halt { version, reason } => (
            version,
            "halt",
            RolloutStep {
                force: false,
                reason: Some(reason),
            },
        ),
    };
    let s: RolloutStatus = client
        .post(
            &format!("/releases/{}/rollout/{action}", segment(&version)),
            &step,
        )
        .await?;
    if json {
        print_json(&s)
    } else {
        print(&describe(&s))
    }
}

fn describe(s: &RolloutStatus) -> String {
    let channels: Vec<String> = s
        .channels
        .iter()
        .map(|(c, p)| format!("{c} {p} %"))
        .collect();
    let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let next = match (s.state.as_str(), s.next_step_allowed_at) {
        ("active", Some(t)) if t > chrono::Utc::now() => format!(
            "the stage soaks until {}; then `relops rollout advance {}` if the health gate passes",
            at(t),
            s.version
        ),
        ("active", Some(_)) => format!(
            "soaked: `relops rollout advance {}` takes the next step if the health gate passes",
            s.version
        ),
        ("halted", _) => format!(
            "halted: nothing moves until someone resumes it (`relops rollout resume {v}`) or rolls back (`relops rollback`)",
            v = s.version
        ),
        ("paused", _) => format!(
            "paused: resume it with `relops rollout resume {}`",
            s.version
        ),
        ("active" | "completed", None) => "at 100 %: no further stage".into(),
        (state, _) => format!("{state}: no further step"),
    };
    let mut out = format!(
        "{} {}: rollout {} at stage {} ({}) since {}; release is {}\n  next:        {}\n",
        s.product,
        s.version,
        s.state,
        s.stage,
        channels.join(", "),
        at(s.since),
        s.release_state,
        next
    );
    if let Some(r) = &s.reason {
        out.push_str(&format!("  reason:      {r}\n"));
    }
    if let Some(g) = &s.health {
        let (headline, notes) = super::health::gate_words(g);
        out.push_str(&format!("  health gate: {headline}\n"));
        for n in notes {
            out.push_str(&format!("               {n}\n"));
        }
    }
    out
}

pub async fn rollback(client: &Client, req: RollbackRequest, json: bool) -> anyhow::Result<()> {
    let answer: RollbackAnswer = client.post("/rollback", &req).await?;
    if json {
        return print_json(&answer);
    }
    if let Some(p) = &answer.awaiting_confirmation {
        let withdrawn: Vec<String> = p.withdrawn.iter().map(|v| v.to_string()).collect();
        return print(&format!(
            "{}: rollback to {} (withdrawing {}) filed by {}; nothing has changed yet.\n  It needs a {} to confirm by {}: `relops rollback --confirm` (R-RB-2: on-call DevOps and the Product Owner decide together).\n",
            p.product,
            p.to,
            withdrawn.join(", "),
            p.requested_by,
            p.awaits,
            p.expires_at.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    let Some(done) = answer.done else {
        return Err(crate::output::failed(
            "the server answered neither done nor waiting",
        ));
    };
    let withdrawn: Vec<String> = done.withdrawn.iter().map(|v| v.to_string()).collect();
    let mut out = format!(
        "{}: rolled back to {}; withdrawn {}. Incident {} opened, post-mortem due {}.\n",
        done.product,
        done.to,
        withdrawn.join(", "),
        done.incident,
        done.postmortem_due
    );
    if !done.stranded_platforms.is_empty() {
        let names: Vec<&str> = done.stranded_platforms.iter().map(|p| p.as_str()).collect();
        out.push_str(&format!(
            "warning: {} has no artifact for {}: installs there stay on the withdrawn release\n",
            done.to,
            names.join(", ")
        ));
    }
    print(&out)
}

pub async fn notify(client: &Client, cmd: NotifyCmd, json: bool) -> anyhow::Result<()> {
    let NotifyCmd::List { limit } = cmd;
    let list: NotificationList = client.get(&format!("/notifications?limit={limit}")).await?;
    if json {
        return print_json(&list);
    }
    if list.destinations.is_empty() && list.notifications.is_empty() {
        return print(
            "No notification destinations are configured: halts, rollbacks and alerts reach nobody \
             (no Slack, no pager). Add [[notify.webhooks]] to relops.toml and restart \
             (docs/rollout.md, \"Notifications\").\n",
        );
    }
    if list.notifications.is_empty() {
        return print(&format!(
            "No notifications yet; rollout steps, halts, rollbacks and alerts go to {}.\n",
            list.destinations.join(", ")
        ));
    }
    let rows: Vec<Vec<String>> = list
        .notifications
        .iter()
        .map(|n| {
            let status = match (&n.delivered_at, &n.last_error) {
                (Some(t), _) => format!("delivered {}", t.format("%Y-%m-%d %H:%M:%S")),
                (None, Some(e)) => {
                    format!("retry at {} ({e})", n.next_attempt_at.format("%H:%M:%S"))
                }
                (None, None) => "queued".into(),
            };
            vec![
                n.id.to_string(),
                n.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                n.event.clone(),
                n.version.clone(),
                format!("{} ({})", n.sink, n.kind),
                n.attempts.to_string(),
                status,
            ]
        })
        .collect();
    print(&table(
        &[
            "ID", "CREATED", "EVENT", "VERSION", "TO", "ATTEMPTS", "STATUS",
        ],
        &rows,
    ))
}
