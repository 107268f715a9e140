//! Store-level cost of ingest writes: N fresh ended sessions (each a new install) written
//! in batches of B through `Db::record_ingest` on a fresh SQLite database; prints µs per
//! record for each tenth of the run, the process's CPU time per record and per batch (on
//! PostgreSQL the writer's own cost, the server's is apart), and what the process has read
//! and written so far (`/proc/self/io`: the WAL and checkpoint traffic per record).
//!
//! `cargo run --release -p relops-store --example ingest_batches -- [N] [B] [DATABASE_URL]`
//! (an empty PostgreSQL database instead of the fresh SQLite one: what one replica's
//! writer pays per batch, issue 28).

use std::sync::Arc;

use relops_ingest::Record;

mod support;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(160_000);
    let b: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let (_dir, db) = match args.next() {
        Some(url) => (
            None,
            relops_store::Db::connect(&url).await.expect("database"),
        ),
        None => {
            let (dir, db) = support::fresh_db().await;
            (Some(dir), db)
        }
    };
    let tenth = (n / 10).max(b);
    let mut t0 = std::time::Instant::now();
    let mut done = 0;
    let mut since = 0;
    let mut cpu0 = cpu_seconds();
    while done < n {
        let records: Arc<[Record]> = (done..(done + b).min(n))
            .map(support::ended_session)
            .collect();
        let k = records.len();
        db.record_ingest("wizard", records, chrono::Utc::now())
            .await
            .expect("write");
        done += k;
        since += k;
        if since >= tenth || done == n {
            let us = t0.elapsed().as_secs_f64() * 1e6 / since as f64;
            let cpu = (cpu_seconds() - cpu0) * 1e6 / since as f64;
            println!(
                "{done:>8} records: {us:6.1} µs/record (batches of {b}); CPU {cpu:.1} µs/record, {:.0} µs/batch",
                cpu * b as f64
            );
            let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
            println!("  {}", io.replace('\n', " "));
            t0 = std::time::Instant::now();
            cpu0 = cpu_seconds();
            since = 0;
        }
    }
}

/// The process's user and system CPU time so far, in seconds (`/proc/self/stat`, in
/// clock ticks of 10 ms: read over many batches).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}
