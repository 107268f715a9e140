//! The audit log's hash chain. Each line is a JSON object written as
//!
//! ```text
//! {"seq":7,"ts":"2026-12-06T09:15:02.113+01:00","event":"project.export","fields":{…},"prev":"<hex>","hash":"<hex>"}
//! ```
//!
//! where `hash` is the SHA-256 of everything before `,"hash":` (the line's bytes as
//! written) and `prev` is the `hash` of the line before it — across days and restarts;
//! the very first line's `prev` is 64 zeros. `seq` counts up by one per line.
//!
//! [`verify`] reads files in order and names the first line that breaks the chain: an
//! edited line no longer matches its hash; a removed or inserted line breaks `prev` and
//! `seq`. What a chain cannot show is lines cut off the end of the newest file, or a whole
//! chain rewritten by someone who recomputes every hash — the chain makes tampering
//! evident, not impossible; keep copies elsewhere (a log bundle) for that.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Error;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HASH_KEY: &str = ",\"hash\":\"";

/// Where the chain stands: the next line's `seq` and `prev`.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    seq: u64,
    prev: String,
}

#[derive(Deserialize)]
struct Parsed {
    seq: u64,
    prev: String,
}

impl Chain {
    /// Continues after the last line of `file` (the newest audit file), or starts anew.
    pub(crate) fn resume(file: &Option<PathBuf>) -> Result<Self, Error> {
        let fresh = Chain {
            seq: 1,
            prev: GENESIS.to_owned(),
        };
        let Some(path) = file else {
            return Ok(fresh);
        };
        let f = std::fs::File::open(path).map_err(Error::io(path))?;
        let mut last = None;
        for line in BufReader::new(f).lines() {
            let line = line.map_err(Error::io(path))?;
            if !line.trim().is_empty() {
                last = Some(line);
            }
        }
        // A last line that is not a whole audit line (a write cut short by a crash) is
        // what `verify` will report; the chain goes on from the last good one it can read.
        Ok(match last.as_deref().and_then(split) {
            Some((body, hash)) => match serde_json::from_str::<Parsed>(&format!("{body}}}")) {
                Ok(p) => Chain {
                    seq: p.seq + 1,
                    prev: hash.to_owned(),
                },
                Err(_) => fresh,
            },
            None => fresh,
        })
    }

    /// The next line (with its newline) for `event`, and the chain moved past it.
    pub(crate) fn next_line(
        &mut self,
        ts: &DateTime<FixedOffset>,
        event: &str,
        fields: &serde_json::Value,
    ) -> String {
        let body = format!(
            "{{\"seq\":{},\"ts\":{},\"event\":{},\"fields\":{},\"prev\":\"{}\"",
            self.seq,
            serde_json::Value::from(ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)),
            serde_json::Value::from(event),
            fields,
            self.prev
        );
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        self.seq += 1;
        self.prev.clone_from(&hash);
        format!("{body}{HASH_KEY}{hash}\"}}\n")
    }
}

/// A line's body (before `,"hash":`) and its hash, when it has the audit line's shape.
fn split(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_suffix("\"}")?;
    let at = rest.rfind(HASH_KEY)?;
    let hash = &rest[at + HASH_KEY.len()..];
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some((&line[..at], hash))
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Lines checked, over all files.
    pub lines: u64,
    /// The first break, if any: the file, its line number (from 1) and what is wrong.
    pub broken: Option<Break>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub file: PathBuf,
    pub line: u64,
    pub what: String,
}

/// Checks the chain through `files`, in the order given (oldest first; audit file names
/// sort by date). The first line of the first file is taken as it is (its predecessor may
/// have been pruned); from then on every line must follow the one before it.
pub fn verify(files: &[impl AsRef<Path>]) -> Result<Verified, Error> {
    let mut lines = 0u64;
    let mut prev: Option<(u64, String)> = None;
    for file in files {
        let path = file.as_ref();
        let f = std::fs::File::open(path).map_err(Error::io(path))?;
        let broken = |n: u64, what: String| Break {
            file: path.to_owned(),
            line: n,
            what,
        };
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let n = i as u64 + 1;
            let line = match line {
                Ok(l) => l,
                Err(_) => {
                    return Ok(Verified {
                        lines,
                        broken: Some(broken(n, "is not UTF-8 text".into())),
                    });
                }
            };
            lines += 1;
            let Some((body, hash)) = split(&line) else {
                return Ok(Verified {
                    lines,
                    broken: Some(broken(
                        n,
                        "is not an audit line (no hash at its end)".into(),
                    )),
                });
            };
            if hex::encode(Sha256::digest(body.as_bytes())) != hash.to_ascii_lowercase() {
                return Ok(Verified {
                    lines,
                    broken: Some(broken(
                        n,
                        "was changed: its hash does not match its content".into(),
                    )),
                });
            }
            let Ok(p) = serde_json::from_str::<Parsed>(&format!("{body}}}")) else {
                return Ok(Verified {
                    lines,
                    broken: Some(broken(n, "is not an audit line (no seq and prev)".into())),
                });
            };
            if let Some((seq, last)) = &prev
                && (p.prev != *last || p.seq != seq + 1)
            {
                return Ok(Verified {
                    lines,
                    broken: Some(broken(
                        n,
                        format!(
                            "does not follow the line before it (seq {} after {seq}): a line was removed or inserted there",
                            p.seq
                        ),
                    )),
                });
            }
            prev = Some((p.seq, hash.to_ascii_lowercase()));
        }
    }
    Ok(Verified {
        lines,
        broken: None,
    })
}
