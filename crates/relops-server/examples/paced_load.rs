//! An open-loop load generator for `bench/ingest.sh`: sends the given bodies at a fixed
//! rate (not "as fast as answers come back", which hides queueing), each request timed
//! from the moment it was due, and prints the latency percentiles. wrk cannot pace
//! requests and oha sends one body; ingest needs a different session in every request.
//!
//! `paced_load URL BODIES_FILE INGEST_KEY RATE SECONDS` — BODIES_FILE holds gzip'd Sentry
//! envelopes, each prefixed with its length as a big-endian u32.

use std::time::{Duration, Instant};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 {
        eprintln!("usage: paced_load URL BODIES_FILE INGEST_KEY RATE SECONDS");
        std::process::exit(2);
    }
    let (url, file, key) = (a[1].clone(), &a[2], a[3].clone());
    let rate: f64 = a[4].parse().expect("RATE: requests per second");
    let secs: f64 = a[5].parse().expect("SECONDS");
    let data = std::fs::read(file).expect("the bodies file");
    let mut bodies = Vec::new();
    let mut pos = 0;
    while pos + 4 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        bodies.push(bytes::Bytes::copy_from_slice(&data[pos + 4..pos + 4 + len]));
        pos += 4 + len;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .expect("a client");
        let total = (rate * secs) as usize;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Duration, bool)>();
        // At most this many requests in flight (connections); a request that must wait for
        // one still counts its latency from when it was due.
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
        let start = Instant::now();
        for i in 0..total {
            let due = start + interval.mul_f64(i as f64);
            tokio::time::sleep_until(due.into()).await;
            let permit = slots.clone().acquire_owned().await.expect("open semaphore");
            let (client, url, key, tx) = (client.clone(), url.clone(), key.clone(), tx.clone());
            let body = bodies[i % bodies.len()].clone();
            tokio::spawn(async move {
                let r = client
                    .post(format!("{url}/api/1/envelope/"))
                    .header("Content-Encoding", "gzip")
                    .header("Content-Type", "application/x-sentry-envelope")
                    .header(
                        "X-Sentry-Auth",
                        format!("Sentry sentry_key={key}, sentry_version=7"),
                    )
                    .body(body)
                    .send()
                    .await;
                let ok = matches!(&r, Ok(r) if r.status().is_success());
                drop(permit);
                let _ = tx.send((due.elapsed(), ok));
            });
        }
        drop(tx);
        let mut lat = Vec::with_capacity(total);
        let mut failed = 0usize;
        while let Some((d, ok)) = rx.recv().await {
            lat.push(d);
            if !ok {
                failed += 1;
            }
        }
        let took = start.elapsed().as_secs_f64();
        lat.sort_unstable();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "{} requests at {rate:.0}/s over {took:.1} s: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms, failed {failed}",
            lat.len(),
            p(0.50).as_secs_f64() * 1000.0,
            p(0.99).as_secs_f64() * 1000.0,
            p(0.999).as_secs_f64() * 1000.0,
            lat[lat.len() - 1].as_secs_f64() * 1000.0,
        );
    });
}
