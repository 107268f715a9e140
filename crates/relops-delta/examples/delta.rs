//! `delta diff BASE NEW OUT` / `delta apply BASE DELTA OUT` / `delta idle`: the delta method
//! on files, printing one line of figures — for `bench/delta.sh`, which measures size, time
//! and peak memory (`/usr/bin/time -v`; `idle` is the baseline of the same binary).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::time::Instant;

use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let started = Instant::now();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["diff", base, new, out] => {
            let made = relops_delta::diff(
                &mut BufReader::new(File::open(base)?),
                &mut BufReader::new(File::open(new)?),
                &mut BufWriter::new(File::create(out)?),
                &relops_delta::Params {
                    // DELTA_LEVEL: a faster level for the memory runs (apply does not depend on it).
                    level: std::env::var("DELTA_LEVEL")
                        .ok()
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(19),
                    ..relops_delta::Params::default()
                },
            )?;
            println!(
                "made {} bytes in {} blocks, {:.2} s",
                made.delta_len,
                made.blocks,
                started.elapsed().as_secs_f64()
            );
        }
        ["apply", base, delta, out] => {
            let mut sha = Sha256::new();
            let mut f = File::open(base)?;
            let mut buf = vec![0; 1 << 20];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                sha.update(&buf[..n]);
            }
            drop(buf);
            let n = relops_delta::apply(
                &mut BufReader::new(File::open(base)?),
                &hex::encode(sha.finalize()),
                &mut BufReader::new(File::open(delta)?),
                &mut BufWriter::new(File::create(out)?),
            )?;
            println!(
                "rebuilt {n} bytes in {:.2} s",
                started.elapsed().as_secs_f64()
            );
        }
        ["idle"] => println!("idle"),
        _ => return Err("usage: delta diff BASE NEW OUT | apply BASE DELTA OUT | idle".into()),
    }
    Ok(())
}
