//! Store-level cost of ingest writes: N fresh ended sessions (each a new install) written
//! in batches of B through `Db::record_ingest` on a fresh SQLite database; prints µs per
//! record for each tenth of the run, and what the process has read and written so far
//! (`/proc/self/io`: the WAL and checkpoint traffic per record).
//!
//! `cargo run --release -p relops-store --example ingest_batches -- [N] [B]`

use std::sync::Arc;

use relops_ingest::Record;

mod support;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(160_000);
    let b: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let (_dir, db) = support::fresh_db().await;
    let tenth = (n / 10).max(b);
    let mut t0 = std::time::Instant::now();
    let mut done = 0;
    let mut since = 0;
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
            println!("{done:>8} records: {us:6.1} µs/record (batches of {b})");
            let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
            println!("  {}", io.replace('\n', " "));
            t0 = std::time::Instant::now();
            since = 0;
        }
    }
}
