//! Cost of the ingest journal on the request path: K appends of B fresh ended sessions
//! each (one group commit's batch), the folded entries forgotten every F appends, as the
//! server does after each fold. Prints the wall time and the process's CPU time per
//! append (the wall time is mostly the disk's sync; the CPU time is what requests pay).
//!
//! `cargo run --release -p relops-store --example journal_appends -- [K] [B] [F]`

use relops_ingest::Record;

mod support;

/// User + system CPU of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let k: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let b: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let f: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(6_000);
    let (_dir, db) = support::fresh_db().await;
    let journal = db.ingest_journal().expect("SQLite has a journal");
    let batches: Vec<Vec<Record>> = (0..k)
        .map(|n| (0..b).map(|i| support::ended_session(n * b + i)).collect())
        .collect();
    let (t0, c0) = (std::time::Instant::now(), cpu_seconds());
    for (n, batch) in batches.iter().enumerate() {
        let seq = journal
            .append(&[("wizard", batch)], chrono::Utc::now())
            .expect("append");
        if (n + 1) % f == 0 {
            journal.forget_through(seq).expect("forget");
        }
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    println!(
        "{k} appends of {b} records, forgetting every {f}: {:.1} µs wall, {:.1} µs CPU per append ({:.2} µs CPU per record)",
        wall * 1e6 / k as f64,
        cpu * 1e6 / k as f64,
        cpu * 1e6 / (k * b) as f64
    );
}
