//! `cargo run --release -p relops-crash --example throughput -- DUMP SYMBOLS_DIR N`:
//! processes DUMP N times with one symbolizer over a Breakpad symbol store (as the server's
//! crash worker does: each symbol file parsed once and kept) and prints dumps per second.
//! `bench/crash.sh` runs it beside `minidump-stackwalk` on the same dump and symbols.

use std::path::PathBuf;
use std::time::Instant;

use relops_crash::process::{Limits, process};
use relops_crash::{SimpleSymbolSupplier, Symbolizer};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dump, dir, n] = args.as_slice() else {
        eprintln!("usage: throughput DUMP SYMBOLS_DIR N");
        std::process::exit(2);
    };
    let dump = std::fs::read(dump).expect("read the dump");
    let n: usize = n.parse().expect("N is a number");
    let symbols = Symbolizer::new(SimpleSymbolSupplier::new(vec![PathBuf::from(dir)]));
    let first = process(&dump, &symbols, Limits::default())
        .await
        .expect("the dump processes");
    let named = first.frames.iter().filter(|f| f.function.is_some()).count();
    let start = Instant::now();
    for _ in 0..n {
        process(&dump, &symbols, Limits::default())
            .await
            .expect("the dump processes");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "relops-crash: {n} dumps in {secs:.3} s = {:.1} dumps/s ({named} of {} frames named)",
        n as f64 / secs,
        first.frames.len()
    );
    // The same with a new symbolizer per dump (symbols parsed every time, as a CLI run
    // per dump does): the processing itself, without the cache.
    let cold_n = n.div_ceil(10);
    let start = Instant::now();
    for _ in 0..cold_n {
        let fresh = Symbolizer::new(SimpleSymbolSupplier::new(vec![PathBuf::from(dir)]));
        process(&dump, &fresh, Limits::default())
            .await
            .expect("the dump processes");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "relops-crash without the symbol cache: {cold_n} dumps in {secs:.3} s = {:.1} dumps/s",
        cold_n as f64 / secs
    );
}
