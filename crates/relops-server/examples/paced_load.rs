//! An open-loop load generator for `bench/ingest.sh`: sends the given bodies at a fixed
//! rate (not "as fast as answers come back", which hides queueing), each request timed
//! from the moment it was due, and prints the latency percentiles. wrk cannot pace
//! requests and oha sends one body; ingest needs a different session in every request.
//!
//! `paced_load URL BODIES_FILE INGEST_KEY RATE SECONDS [CONNECTIONS]` — BODIES_FILE holds
//! gzip'd Sentry envelopes, each prefixed with its length as a big-endian u32;
//! CONNECTIONS (default 256) keep-alive HTTP/1 connections share the due requests.
//! With `PACED_TRACE=FILE` it also writes, per 100 ms of due time, the requests due then
//! and their slowest latency — where in the run the tail came from (its first line gives
//! the run's start as Unix time, to line up with the server's log).
//!
//! It is lean on purpose: on a two-core machine the generator shares the CPU with the
//! server, and an earlier version built on reqwest took 0.6–0.7 of a core at 8,000
//! requests/s — enough to make the server's queue grow by itself. Like wrk, it writes
//! whole requests made up front and reads the answers with `httparse` (hyper's client
//! cost about twice wrk's CPU per request).

// The allocator of the `relops` binary and of the bare handler (the system allocator took
// ~6 % of the generator's CPU).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if !(6..=7).contains(&a.len()) {
        eprintln!("usage: paced_load URL BODIES_FILE INGEST_KEY RATE SECONDS [CONNECTIONS]");
        std::process::exit(2);
    }
    let url = a[1].trim_end_matches('/').to_owned();
    let addr = url
        .strip_prefix("http://")
        .expect("URL: http://HOST:PORT")
        .to_owned();
    let rate: f64 = a[4].parse().expect("RATE: requests per second");
    let secs: f64 = a[5].parse().expect("SECONDS");
    let conns: usize = a.get(6).map_or(256, |c| c.parse().expect("CONNECTIONS"));
    let data = std::fs::read(&a[2]).expect("the bodies file");
    // Whole requests, made before the run.
    let mut bodies = Vec::new();
    let mut pos = 0;
    while pos + 4 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let mut req = format!(
            "POST /api/1/envelope/ HTTP/1.1\r\nHost: relops\r\nContent-Encoding: gzip\r\n\
             Content-Type: application/x-sentry-envelope\r\n\
             X-Sentry-Auth: Sentry sentry_key={}, sentry_version=7\r\nContent-Length: {len}\r\n\r\n",
            a[3]
        )
        .into_bytes();
        req.extend_from_slice(&data[pos + 4..pos + 4 + len]);
        bodies.push(Bytes::from(req));
        pos += 4 + len;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let total = (rate * secs) as usize;
        let interval = Duration::from_secs_f64(1.0 / rate);
        // Due requests wait here for a free connection; their latency counts from when
        // they were due.
        let (due_tx, due_rx) = mpsc::unbounded_channel::<(Instant, Bytes)>();
        let due_rx = Arc::new(Mutex::new(due_rx));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Instant, Duration, bool)>();
        for _ in 0..conns {
            let mut stream = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect to the server");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let (due_rx, done_tx) = (due_rx.clone(), done_tx.clone());
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    let next = due_rx.lock().await.recv().await;
                    let Some((due, req)) = next else { break };
                    let ok = stream.write_all(&req).await.is_ok()
                        && read_answer(&mut stream, &mut buf).await == Some(true);
                    let _ = done_tx.send((due, due.elapsed(), ok));
                    if !ok {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // Released in ticks of a millisecond (a timer per request cost the generator more
        // than the requests), each timed from its own due moment.
        let start = Instant::now();
        let start_wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut i = 0;
        while i < total {
            tick.tick().await;
            let now = Instant::now();
            while i < total {
                let due = start + interval.mul_f64(i as f64);
                if due > now {
                    break;
                }
                let _ = due_tx.send((due, bodies[i % bodies.len()].clone()));
                i += 1;
            }
        }
        drop(due_tx);
        let mut lat = Vec::with_capacity(total);
        let mut failed = 0usize;
        // Per 100 ms of due time: requests, slowest.
        let mut windows = vec![(0usize, Duration::ZERO); (secs * 10.0) as usize + 1];
        while let Some((due, d, ok)) = done_rx.recv().await {
            lat.push(d);
            let w = &mut windows[((due - start).as_millis() / 100) as usize];
            w.0 += 1;
            w.1 = w.1.max(d);
            if !ok {
                failed += 1;
            }
        }
        if let Ok(path) = std::env::var("PACED_TRACE") {
            let trace: String = windows
                .iter()
                .enumerate()
                .map(|(i, (n, max))| format!("{} {n} {:.1}\n", i * 100, max.as_secs_f64() * 1e3))
                .collect();
            let at = start_wall.as_secs_f64();
            std::fs::write(&path, format!("# started at {at:.3} (Unix time)\ndue_ms requests max_ms\n{trace}"))
                .expect("writing PACED_TRACE");
        }
        failed += total - lat.len();
        let took = start.elapsed().as_secs_f64();
        lat.sort_unstable();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "{} requests at {rate:.0}/s over {took:.1} s ({conns} connections): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms, failed {failed}",
            lat.len(),
            p(0.50).as_secs_f64() * 1000.0,
            p(0.99).as_secs_f64() * 1000.0,
            p(0.999).as_secs_f64() * 1000.0,
            lat[lat.len() - 1].as_secs_f64() * 1000.0,
        );
    });
}

/// Reads one HTTP/1.1 answer (`Content-Length` framed, as relops and axum send them) off
/// `stream`, keeping any bytes after it in `buf`. `Some(true)` for a 2xx, `Some(false)` for
/// another status, `None` when the connection broke or the answer was not understood.
async fn read_answer(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<bool> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut answer = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = answer.parse(buf).ok()? {
            let length: usize = answer
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())?;
            let ok = (200..300).contains(&answer.code?);
            while buf.len() < head + length {
                if stream.read_buf(buf).await.ok()? == 0 {
                    return None;
                }
            }
            buf.drain(..head + length);
            return Some(ok);
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}
