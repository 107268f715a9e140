//! `relops`: one binary, both the server (`relops serve`) and the operator's CLI, which is
//! a client of the server's HTTP API (DESIGN decision 1).

mod cli;
mod client;
mod commands;
mod env;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the server allocates and frees many small objects per request (headers,
/// envelope items, records), where glibc's malloc took a large share of the ingest path's
/// CPU (bench/RESULTS.md, issue 5).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = std::env::var(env::LOG)
        .unwrap_or_else(|_| if cli.is_server() { "info" } else { "warn" }.to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a log file or journald gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.global.json;
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::fail(&e, json),
    }
}
