//! The signed update feed: one TUF repository per product (DESIGN decision 3).
//!
//! [`Feed::publish`] rebuilds `targets.json` from the artifacts of published releases
//! (approved and later; the newest `keep_releases` versions per platform), and when it
//! differs from the current one — or when metadata nears its expiry — signs a new set
//! (targets → snapshot → timestamp), stores the set in one database transaction, and only
//! then swaps the in-memory copy that requests are served from. A client reading
//! timestamp → snapshot → targets therefore always finds a consistent set: versioned files
//! of earlier sets stay servable (`KEEP_VERSIONS`), and `timestamp.json` names a snapshot
//! that is already stored.
//!
//! Each target's `custom` object is a [`TargetCustom`]: product, version, platform, kind,
//! channels, the artifact's own name, the release key's signature made at upload (never
//! re-made), the rollout state and any rollback directive. [`Published::decide`] answers
//! `GET /v1/update` from the same parsed targets with the SDK's decision function.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use relops_core::offer::{Install, Offer, RollbackDirective, TargetCustom, decide};
use relops_core::platform::Platform;
use relops_core::version::Version;
use relops_store::{Db, DbError, MetadataRow, RollbackRecord, RolloutRecord, StoredArtifact};
use relops_tuf::{Key, Root, Signed, Snapshot, TargetFile, Targets, Timestamp, sign};

use crate::config::FeedConfig;
use crate::services::key_files::load_signing_key;

/// Versions of snapshot and targets kept servable after they are superseded, so that a
/// client in the middle of an update still finds the files its timestamp named.
pub const KEEP_VERSIONS: u64 = 10;

/// The online and root keys the server signs with.
#[derive(Debug, Clone)]
pub struct FeedKeys {
    /// The root keys on this server (`root.json` first); may be fewer than the root lists,
    /// or none, when root keys are kept offline.
    root: Vec<SigningKey>,
    targets: SigningKey,
    snapshot: SigningKey,
    timestamp: SigningKey,
}

impl FeedKeys {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            root: crate::services::key_files::load_root_keys(dir)?,
            targets: load_signing_key(dir, "targets")?,
            snapshot: load_signing_key(dir, "snapshot")?,
            timestamp: load_signing_key(dir, "timestamp")?,
        })
    }
}

/// A rotation was refused because root keys it needs are not on this server (they are
/// kept offline). Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MissingRootKeys(pub String);

/// One product's feed as served: immutable; replaced whole on every change.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub roots: BTreeMap<u64, Bytes>,
    pub snapshots: BTreeMap<u64, Bytes>,
    pub targets: BTreeMap<u64, Bytes>,
    pub timestamp: Bytes,
    /// The entity tag of `timestamp.json`, made once (the most asked-for file).
    timestamp_etag: Bytes,
    timestamp_meta: Option<Timestamp>,
    snapshot_meta: Option<Snapshot>,
    targets_meta: Option<Targets>,
    /// `{sha256}.{name}` of every target in the kept targets versions.
    files: HashSet<String>,
    /// The newest targets, parsed for update checks (`GET /v1/update`).
    pub offerable: Arc<Vec<OfferTarget>>,
    /// Other updaters' channel-wide documents, rendered from `offerable` on first use
    /// (`crate::updater_feeds`); emptied whenever metadata is added, so a copy being
    /// changed never keeps the documents of the targets it replaces.
    pub(crate) updater_docs: std::sync::OnceLock<crate::updater_feeds::ChannelDocs>,
}

/// A target of the current `targets.json` with its parsed `custom` object.
#[derive(Debug, Clone)]
pub struct OfferTarget {
    pub name: String,
    pub length: u64,
    pub sha256: String,
    pub custom: TargetCustom,
}

impl Published {
    /// What the feed offers `install` now: the same decision as the SDK's
    /// ([`relops_core::offer::decide`]), over the same signed targets.
    pub fn decide(&self, install: &Install<'_>) -> Option<(&OfferTarget, Offer<usize>)> {
        let offer = decide(
            install,
            self.offerable
                .iter()
                .enumerate()
                .map(|(i, t)| (i, &t.custom)),
        )?;
        Some((&self.offerable[offer.target], offer))
    }
}

/// A metadata file's entity tag: `"role-version"`.
fn etag(role: &str, version: u64) -> Bytes {
    Bytes::from(format!("\"{role}-{version}\""))
}

impl Published {
    /// The bytes of a metadata file by its served name.
    pub fn metadata(&self, file: &str) -> Option<Bytes> {
        if file == "timestamp.json" {
            return (!self.timestamp.is_empty()).then(|| self.timestamp.clone());
        }
        if file == "root.json" {
            return self.roots.values().next_back().cloned();
        }
        let (n, role) = file.strip_suffix(".json")?.split_once('.')?;
        // Only the canonical name: `01.root.json` or `+1.root.json` would be served as
        // `1.root.json` under a name no client asks for, cached as immutable.
        if n.is_empty()
            || !n.bytes().all(|b| b.is_ascii_digit())
            || (n.len() > 1 && n.starts_with('0'))
        {
            return None;
        }
        let n: u64 = n.parse().ok()?;
        match role {
            "root" => self.roots.get(&n).cloned(),
            "snapshot" => self.snapshots.get(&n).cloned(),
            "targets" => self.targets.get(&n).cloned(),
            _ => None,
        }
    }

    /// The entity tag of a metadata file by its served name: its role and version, which a
    /// version of a role never changes (a new one is a new version), `None` when it is not
    /// served.
    pub fn metadata_etag(&self, file: &str) -> Option<Bytes> {
        let newest = |m: &BTreeMap<u64, Bytes>| m.keys().next_back().copied();
        let (role, version) = match file {
            "timestamp.json" => {
                self.timestamp_meta.as_ref()?;
                return Some(self.timestamp_etag.clone());
            }
            "root.json" => ("root", newest(&self.roots)?),
            _ => {
                self.metadata(file)?;
                let (n, role) = file.strip_suffix(".json")?.split_once('.')?;
                (role, n.parse().ok()?)
            }
        };
        Some(etag(role, version))
    }

    /// The digest of a served target file `{sha256}.{name}`, if it is in the feed.
    pub fn target_digest(&self, file: &str) -> Option<String> {
        if !self.files.contains(file) {
            return None;
        }
        file.split_once('.').map(|(sha, _)| sha.to_owned())
    }

    /// The keys of every role from the newest root, with each role's current version and
    /// expiry.
    pub fn key_info(&self) -> anyhow::Result<Vec<relops_api::KeyInfo>> {
        let root_bytes = self
            .roots
            .values()
            .next_back()
            .context("the feed has no root yet")?;
        let root: Signed<Root> = Signed::from_bytes(root_bytes)?;
        let current = |role: &str| -> (Option<u64>, Option<DateTime<Utc>>) {
            let c = match role {
                "root" => Some(&root.signed.common),
                "targets" => self.targets_meta.as_ref().map(|t| &t.common),
                "snapshot" => self.snapshot_meta.as_ref().map(|t| &t.common),
                "timestamp" => self.timestamp_meta.as_ref().map(|t| &t.common),
                _ => None,
            };
            (c.map(|c| c.version), c.map(|c| c.expires))
        };
        Ok(["root", "targets", "snapshot", "timestamp"]
            .into_iter()
            .filter_map(|role| {
                let keys = root.signed.roles.get(role)?;
                let (version, expires) = current(role);
                let public_keys: Vec<String> = keys
                    .keyids
                    .iter()
                    .map(|id| {
                        root.signed
                            .keys
                            .get(id)
                            .map(|k| k.keyval.public.clone())
                            .unwrap_or_default()
                    })
                    .collect();
                Some(relops_api::KeyInfo {
                    role: role.to_owned(),
                    public_keys_base64: public_keys
                        .iter()
                        .map(|k| crate::keys::base64_of_hex(k))
                        .collect(),
                    public_keys,
                    key_ids: keys.keyids.clone(),
                    threshold: keys.threshold,
                    expires,
                    version,
                })
            })
            .collect())
    }

    fn add(&mut self, role: &str, version: u64, body: Bytes) -> anyhow::Result<()> {
        self.updater_docs = std::sync::OnceLock::new();
        match role {
            "root" => {
                self.roots.insert(version, body);
            }
            "timestamp" => {
                let t: Signed<Timestamp> = Signed::from_bytes(&body)?;
                if self
                    .timestamp_meta
                    .as_ref()
                    .is_none_or(|c| c.common.version < version)
                {
                    self.timestamp_etag = etag("timestamp", t.signed.common.version);
                    self.timestamp_meta = Some(t.signed);
                    self.timestamp = body;
                }
            }
            "snapshot" => {
                let s: Signed<Snapshot> = Signed::from_bytes(&body)?;
                if self
                    .snapshot_meta
                    .as_ref()
                    .is_none_or(|c| c.common.version < version)
                {
                    self.snapshot_meta = Some(s.signed);
                }
                self.snapshots.insert(version, body);
            }
            "targets" => {
                let t: Signed<Targets> = Signed::from_bytes(&body)?;
                for (name, f) in &t.signed.targets {
                    if let Some(sha) = f.hashes.get("sha256") {
                        self.files.insert(format!("{sha}.{name}"));
                    }
                }
                if self
                    .targets_meta
                    .as_ref()
                    .is_none_or(|c| c.common.version < version)
                {
                    // Targets the server signed are well-formed; one that is not (signed by
                    // an older relops) is not offered by /v1/update, as the SDK skips it.
                    let offerable = t
                        .signed
                        .targets
                        .iter()
                        .filter_map(|(name, f)| {
                            let custom = serde_json::from_value(f.custom.clone()?).ok()?;
                            Some(OfferTarget {
                                name: name.clone(),
                                length: f.length,
                                sha256: f.hashes.get("sha256")?.clone(),
                                custom,
                            })
                        })
                        .collect();
                    self.offerable = Arc::new(offerable);
                    self.targets_meta = Some(t.signed);
                }
                self.targets.insert(version, body);
            }
            other => anyhow::bail!("unknown metadata role `{other}` in the database"),
        }
        Ok(())
    }

    fn prune(&mut self) {
        for map in [&mut self.snapshots, &mut self.targets] {
            while map.len() as u64 > KEEP_VERSIONS {
                let first = *map.keys().next().expect("non-empty");
                map.remove(&first);
            }
        }
    }

    fn versions(&self) -> (u64, u64, u64, u64) {
        (
            self.roots.keys().next_back().copied().unwrap_or(0),
            self.targets_meta.as_ref().map_or(0, |t| t.common.version),
            self.snapshot_meta.as_ref().map_or(0, |s| s.common.version),
            self.timestamp_meta.as_ref().map_or(0, |t| t.common.version),
        )
    }
}

/// Every product's feed, and the means to change it.
#[derive(Debug)]
pub struct Feed {
    config: FeedConfig,
    products: HashMap<String, ArcSwap<Published>>,
    /// The signing keys; holding the lock is the right to change the feed.
    write: tokio::sync::Mutex<FeedKeys>,
}

impl Feed {
    /// Loads each product's feed from the database, creating the first set (root v1) where
    /// none exists, and brings it up to date.
    pub async fn open(
        db: &Db,
        products: &[String],
        keys_dir: &Path,
        config: FeedConfig,
    ) -> anyhow::Result<Self> {
        let keys = FeedKeys::load(keys_dir)?;
        let feed = Self {
            config,
            products: products
                .iter()
                .map(|p| (p.clone(), ArcSwap::from_pointee(Published::default())))
                .collect(),
            write: tokio::sync::Mutex::new(keys),
        };
        for p in products {
            feed.reload(db, p).await?;
        }
        feed.finish_interrupted_rotation(keys_dir)?;
        for p in products {
            feed.publish(db, p).await?;
        }
        Ok(feed)
    }

    /// A rotation stores the new roots, then renames `{role}.next.json` to `{role}.json`.
    /// If the process died in between, the newest root lists the `.next` key: promote it.
    /// If it died before the roots were stored, the `.next` key is unused: remove it.
    fn finish_interrupted_rotation(&self, keys_dir: &Path) -> anyhow::Result<()> {
        for role in ["root", "targets", "snapshot", "timestamp"] {
            let Some(next) = crate::services::key_files::next_key(keys_dir, role)? else {
                continue;
            };
            let next_id = Key::ed25519(&next.verifying_key()).key_id();
            let listed = self.products.values().any(|slot| {
                slot.load()
                    .roots
                    .values()
                    .next_back()
                    .and_then(|b| Signed::<Root>::from_bytes(b).ok())
                    .is_some_and(|r| {
                        r.signed
                            .roles
                            .get(role)
                            .is_some_and(|k| k.keyids.contains(&next_id))
                    })
            });
            if listed {
                crate::services::key_files::promote_next_key(keys_dir, role)?;
                let mut keys = self.write.try_lock().context("feed busy at start-up")?;
                match role {
                    "root" if keys.root.is_empty() => keys.root.push(next),
                    "root" => keys.root[0] = next,
                    "targets" => keys.targets = next,
                    "snapshot" => keys.snapshot = next,
                    _ => keys.timestamp = next,
                }
                tracing::warn!(role, "finished a key rotation that was interrupted");
            } else {
                crate::services::key_files::discard_next_key(keys_dir, role)?;
                tracing::warn!(
                    role,
                    "discarded the new key of a rotation that never published"
                );
            }
        }
        Ok(())
    }

    /// What is served for `product` now.
    pub fn current(&self, product: &str) -> Option<Arc<Published>> {
        self.products.get(product).map(|p| p.load_full())
    }

    async fn reload(&self, db: &Db, product: &str) -> anyhow::Result<()> {
        let mut published = Published::default();
        for row in db.feed_metadata(product, KEEP_VERSIONS).await? {
            published.add(&row.role, row.version, Bytes::from(row.body))?;
        }
        self.slot(product)?.store(Arc::new(published));
        Ok(())
    }

    /// Serves what another replica published for `product`, if the database holds a newer
    /// set than this replica serves. Runs under the write lock, so it never interleaves
    /// with this replica's own publishing and never goes back a version.
    pub async fn follow(&self, db: &Db, product: &str) -> anyhow::Result<bool> {
        let _keys = self.write.lock().await;
        let (.., served) = self.slot(product)?.load().versions();
        if db.feed_timestamp_version(product).await? <= served {
            return Ok(false);
        }
        self.reload(db, product).await?;
        tracing::debug!(product, "serving the feed another replica published");
        Ok(true)
    }

    fn slot(&self, product: &str) -> anyhow::Result<&ArcSwap<Published>> {
        self.products
            .get(product)
            .with_context(|| format!("no feed for product `{product}`"))
    }

    /// Re-derives `targets.json` from the database and signs a new set if it changed or
    /// if any metadata is past half its lifetime. Returns whether a new set was published.
    pub async fn publish(&self, db: &Db, product: &str) -> anyhow::Result<bool> {
        self.publish_at(db, product, Utc::now()).await
    }

    /// [`publish`](Self::publish) as if the clock read `now`.
    pub async fn publish_at(
        &self,
        db: &Db,
        product: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let keys = self.write.lock().await;
        self.publish_locked(&keys, db, product, now, Vec::new())
            .await
    }

    /// Signs and stores a new set if needed; `rows` (a new root) forces one.
    async fn publish_locked(
        &self,
        keys: &FeedKeys,
        db: &Db,
        product: &str,
        now: DateTime<Utc>,
        mut rows: Vec<MetadataRow>,
    ) -> anyhow::Result<bool> {
        let force = !rows.is_empty();
        let slot = self.slot(product)?;
        let cur = slot.load_full();
        let cfg = &self.config;
        let wanted = build_targets(
            product,
            db.published_artifacts(product).await?,
            &FeedState {
                notes: db.notes_of(product).await?,
                schemas: db.schemas_of(product).await?,
                rollouts: db.rollouts(product).await?,
                rollbacks: db.rollbacks(product).await?,
                deltas: db.deltas_of(product).await?,
                security: db.security_of(product).await?,
            },
            cfg,
        );
        let (root_v, targets_v, snapshot_v, timestamp_v) = cur.versions();
        let half_gone = |expires: DateTime<Utc>, lifetime: Duration| expires - now < lifetime / 2;

        let targets_life = Duration::days(cfg.targets_expiry_days);
        let snapshot_life = Duration::days(cfg.snapshot_expiry_days);
        let timestamp_life = Duration::hours(cfg.timestamp_expiry_hours);
        let new_targets = match &cur.targets_meta {
            _ if force => true,
            None => true,
            Some(t) => t.targets != wanted || half_gone(t.common.expires, targets_life),
        };
        let new_snapshot = new_targets
            || cur
                .snapshot_meta
                .as_ref()
                .is_none_or(|s| half_gone(s.common.expires, snapshot_life));
        let new_timestamp = new_snapshot
            || cur
                .timestamp_meta
                .as_ref()
                .is_none_or(|t| half_gone(t.common.expires, timestamp_life));
        if !new_timestamp {
            return Ok(false);
        }

        if root_v == 0 {
            if keys.root.len() < cfg.root_keys {
                anyhow::bail!(
                    "[feed] root_keys = {} but keys/ holds {} root key file(s): run `relops init` to make them",
                    cfg.root_keys,
                    keys.root.len()
                );
            }
            let root_keys: Vec<Key> = keys
                .root
                .iter()
                .map(|k| Key::ed25519(&k.verifying_key()))
                .collect();
            let root = root_payload(
                &root_keys,
                cfg.root_threshold,
                keys,
                1,
                now + Duration::days(cfg.root_expiry_days),
            );
            let signers: Vec<&SigningKey> = keys.root.iter().collect();
            rows.push(row("root", 1, sign(root, &signers)?.to_bytes()?));
        }
        let targets_version = if new_targets {
            let mut t = Targets::new(targets_v + 1, now + targets_life);
            t.targets = wanted;
            rows.push(row(
                "targets",
                targets_v + 1,
                sign(t, &[&keys.targets])?.to_bytes()?,
            ));
            targets_v + 1
        } else {
            targets_v
        };
        let snapshot_version = if new_snapshot {
            let s = Snapshot::new(snapshot_v + 1, now + snapshot_life, targets_version);
            rows.push(row(
                "snapshot",
                snapshot_v + 1,
                sign(s, &[&keys.snapshot])?.to_bytes()?,
            ));
            snapshot_v + 1
        } else {
            snapshot_v
        };
        let t = Timestamp::new(timestamp_v + 1, now + timestamp_life, snapshot_version);
        rows.push(row(
            "timestamp",
            timestamp_v + 1,
            sign(t, &[&keys.timestamp])?.to_bytes()?,
        ));

        match db.insert_feed_metadata(product, &rows).await {
            Ok(()) => {}
            Err(DbError::Conflict(what)) => {
                // Another replica published first: serve what it stored.
                tracing::info!(%what, "feed changed elsewhere; reloading");
                self.reload(db, product).await?;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        let mut next = (*cur).clone();
        for r in rows {
            next.add(&r.role, r.version, Bytes::from(r.body))?;
        }
        next.prune();
        slot.store(Arc::new(next));
        tracing::info!(
            product,
            targets_version,
            snapshot_version,
            timestamp = timestamp_v + 1,
            "feed published"
        );
        Ok(true)
    }

    /// Replaces the key of `role` (`root`, `targets`, `snapshot` or `timestamp`) in every
    /// product's feed: a new root version lists the new key — signed by the old and the new
    /// root key when `role` is root, so that clients trusting the old root follow — and a
    /// new targets/snapshot/timestamp set is signed with the current keys.
    ///
    /// The new key is written to `{role}.next.json` first and becomes `{role}.json` only
    /// after every product's new root is stored; [`Feed::open`] finishes or discards an
    /// interrupted rotation.
    pub async fn rotate(
        &self,
        db: &Db,
        keys_dir: &Path,
        role: &str,
    ) -> anyhow::Result<Vec<(String, u64)>> {
        let mut keys = self.write.lock().await;
        if !["root", "targets", "snapshot", "timestamp"].contains(&role) {
            anyhow::bail!("unknown key role `{role}`");
        }
        if role == "root" && !keys_dir.join("root.json").exists() {
            return Err(MissingRootKeys(
                "rotating root replaces keys/root.json, which is not on this server: put it back first".into(),
            )
            .into());
        }
        // Check that enough root keys are here before making anything.
        let mut products: Vec<&String> = self.products.keys().collect();
        products.sort();
        for product in &products {
            signing_root_keys(&keys, &self.current_root(product)?)?;
        }
        let next = crate::services::key_files::create_next_key(keys_dir, role)?;
        let mut rotated = keys.clone();
        match role {
            "root" => {
                if rotated.root.is_empty() {
                    rotated.root.push(next.clone());
                } else {
                    rotated.root[0] = next.clone();
                }
            }
            "targets" => rotated.targets = next.clone(),
            "snapshot" => rotated.snapshot = next.clone(),
            _ => rotated.timestamp = next.clone(),
        }
        let now = Utc::now();
        let mut versions = Vec::new();
        for product in products {
            let current = self.current_root(product)?;
            let old_signers = signing_root_keys(&keys, &current)?;
            let mut root_keys = listed_keys(&current, "root");
            let mut signers = old_signers.clone();
            if role == "root" {
                let replaced = keys
                    .root
                    .first()
                    .map(|k| Key::ed25519(&k.verifying_key()).key_id());
                root_keys.retain(|k| Some(k.key_id()) != replaced);
                root_keys.insert(0, Key::ed25519(&next.verifying_key()));
                signers.push(next.clone());
                let new_ids: Vec<String> = root_keys.iter().map(Key::key_id).collect();
                let counted = signers
                    .iter()
                    .filter(|k| new_ids.contains(&Key::ed25519(&k.verifying_key()).key_id()))
                    .count();
                if counted < self.config.root_threshold as usize {
                    let _ = crate::services::key_files::discard_next_key(keys_dir, role);
                    return Err(MissingRootKeys(format!(
                        "the new root needs {} signatures from its own keys, {counted} are on this server: \
                         put the offline root key files back in keys/ for the rotation",
                        self.config.root_threshold
                    ))
                    .into());
                }
            }
            let version = current.common.version + 1;
            let root = root_payload(
                &root_keys,
                self.config.root_threshold,
                &rotated,
                version,
                now + Duration::days(self.config.root_expiry_days),
            );
            let signer_refs: Vec<&SigningKey> = signers.iter().collect();
            let rows = vec![row("root", version, sign(root, &signer_refs)?.to_bytes()?)];
            self.publish_locked(&rotated, db, product, now, rows)
                .await?;
            versions.push((product.clone(), version));
        }
        crate::services::key_files::promote_next_key(keys_dir, role)?;
        *keys = rotated;
        Ok(versions)
    }

    /// Signs a new root version of every product's feed with the same keys and threshold
    /// and a new expiry (`root_expiry_days` from now): how a root is kept from expiring
    /// without a rotation. Needs the root keys the current root's threshold asks for;
    /// clients trusting the old root follow it like any new root version.
    pub async fn renew_root(&self, db: &Db) -> anyhow::Result<Vec<(String, u64)>> {
        let keys = self.write.lock().await;
        let mut products: Vec<&String> = self.products.keys().collect();
        products.sort();
        // All signers found before anything is signed: no product is renewed alone.
        let mut plans = Vec::new();
        for product in products {
            let current = self.current_root(product)?;
            let signers = signing_root_keys(&keys, &current)?;
            plans.push((product, current, signers));
        }
        let now = Utc::now();
        let mut versions = Vec::new();
        for (product, current, signers) in plans {
            let version = current.common.version + 1;
            let threshold = current
                .roles
                .get("root")
                .map_or(self.config.root_threshold, |r| r.threshold);
            let root = root_payload(
                &listed_keys(&current, "root"),
                threshold,
                &keys,
                version,
                now + Duration::days(self.config.root_expiry_days),
            );
            let signer_refs: Vec<&SigningKey> = signers.iter().collect();
            let rows = vec![row("root", version, sign(root, &signer_refs)?.to_bytes()?)];
            self.publish_locked(&keys, db, product, now, rows).await?;
            versions.push((product.clone(), version));
        }
        Ok(versions)
    }

    /// The newest root of `product`'s feed.
    fn current_root(&self, product: &str) -> anyhow::Result<Root> {
        let published = self.slot(product)?.load_full();
        let bytes = published
            .roots
            .values()
            .next_back()
            .context("the feed has no root yet")?;
        Ok(Signed::<Root>::from_bytes(bytes)?.signed)
    }
}

/// The public keys `root` lists for `role`.
fn listed_keys(root: &Root, role: &str) -> Vec<Key> {
    root.roles
        .get(role)
        .map(|r| {
            r.keyids
                .iter()
                .filter_map(|id| root.keys.get(id).cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// The root keys on this server that `current` lists, if they reach its threshold.
fn signing_root_keys(keys: &FeedKeys, current: &Root) -> anyhow::Result<Vec<SigningKey>> {
    let role = current
        .roles
        .get("root")
        .context("root metadata without a root role")?;
    let here: Vec<SigningKey> = keys
        .root
        .iter()
        .filter(|k| {
            role.keyids
                .contains(&Key::ed25519(&k.verifying_key()).key_id())
        })
        .cloned()
        .collect();
    if here.len() < role.threshold as usize {
        return Err(MissingRootKeys(format!(
            "signing a new root needs {} of its root keys, {} are on this server: put the offline \
             root key files back in keys/ (root.json, root-2.json, …) for the rotation, then remove them",
            role.threshold,
            here.len()
        ))
        .into());
    }
    Ok(here)
}

/// The root payload: `root_keys` with `threshold` for root, the current online keys
/// (threshold 1) for the other roles.
fn root_payload(
    root_keys: &[Key],
    threshold: u32,
    keys: &FeedKeys,
    version: u64,
    expires: DateTime<Utc>,
) -> Root {
    let mut root = Root::new(version, expires);
    root.set_role("root", root_keys, threshold);
    for (role, key) in [
        ("targets", &keys.targets),
        ("snapshot", &keys.snapshot),
        ("timestamp", &keys.timestamp),
    ] {
        root.set_role(role, &[Key::ed25519(&key.verifying_key())], 1);
    }
    root
}

fn row(role: &str, version: u64, body: Vec<u8>) -> MetadataRow {
    MetadataRow {
        role: role.to_owned(),
        version,
        body: String::from_utf8(body).expect("canonical JSON is UTF-8"),
    }
}

/// The flat target name of an artifact: `{product}-{version}-{platform}.{kind}`, with
/// `-2`, `-3`, … before the extension when a release has several artifacts of one kind
/// for one platform.
fn target_name(
    product: &str,
    version: &Version,
    platform: Platform,
    kind: &str,
    nth: usize,
) -> String {
    if nth == 0 {
        format!("{product}-{version}-{platform}.{kind}")
    } else {
        format!("{product}-{version}-{platform}-{}.{kind}", nth + 1)
    }
}

/// What, besides the artifacts, the targets carry.
struct FeedState {
    /// Version → SHA-256 of its release notes.
    notes: HashMap<String, String>,
    /// Version → its data-schema facts, where declared.
    schemas: HashMap<String, relops_core::data_schema::DataSchema>,
    rollouts: Vec<RolloutRecord>,
    rollbacks: Vec<RollbackRecord>,
    /// The deltas made between the product's files ([`crate::deltas`]).
    deltas: Vec<relops_store::DeltaRecord>,
    /// Version → the security advisory it fixes, where declared.
    security: HashMap<String, String>,
}

/// The targets the feed should list now: the newest `keep_releases` versions per platform,
/// plus every release a rollback directive points to; each with its rollout state; and the
/// kept deltas between them that [`relops_core::offer::deltas::pairs`] names.
fn build_targets(
    product: &str,
    mut artifacts: Vec<(Version, StoredArtifact)>,
    state: &FeedState,
    cfg: &FeedConfig,
) -> BTreeMap<String, TargetFile> {
    let rollouts: HashMap<&Version, &RolloutRecord> =
        state.rollouts.iter().map(|r| (&r.version, r)).collect();
    // Directives per target release: the union of what was withdrawn in its favour; the
    // newest rollback names the reason and incident.
    let mut directives: HashMap<&Version, RollbackDirective> = HashMap::new();
    for rb in &state.rollbacks {
        let d = directives
            .entry(&rb.to)
            .or_insert_with(|| RollbackDirective {
                from: Vec::new(),
                reason: String::new(),
                incident: String::new(),
            });
        for v in &rb.from {
            if !d.from.contains(v) {
                d.from.push(v.clone());
            }
        }
        d.from.sort();
        // Free text as people typed it; the signed feed holds it composed (NFC).
        d.reason = relops_core::text::nfc(&rb.reason);
        d.incident = relops_core::text::nfc(&rb.incident);
    }
    // Newest versions first; within a release by artifact name, so numbering is stable.
    artifacts.sort_by(|(va, a), (vb, b)| {
        vb.cmp(va)
            .then_with(|| a.artifact.name.cmp(&b.artifact.name))
    });
    let mut versions_per_platform: HashMap<Platform, Vec<Version>> = HashMap::new();
    let mut seen: HashMap<(Version, Platform, &'static str), usize> = HashMap::new();
    let mut out = BTreeMap::new();
    let mut listed = Vec::new();
    for (version, stored) in &artifacts {
        let a = &stored.artifact;
        let kept = versions_per_platform.entry(a.platform).or_default();
        if !kept.contains(version) {
            if kept.len() >= cfg.keep_releases && !directives.contains_key(version) {
                continue;
            }
            kept.push(version.clone());
        }
        let nth = seen
            .entry((version.clone(), a.platform, a.kind.as_str()))
            .or_insert(0);
        let name = target_name(product, version, a.platform, a.kind.as_str(), *nth);
        *nth += 1;
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".to_owned(), a.sha256.clone());
        let rollout = rollouts.get(version).map(|r| cfg.rollout_state(r));
        let notes_sha256 = state.notes.get(&version.to_string()).cloned();
        let custom = TargetCustom {
            product: product.to_owned(),
            version: version.clone(),
            platform: a.platform,
            kind: a.kind.as_str().to_owned(),
            channels: rollout
                .as_ref()
                .map(|r| r.bps.keys().cloned().collect())
                .unwrap_or_default(),
            artifact: a.name.clone(),
            release_signature: a.signature.clone(),
            release_key_id: a.key_id.clone(),
            // Relative to the feed's base URL; the digest lets a client check the text.
            notes: notes_sha256.as_ref().map(|_| format!("notes/{version}.md")),
            notes_sha256,
            rollout,
            rollback: directives.get(version).cloned(),
            data_schema: state.schemas.get(&version.to_string()).copied(),
            file: a.file.clone(),
            minimum_os: a.minimum_os.clone(),
            security: state.security.get(&version.to_string()).cloned(),
        };
        out.insert(
            name.clone(),
            TargetFile {
                length: a.size,
                hashes,
                custom: Some(serde_json::to_value(&custom).expect("custom serialises")),
            },
        );
        listed.push((name, custom, a.size, a.sha256.clone()));
    }
    add_deltas(&mut out, &listed, &state.deltas);
    out
}

/// Adds a target for every kept delta between two listed targets that
/// [`relops_core::offer::deltas::pairs`] pairs.
fn add_deltas(
    out: &mut BTreeMap<String, TargetFile>,
    listed: &[(String, TargetCustom, u64, String)],
    deltas: &[relops_store::DeltaRecord],
) {
    use relops_core::offer::deltas::{self, Candidate, DeltaCustom, DeltaOf};
    let files: HashMap<(&str, &str), &relops_store::DeltaFile> = deltas
        .iter()
        .filter_map(|d| {
            Some((
                (d.base_sha256.as_str(), d.new_sha256.as_str()),
                d.file.as_ref()?,
            ))
        })
        .collect();
    let candidates: Vec<Candidate<'_>> = listed
        .iter()
        .map(|(_, c, _, _)| Candidate {
            version: &c.version,
            platform: c.platform,
            kind: &c.kind,
        })
        .collect();
    for (new, base) in deltas::pairs(&candidates) {
        let ((new_name, _, _, new_sha), (base_name, base, base_len, base_sha)) =
            (&listed[new], &listed[base]);
        let Some(file) = files.get(&(base_sha.as_str(), new_sha.as_str())) else {
            continue;
        };
        let custom = DeltaCustom {
            delta: DeltaOf {
                target: new_name.clone(),
                base_target: base_name.clone(),
                base_version: base.version.clone(),
                base_length: *base_len,
                base_sha256: base_sha.clone(),
                format: deltas::FORMAT.to_owned(),
            },
        };
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".to_owned(), file.sha256.clone());
        out.insert(
            deltas::target_name(new_name, &base.version),
            TargetFile {
                length: file.size,
                hashes,
                custom: Some(serde_json::to_value(custom).expect("custom serialises")),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn setup() -> (tempfile::TempDir, Db, Feed) {
        let dir = tempfile::tempdir().unwrap();
        crate::services::key_files::ensure_keys(&dir.path().join("keys"), 1).unwrap();
        let db = Db::connect(&format!("sqlite://{}/relops.db", dir.path().display()))
            .await
            .unwrap();
        let feed = Feed::open(
            &db,
            &["wizard".to_owned()],
            &dir.path().join("keys"),
            FeedConfig::default(),
        )
        .await
        .unwrap();
        (dir, db, feed)
    }

    fn versions(feed: &Feed) -> (u64, u64, u64, u64) {
        feed.current("wizard").unwrap().versions()
    }

    #[tokio::test]
    async fn first_open_signs_root_and_an_empty_set_once() {
        let (_dir, db, feed) = setup().await;
        assert_eq!(versions(&feed), (1, 1, 1, 1));
        // Nothing changed: nothing new is signed, now or on the next start.
        assert!(!feed.publish(&db, "wizard").await.unwrap());
        let again = Feed::open(
            &db,
            &["wizard".to_owned()],
            &_dir.path().join("keys"),
            FeedConfig::default(),
        )
        .await
        .unwrap();
        assert_eq!(versions(&again), (1, 1, 1, 1));
        let p = again.current("wizard").unwrap();
        assert_eq!(
            p.metadata("timestamp.json"),
            feed.current("wizard").unwrap().metadata("timestamp.json")
        );
        assert!(p.metadata("1.root.json").is_some());
        assert!(p.metadata("root.json").is_some());
        for bad in [
            "2.root.json",
            "x.targets.json",
            "1.targets",
            "../1.root.json",
            "1.foo.json",
        ] {
            assert!(p.metadata(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_interrupted_rotation_is_finished_or_discarded_at_start() {
        let (dir, db, feed) = setup().await;
        let keys = dir.path().join("keys");
        let products = ["wizard".to_owned()];
        let open = || Feed::open(&db, &products, &keys, FeedConfig::default());
        // Died before publishing: the pending key is unused and removed.
        crate::services::key_files::create_next_key(&keys, "timestamp").unwrap();
        let again = open().await.unwrap();
        assert!(!keys.join("timestamp.next.json").exists());
        assert_eq!(versions(&again).0, 1);
        drop(again);
        // Died after publishing, before the rename: the stored root lists the pending key,
        // so start-up makes it current, and metadata it signs verifies.
        feed.rotate(&db, &keys, "snapshot").await.unwrap();
        let current = std::fs::read(keys.join("snapshot.json")).unwrap();
        let retired: Vec<_> = std::fs::read_dir(&keys)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("snapshot.retired-")
            })
            .collect();
        assert_eq!(retired.len(), 1);
        // Undo the rename as if the process had died just before it.
        std::fs::rename(keys.join("snapshot.json"), keys.join("snapshot.next.json")).unwrap();
        std::fs::rename(retired[0].path(), keys.join("snapshot.json")).unwrap();
        let again = open().await.unwrap();
        assert_eq!(std::fs::read(keys.join("snapshot.json")).unwrap(), current);
        assert!(!keys.join("snapshot.next.json").exists());
        // It signs with the promoted key: a forced re-sign verifies against the stored root.
        assert!(
            again
                .publish_at(&db, "wizard", Utc::now() + Duration::days(4))
                .await
                .unwrap()
        );
        let p = again.current("wizard").unwrap();
        let root: Signed<Root> = Signed::from_bytes(p.roots.values().next_back().unwrap()).unwrap();
        let snap: serde_json::Value =
            serde_json::from_slice(p.snapshots.values().next_back().unwrap()).unwrap();
        relops_tuf::verify_role(&snap, &root.signed.keys, &root.signed.roles["snapshot"]).unwrap();
    }

    #[tokio::test]
    async fn metadata_is_re_signed_before_it_expires() {
        let (_dir, db, feed) = setup().await;
        let now = Utc::now();
        // 11 h in: the 24 h timestamp has more than half its life left.
        assert!(
            !feed
                .publish_at(&db, "wizard", now + Duration::hours(11))
                .await
                .unwrap()
        );
        // 13 h in: a new timestamp, same snapshot and targets.
        assert!(
            feed.publish_at(&db, "wizard", now + Duration::hours(13))
                .await
                .unwrap()
        );
        assert_eq!(versions(&feed), (1, 1, 1, 2));
        // 4 days in: the 7-day snapshot is past half its life too.
        assert!(
            feed.publish_at(&db, "wizard", now + Duration::days(4))
                .await
                .unwrap()
        );
        assert_eq!(versions(&feed), (1, 1, 2, 3));
        // 46 days in: targets (90 days) as well.
        assert!(
            feed.publish_at(&db, "wizard", now + Duration::days(46))
                .await
                .unwrap()
        );
        assert_eq!(versions(&feed), (1, 2, 3, 4));
        let ts: Signed<Timestamp> =
            Signed::from_bytes(&feed.current("wizard").unwrap().timestamp).unwrap();
        assert_eq!(ts.signed.snapshot_version(), Some(3));
        assert!(ts.signed.common.expires > now + Duration::days(46));
    }
}
