//! `relops release …`

use relops_api::{CreateRelease, Release, ReleaseList};

use crate::cli::ReleaseCmd;
use crate::client::{Client, segment};
use crate::output::{print, print_json, table};

pub async fn run(client: &Client, cmd: ReleaseCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        ReleaseCmd::Create {
            version,
            go_live,
            commit,
            branch,
            tag,
            data_schema,
            downgrades_to,
            security,
        } => {
            let req = CreateRelease {
                version,
                go_live,
                commit,
                branch,
                tag,
                data_schema,
                downgrades_to,
                security,
            };
            let r: Release = client.post("/releases", &req).await?;
            if json {
                return print_json(&r);
            }
            print(&format!(
                "created {} {} ({}) — go-live {}, feature freeze {}{}\n",
                r.product,
                r.version,
                r.kind,
                r.go_live,
                r.freeze_date,
                r.data_schema
                    .map(|d| format!(", {}", schema_words(d)))
                    .unwrap_or_default()
                    + &r.security
                        .as_deref()
                        .map(|s| format!(", security fix for {s}"))
                        .unwrap_or_default()
            ))
        }
        ReleaseCmd::List => {
            let list: ReleaseList = client.get("/releases").await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .releases
                .iter()
                .map(|r| {
                    let platforms: Vec<_> = r.platforms.iter().map(|p| p.as_str()).collect();
                    vec![
                        r.version.to_string(),
                        r.kind.to_string(),
                        r.state.to_string(),
                        r.freeze_date.to_string(),
                        r.go_live.to_string(),
                        r.artifact_count.to_string(),
                        platforms.join(","),
                        r.data_schema.map_or("-".into(), |d| {
                            if d.downgrades_to == d.schema {
                                d.schema.to_string()
                            } else {
                                format!("{} (down to {})", d.schema, d.downgrades_to)
                            }
                        }),
                    ]
                })
                .collect();
            print(&table(
                &[
                    "VERSION",
                    "KIND",
                    "STATE",
                    "FREEZE",
                    "GO-LIVE",
                    "ARTIFACTS",
                    "PLATFORMS",
                    "DATA SCHEMA",
                ],
                &rows,
            ))
        }
        ReleaseCmd::Show { version } => {
            let r: Release = client
                .get(&format!("/releases/{}", segment(&version)))
                .await?;
            if json {
                return print_json(&r);
            }
            print(&show(&r))
        }
        ReleaseCmd::Notes {
            version,
            file: None,
        } => {
            let path = format!("/releases/{}/notes", segment(&version));
            let text = client
                .send(client.request(reqwest::Method::GET, &path)?)
                .await?
                .text()
                .await?;
            print(&text)
        }
        ReleaseCmd::Notes {
            version,
            file: Some(file),
        } => {
            let body = tokio::fs::read(&file).await.map_err(|e| {
                crate::output::usage(format!("cannot read {}: {e}", file.display()))
            })?;
            let rb = client
                .request(
                    reqwest::Method::PUT,
                    &format!("/releases/{}/notes", segment(&version)),
                )?
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "text/markdown; charset=utf-8",
                )
                .body(body);
            let r: Release = client.send(rb).await?.json().await?;
            if json {
                return print_json(&r);
            }
            print(&format!(
                "release notes of {} {} stored (sha256 {})\n",
                r.product,
                r.version,
                r.notes_sha256.as_deref().unwrap_or("-")
            ))
        }
        ReleaseCmd::Freeze { version } => {
            let r: Release = client
                .post(&format!("/releases/{}/freeze", segment(&version)), &())
                .await?;
            if json {
                return print_json(&r);
            }
            print(&format!(
                "{} {} is frozen; artifacts now change only with --critical-fix --reason \"…\" (release_manager)\n",
                r.product, r.version
            ))
        }
    }
}

fn show(r: &Release) -> String {
    let mut s = format!(
        "{} {}\n  kind:    {}\n  state:   {}\n  go-live: {}\n  freeze:  {}\n  branch:  {}\n  tag:     {}\n  commit:  {}\n  created: {} by {}\n",
        r.product,
        r.version,
        r.kind,
        r.state,
        r.go_live,
        r.freeze_date,
        r.branch,
        r.tag,
        r.commit.as_deref().unwrap_or("-"),
        r.created_at.format("%Y-%m-%d %H:%M UTC"),
        r.created_by,
    );
    if let Some(d) = r.data_schema {
        s += &format!("  data:    {}\n", schema_words(d));
    }
    if let Some(a) = &r.security {
        s += &format!("  security fix: {a}\n");
    }
    if let (Some(at), Some(by)) = (r.frozen_at, &r.frozen_by) {
        s += &format!("  frozen:  {} by {by}\n", at.format("%Y-%m-%d %H:%M UTC"));
    }
    if let (Some(at), Some(by)) = (r.approved_at, &r.approved_by) {
        s += &format!("  approved: {} by {by}\n", at.format("%Y-%m-%d %H:%M UTC"));
    }
    s += "\n";
    s += &super::artifact::artifact_table(&r.artifacts);
    s
}

/// A release's data-schema facts in words.
fn schema_words(d: relops_core::data_schema::DataSchema) -> String {
    if d.downgrades_to == d.schema {
        format!("data schema {} (no down-migrations)", d.schema)
    } else {
        format!(
            "data schema {}, down-migrations reach {}",
            d.schema, d.downgrades_to
        )
    }
}
