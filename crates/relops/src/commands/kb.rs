//! `relops kb …`: the knowledge base from the terminal.

use relops_api::{KbArticle, KbEdit, KbList, NewKbArticle, SearchResults};

use crate::cli::KbCmd;
use crate::client::{Client, segment};
use crate::output::{print, print_json, table, usage};

fn read(file: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))
}

fn version(v: Option<String>, flag: &str) -> anyhow::Result<Option<relops_core::version::Version>> {
    v.map(|v| v.parse().map_err(|e| usage(format!("{flag} `{v}`: {e}"))))
        .transpose()
}

pub async fn run(client: &Client, cmd: KbCmd, json: bool) -> anyhow::Result<()> {
    let a: KbArticle = match cmd {
        KbCmd::Add {
            title,
            file,
            release,
            publish,
            known_issue,
            fingerprint,
        } => {
            let req = NewKbArticle {
                kind: Some(if known_issue { "known_issue" } else { "faq" }.into()),
                title,
                body: read(&file)?,
                release: version(release, "--release")?,
                fingerprint,
                publish,
            };
            client.post("/kb", &req).await?
        }
        KbCmd::Edit {
            id,
            file,
            title,
            release,
            fixed_in,
            publish,
        } => {
            let req = KbEdit {
                title,
                body: file.as_deref().map(read).transpose()?,
                release: version(release, "--release")?,
                fixed_in: version(fixed_in, "--fixed-in")?,
                publish,
            };
            client.post(&format!("/kb/{}", segment(&id)), &req).await?
        }
        KbCmd::Show { id } => client.get(&format!("/kb/{}", segment(&id))).await?,
        KbCmd::List => {
            let list: KbList = client.get("/kb").await?;
            if json {
                return print_json(&list);
            }
            if list.articles.is_empty() {
                return print("The knowledge base is empty: `relops kb add --title … FILE.md`.\n");
            }
            let rows: Vec<Vec<String>> = list
                .articles
                .iter()
                .map(|a| {
                    vec![
                        a.id.clone(),
                        a.kind.clone(),
                        a.status.clone(),
                        a.release.clone().unwrap_or_else(|| "-".into()),
                        a.issue_status.clone().unwrap_or_else(|| "-".into()),
                        a.title.chars().take(60).collect(),
                    ]
                })
                .collect();
            return print(&table(
                &["ARTICLE", "KIND", "STATUS", "RELEASE", "ISSUE", "TITLE"],
                &rows,
            ));
        }
        KbCmd::Search { query, limit } => {
            let r: SearchResults = client
                .get(&format!("/search?q={}&limit={limit}", segment(&query)))
                .await?;
            if json {
                // A list of hits (id, title, kind, status, score), best first.
                return print_json(&r.hits);
            }
            if r.hits.is_empty() {
                return print(&format!("Nothing matches “{query}”.\n"));
            }
            let rows: Vec<Vec<String>> = r
                .hits
                .iter()
                .map(|h| {
                    vec![
                        h.id.clone(),
                        h.kind.clone(),
                        h.status.clone(),
                        h.title.chars().take(70).collect(),
                    ]
                })
                .collect();
            return print(&table(&["ID", "KIND", "STATUS", "TITLE"], &rows));
        }
    };
    if json {
        return print_json(&a);
    }
    let mut s = format!(
        "{} ({}, {}, revision {}) — {}\n",
        a.id, a.kind, a.status, a.revision, a.title
    );
    if let Some(r) = &a.release {
        s.push_str(&format!("  release {r}\n"));
    }
    if let Some(i) = &a.issue_status {
        s.push_str(&format!("  issue: {i}\n"));
    }
    s.push_str(&format!(
        "  last changed {} by {}\n\n{}\n",
        a.updated_at.format("%Y-%m-%d %H:%M UTC"),
        a.updated_by,
        a.body
    ));
    for r in &a.revisions {
        s.push_str(&format!(
            "  revision {} {} by {} ({})\n",
            r.revision,
            r.at.format("%Y-%m-%d %H:%M"),
            r.author,
            r.status
        ));
    }
    print(&s)
}
