//! `relops keys status` and `relops certs`: what expires when.

use relops_api::{CertificateInfo, CertificateList, ExpiryList};
use reqwest::Method;

use crate::cli::CertsCmd;
use crate::client::{Client, segment};
use crate::output::{print, print_json, table, usage};

/// `relops keys status` in words: one row per thing, the soonest first.
pub fn status_table(list: &ExpiryList) -> String {
    let rows: Vec<Vec<String>> = list
        .items
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                i.kind.clone(),
                i.expires
                    .map(|e| e.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| "never".into()),
                i.days_left
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                i.level.to_uppercase(),
            ]
        })
        .collect();
    let mut s = table(&["WHAT", "KIND", "EXPIRES", "DAYS", "STATUS"], &rows);
    for i in list
        .items
        .iter()
        .filter(|i| matches!(i.level.as_str(), "warn" | "page" | "expired"))
    {
        s.push_str(&format!("{}: {}\n", i.name, i.renew));
    }
    s
}

/// New root versions per product, as a release manager reads them.
pub fn root_versions(v: &[(String, u64)]) -> String {
    v.iter()
        .map(|(p, v)| format!("{p}: {v}.root.json"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn certs(client: &Client, cmd: CertsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        CertsCmd::Add { kind, file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
            let rb = client
                .request(Method::POST, &format!("/certs?kind={}", segment(&kind)))?
                .body(bytes);
            let c: CertificateInfo = client.send(rb).await?.json().await?;
            if json {
                return print_json(&c);
            }
            print(&format!(
                "registered {} certificate {} (issued by {}), valid until {}: `relops keys status` watches it\n",
                c.kind,
                c.subject,
                c.issuer,
                c.not_after.format("%Y-%m-%d")
            ))
        }
        CertsCmd::List => {
            let list: CertificateList = client.get("/certs").await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .certificates
                .iter()
                .map(|c| {
                    vec![
                        c.kind.clone(),
                        c.subject.clone(),
                        c.not_after.format("%Y-%m-%d").to_string(),
                        c.sha256[..16].to_owned(),
                    ]
                })
                .collect();
            print(&table(&["KIND", "SUBJECT", "EXPIRES", "SHA-256"], &rows))
        }
    }
}

/// `relops pilot`.
pub async fn pilot(client: &Client, cmd: crate::cli::PilotCmd, json: bool) -> anyhow::Result<()> {
    use crate::cli::PilotCmd;
    use relops_api::{PilotInvite, PilotInviteRequest, PilotList};
    match cmd {
        PilotCmd::Invite {
            organisation,
            max_installs,
            days,
        } => {
            let i: PilotInvite = client
                .post(
                    "/pilot/invites",
                    &PilotInviteRequest {
                        organisation,
                        max_installs: Some(max_installs),
                        days: Some(days),
                    },
                )
                .await?;
            if json {
                return print_json(&i);
            }
            print(&format!(
                "invitation for {}: {}\n  up to {} installs, until {}; the code is shown only now — its users enter it in the app's \"join the pilot\"\n",
                i.organisation,
                i.code,
                i.max_installs,
                i.expires_at.format("%Y-%m-%d")
            ))
        }
        PilotCmd::List => {
            let list: PilotList = client.get("/pilot").await?;
            if json {
                return print_json(&list);
            }
            print(&pilot_text(&list))
        }
        PilotCmd::Remove { install_id } => {
            let list: PilotList = client
                .post(
                    &format!("/pilot/installs/{}/remove", segment(&install_id)),
                    &(),
                )
                .await?;
            if json {
                return print_json(&list);
            }
            print(&format!(
                "install {install_id} left the pilot\n{}",
                pilot_text(&list)
            ))
        }
    }
}

fn pilot_text(list: &relops_api::PilotList) -> String {
    let rows: Vec<Vec<String>> = list
        .installs
        .iter()
        .map(|i| {
            vec![
                i.install_id.clone(),
                i.organisation.clone(),
                i.enrolled_at.format("%Y-%m-%d").to_string(),
                i.last_release.clone().unwrap_or_else(|| "-".into()),
                match i.left_at {
                    Some(t) => format!("left {}", t.format("%Y-%m-%d")),
                    None => "enrolled".into(),
                },
            ]
        })
        .collect();
    let mut s = table(
        &["INSTALL", "ORGANISATION", "SINCE", "RUNS", "STATUS"],
        &rows,
    );
    match &list.pilot_release {
        Some(p) => {
            s.push_str(&format!(
                "pilot stage: {} runs on {} enrolled install{} (the crash-rate test may need {})\n",
                p.release,
                p.enrolled_on_it,
                if p.enrolled_on_it == 1 { "" } else { "s" },
                p.needed
            ));
            if let Some(w) = &p.warning {
                s.push_str(&format!("warning: {w}\n"));
            }
        }
        None => s.push_str("no release is in its pilot stage\n"),
    }
    s
}

/// `relops review`.
pub async fn review(client: &Client, cmd: crate::cli::ReviewCmd, json: bool) -> anyhow::Result<()> {
    use crate::cli::ReviewCmd;
    use relops_api::{ReviewDone, ReviewItem, ReviewList};
    match cmd {
        ReviewCmd::List => {
            let list: ReviewList = client.get("/reviews").await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .reviews
                .iter()
                .map(|r| {
                    vec![
                        r.subject.clone(),
                        r.owner_role.clone(),
                        r.due_at.format("%Y-%m-%d").to_string(),
                        match (&r.done_at, r.overdue) {
                            (Some(d), _) => format!("done {}", d.format("%Y-%m-%d")),
                            (None, true) => "OVERDUE".into(),
                            (None, false) => "open".into(),
                        },
                        r.what.clone(),
                    ]
                })
                .collect();
            print(&table(
                &["SUBJECT", "OWNER", "DUE", "STATUS", "WHAT"],
                &rows,
            ))
        }
        ReviewCmd::Done {
            subject,
            note,
            revision,
        } => {
            let r: ReviewItem = client
                .post(
                    &format!("/reviews/{}/done", segment(&subject)),
                    &ReviewDone {
                        note: note.unwrap_or_default(),
                        revision,
                    },
                )
                .await?;
            if json {
                return print_json(&r);
            }
            print(&format!(
                "review {} done: {}\n",
                r.subject,
                r.note.unwrap_or_default()
            ))
        }
    }
}
