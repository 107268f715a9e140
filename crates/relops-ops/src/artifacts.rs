//! Artifacts: streaming upload with digest and signature (R-REL-6), list, `SHA256SUMS`
//! (R-REL-7), the stored file for a download, and re-verification of the stored bytes.
//!
//! An upload streams the body into a staging blob while hashing it; only after the digest
//! is known (and matches the declared one, if any) is the blob signed, moved to its content
//! address and made visible by one database transaction. A failed or interrupted upload
//! leaves no row; its staging blob is removed at once or by the next start-up.

use crate::services::notify::Notice;
use bytes::Bytes;
use chrono::Utc;
use futures::{Stream, StreamExt};
use relops_api::{Artifact, ArtifactList, UploadCheck, UploadParams, VerifyReport, VerifyResult};
use relops_core::access::Permission;
use relops_core::artifact::{ArtifactKind, ArtifactName, SignedFields, parse_sha256_hex};
use relops_core::offer::FileFacts;
use relops_core::platform::Platform;
use relops_core::release::ArtifactPolicy;
use relops_core::version::Version;
use relops_store::{ArtifactRecord, BlobUpload, NewArtifact, StoredArtifact};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

/// The Authenticode signer to record for an `.msi` or `.exe` (R-REL-6): what the file's
/// signature says when it has one — refused when it contradicts `claimed` — or `claimed` as
/// given when the file is no installer relops can read.
fn authenticode_evidence(
    name: &ArtifactName,
    kind: ArtifactKind,
    bytes: &[u8],
    claimed: Option<String>,
    company: Option<&str>,
) -> OpResult<Option<String>> {
    use relops_gates::authenticode::{
        InstallerSignature as Sig, exe_signature, msi_signature, subject_matches,
    };
    if let (Some(c), Some(want)) = (&claimed, company)
        && !subject_matches(c, want)
    {
        return Err(OpError::Invalid(format!(
            "--authenticode-signer `{c}` is not the company's signer `{want}` ([gates] authenticode_subject)"
        )));
    }
    let read = if kind == ArtifactKind::Exe {
        exe_signature
    } else {
        msi_signature
    };
    let sig = read(bytes).map_err(|e| OpError::Unreadable(format!("{name}: {e}")))?;
    if let (Sig::Signed { subject }, Some(want)) = (&sig, company)
        && !subject_matches(subject, want)
    {
        return Err(OpError::Unreadable(format!(
            "{name} is signed by `{subject}`, not by the company's signer `{want}` ([gates] authenticode_subject); nothing was stored"
        )));
    }
    match sig {
        Sig::NotAnInstaller => Ok(claimed),
        Sig::Unsigned => match claimed {
            Some(c) => Err(OpError::Unreadable(format!(
                "{name} carries no Authenticode signature, but --authenticode-signer says `{c}` signed it: sign the package (signtool, osslsigncode) and upload it again; nothing was stored"
            ))),
            None => Ok(None),
        },
        Sig::Signed { subject } => match claimed {
            Some(c) if !subject_matches(&subject, &c) => Err(OpError::Unreadable(format!(
                "{name} is signed by `{subject}`, not by `{c}`: check the build's signing certificate; nothing was stored"
            ))),
            _ => Ok(Some(subject)),
        },
    }
}

fn too_large(max: u64) -> OpError {
    OpError::TooLarge(format!(
        "artifact is larger than the configured maximum of {max} bytes (max_artifact_bytes)"
    ))
}

/// An upload that passed every check made before its body.
struct Admitted {
    who: crate::actor::Authorized,
    name: ArtifactName,
    platform: Platform,
    kind: relops_core::artifact::ArtifactKind,
    expected: Option<String>,
    release: relops_api::Release,
    critical_fix_reason: Option<String>,
    notarization_id: Option<String>,
    authenticode_signer: Option<String>,
    minimum_os: Option<String>,
}

/// An operating system version: one to four dot-separated numbers (`11.0`, `10.0.17763`).
fn minimum_os(v: Option<&str>) -> OpResult<Option<String>> {
    let Some(v) = v.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() > 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(OpError::Invalid(format!(
            "--minimum-os `{}` is not an operating system version: give one to four dot-separated numbers, e.g. 11.0 (macOS) or 10.0.17763 (Windows)",
            v.chars().take(64).collect::<String>()
        )));
    }
    Ok(Some(v.to_owned()))
}

fn name(s: &str) -> OpResult<ArtifactName> {
    ArtifactName::new(s).map_err(|e| OpError::Invalid(e.to_string()))
}

impl Ops {
    /// A stored file (`key`) no longer matches the digest recorded and signed when it
    /// arrived: somebody changed the blob store. It is not served (the caller refuses or
    /// cuts it off); this pages and tells every webhook — once per file per process, so a
    /// fleet downloading it makes one page, not thousands.
    pub fn stored_file_changed(&self, key: &str) {
        let first = self
            .changed_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned());
        if !first {
            return;
        }
        tracing::error!(%key, "a stored file does not match its recorded digest: not served; paging");
        let notice = Notice {
            event: "security.stored_file_changed".into(),
            product: "relops".into(),
            version: key.to_owned(),
            text: format!(
                "SECURITY: the stored file {key} no longer matches the SHA-256 recorded when it arrived; relops does not serve it. Somebody changed the blob store: find out who (`relops artifact verify VERSION` checks a release's files), then restore the file from the original or upload it again."
            ),
            page: Some("critical"),
            details: serde_json::json!({"blob_key": key}),
            at: chrono::Utc::now(),
        };
        let ops = self.clone();
        tokio::spawn(async move {
            match ops
                .db
                .enqueue_notifications(&notice.messages(&ops.config.notify))
                .await
            {
                Ok(()) => ops.outbox.notify_one(),
                Err(e) => tracing::error!(error = ?e, "cannot queue the changed-file notice"),
            }
        });
    }
}

impl Ops {
    /// Stores, hashes and signs an artifact of `v` from `body`. `declared_len` (the
    /// request's length, if it said one) is refused at once when above the limit.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_artifact<S, E>(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        raw_name: &str,
        p: UploadParams,
        declared_len: Option<u64>,
        body: S,
    ) -> OpResult<Artifact>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let a = self
            .admit_upload(actor, product, v, raw_name, &p, declared_len)
            .await?;
        let (who, name, platform, kind, expected, release) =
            (a.who, a.name, a.platform, a.kind, a.expected, a.release);
        let critical_fix_reason = a.critical_fix_reason;
        let max = self.config.max_artifact_bytes;
        let too_large = || too_large(max);

        let mut upload = self.blobs.begin_upload().await?;
        let keep = matches!(kind, ArtifactKind::Msi | ArtifactKind::Exe).then(Vec::new);
        let (size, sha256, kept) = match receive(&mut upload, body, max, keep).await {
            Ok(r) => r,
            Err(e) => {
                upload.abort().await;
                return Err(match e {
                    Receive::TooLarge => too_large(),
                    Receive::Body(e) => OpError::Invalid(format!("upload interrupted: {e}")),
                    Receive::Store(e) => e.into(),
                });
            }
        };
        if size == 0 {
            upload.abort().await;
            return Err(OpError::Unreadable(
                "the file is empty: nothing stored".into(),
            ));
        }
        if let Some(exp) = &expected
            && *exp != sha256
        {
            upload.abort().await;
            return Err(OpError::Unreadable(format!(
                "SHA-256 mismatch: you declared {exp}, the server received {sha256} ({size} bytes); \
                 nothing was stored — check the file and upload again"
            )));
        }
        let version = release.version.to_string();
        let signature = self.release_key.sign(&SignedFields {
            product,
            version: &version,
            platform: platform.as_str(),
            name: name.as_str(),
            size,
            sha256: &sha256,
        });
        // Checked before the blob is committed, so a refusal leaves nothing behind.
        let authenticode_signer = match &kept {
            Some(bytes) => match authenticode_evidence(
                &name,
                kind,
                bytes,
                a.authenticode_signer,
                self.config.gates.authenticode_subject.as_deref(),
            ) {
                Ok(s) => s,
                Err(e) => {
                    upload.abort().await;
                    return Err(e);
                }
            },
            None => a.authenticode_signer,
        };
        drop(kept);
        let blob_key = upload.commit(&sha256).await?;
        let artifact = ArtifactRecord {
            name: name.to_string(),
            platform,
            kind,
            size,
            sha256: sha256.clone(),
            signature,
            key_id: self.release_key.key_id().to_owned(),
            uploaded_at: Utc::now(),
            uploaded_by: who.name.clone(),
            notarization_id: a.notarization_id,
            authenticode_signer,
            critical_fix_reason: critical_fix_reason.clone(),
            replaces: 0,
            // Made right after, off the upload's path (`fill_file_facts`).
            file: None,
            minimum_os: a.minimum_os,
        };
        let audit = who.audit(
            if critical_fix_reason.is_some() {
                "artifact.critical_fix"
            } else {
                "artifact.upload"
            },
            format!("{product}/{version}/{name}"),
            json!({
                "platform": platform, "size": size, "sha256": sha256,
                "reason": critical_fix_reason, "roles": actor.roles(),
            }),
        );
        let new = NewArtifact {
            product: product.to_owned(),
            version: release.version.clone(),
            artifact,
            blob_key,
        };
        let stored = self.db.put_artifact(&new, release.state, &audit).await?;
        self.file_work.notify_one();
        stored.map(artifact_view).ok_or_else(|| {
            OpError::Conflict(format!(
                "release {version} changed state during the upload; nothing was stored — look with \
                     `relops release show {version}` and upload again"
            ))
        })
    }

    /// Everything an upload checks before its body: who, the name, platform and kind, the
    /// release's state (critical fix after the freeze), the size limit and the signing
    /// evidence. The upload runs it first; `check_upload` runs only it, so a client can
    /// learn of a refusal before it sends a large file.
    async fn admit_upload(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        raw_name: &str,
        p: &UploadParams,
        declared_len: Option<u64>,
    ) -> OpResult<Admitted> {
        let mut who = actor.authorize(Permission::ArtifactWrite)?;
        let name = name(raw_name)?;
        let platform: Platform = p
            .platform
            .parse()
            .map_err(|e: relops_core::platform::UnknownPlatform| OpError::Invalid(e.to_string()))?;
        let kind = name.kind().map_err(|e| OpError::Invalid(e.to_string()))?;
        kind.check_platform(platform)
            .map_err(|e| OpError::Invalid(e.to_string()))?;
        let expected = p
            .sha256
            .as_deref()
            .map(parse_sha256_hex)
            .transpose()
            .map_err(OpError::Invalid)?;
        let release = self.load_release(product, v).await?;
        let critical_fix_reason = match release.state.artifact_policy() {
            ArtifactPolicy::Open => None,
            ArtifactPolicy::CriticalFixOnly => {
                let reason = crate::given("reason", p.reason.as_deref())?.unwrap_or("");
                if !p.critical_fix || reason.is_empty() {
                    return Err(OpError::Refused(format!(
                        "release {} is {} (feature freeze {}): adding or replacing an artifact now is a critical fix; \
                         pass --critical-fix --reason \"…\" with a release_manager token",
                        release.version, release.state, release.freeze_date
                    )));
                }
                who = actor.authorize(Permission::ArtifactCriticalFix)?;
                Some(reason.to_owned())
            }
            ArtifactPolicy::Closed => {
                return Err(OpError::Refused(format!(
                    "release {} is {}: its artifacts can no longer change; publish a patch release instead",
                    release.version, release.state
                )));
            }
        };
        let max = self.config.max_artifact_bytes;
        if declared_len.is_some_and(|n| n > max) {
            return Err(too_large(max));
        }
        let notarization_id = crate::given_line("notarization_id", p.notarization_id.as_deref())?;
        let minimum_os = minimum_os(p.minimum_os.as_deref())?;
        let authenticode_signer =
            crate::given_line("authenticode_signer", p.authenticode_signer.as_deref())?;
        // A replacement is a new binary: the evidence of the one it replaces does not
        // cover it, and silently dropping it would leave the release without any.
        if let Some(old) = release.artifacts.iter().find(|a| a.name == name.as_str()) {
            let missing: Vec<String> = [
                ("--notarization-id", &old.notarization_id, &notarization_id),
                (
                    "--authenticode-signer",
                    &old.authenticode_signer,
                    &authenticode_signer,
                ),
            ]
            .into_iter()
            .filter_map(|(flag, had, has)| match (had, has) {
                (Some(had), None) => Some(format!("{flag} (it had {had})")),
                _ => None,
            })
            .collect();
            if !missing.is_empty() {
                return Err(OpError::Invalid(format!(
                    "{name} replaces an upload that carried signing evidence; the new file needs its own: pass {}",
                    missing.join(" and ")
                )));
            }
        }
        Ok(Admitted {
            who,
            name,
            platform,
            kind,
            expected,
            release,
            critical_fix_reason,
            notarization_id,
            authenticode_signer,
            minimum_os,
        })
    }

    /// Would this upload be accepted? The same checks as the upload, without a body.
    pub async fn check_upload(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        raw_name: &str,
        p: &UploadParams,
    ) -> OpResult<UploadCheck> {
        let a = self
            .admit_upload(actor, product, v, raw_name, p, p.size)
            .await?;
        Ok(UploadCheck {
            name: a.name.to_string(),
            platform: a.platform,
            replaces: a
                .release
                .artifacts
                .iter()
                .any(|x| x.name == a.name.as_str()),
            critical_fix: a.critical_fix_reason.is_some(),
            max_bytes: self.config.max_artifact_bytes,
        })
    }

    /// The artifacts of a release.
    pub async fn artifacts(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
    ) -> OpResult<ArtifactList> {
        actor.authorize(Permission::ReleaseRead)?;
        let release = self.load_release(product, v).await?;
        Ok(ArtifactList {
            artifacts: release.artifacts,
        })
    }

    /// `SHA256SUMS` in the format `sha256sum -c` reads: `{hex}  {name}` per line.
    pub async fn sha256sums(&self, actor: &Actor, product: &str, v: &Version) -> OpResult<String> {
        actor.authorize(Permission::ReleaseRead)?;
        let release = self.load_release(product, v).await?;
        Ok(sha256sums_of(&release))
    }

    /// An artifact and where its bytes are, for a download.
    pub async fn artifact_file(
        &self,
        actor: &Actor,
        product: &str,
        version: &Version,
        raw_name: &str,
    ) -> OpResult<StoredArtifact> {
        actor.authorize(Permission::ReleaseRead)?;
        let name = name(raw_name)?;
        self.db
            .artifact(product, version, name.as_str())
            .await?
            .ok_or_else(|| {
                OpError::NotFound(format!(
                    "release {version} has no artifact `{name}`: `relops artifact list {version}` shows them"
                ))
            })
    }

    /// Re-reads every stored blob of a release, recomputes its digest and checks the
    /// release signature.
    pub async fn verify_release(
        &self,
        actor: &Actor,
        product: &str,
        version: &Version,
    ) -> OpResult<VerifyReport> {
        actor.authorize(Permission::ReleaseRead)?;
        self.load_release(product, version).await?;
        let mut results = Vec::new();
        for stored in self.db.artifacts(product, version).await? {
            let a = &stored.artifact;
            let problem = match self.rehash(&stored.blob_key).await {
                Err(e) => Some(format!("stored blob unreadable: {e}")),
                Ok((size, _)) if size != a.size => {
                    Some(format!("stored blob is {size} bytes, expected {}", a.size))
                }
                Ok((_, digest)) if digest != a.sha256 => Some(format!(
                    "stored blob has SHA-256 {digest}, expected {}",
                    a.sha256
                )),
                Ok(_) => {
                    let version = version.to_string();
                    let fields = SignedFields {
                        product,
                        version: &version,
                        platform: a.platform.as_str(),
                        name: &a.name,
                        size: a.size,
                        sha256: &a.sha256,
                    };
                    if a.key_id != self.release_key.key_id() {
                        Some(format!(
                            "signed by key {}, which is not this server's release key",
                            a.key_id
                        ))
                    } else if !self.release_key.verify(&fields, &a.signature) {
                        Some("release signature does not verify".to_owned())
                    } else {
                        None
                    }
                }
            };
            results.push(VerifyResult {
                name: a.name.clone(),
                ok: problem.is_none(),
                problem,
            });
        }
        Ok(VerifyReport {
            version: version.clone(),
            ok: results.iter().all(|r| r.ok),
            artifacts: results,
        })
    }

    /// Makes the file digests (SHA-1, SHA-512) and the release key's signature over the bytes
    /// of up to 20 artifacts that lack them — each new upload, right after it, and those
    /// uploaded before relops made them — read back from the blob store, so that the feeds
    /// for other updaters list them; returns the products whose artifacts changed. Run by
    /// the lead (`workers::fill_file_facts`), off the upload's path: SHA-512 and the
    /// signature's two passes over the file would more than halve upload throughput.
    pub(crate) async fn fill_file_facts(&self) -> OpResult<Vec<String>> {
        let mut changed: Vec<String> = Vec::new();
        for (product, version, name, blob_key, sha256) in
            self.db.artifacts_without_file_facts(20).await?
        {
            let facts = match self.file_facts(&blob_key, &sha256).await {
                Err(relops_store::BlobError::Changed(key)) => {
                    // Never sign bytes that are not what was uploaded: the operators are
                    // told (once), the artifact stays out of the updater feeds.
                    self.stored_file_changed(&key);
                    continue;
                }
                facts => facts?,
            };
            if self
                .db
                .set_file_facts(&product, &version, &name, &blob_key, &facts)
                .await?
                && !changed.contains(&product)
            {
                changed.push(product);
            }
        }
        Ok(changed)
    }

    /// A stored file's SHA-1, SHA-512 and the release key's Ed25519 signature over its bytes
    /// (Sparkle's `edSignature`), on a blocking thread: the signature's two passes over the
    /// file, the first also making the digests. Every pass also checks the bytes' SHA-256 against `sha256`, what was
    /// uploaded and signed: changed bytes are refused (`BlobError::Changed`), never signed.
    async fn file_facts(
        &self,
        blob_key: &str,
        sha256: &str,
    ) -> Result<FileFacts, relops_store::BlobError> {
        let (blobs, key, release_key, want) = (
            self.blobs.clone(),
            blob_key.to_owned(),
            self.release_key.clone(),
            sha256.to_owned(),
        );
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            // Feeds the file to `each` and checks its SHA-256.
            let pass = |each: &mut dyn FnMut(&[u8])| {
                runtime.block_on(async {
                    let mut stream = blobs.get(&key, None).await?;
                    let mut h = Sha256::new();
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk?;
                        h.update(&chunk);
                        each(&chunk);
                    }
                    if hex::encode(h.finalize()) == want {
                        Ok(())
                    } else {
                        Err(relops_store::BlobError::Changed(key.clone()))
                    }
                })
            };
            // The signature reads the file twice; its first pass also makes the digests.
            let digests = std::cell::RefCell::new((sha1::Sha1::new(), sha2::Sha512::new()));
            let passes = std::cell::Cell::new(0u8);
            let ed25519 = release_key.sign_file(|h: &mut sha2::Sha512| {
                passes.set(passes.get() + 1);
                let first = passes.get() == 1;
                let mut d = digests.borrow_mut();
                pass(&mut |c| {
                    h.update(c);
                    if first {
                        d.0.update(c);
                        d.1.update(c);
                    }
                })
            })?;
            let (h1, h512) = digests.into_inner();
            Ok(FileFacts {
                sha1: hex::encode(h1.finalize()),
                sha512: hex::encode(h512.finalize()),
                ed25519,
            })
        })
        .await
        .map_err(|e| relops_store::BlobError::Io(std::io::Error::other(e)))?
    }

    async fn rehash(&self, key: &str) -> Result<(u64, String), relops_store::BlobError> {
        let mut stream = self.blobs.get(key, None).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((size, hex::encode(hasher.finalize())))
    }
}

enum Receive {
    TooLarge,
    Body(String),
    Store(relops_store::BlobError),
}

/// Streams the body into the staging blob and returns size and digest. SHA-256 runs on a
/// blocking thread fed through a bounded channel, so hashing overlaps receiving and
/// writing instead of adding to them (`Bytes` clones share the buffer, nothing is copied).
/// The digests other updaters need are made afterwards, off the upload's path
/// ([`Ops::fill_file_facts`]).
async fn receive<S, E>(
    upload: &mut BlobUpload,
    mut body: S,
    max: u64,
    mut keep: Option<Vec<u8>>,
) -> Result<(u64, String, Option<Vec<u8>>), Receive>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut h = Sha256::new();
        while let Some(chunk) = rx.blocking_recv() {
            h.update(&chunk);
        }
        hex::encode(h.finalize())
    });
    let mut size: u64 = 0;
    let streamed = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Receive::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(Receive::TooLarge);
            }
            // The hashing thread only stops early if it panicked; `hasher.await` reports it.
            let _ = tx.send(chunk.clone()).await;
            // A copy for inspection (an .msi or .exe signature), given up past the bound.
            if let Some(k) = keep.as_mut() {
                if k.len() + chunk.len() <= INSPECT_MAX_BYTES {
                    k.extend_from_slice(&chunk);
                } else {
                    keep = None;
                }
            }
            upload.write(chunk).await.map_err(Receive::Store)?;
        }
        Ok(())
    }
    .await;
    drop(tx);
    let digest = hasher
        .await
        .map_err(|e| Receive::Store(relops_store::BlobError::Io(std::io::Error::other(e))))?;
    streamed.map(|()| (size, digest, keep))
}

/// Largest upload kept in memory to read its signature; a larger `.msi` or `.exe` is
/// recorded with its claimed signer unchecked.
const INSPECT_MAX_BYTES: usize = 256 * 1024 * 1024;

/// A stored artifact as the API shows it.
pub(crate) fn artifact_view(a: ArtifactRecord) -> Artifact {
    Artifact {
        name: a.name,
        platform: a.platform,
        kind: a.kind,
        size: a.size,
        sha256: a.sha256,
        signature: a.signature,
        key_id: a.key_id,
        uploaded_at: a.uploaded_at,
        uploaded_by: a.uploaded_by,
        notarization_id: a.notarization_id,
        authenticode_signer: a.authenticode_signer,
        critical_fix_reason: a.critical_fix_reason,
        replaces: a.replaces,
        minimum_os: a.minimum_os,
    }
}

/// `SHA256SUMS` of a release: `{hex}  {name}` per line, as `sha256sum -c` reads it.
pub(crate) fn sha256sums_of(release: &relops_api::Release) -> String {
    release
        .artifacts
        .iter()
        .map(|a| format!("{}  {}\n", a.sha256, a.name))
        .collect()
}
