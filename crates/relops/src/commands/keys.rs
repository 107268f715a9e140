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
