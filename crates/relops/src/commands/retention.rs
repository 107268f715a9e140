//! `relops retention plan|apply`.

use relops_api::{RetentionApplied, RetentionPlan, RetentionRule};
use reqwest::Method;

use crate::cli::RetentionCmd;
use crate::client::Client;
use crate::output::{print, print_json, table};

pub async fn run(client: &Client, cmd: RetentionCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        RetentionCmd::Plan { at } => {
            let mut rb = client.request(Method::GET, "/retention/plan")?;
            if let Some(at) = &at {
                rb = rb.query(&[("at", at)]);
            }
            let plan: RetentionPlan = client.send(rb).await?.json().await?;
            if json {
                return print_json(&plan);
            }
            let mut out = format!(
                "Retention at {} — nothing is removed until `relops retention apply` (or the daily run)\n\n",
                plan.at.format("%Y-%m-%d %H:%M UTC")
            );
            out += &rules_table(&plan.rules, "REMOVES");
            out += "\nNever pruned:\n";
            if plan.pinned.is_empty() {
                out += "  (no release is pinned)\n";
            }
            for p in &plan.pinned {
                out += &format!("  {} {} — {}\n", p.product, p.version, p.why);
            }
            if plan.items.is_empty() {
                out += "\nNothing has expired.\n";
            } else {
                out += "\nWhat goes:\n";
                let rows: Vec<Vec<String>> = plan
                    .items
                    .iter()
                    .map(|i| {
                        vec![
                            i.class.clone(),
                            i.release.clone().map_or_else(
                                || i.product.clone(),
                                |r| format!("{} {r}", i.product),
                            ),
                            if i.count > 1 {
                                format!("{} ({} rows)", i.id, i.count)
                            } else {
                                i.id.clone()
                            },
                            size(i.bytes),
                            i.reason.clone(),
                        ]
                    })
                    .collect();
                out += &table(&["CLASS", "RELEASE", "WHAT", "SIZE", "WHY"], &rows);
                if plan.items_left_off > 0 {
                    out += &format!("… and {} more (see --json)\n", plan.items_left_off);
                }
            }
            if plan.blobs_left_over > 0 {
                out += &format!(
                    "\n{} stored files an earlier run could not delete are retried.\n",
                    plan.blobs_left_over
                );
            }
            print(&out)
        }
        RetentionCmd::Apply => {
            let done: RetentionApplied = client
                .send(client.request(Method::POST, "/retention/apply")?)
                .await?
                .json()
                .await?;
            if json {
                return print_json(&done);
            }
            let mut out = format!(
                "Retention applied at {}\n\n",
                done.at.format("%Y-%m-%d %H:%M UTC")
            );
            out += &rules_table(&done.rules, "REMOVED");
            out += &format!("\n{} stored files deleted", done.blobs_deleted);
            if done.blobs_failed > 0 {
                out += &format!(
                    "; {} could not be deleted (the next run retries; see the server log)",
                    done.blobs_failed
                );
            }
            out += ".\n";
            if done.left_for_next_run > 0 {
                out += &format!(
                    "{} more expired items are left for the next run (at most 10,000 per class each run).\n",
                    done.left_for_next_run
                );
            }
            print(&out)
        }
    }
}

fn rules_table(rules: &[RetentionRule], removes: &str) -> String {
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            vec![
                r.class.clone(),
                r.days
                    .map_or_else(|| "for ever".into(), |d| format!("{d} days")),
                r.removes.to_string(),
                size(r.bytes),
                if r.kept_pinned > 0 {
                    format!("{} kept: release pinned", r.kept_pinned)
                } else {
                    String::new()
                },
                r.what.clone(),
            ]
        })
        .collect();
    table(&["CLASS", "KEPT", removes, "SIZE", "PINNED", "WHAT"], &rows)
}

/// Bytes in words (KB, MB, GB: powers of 1,000, as file managers show them).
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_words() {
        assert_eq!(super::size(0), "0 B");
        assert_eq!(super::size(999), "999 B");
        assert_eq!(super::size(1500), "1.5 KB");
        assert_eq!(super::size(12_300_000), "12.3 MB");
        assert_eq!(super::size(4_000_000_000), "4.0 GB");
    }
}
