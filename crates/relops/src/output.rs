//! Output: tables for people, JSON for scripts, errors on stderr with the exit code.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

/// An error the CLI reports; the kind decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server refused or the operation failed: exit 1.
    #[error("{0}")]
    Failed(String),
    /// The command line or environment is wrong: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error: its body, the message with the HTTP status.
    #[error("{message}")]
    Server {
        body: relops_api::ErrorBody,
        message: String,
    },
    /// Try again later (`relops ticket mail-in`: the server is unreachable, busy or
    /// failing): exit 75, `EX_TEMPFAIL`, on which an MTA keeps the mail and retries.
    #[error("{0}")]
    TempFail(String),
}

/// `EX_TEMPFAIL` of sysexits.h.
pub const EX_TEMPFAIL: u8 = 75;

pub fn failed(msg: impl Into<String>) -> anyhow::Error {
    CliError::Failed(msg.into()).into()
}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    CliError::Usage(msg.into()).into()
}

/// Prints the error on stderr and returns the exit code for it. With `--json` the error
/// is the API's `{"code","error"}` document: the server's own for a refusal, `usage` for a
/// wrong command line, `failed` for anything else that went wrong on this side.
pub fn fail(e: &anyhow::Error, json: bool) -> ExitCode {
    if is_broken_pipe(e) {
        return ExitCode::SUCCESS;
    }
    let (exit, body) = match e.downcast_ref::<CliError>() {
        Some(CliError::Usage(_)) => (2, None),
        Some(CliError::Server { body, .. }) => (1, Some(body.clone())),
        Some(CliError::TempFail(_)) => (EX_TEMPFAIL, None),
        _ => (1, None),
    };
    if json {
        let body = body.unwrap_or_else(|| relops_api::ErrorBody {
            code: if exit == 2 { "usage" } else { "failed" }.into(),
            error: format!("{e:#}"),
            permission: None,
        });
        eprintln!(
            "{}",
            serde_json::to_string(&body).expect("an error body serialises")
        );
    } else {
        eprintln!("error: {e:#}");
    }
    ExitCode::from(exit)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `s` to stdout; a closed pipe (`relops … | head`) is not an error.
pub fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

pub fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    print(&format!("{}\n", serde_json::to_string_pretty(v)?))
}

/// A plain text table: a header row and left-aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_aligns() {
        let t = super::table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
