//! What the SDK's on-disk queues share: the server address rule, durable atomic writes,
//! and the listing of queued files in the order they were made.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::Error;

const DROPPED_FILE: &str = "dropped";

/// Parses the relops server's (or feed's) address: https, or plain http to loopback, or to
/// any host when `allow_insecure_http` (tests, air-gapped mirrors).
pub(crate) fn server_url(url: &str, allow_insecure_http: bool) -> Result<Url, Error> {
    let base =
        Url::parse(url).map_err(|e| Error::Config(format!("server address `{url}`: {e}")))?;
    let loopback = matches!(base.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match base.scheme() {
        "https" => Ok(base),
        "http" if loopback || allow_insecure_http => Ok(base),
        _ => Err(Error::InsecureUrl(url.to_owned())),
    }
}

/// Writes `dir/name` so that it either holds all of `bytes` or does not exist, and is on the
/// disk when this returns (file and directory synced).
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Error> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
    f.write_all(bytes).map_err(Error::io(&tmp))?;
    f.sync_all().map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A queue file name that sorts in the order the files were made (nanoseconds since the
/// epoch, zero-padded), then `id` and `suffix`.
pub(crate) fn entry_name(id: &str, suffix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:024}-{id}{suffix}")
}

/// The files in `dir` ending in `suffix`, oldest first (temporary files excluded).
pub(crate) fn entries(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>, Error> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix) && !n.starts_with('.'))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// The count kept in `dir/dropped`: entries a full queue dropped (0 when absent).
pub(crate) fn dropped(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join(DROPPED_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn set_dropped(dir: &Path, n: u64) -> Result<(), Error> {
    write_atomic(dir, DROPPED_FILE, n.to_string().as_bytes())
}

/// Makes room for one more entry in a queue of at most `max`: drops the oldest entries
/// (`pending`, oldest first) and counts them in `dir/dropped`.
pub(crate) fn make_room(dir: &Path, mut pending: Vec<PathBuf>, max: usize) -> Result<(), Error> {
    while pending.len() >= max {
        let oldest = pending.remove(0);
        std::fs::remove_file(&oldest).map_err(Error::io(&oldest))?;
        set_dropped(dir, dropped(dir) + 1)?;
    }
    Ok(())
}

/// Moves a queued file the server refused for good to `dir/rejected/` for inspection.
pub(crate) fn reject(dir: &Path, path: &Path) -> Result<(), Error> {
    let to = dir
        .join("rejected")
        .join(path.file_name().unwrap_or_default());
    std::fs::rename(path, &to).map_err(Error::io(&to))
}

/// The wait between background upload rounds: `every` after a round that left nothing
/// queued; after one that did, double the last wait, up to ten times `every` (at most an
/// hour, never less than `every`).
pub(crate) fn next_wait(last: Duration, every: Duration, all_sent: bool) -> Duration {
    if all_sent {
        every
    } else {
        (last * 2).min((every * 10).min(Duration::from_secs(3600)).max(every))
    }
}

/// What the server did with one upload.
pub(crate) enum Sent {
    Stored,
    /// Refused for good (400, 401, 409, 413, 422): the entry goes to `rejected/`.
    Refused(String),
    /// Not now (unreachable, 429, 5xx): the entry stays queued.
    Later(String),
}

/// Posts `body` as JSON with the ingest key; `what` names the upload in messages ("session
/// updates", "a crash report").
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &Url,
    ingest_key: &str,
    body: &impl serde::Serialize,
    what: &str,
) -> Sent {
    let sent = http
        .post(url.clone())
        .header("X-Relops-Ingest-Key", ingest_key)
        .json(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Sent::Stored,
        // 409: a conflict (an id sent before with other bytes, a closed ticket) that no
        // retry resolves. 404 is retried: it may be a proxy's, not relops's.
        Ok(r) if matches!(r.status().as_u16(), 400 | 401 | 409 | 413 | 422) => {
            let status = r.status();
            Sent::Refused(format!(
                "the server refused {what} ({status}): {}",
                r.text().await.unwrap_or_default()
            ))
        }
        Ok(r) => Sent::Later(format!(
            "the server answered {} to {what}; retrying later",
            r.status()
        )),
        Err(e) => Sent::Later(format!("the server could not be reached: {e}")),
    }
}

/// A queued entry as the crash and log-bundle queues write it: a JSON line of metadata,
/// then the sealed bytes. `None`: the file is gone (delivered or dropped meanwhile);
/// `Some(Err)`: it is not such an entry (to reject).
pub(crate) fn read_entry<M: serde::de::DeserializeOwned>(
    path: &Path,
) -> Option<Result<(M, Vec<u8>), ()>> {
    let mut bytes = std::fs::read(path).ok()?;
    let Some(nl) = bytes.iter().position(|b| *b == b'\n') else {
        return Some(Err(()));
    };
    let Ok(meta) = serde_json::from_slice::<M>(&bytes[..nl]) else {
        return Some(Err(()));
    };
    Some(Ok((meta, bytes.split_off(nl + 1))))
}

/// Uploads `pending` (entries [`entry_bytes`] wrote, oldest first) until the server cannot
/// take more now: `body` makes each entry's request from its metadata and sealed bytes; a
/// delivered entry is removed (under `lock`, then `delivered` runs), one refused for good or
/// unreadable goes to `dir/rejected/`, and the first "not now" stops the round.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upload_entries<M: serde::de::DeserializeOwned, B: serde::Serialize>(
    dir: &Path,
    pending: Vec<PathBuf>,
    lock: &std::sync::Mutex<()>,
    http: &reqwest::Client,
    url: &Url,
    ingest_key: &str,
    what: &str,
    mut body: impl FnMut(M, &[u8]) -> B,
    mut delivered: impl FnMut() -> Result<(), Error>,
) -> Result<crate::UploadReport, Error> {
    let mut report = crate::UploadReport {
        pending: pending.len(),
        ..Default::default()
    };
    for path in pending {
        let sent = match read_entry::<M>(&path) {
            None => continue, // dropped meanwhile
            Some(Ok((meta, sealed))) => {
                post(http, url, ingest_key, &body(meta, &sealed), what).await
            }
            Some(Err(())) => Sent::Refused(format!("{} is not a queued {what}", path.display())),
        };
        match sent {
            Sent::Stored => {
                let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                let _ = std::fs::remove_file(&path);
                delivered()?;
                report.sent += 1;
            }
            Sent::Refused(why) => {
                report.error = Some(why);
                reject(dir, &path)?;
                report.rejected += 1;
            }
            Sent::Later(why) => {
                report.error = Some(why);
                break;
            }
        }
        report.pending -= 1;
    }
    Ok(report)
}

/// Writes an entry [`read_entry`] reads: `meta` as one JSON line, then `sealed`.
pub(crate) fn entry_bytes(meta: &impl serde::Serialize, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    let mut file = serde_json::to_vec(meta).map_err(|e| Error::Config(e.to_string()))?;
    file.push(b'\n');
    file.extend_from_slice(sealed);
    Ok(file)
}

/// Now, as the SDK stamps records: RFC 3339 UTC with milliseconds.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        let t = now_rfc3339();
        assert!(t.parse::<chrono::DateTime<chrono::Utc>>().is_ok(), "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn the_wait_doubles_after_a_failed_round_up_to_a_bound() {
        let m = Duration::from_secs(60);
        assert_eq!(next_wait(m, m, false), 2 * m);
        assert_eq!(next_wait(8 * m, m, false), 10 * m);
        assert_eq!(next_wait(10 * m, m, true), m);
        let h = Duration::from_secs(3600);
        assert_eq!(
            next_wait(h, h, false),
            h,
            "never above an hour, never below every"
        );
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        assert!(server_url("https://relops.example", false).is_ok());
        assert!(server_url("http://127.0.0.1:8080", false).is_ok());
        assert!(matches!(
            server_url("http://relops.example", false),
            Err(Error::InsecureUrl(_))
        ));
        assert!(server_url("http://relops.example", true).is_ok());
        assert!(matches!(
            server_url("not a url", false),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn entries_come_oldest_first_without_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = entry_name("a", ".x");
        let b = entry_name("b", ".x");
        write_atomic(dir.path(), &b, b"2").unwrap();
        write_atomic(dir.path(), &a, b"1").unwrap();
        std::fs::write(dir.path().join(".c.x.tmp"), b"").unwrap();
        std::fs::write(dir.path().join("other.y"), b"").unwrap();
        let got: Vec<_> = entries(dir.path(), ".x").unwrap();
        assert_eq!(got, vec![dir.path().join(&a), dir.path().join(&b)]);
    }
}
