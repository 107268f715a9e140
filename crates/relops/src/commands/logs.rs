//! `relops logs`: an app's log files — check an audit log offline, list and open the log
//! bundles apps attached to crashes and tickets.

use std::path::PathBuf;

use relops_api::{LogBundleInfo, LogBundleList};

use crate::cli::LogsCmd;
use crate::client::{Client, segment};
use crate::output::{failed, print, print_json, usage};

pub async fn run(global: &crate::cli::Global, cmd: LogsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        LogsCmd::Verify { files } => verify(files),
        LogsCmd::List { crash, ticket } => {
            let query = match (crash, ticket) {
                (Some(c), None) => format!("crash={}", segment(&c)),
                (None, Some(t)) => format!("ticket={}", segment(&t)),
                _ => return Err(usage("name one of --crash ID and --ticket ID".to_owned())),
            };
            let list: LogBundleList = Client::new(global)?
                .get(&format!("/log-bundles?{query}"))
                .await?;
            if json {
                return print_json(&list);
            }
            if list.bundles.is_empty() {
                return print("no log bundles\n");
            }
            let mut s = String::new();
            for b in &list.bundles {
                s.push_str(&bundle_line(b));
                s.push('\n');
            }
            s.push_str(
                "`relops logs get ID` opens one (needs the crash-dump permission; audited)\n",
            );
            print(&s)
        }
        LogsCmd::Get { id, output } => {
            let (name, bytes) = Client::new(global)?
                .download(
                    &format!("/log-bundles/{}", segment(&id)),
                    format!("logs-{id}.tar.gz"),
                )
                .await?;
            let out = output.unwrap_or_else(|| PathBuf::from(name));
            std::fs::write(&out, &bytes)
                .map_err(|e| usage(format!("cannot write {}: {e}", out.display())))?;
            if json {
                return print_json(&serde_json::json!({
                    "id": id, "written": out, "bytes": bytes.len(),
                }));
            }
            print(&format!(
                "log bundle {id}: opened, {} bytes written to {} (`tar -xzf` unpacks it)\n",
                bytes.len(),
                out.display()
            ))
        }
    }
}

/// One bundle as a line: id, what it belongs to, what it holds.
pub fn bundle_line(b: &LogBundleInfo) -> String {
    let to = match (&b.crash_id, &b.ticket) {
        (Some(c), _) => format!("crash {c}"),
        (None, Some(t)) => format!("ticket {t}"),
        (None, None) => "nothing".to_owned(),
    };
    format!(
        "  log bundle {} — for {to}: {} file{} of {} day{}, {} bytes sealed, received {} from install {} ({} on {})",
        b.id,
        b.files,
        if b.files == 1 { "" } else { "s" },
        b.days,
        if b.days == 1 { "" } else { "s" },
        b.size,
        b.received_at.format("%Y-%m-%d %H:%M UTC"),
        b.install_id,
        b.release,
        b.platform
    )
}

fn verify(mut files: Vec<PathBuf>) -> anyhow::Result<()> {
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let v = relops_client::logs::audit::verify(&files).map_err(|e| usage(e.to_string()))?;
    match v.broken {
        None => print(&format!(
            "audit log intact: {} line{} in {} file{}, hash chain verified\n",
            v.lines,
            if v.lines == 1 { "" } else { "s" },
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        )),
        Some(b) => Err(failed(format!(
            "audit log broken: {} line {} {}",
            b.file.display(),
            b.line,
            b.what
        ))),
    }
}
