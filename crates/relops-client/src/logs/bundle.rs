//! Log bundles: the app and error logs of the last days packed as one tar.gz for support
//! (§3.3 "Crash-ID / Logfiles"), each line passed through a redaction hook first — by
//! default one that replaces e-mail addresses. [`crate::bundles`] seals and uploads them.
//!
//! Bounded so that an app with a noisy log still sends something useful and small: the
//! newest files are packed first, at most [`RAW_BUDGET`] bytes of log text (the oldest
//! file packed may be cut to its last lines; older ones are left out, and the manifest
//! says so), and the packed bundle stays below [`MAX_PACKED`] — the server's limit less
//! the sealing's overhead — by halving the text budget until it fits.

use std::path::PathBuf;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use super::Logs;
use crate::Error;

/// Bytes of log text packed at most.
pub const RAW_BUDGET: usize = 32 * 1024 * 1024;
/// Bytes a packed bundle may have (the server takes 8 MiB sealed; sealing adds < 100).
pub const MAX_PACKED: usize = 8 * 1024 * 1024 - 4096;

/// A redaction hook: called with each line (without its newline) before it is packed; it
/// may change the line in place.
pub type Redactor = dyn Fn(&mut String) + Send + Sync;

/// One packed bundle.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The tar.gz.
    pub bytes: Vec<u8>,
    /// Log files in it (the manifest not counted).
    pub files: u32,
    /// Days asked for.
    pub days: u32,
}

/// `manifest.json` in every bundle: what is in it and what was left out.
#[derive(Debug, Serialize)]
struct Manifest<'a> {
    app: &'a str,
    days: u32,
    created_at: String,
    files: Vec<String>,
    /// Files of which only the last lines are packed (the text budget ran out).
    cut: Vec<String>,
    /// Older files left out (the text budget ran out).
    left_out: Vec<String>,
    redacted: bool,
}

/// Replaces every e-mail address in `line` with `[email]`: a run of local-part characters,
/// `@`, and a domain with a dot in it and a top-level part of two letters or more.
pub fn redact_emails(line: &mut String) {
    if !line.contains('@') {
        return;
    }
    // Letters of any script: an internationalised address (`jörg@beispiel.de`) is as
    // personal, and a partly redacted one still names its owner.
    let local = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_alphanumeric() || c == '.' || c == '-';
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(at) = rest.find('@') {
        let before = &rest[..at];
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| local(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let after = &rest[at + 1..];
        let len = after.find(|c: char| !domain(c)).unwrap_or(after.len());
        let host = after[..len].trim_end_matches(['.', '-']);
        let is_address = start < at
            && host.contains('.')
            && !host.starts_with('.')
            && host.rsplit('.').next().is_some_and(|tld| tld.len() >= 2);
        if is_address {
            out.push_str(&rest[..start]);
            out.push_str("[email]");
            rest = &after[host.len()..];
        } else {
            out.push_str(&rest[..=at]);
            rest = after;
        }
    }
    out.push_str(rest);
    *line = out;
}

impl Logs {
    /// Packs the app and error logs of the last `days` days (today included), each line
    /// through `redact` (none: as written). Files go in oldest first, after
    /// `manifest.json`.
    pub fn pack(&self, days: u32, redact: Option<&Redactor>) -> Result<Packed, Error> {
        if days == 0 {
            return Err(Error::Config("a log bundle covers at least 1 day".into()));
        }
        let mut files = self.recent_files(days)?;
        // By day, so that "newest first" below is by date, not by channel name.
        files.sort_by_key(|p| (super::file_day(&self.cfg.app, p), p.clone()));
        let mut budget = RAW_BUDGET;
        loop {
            let packed = self.pack_within(&files, days, redact, budget)?;
            if packed.bytes.len() <= MAX_PACKED || budget < 64 * 1024 {
                return Ok(packed);
            }
            budget /= 2;
        }
    }

    pub(crate) fn pack_within(
        &self,
        files: &[PathBuf],
        days: u32,
        redact: Option<&Redactor>,
        budget: usize,
    ) -> Result<Packed, Error> {
        let name = |p: &PathBuf| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        };
        let mut left = budget;
        let mut texts: Vec<(String, Vec<u8>)> = Vec::new();
        let mut manifest = Manifest {
            app: &self.cfg.app,
            days,
            created_at: crate::queue::now_rfc3339(),
            files: Vec::new(),
            cut: Vec::new(),
            left_out: Vec::new(),
            redacted: redact.is_some(),
        };
        // Newest first, so that the budget keeps what happened last.
        for path in files.iter().rev() {
            let raw = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // pruned
                Err(e) => return Err(Error::io(path)(e)),
            };
            if left == 0 && !raw.is_empty() {
                manifest.left_out.push(name(path));
                continue;
            }
            let mut text = String::with_capacity(raw.len());
            for line in String::from_utf8_lossy(&raw).lines() {
                let mut line = line.to_owned();
                if let Some(r) = redact {
                    r(&mut line);
                }
                text.push_str(&line);
                text.push('\n');
            }
            if text.len() > left {
                // Keep the last lines that fit, from a line start.
                let from = text.len() - left;
                let from = text[from..].find('\n').map_or(text.len(), |i| from + i + 1);
                text.drain(..from);
                manifest.cut.push(name(path));
                left = 0;
            } else {
                left -= text.len();
            }
            texts.push((name(path), text.into_bytes()));
        }
        texts.reverse();
        manifest.left_out.reverse();
        manifest.files = texts.iter().map(|(n, _)| n.clone()).collect();
        let packed = texts.len();
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        let mtime = chrono::Utc::now().timestamp().max(0) as u64;
        let manifest =
            serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Config(e.to_string()))?;
        for (n, bytes) in std::iter::once(("manifest.json".to_owned(), manifest)).chain(texts) {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(mtime);
            h.set_cksum();
            tar.append_data(&mut h, &n, bytes.as_slice())
                .map_err(|e| Error::Config(format!("packing {n}: {e}")))?;
        }
        let gz = tar
            .into_inner()
            .map_err(|e| Error::Config(format!("packing the bundle: {e}")))?;
        let bytes = gz
            .finish()
            .map_err(|e| Error::Config(format!("packing the bundle: {e}")))?;
        Ok(Packed {
            bytes,
            files: u32::try_from(packed).unwrap_or(u32::MAX),
            days,
        })
    }
}
