//! The updater: check the signed feed, download what it offers, verify, stage.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use futures::StreamExt;
use relops_core::artifact::SignedFields;
use relops_core::platform::Platform;
use relops_core::version::Version;
use sha2::{Digest, Sha256};
use tough::RepositoryLoader;
use url::Url;

use crate::Error;

/// What the app ships and knows about itself.
#[derive(Debug, Clone)]
pub struct Config {
    /// The product's feed, e.g. `https://updates.example.com/tuf/wizard/` (its `metadata/`
    /// and `targets/` live below it). https, except for loopback or `allow_insecure_http`.
    pub feed_url: String,
    /// The trusted root metadata (`1.root.json`, or a newer root) shipped with the app.
    pub trusted_root: Vec<u8>,
    /// The release key's Ed25519 public key, hex (`relops keys list --json`). Every
    /// download must carry its signature, on top of TUF.
    pub release_key: String,
    pub product: String,
    pub platform: Platform,
    /// `stable`, `internal`, …
    pub channel: String,
    /// The version running now; only newer releases are offered.
    pub current_version: Version,
    /// Where the updater keeps its install id, verified metadata and downloads.
    pub data_dir: PathBuf,
    /// Allow plain http to hosts other than loopback (tests, air-gapped mirrors).
    pub allow_insecure_http: bool,
}

/// A release the feed offers this install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub version: Version,
    /// The feed's target name, e.g. `wizard-2.1.0-macos-universal.dmg`.
    pub target: String,
    /// The artifact's own file name (what the release key signed).
    pub artifact: String,
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Hex Ed25519 signature by the release key, made at upload.
    pub release_signature: String,
    /// Release notes, when the feed names them.
    pub notes_url: Option<String>,
    /// The feed sends this install back to an older release (a rollback directive): the
    /// app should install it although its version is lower.
    pub downgrade: bool,
    /// The data schema this release reads (signed in the feed, where the release declared
    /// it): before installing a downgrade, migrate the app's data down to `schema`
    /// ([`crate::project`]).
    pub data_schema: Option<relops_core::data_schema::DataSchema>,
    /// Deltas the feed offers for this update, from older releases' files: when the updater
    /// holds one of those files in its downloads, [`Updater::download`] fetches the delta
    /// instead of the whole file and rebuilds the file from it.
    pub deltas: Vec<Delta>,
}

/// A delta target: applied to the file of an older release, it rebuilds an update's file
/// byte for byte ([`relops_core::offer::deltas`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The delta's target name.
    pub target: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the delta.
    pub sha256: String,
    /// The older release's target, as staged in the downloads, its length and SHA-256.
    pub base_target: String,
    pub base_length: u64,
    pub base_sha256: String,
}

/// A verified snapshot of the feed's targets (from [`Updater::refresh`]).
#[derive(Debug, Clone)]
pub struct Feed {
    product: String,
    platform: Platform,
    base: Url,
    targets: Vec<FeedTarget>,
    deltas: Vec<Delta>,
    /// The target each delta (same index in `deltas`) rebuilds.
    delta_of: Vec<String>,
}

#[derive(Debug, Clone)]
struct FeedTarget {
    name: String,
    length: u64,
    sha256: String,
    custom: relops_core::offer::TargetCustom,
}

impl Feed {
    /// What the feed offers an install of this product and platform on `channel` running
    /// `version` (see [`Updater::check`]).
    pub fn offer(&self, channel: &str, version: &Version, install_id: &str) -> Option<Update> {
        let install = relops_core::offer::Install {
            product: &self.product,
            platform: self.platform,
            channel,
            version,
            install_id,
        };
        let offer = relops_core::offer::decide(
            &install,
            self.targets
                .iter()
                .enumerate()
                .map(|(i, t)| ((&t.name, i), &t.custom)),
        )?;
        let t = &self.targets[offer.target.1];
        Some(Update {
            version: offer.version,
            target: t.name.clone(),
            artifact: t.custom.artifact.clone(),
            size: t.length,
            sha256: t.sha256.clone(),
            release_signature: t.custom.release_signature.clone(),
            notes_url: t
                .custom
                .notes
                .as_deref()
                .and_then(|n| self.base.join(n).ok())
                .map(String::from),
            downgrade: offer.downgrade,
            data_schema: t.custom.data_schema,
            deltas: self
                .deltas
                .iter()
                .zip(&self.delta_of)
                .filter(|(_, of)| **of == t.name)
                .map(|(d, _)| d.clone())
                .collect(),
        })
    }
}

/// The updater of one installed app.
#[derive(Debug, Clone)]
pub struct Updater {
    cfg: Config,
    feed: Url,
    release_key: VerifyingKey,
    install_id: String,
    http: reqwest::Client,
    traffic: std::sync::Arc<crate::transport::Traffic>,
    /// Bytes of update files (whole or deltas) received.
    downloaded: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The timestamp metadata (as verified, parsed), the feed of the last full refresh, and
    /// the earliest expiry of the root, timestamp, snapshot and targets it verified: while
    /// the server's timestamp is the same — signed part and signatures — and nothing has
    /// expired, nothing in the feed changed.
    last: std::sync::Arc<std::sync::Mutex<Option<Verified>>>,
}

const INSTALL_ID_FILE: &str = "install-id";

impl Updater {
    /// Checks the configuration, creates the data directory and the install id (a random
    /// UUID made once and kept in `data_dir/install-id`).
    pub fn new(cfg: Config) -> Result<Self, Error> {
        Self::with_http_client(cfg, Self::http_client()?)
    }

    /// The HTTP client [`Updater::new`] makes: https with the system's roots, 10 s to
    /// connect, 30 s without data before a read fails.
    pub fn http_client() -> Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .user_agent(concat!("relops-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// [`Updater::new`] with an HTTP client the caller already has (one client can serve
    /// many updaters, e.g. a fleet simulator; building one loads the system's root
    /// certificates, which costs milliseconds).
    pub fn with_http_client(cfg: Config, http: reqwest::Client) -> Result<Self, Error> {
        let mut feed = crate::queue::server_url(&cfg.feed_url, cfg.allow_insecure_http)?;
        if !feed.path().ends_with('/') {
            feed.set_path(&format!("{}/", feed.path()));
        }
        let key: [u8; 32] = hex::decode(cfg.release_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                Error::Config(
                    "release_key must be 64 hex characters (an Ed25519 public key)".into(),
                )
            })?;
        let release_key = VerifyingKey::from_bytes(&key)
            .map_err(|_| Error::Config("release_key is not a valid Ed25519 public key".into()))?;
        for sub in ["tuf", "downloads"] {
            let d = cfg.data_dir.join(sub);
            std::fs::create_dir_all(&d).map_err(Error::io(&d))?;
        }
        let install_id = install_id(&cfg.data_dir)?;
        Ok(Self {
            http,
            cfg,
            feed,
            release_key,
            install_id,
            traffic: Default::default(),
            downloaded: Default::default(),
            last: Default::default(),
        })
    }

    /// What checking the feed has cost this updater so far: metadata files fetched (a 404
    /// for a newer root counts) and their bytes. A check when nothing changed fetches the
    /// next root's name (404) and `timestamp.json`.
    pub fn feed_traffic(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.traffic.files.load(Ordering::Relaxed),
            self.traffic.bytes.load(Ordering::Relaxed),
        )
    }

    /// Bytes of update files this updater has received: whole files, or deltas where it
    /// used one ([`Update::deltas`]).
    pub fn downloaded_bytes(&self) -> u64 {
        self.downloaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This install's pseudonymous id.
    pub fn install_id(&self) -> &str {
        &self.install_id
    }

    fn url(&self, path: &str) -> Result<Url, Error> {
        self.feed
            .join(path)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// Refreshes and verifies the feed (TUF, via `tough`; the last verified metadata is
    /// kept in `data_dir/tuf` against rollback) and returns what it offers this install —
    /// the decision of [`relops_core::offer::decide`] over the signed targets: the newest
    /// release whose rollout includes this install, or the release a rollback directive
    /// sends it back to (`downgrade`), or `None`.
    pub async fn check(&self) -> Result<Option<Update>, Error> {
        Ok(self.refresh().await?.offer(
            &self.cfg.channel,
            &self.cfg.current_version,
            &self.install_id,
        ))
    }

    /// Refreshes and verifies the feed and returns its signed targets, which can answer
    /// [`Feed::offer`] for any install of this product and platform without another
    /// download (a fleet simulator asks it for thousands of installs).
    ///
    /// When this updater verified the feed before, it first fetches only `timestamp.json`:
    /// if that is the very one it verified then (the same JSON, signatures included) and
    /// none of the metadata it verified then (root, timestamp, snapshot, targets) has
    /// expired, nothing in the feed changed (relops signs a new timestamp with every
    /// change, a new root included) and the verified targets are answered again — a check
    /// costs one small file. Otherwise, and always for an updater's first check, the whole
    /// TUF refresh (which reports expired metadata as tough does).
    pub async fn refresh(&self) -> Result<Feed, Error> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(v) = last
            && v.expires > chrono::Utc::now()
            && let Ok(now) = self.fetch_timestamp().await
            && serde_json::from_slice::<serde_json::Value>(&now).is_ok_and(|n| n == v.timestamp)
        {
            return Ok(v.feed);
        }
        let (feed, expires) = self.full_refresh().await?;
        // What tough verified and stored (it keeps the metadata it trusts in the datastore).
        if let Some(timestamp) = std::fs::read(self.cfg.data_dir.join("tuf").join("timestamp.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Verified {
                timestamp,
                feed: feed.clone(),
                expires,
            });
        }
        Ok(feed)
    }

    /// `metadata/timestamp.json` as the server sends it (at most 64 KiB).
    async fn fetch_timestamp(&self) -> Result<Vec<u8>, Error> {
        use std::sync::atomic::Ordering;
        let url = self.url("metadata/timestamp.json")?;
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| Error::Network(e.to_string()))?;
        self.traffic.files.fetch_add(1, Ordering::Relaxed);
        if !resp.status().is_success() {
            return Err(Error::Network(format!("timestamp.json: {}", resp.status())));
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Network(e.to_string()))?;
            self.traffic
                .bytes
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            body.extend_from_slice(&chunk);
            if body.len() > 64 * 1024 {
                return Err(Error::Feed("timestamp.json is over 64 KiB".into()));
            }
        }
        Ok(body)
    }

    /// The whole TUF refresh: the feed, and the earliest expiry of the metadata verified.
    async fn full_refresh(&self) -> Result<(Feed, chrono::DateTime<chrono::Utc>), Error> {
        let repo = RepositoryLoader::new(
            &self.cfg.trusted_root,
            self.url("metadata/")?,
            self.url("targets/")?,
        )
        .datastore(self.cfg.data_dir.join("tuf"))
        .transport(crate::transport::SharedHttp(
            self.http.clone(),
            std::sync::Arc::clone(&self.traffic),
        ))
        .load()
        .await
        .map_err(|e| classify(&e.to_string()))?;
        // Parse every target's signed `custom` object: a release's file, or a delta; targets
        // this SDK cannot read are skipped, as the server's /v1/update skips them.
        let (mut targets, mut deltas, mut delta_of) = (Vec::new(), Vec::new(), Vec::new());
        for (name, t) in repo.all_targets() {
            let Ok(custom) = serde_json::to_value(&t.custom) else {
                continue;
            };
            let (name, length, sha256) = (
                name.raw().to_owned(),
                t.length,
                hex::encode(&t.hashes.sha256),
            );
            if let Ok(custom) = serde_json::from_value(custom.clone()) {
                targets.push(FeedTarget {
                    name,
                    length,
                    sha256,
                    custom,
                });
            } else if let Ok(d) =
                serde_json::from_value::<relops_core::offer::deltas::DeltaCustom>(custom)
                && d.delta.format == relops_core::offer::deltas::FORMAT
                // Both name files in the downloads directory: never a path out of it.
                && plain_file_name(&name)
                && plain_file_name(&d.delta.base_target)
            {
                delta_of.push(d.delta.target);
                deltas.push(Delta {
                    target: name,
                    size: length,
                    sha256,
                    base_target: d.delta.base_target,
                    base_length: d.delta.base_length,
                    base_sha256: d.delta.base_sha256,
                });
            }
        }
        let expires = [
            repo.root().signed.expires,
            repo.timestamp().signed.expires,
            repo.snapshot().signed.expires,
            repo.targets().signed.expires,
        ]
        .into_iter()
        .min()
        .and_then(|t| {
            chrono::DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
        })
        .unwrap_or_default();
        let feed = Feed {
            product: self.cfg.product.clone(),
            platform: self.cfg.platform,
            base: self.feed.clone(),
            targets,
            deltas,
            delta_of,
        };
        Ok((feed, expires))
    }

    /// Downloads `update` (resuming a previous partial download), verifies its length,
    /// SHA-256 and release signature, and stages it atomically at the returned path. On any
    /// failure the previously staged file of the same target is left as it was.
    pub async fn download(&self, update: &Update) -> Result<PathBuf, Error> {
        self.download_with_progress(update, |_, _| {}).await
    }

    /// [`download`](Self::download), calling `progress(bytes so far, total)` as data
    /// arrives (at most once per 64 KiB received, and once at the end). When a delta is used
    /// ([`Update::deltas`]) the figures are the delta's, then the file's size once rebuilt.
    /// It runs on the downloading task, under no lock of the SDK: it may call into the SDK,
    /// and should be quick.
    pub async fn download_with_progress(
        &self,
        update: &Update,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<PathBuf, Error> {
        let dir = self.cfg.data_dir.join("downloads");
        let part = dir.join(format!("{}.part", update.target));
        let staged = dir.join(&update.target);
        if self.by_delta(update, &dir, &part, &mut progress).await {
            return self.stage(&dir, &part, &staged);
        }
        let result = self.fetch(
            (&update.target, &update.sha256, update.size),
            &part,
            &mut progress,
        );
        let result = result.await;
        match result {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e), // keep the part for a resume
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
        }
        if let Err(e) = self.verify(update, &part) {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        self.stage(&dir, &part, &staged)
    }

    /// Moves a verified `part` to `staged`, durably.
    fn stage(&self, dir: &Path, part: &Path, staged: &Path) -> Result<PathBuf, Error> {
        std::fs::rename(part, staged).map_err(Error::io(staged))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(staged.to_owned())
    }

    /// Rebuilds `update`'s file into `part` from a delta, when the feed offers one from a
    /// file staged in `dir` and no whole download is under way; whether `part` now holds
    /// the file, verified exactly as a whole download. Any failure — the delta's download,
    /// its length or digest, the base, the rebuilt file — leaves nothing behind, and the
    /// caller downloads the whole file.
    async fn by_delta(
        &self,
        update: &Update,
        dir: &Path,
        part: &Path,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> bool {
        if std::fs::metadata(part).is_ok_and(|m| m.len() > 0) {
            return false;
        }
        for delta in &update.deltas {
            let base = dir.join(&delta.base_target);
            if !std::fs::metadata(&base).is_ok_and(|m| m.len() == delta.base_length) {
                continue;
            }
            let delta_part = dir.join(format!("{}.part", delta.target));
            let fetched = self
                .fetch(
                    (&delta.target, &delta.sha256, delta.size),
                    &delta_part,
                    progress,
                )
                .await
                .and_then(|()| check_file(&delta_part, delta.size, &delta.sha256))
                .and_then(|()| rebuild(&base, &delta.base_sha256, &delta_part, part))
                .and_then(|()| self.verify(update, part));
            let _ = std::fs::remove_file(&delta_part);
            match fetched {
                Ok(()) => {
                    progress(update.size, update.size);
                    return true;
                }
                Err(e) => {
                    let _ = std::fs::remove_file(part);
                    tracing::warn!(delta = delta.target, error = %e, "the delta did not rebuild the update; downloading the whole file");
                }
            }
        }
        false
    }

    /// Downloads the target `(name, sha256, size)` into `part`, resuming what `part` holds.
    async fn fetch(
        &self,
        (target, sha256, size): (&str, &str, u64),
        part: &Path,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<(), Error> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let have = if have > size { 0 } else { have };
        if have == size && have > 0 {
            progress(have, size);
            return Ok(());
        }
        let url = self.url(&format!("targets/{sha256}.{target}"))?;
        let mut req = self.http.get(url);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Error::Network(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Error::Network(format!(
                "the server answered {status} for {target}"
            )));
        }
        let resumed = have > 0 && status == reqwest::StatusCode::PARTIAL_CONTENT;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(part)
            .map_err(Error::io(part))?;
        let mut written = if resumed { have } else { 0 };
        let mut told = written;
        progress(written, size);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Network(e.to_string()))?;
            written += chunk.len() as u64;
            self.downloaded
                .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if written > size {
                // Endless data: never keep more than the signed length.
                return Err(Error::LengthMismatch {
                    expected: size,
                    got: written,
                });
            }
            file.write_all(&chunk).map_err(Error::io(part))?;
            if written - told >= 64 * 1024 {
                told = written;
                progress(written, size);
            }
        }
        file.sync_all().map_err(Error::io(part))?;
        if told != written {
            progress(written, size);
        }
        Ok(())
    }

    /// Checks the downloaded file as the feed signed it (length, SHA-256) and the release
    /// key's signature over it.
    fn verify(&self, update: &Update, part: &Path) -> Result<(), Error> {
        check_file(part, update.size, &update.sha256)?;
        let version = update.version.to_string();
        let message = SignedFields {
            product: &self.cfg.product,
            version: &version,
            platform: self.cfg.platform.as_str(),
            name: &update.artifact,
            size: update.size,
            sha256: &update.sha256,
        }
        .message();
        let sig: [u8; 64] = hex::decode(&update.release_signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::BadReleaseSignature)?;
        self.release_key
            .verify(&message, &Signature::from_bytes(&sig))
            .map_err(|_| Error::BadReleaseSignature)
    }

    /// [`check`](Self::check) for apps without an async runtime.
    pub fn check_blocking(&self) -> Result<Option<Update>, Error> {
        block_on(self.check())
    }

    /// [`download_with_progress`](Self::download_with_progress) for apps without an async
    /// runtime.
    pub fn download_with_progress_blocking(
        &self,
        update: &Update,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<PathBuf, Error> {
        block_on(self.download_with_progress(update, progress))
    }

    /// [`download`](Self::download) for apps without an async runtime.
    pub fn download_blocking(&self, update: &Update) -> Result<PathBuf, Error> {
        block_on(self.download(update))
    }
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start a runtime: {e}")))?
        .block_on(f)
}

/// tough reports transport and verification failures through one error type; tell them
/// apart so a UI can say "try later" or "do not trust this".
fn classify(message: &str) -> Error {
    let m = message.to_ascii_lowercase();
    if m.contains("failed to fetch") || m.contains("transport") || m.contains("connect") {
        Error::Network(message.to_owned())
    } else {
        Error::Feed(message.to_owned())
    }
}

/// What the last full refresh verified (see `Updater::last`).
#[derive(Debug, Clone)]
struct Verified {
    timestamp: serde_json::Value,
    feed: Feed,
    expires: chrono::DateTime<chrono::Utc>,
}

/// A name that is one file in a directory: no separator, not `.` or `..`, not empty.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0', ':'])
}

/// Checks a file's length and SHA-256 against the signed feed's.
fn check_file(path: &Path, size: u64, sha256: &str) -> Result<(), Error> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        got += n as u64;
    }
    if got != size {
        return Err(Error::LengthMismatch {
            expected: size,
            got,
        });
    }
    if hex::encode(hasher.finalize()) != sha256 {
        return Err(Error::DigestMismatch);
    }
    Ok(())
}

/// Applies `delta` to `base` into `out` (made anew).
fn rebuild(base: &Path, base_sha256: &str, delta: &Path, out: &Path) -> Result<(), Error> {
    use std::io::{BufReader, BufWriter};
    let open = |p: &Path| std::fs::File::open(p).map_err(Error::io(p));
    let mut w = BufWriter::new(std::fs::File::create(out).map_err(Error::io(out))?);
    relops_delta::apply(
        &mut BufReader::new(open(base)?),
        base_sha256,
        &mut BufReader::new(open(delta)?),
        &mut w,
    )
    .map_err(|e| Error::Feed(format!("the delta cannot be applied: {e}")))?;
    w.into_inner()
        .map_err(|e| Error::io(out)(e.into_error()))?
        .sync_all()
        .map_err(Error::io(out))
}

fn install_id(data_dir: &Path) -> Result<String, Error> {
    let path = data_dir.join(INSTALL_ID_FILE);
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if uuid::Uuid::parse_str(s).is_ok() {
            return Ok(s.to_owned());
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let tmp = data_dir.join(format!("{INSTALL_ID_FILE}.tmp"));
    std::fs::write(&tmp, &id).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_delta_names_files_in_the_downloads_only() {
        use super::plain_file_name as ok;
        assert!(ok("wizard-2.1.0-macos-universal.dmg"));
        assert!(ok("wizard-2.1.1-macos-universal.dmg.from-2.1.0.delta"));
        for bad in ["", ".", "..", "../x", "a/b", r"..\x", "C:x", "a\0b"] {
            assert!(!ok(bad), "{bad:?}");
        }
    }
}
