//! Crash analysis (issue 30): symbol files, the processing of every crash into a stack,
//! and crash groups with their history per release.
//!
//! Processing runs off the ingest path ([`Ops::process_crashes`], called by the crash
//! worker): new crashes get a pending analysis, then up to `[crashes] workers` dumps are
//! processed at a time on the crash pool's low-priority threads (the stack walk is CPU
//! work) with a timeout, and a panic in the processor ends as "unprocessable", not as a
//! dead worker.
//! Sealed dumps are opened in memory with the crash key; only the analysis is stored.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use relops_api::{
    AnalysisStatus, CrashAnalysis, CrashGroup, CrashGroupHistory, CrashGroupList, GroupInRelease,
    SymbolFileInfo, SymbolList,
};
use relops_core::access::Permission;
use relops_core::version::Version;
use relops_store::{AnalysisOutcome, GroupRecord, GroupStat, PendingCrash, SymbolRecord};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

/// Crash groups a ticket's analysis and an incident show.
pub(crate) const EVIDENCE_GROUPS: usize = 10;

/// Characters of the fingerprint that name a group (64 bits of SHA-256).
const GROUP_ID_LEN: usize = 16;

fn symbol_info(r: SymbolRecord, reprocessing: u64) -> SymbolFileInfo {
    SymbolFileInfo {
        module: r.module,
        debug_id: r.debug_id,
        os: r.os,
        arch: r.arch,
        release: r.release,
        size: r.size,
        sha256: r.sha256,
        uploaded_at: r.uploaded_at,
        reprocessing,
    }
}

/// Versions in release order; names that are not versions sort after, by name.
fn by_version(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<Version>(), b.parse::<Version>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// A group as the API shows it, with its figures in `release` (all releases when `None`).
fn group_view(g: &GroupRecord, stats: &[&GroupStat], release: Option<&str>) -> CrashGroup {
    let releases: BTreeSet<&str> = stats.iter().map(|s| s.release.as_str()).collect();
    let mut releases: Vec<String> = releases.into_iter().map(str::to_owned).collect();
    releases.sort_by(|a, b| by_version(a, b));
    let platforms: BTreeSet<String> = stats.iter().map(|s| s.platform.clone()).collect();
    let here = stats
        .iter()
        .filter(|s| release.is_none_or(|r| s.release == r));
    let (count, installs) = here.fold((0, 0), |(c, i), s| (c + s.count, i + s.installs));
    let new_in_release = release.is_some_and(|r| {
        releases
            .iter()
            .all(|x| by_version(x, r) != std::cmp::Ordering::Less)
    });
    let regressed = g.fixed_in.as_deref().is_some_and(|fixed| {
        releases
            .iter()
            .any(|x| by_version(x, fixed) != std::cmp::Ordering::Less)
    });
    CrashGroup {
        id: g.id.clone(),
        fingerprint: g.fingerprint.clone(),
        signature: g.signature.clone(),
        exception: g.exception.clone(),
        first_seen: g.first_seen,
        last_seen: g.last_seen,
        first_release: releases.first().cloned().unwrap_or_default(),
        releases,
        platforms: platforms.into_iter().collect(),
        count,
        installs,
        new_in_release,
        fixed_in: g.fixed_in.clone(),
        regressed,
    }
}

impl Ops {
    /// Stores a Breakpad symbol file under its module and debug id (its `MODULE` line), for
    /// `release` if named, and queues again the crashes that lacked it.
    pub async fn upload_symbols(
        &self,
        actor: &Actor,
        product: &str,
        release: Option<&str>,
        body: Bytes,
    ) -> OpResult<SymbolFileInfo> {
        let who = actor.authorize(Permission::ArtifactWrite)?;
        let max = self.config.crashes.max_symbol_bytes;
        if body.len() as u64 > max {
            return Err(OpError::TooLarge(format!(
                "the symbol file is {} bytes; `[crashes] max_symbol_bytes` allows {max}",
                body.len()
            )));
        }
        let header =
            relops_crash::symfile::header(&body).map_err(|e| OpError::Invalid(e.to_string()))?;
        if let Some(r) = release {
            let v = r
                .parse::<Version>()
                .map_err(|e| OpError::Invalid(format!("`release` must be a version: {e}")))?;
            self.db.release(product, &v).await?.ok_or_else(|| {
                OpError::NotFound(format!(
                    "no release {r}: symbols name a release that exists (`relops release list`), or none"
                ))
            })?;
        }
        // The whole file must parse: a broken one is refused now, not found broken when a
        // crash needs it.
        let parsed = body.clone();
        tokio::task::spawn_blocking(move || {
            relops_crash::SymbolFile::from_bytes(&parsed).map(drop)
        })
        .await
        .map_err(|e| OpError::Internal(anyhow::anyhow!("checking the symbol file failed: {e}")))?
        .map_err(|e| OpError::Invalid(format!("the symbol file does not parse: {e}")))?;
        let sha = hex::encode(Sha256::digest(&body));
        let key = format!("symbols/sha256/{sha}");
        self.blobs.put_once(&key, body.clone()).await?;
        let record = SymbolRecord {
            module: header.module.clone(),
            debug_id: header.debug_id.clone(),
            os: header.os,
            arch: header.arch,
            release: release.map(str::to_owned),
            size: body.len() as u64,
            sha256: sha,
            blob_key: key,
            uploaded_at: Utc::now(),
        };
        let audit = who.audit(
            "symbols.upload",
            format!("{product}/{}/{}", header.module, header.debug_id),
            json!({"release": release, "size": record.size, "sha256": record.sha256}),
        );
        let queued = self
            .db
            .save_symbols(product, &record, &who.name, &audit)
            .await?;
        self.symbolizers.forget(product);
        self.crash_work.notify_one();
        Ok(symbol_info(record, queued))
    }

    /// Symbol files of a product (of one release, if named), newest first.
    pub async fn symbol_files(
        &self,
        actor: &Actor,
        product: &str,
        release: Option<&str>,
    ) -> OpResult<SymbolList> {
        actor.authorize(Permission::ReleaseRead)?;
        let list = self.db.symbol_files(product, release).await?;
        Ok(SymbolList {
            symbols: list.into_iter().map(|r| symbol_info(r, 0)).collect(),
        })
    }

    /// The crash groups of a release, most crashes first.
    pub async fn crash_groups(
        &self,
        actor: &Actor,
        product: &str,
        release: &str,
    ) -> OpResult<CrashGroupList> {
        actor.authorize(Permission::ReleaseRead)?;
        self.telemetry_visible().await?;
        self.groups_of(product, release, usize::MAX).await
    }

    /// The crash groups of a release, most crashes first (at most `limit`), for callers
    /// that authorized already (a ticket's analysis, an incident).
    pub(crate) async fn groups_of(
        &self,
        product: &str,
        release: &str,
        limit: usize,
    ) -> OpResult<CrashGroupList> {
        let (groups, stats) = self.db.groups_of_release(product, release).await?;
        let mut by_group: BTreeMap<&str, Vec<&GroupStat>> = BTreeMap::new();
        for s in &stats {
            by_group.entry(s.group_id.as_str()).or_default().push(s);
        }
        let mut list: Vec<CrashGroup> = groups
            .iter()
            .map(|g| {
                let s = by_group
                    .get(g.id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                group_view(g, s, Some(release))
            })
            .collect();
        list.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
        list.truncate(limit);
        Ok(CrashGroupList {
            release: release.to_owned(),
            groups: list,
            pending: self.db.pending_count(product, Some(release)).await?,
        })
    }

    async fn load_group(&self, product: &str, id: &str) -> OpResult<GroupRecord> {
        self.db.crash_group(product, id).await?.ok_or_else(|| {
            OpError::NotFound(format!(
                "no crash group `{id}`: `relops crash groups VERSION` lists them"
            ))
        })
    }

    /// A crash group's history: per release, its newest crashes and their stack.
    pub async fn crash_group(
        &self,
        actor: &Actor,
        product: &str,
        id: &str,
    ) -> OpResult<CrashGroupHistory> {
        actor.authorize(Permission::ReleaseRead)?;
        self.telemetry_visible().await?;
        let g = self.load_group(product, id).await?;
        let stats = self.db.group_history(product, id).await?;
        let refs: Vec<&GroupStat> = stats.iter().collect();
        let mut per: BTreeMap<&str, GroupInRelease> = BTreeMap::new();
        for s in &stats {
            let e = per.entry(s.release.as_str()).or_insert(GroupInRelease {
                release: s.release.clone(),
                count: 0,
                installs: 0,
                first_seen: s.first_seen,
                last_seen: s.last_seen,
            });
            e.count += s.count;
            e.installs += s.installs;
            e.first_seen = e.first_seen.min(s.first_seen);
            e.last_seen = e.last_seen.max(s.last_seen);
        }
        let mut per_release: Vec<GroupInRelease> = per.into_values().collect();
        per_release.sort_by(|a, b| by_version(&a.release, &b.release));
        let crashes = self.db.group_crashes(product, id, 20).await?;
        let frames = crashes
            .iter()
            .find_map(|(_, r)| {
                serde_json::from_str::<CrashAnalysis>(r)
                    .ok()
                    .filter(|a| !a.frames.is_empty())
            })
            .map(|a| a.frames)
            .unwrap_or_default();
        Ok(CrashGroupHistory {
            group: group_view(&g, &refs, None),
            per_release,
            frames,
            crashes: crashes.into_iter().map(|(id, _)| id).collect(),
        })
    }

    /// Marks the release that fixes a crash group (`None` clears it): a crash of the group
    /// from that release or a later one shows the group as regressed.
    pub async fn mark_crash_group_fixed(
        &self,
        actor: &Actor,
        product: &str,
        id: &str,
        fixed_in: Option<&str>,
    ) -> OpResult<CrashGroupHistory> {
        let who = actor.authorize(Permission::ReleaseWrite)?;
        if let Some(v) = fixed_in {
            v.parse::<Version>().map_err(|e| {
                OpError::Invalid(format!("`fixed_in` must be a release version: {e}"))
            })?;
        }
        let audit = who.audit(
            "crash.group_fixed",
            format!("{product}/{id}"),
            json!({"fixed_in": fixed_in}),
        );
        if !self
            .db
            .mark_group_fixed(product, id, fixed_in, &audit)
            .await?
        {
            self.load_group(product, id).await?;
        }
        self.crash_group(actor, product, id).await
    }

    /// One round of the crash worker: queues crashes received since `since` that have no
    /// analysis, then processes pending ones. Returns how many it processed.
    pub async fn process_crashes(&self, since: DateTime<Utc>) -> OpResult<usize> {
        self.db.enqueue_new_crashes(since).await?;
        let cfg = &self.config.crashes;
        let limit = u32::try_from(cfg.workers * 4).unwrap_or(u32::MAX);
        let pending = self.db.pending_crashes(limit, cfg.max_attempts).await?;
        let n = pending.len();
        let results: Vec<OpResult<()>> = futures::stream::iter(pending)
            .map(|c| self.process_one(c))
            .buffer_unordered(cfg.workers)
            .collect()
            .await;
        for r in results {
            r?;
        }
        Ok(n)
    }

    /// Crashes waiting to be processed, of every product.
    pub async fn crash_backlog(&self) -> OpResult<u64> {
        let mut n = 0;
        for p in self.config.products.iter() {
            n += self.db.pending_count(p, None).await?;
        }
        Ok(n)
    }

    async fn process_one(&self, c: PendingCrash) -> OpResult<()> {
        let analysis = match self.open_dump(&c.crash_id, &c.payload).await {
            Ok(Some((dump, _))) => self.process_dump(&c.product, dump).await,
            Ok(None) => {
                let payload: Value = serde_json::from_str(&c.payload).unwrap_or(Value::Null);
                let event = payload.get("event").unwrap_or(&payload);
                relops_crash::event::analyse(
                    event,
                    relops_crash::process::Limits::default().max_frames,
                )
            }
            Err(e @ (OpError::Unreadable(_) | OpError::NotFound(_))) => CrashAnalysis {
                status: AnalysisStatus::Unprocessable,
                reason: Some(e.to_string()),
                ..CrashAnalysis::default()
            },
            Err(e) => return Err(e),
        };
        self.save_crash_analysis(&c, analysis).await
    }

    /// A dump processed on a crash pool thread (the walk is CPU work, done at the lowest
    /// priority), bounded in time.
    async fn process_dump(&self, product: &str, dump: Bytes) -> CrashAnalysis {
        let cfg = &self.config.crashes;
        let limits = relops_crash::process::Limits {
            max_threads: cfg.max_threads,
            max_modules: cfg.max_modules,
            ..relops_crash::process::Limits::default()
        };
        let symbolizer = self.symbolizers.of(product, &self.db, &self.blobs);
        let timeout = Duration::from_secs(cfg.process_timeout_seconds);
        let rt = tokio::runtime::Handle::current();
        // The timer is made inside `block_on`: it needs the runtime's context.
        let run = self.crash_pool.run(move || {
            rt.block_on(async move {
                tokio::time::timeout(
                    timeout,
                    relops_crash::process::process(&dump, &symbolizer, limits),
                )
                .await
            })
        });
        let unprocessable = |reason: String| CrashAnalysis {
            status: AnalysisStatus::Unprocessable,
            reason: Some(reason),
            ..CrashAnalysis::default()
        };
        match run.await {
            Ok(Ok(Ok(a))) => a,
            Ok(Ok(Err(e))) => unprocessable(e.0),
            Ok(Err(_)) => unprocessable(format!(
                "processing took longer than {} s (`[crashes] process_timeout_seconds`)",
                cfg.process_timeout_seconds
            )),
            // The job panicked (logged by the pool).
            Err(_) => unprocessable("the minidump processor failed on this dump".into()),
        }
    }

    async fn save_crash_analysis(&self, c: &PendingCrash, mut a: CrashAnalysis) -> OpResult<()> {
        let now = Utc::now();
        a.processed_at = Some(now);
        // Unprocessable and stackless crashes have no frames and no exception: no group.
        let fp = relops_crash::fingerprint::of(&a, self.config.crashes.fingerprint_frames);
        let id = fp.as_ref().map(|f| f.hash[..GROUP_ID_LEN].to_owned());
        a.group = id.clone();
        a.signature = fp.as_ref().map(|f| f.signature.clone());
        let missing: Vec<(String, String)> = a
            .missing_symbols
            .iter()
            .map(|m| (m.module.clone(), m.debug_id.clone()))
            .collect();
        let result = serde_json::to_string(&a)
            .map_err(|e| OpError::Internal(anyhow::anyhow!("cannot write an analysis: {e}")))?;
        let group = match (&id, &fp) {
            (Some(id), Some(f)) => Some((
                id.as_str(),
                f.hash.as_str(),
                f.signature.as_str(),
                a.exception.as_deref(),
            )),
            _ => None,
        };
        let critical = c
            .critical
            .is_none()
            .then(|| self.config.alerts.classify_stack(&a))
            .flatten();
        let became_critical = self
            .db
            .save_analysis(
                &c.product,
                &c.crash_id,
                &AnalysisOutcome {
                    status: a.status.as_str(),
                    result,
                    group,
                    missing: &missing,
                    at: c.received_at,
                    processed_at: now,
                    critical,
                },
            )
            .await?;
        crate::metrics::crash_processed(a.status.as_str());
        if let (true, Some(rule)) = (became_critical, critical) {
            self.count_critical(c, rule).await;
        }
        Ok(())
    }

    /// A stack rule classed the crash critical (stored with its analysis): the health
    /// engine counts it as the critical crash it is (the rollback rule may fire on it),
    /// and so do the other replicas'.
    async fn count_critical(&self, c: &PendingCrash, rule: &str) {
        tracing::warn!(
            product = c.product,
            crash = c.crash_id,
            rule,
            "a crash's stack matched a critical rule"
        );
        let record = relops_ingest::Record::Event {
            scope: relops_ingest::Scope {
                release: c.release.clone(),
                channel: c.channel.clone(),
                platform: relops_ingest::record::platform_named(&c.platform),
            },
            event_id: c.crash_id.clone(),
            install_id: c.install_id.clone(),
            crash: true,
            critical: Some(rule.to_owned()),
            code: None,
            payload: String::new(),
        };
        let records = [record];
        let tallies: Vec<_> = relops_ingest::tallies(&records, &[true]).collect();
        if let Err(e) = self
            .db
            .share_tallies(&c.product, &tallies, c.received_at)
            .await
        {
            tracing::error!(product = c.product, crash = c.crash_id, error = ?e, "telling the other replicas of a critical crash failed; they count it after their next restart");
        }
        self.health
            .observe(&c.product, &records, &[true], c.received_at);
    }
}
