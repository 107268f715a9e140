//! Retention (issue 28 part 4; R-RET-1, R-RB-3, R-CR-4): `relops retention plan` says what
//! the `[retention]` rules remove at a given time and why; `relops retention apply` (and the
//! daily run, once per deployment) removes it.
//!
//! A run surveys every class — artifacts and replaced uploads, evidence files (including
//! those no verdict names any more), symbol files, log bundles, crash dumps and their
//! attachments (from the blob store's listing, kept while a young crash names them),
//! telemetry rows, closed tickets, the audit trail — judges each item with
//! [`relops_core::retention`], and then:
//! 1. removes the rows and queues their files in one transaction, with the audit entries:
//!    one per artifact, evidence file and symbol file; one per run for log bundles, crash
//!    dumps and telemetry, naming the cutoff (everything of the class before it went);
//! 2. deletes each queued file unless a row names it again (the same bytes uploaded anew);
//!    a failed deletion stays queued for the next run;
//! 3. erases closed tickets past `[support] retain_closed_days` and, for the daily run or a
//!    caller who holds `audit.manage`, prunes the audit trail behind a signed checkpoint.
//!
//! Releases the signed feed lists are pinned, so retention never changes the feed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use relops_api::{PinnedRelease, RetentionApplied, RetentionItem, RetentionPlan, RetentionRule};
use relops_core::access::Permission;
use relops_core::release::ReleaseState;
use relops_core::retention::{
    DataClass, Item, Pins, ReleaseFact, Rules, Verdict, doomed_blobs, judge, pinned,
};
use relops_core::version::Version;
use relops_store::{BlobError, RowRef};
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::{Actor, Authorized, Ops};

/// Items removed per class and run; the rest wait for the next run.
const MAX_PER_CLASS: usize = 10_000;
/// Items a plan lists one by one.
const MAX_LISTED: usize = 1_000;
/// The name the daily run acts under in the audit trail.
pub(crate) const RETENTION_ACTOR: &str = "relops retention (system)";

/// One item, what becomes of it, and the row that goes with it.
struct Judged {
    item: Item,
    verdict: Verdict,
    row: Option<RowRef>,
}

/// Everything a run looks at, judged at `at`.
struct Survey {
    at: DateTime<Utc>,
    rules: Rules,
    pins: Pins,
    judged: Vec<Judged>,
    /// Files that go, with their class and size.
    doomed: BTreeMap<String, (DataClass, u64)>,
    /// Telemetry rows past the rule: (table, product, rows).
    telemetry: Vec<(String, String, u64)>,
    tickets: u64,
    audit_entries: u64,
    /// Files an earlier run queued and could not delete.
    queued: u64,
}

impl Survey {
    fn cutoff(&self, class: DataClass) -> Option<DateTime<Utc>> {
        self.rules.cutoff(class, self.at)
    }

    /// Per class: what goes, its bytes, and what is past its age but pinned.
    fn rules_summary(&self) -> Vec<RetentionRule> {
        DataClass::ALL
            .iter()
            .map(|&class| {
                let cutoff = self.cutoff(class);
                let of_class = self.judged.iter().filter(|j| j.item.class == class);
                let removes = match class {
                    DataClass::Telemetry => self.telemetry.iter().map(|t| t.2).sum(),
                    DataClass::Tickets => self.tickets,
                    DataClass::Audit => self.audit_entries,
                    _ => of_class.clone().filter(|j| j.verdict.removes()).count() as u64,
                };
                let kept_pinned = of_class
                    .filter(|j| {
                        matches!(j.verdict, Verdict::Pinned { .. })
                            && cutoff.is_some_and(|c| j.item.since < c)
                    })
                    .count() as u64;
                RetentionRule {
                    class: class.as_str().into(),
                    what: class.what().into(),
                    days: self.rules.days(class),
                    removes,
                    bytes: self
                        .doomed
                        .values()
                        .filter(|(c, _)| *c == class)
                        .map(|(_, b)| b)
                        .sum(),
                    kept_pinned,
                }
            })
            .collect()
    }
}

fn class_of(row: &RowRef) -> DataClass {
    match row {
        RowRef::Artifact { .. } | RowRef::Replaced { .. } => DataClass::Artifacts,
        RowRef::Symbol { .. } => DataClass::Symbols,
        RowRef::LogBundle { .. } => DataClass::LogBundles,
        RowRef::Evidence => DataClass::Evidence,
    }
}

impl Ops {
    /// What a retention run at `at` (`YYYY-MM-DD` or RFC 3339; default: now; never
    /// earlier) would remove, and why.
    pub async fn retention_plan(&self, actor: &Actor, at: Option<&str>) -> OpResult<RetentionPlan> {
        actor.authorize(Permission::ReleaseRead)?;
        let now = Utc::now();
        let at = match at.map(crate::audit::parse_since).transpose()? {
            Some(t) if t < now - chrono::Duration::minutes(1) => {
                return Err(OpError::Invalid(
                    "a plan is for now or a later date (`--at`): what is gone cannot be planned"
                        .into(),
                ));
            }
            Some(t) => t.max(now),
            None => now,
        };
        let s = self.survey(at).await?;
        let mut items: Vec<RetentionItem> = Vec::new();
        let mut left_off = 0u64;
        let mut push = |i: RetentionItem| {
            if items.len() < MAX_LISTED {
                items.push(i);
            } else {
                left_off += 1;
            }
        };
        for j in s.judged.iter().filter(|j| j.verdict.removes()) {
            push(RetentionItem {
                class: j.item.class.as_str().into(),
                product: j.item.product.clone(),
                id: j.item.id.clone(),
                release: j.item.release.as_ref().map(ToString::to_string),
                count: 1,
                bytes: j.item.bytes,
                since: Some(j.item.since),
                reason: j.verdict.reason().to_owned(),
            });
        }
        if let Some(cutoff) = s.cutoff(DataClass::Telemetry) {
            for (table, product, rows) in &s.telemetry {
                push(RetentionItem {
                    class: DataClass::Telemetry.as_str().into(),
                    product: product.clone(),
                    id: table.clone(),
                    release: None,
                    count: *rows,
                    bytes: 0,
                    since: None,
                    reason: format!(
                        "rows from before {}; telemetry is kept {} days",
                        cutoff.format("%Y-%m-%d"),
                        s.rules.telemetry_days
                    ),
                });
            }
        }
        Ok(RetentionPlan {
            at: s.at,
            rules: s.rules_summary(),
            pinned: s
                .pins
                .iter()
                .map(|((product, version), why)| PinnedRelease {
                    product: product.clone(),
                    version: version.to_string(),
                    why: why.clone(),
                })
                .collect(),
            items,
            items_left_off: left_off,
            blobs_left_over: s.queued,
        })
    }

    /// Removes what the rules say has expired. The audit trail is pruned too when the caller
    /// also holds `audit.manage`.
    pub async fn apply_retention(&self, actor: &Actor) -> OpResult<RetentionApplied> {
        let who = actor.authorize(Permission::RetentionApply)?;
        let prune_audit = actor.authorize(Permission::AuditManage).is_ok();
        self.run_retention(&who, prune_audit, Utc::now()).await
    }

    /// The daily run: once per deployment and day (the replicas' maintenance loops all ask).
    pub(crate) async fn daily_retention(
        &self,
        now: DateTime<Utc>,
    ) -> OpResult<Option<RetentionApplied>> {
        if !self.config.retention.daily
            || !self
                .db
                .claim_retention_run(now, chrono::Duration::hours(23))
                .await?
        {
            return Ok(None);
        }
        let who = Authorized {
            name: RETENTION_ACTOR.into(),
            request_id: None,
        };
        self.run_retention(&who, true, now).await.map(Some)
    }

    async fn run_retention(
        &self,
        who: &Authorized,
        prune_audit: bool,
        at: DateTime<Utc>,
    ) -> OpResult<RetentionApplied> {
        let s = self.survey(at).await?;
        let rows: Vec<RowRef> = s
            .judged
            .iter()
            .filter(|j| j.verdict.removes())
            .filter_map(|j| j.row.clone())
            .filter(|r| *r != RowRef::Evidence)
            .collect();
        let blobs: Vec<(String, String)> = s
            .doomed
            .iter()
            .map(|(k, (c, _))| (k.clone(), c.as_str().to_owned()))
            .collect();
        let mut audit = Vec::new();
        let mut counted: HashMap<DataClass, (u64, u64)> = HashMap::new();
        for j in s.judged.iter().filter(|j| j.verdict.removes()) {
            let c = counted.entry(j.item.class).or_default();
            c.0 += 1;
            c.1 += j.item.bytes;
            if matches!(
                j.item.class,
                DataClass::Artifacts | DataClass::Evidence | DataClass::Symbols
            ) {
                let release = j
                    .item
                    .release
                    .as_ref()
                    .map_or("-".to_owned(), ToString::to_string);
                audit.push(who.audit(
                    "retention.removed",
                    format!("{}/{release}/{}", j.item.product, j.item.id),
                    json!({
                        "class": j.item.class.as_str(),
                        "files": j.item.blobs,
                        "bytes": j.item.bytes,
                        "since": j.item.since,
                        "reason": j.verdict.reason(),
                    }),
                ));
            }
        }
        for class in [DataClass::LogBundles, DataClass::CrashDumps] {
            if let (Some((n, bytes)), Some(before)) = (counted.get(&class), s.cutoff(class)) {
                audit.push(who.audit(
                    "retention.removed",
                    class.as_str().into(),
                    json!({"class": class.as_str(), "items": n, "bytes": bytes, "before": before}),
                ));
            }
        }
        let telemetry_rows: u64 = s.telemetry.iter().map(|t| t.2).sum();
        let telemetry_before = s
            .cutoff(DataClass::Telemetry)
            .filter(|_| telemetry_rows > 0);
        if let Some(before) = telemetry_before {
            let tables: BTreeMap<&str, u64> =
                s.telemetry.iter().fold(BTreeMap::new(), |mut m, t| {
                    *m.entry(t.0.as_str()).or_default() += t.2;
                    m
                });
            audit.push(who.audit(
                "retention.removed",
                "telemetry".into(),
                json!({"class": "telemetry", "rows": tables, "before": before}),
            ));
        }
        if !rows.is_empty() || !blobs.is_empty() || !audit.is_empty() {
            self.db
                .retention_remove(&rows, telemetry_before, &blobs, &audit)
                .await?;
        }
        let (blobs_deleted, blobs_failed) = self.delete_queued_blobs(&s).await?;
        let mut applied = s.rules_summary();
        if s.rules.days(DataClass::Tickets).is_some() {
            let erased = self.apply_ticket_retention().await? as u64;
            set_removed(&mut applied, DataClass::Tickets, erased);
        }
        match s.cutoff(DataClass::Audit) {
            Some(before) if prune_audit && s.audit_entries > 0 => {
                self.prune_audit_before(who, before).await?;
            }
            _ => set_removed(&mut applied, DataClass::Audit, 0),
        }
        let left: u64 = s
            .judged
            .iter()
            .filter(|j| j.verdict.reason() == LEFT_FOR_NEXT_RUN)
            .count() as u64;
        if blobs_deleted + telemetry_rows > 0 || !rows.is_empty() {
            tracing::info!(
                rows = rows.len(),
                telemetry_rows,
                blobs_deleted,
                blobs_failed,
                "retention removed what its rules say has expired"
            );
        }
        Ok(RetentionApplied {
            at: s.at,
            rules: applied,
            blobs_deleted,
            blobs_failed,
            left_for_next_run: left,
        })
    }

    /// Deletes every queued file no row names; answers (deleted, failed).
    async fn delete_queued_blobs(&self, s: &Survey) -> OpResult<(u64, u64)> {
        let (mut deleted, mut failed) = (0, 0);
        for (key, class) in self.db.retention_blob_queue().await? {
            let class = DataClass::ALL
                .into_iter()
                .find(|c| c.as_str() == class)
                .unwrap_or(DataClass::Artifacts);
            let since = s.cutoff(class).unwrap_or(s.at);
            if self.db.blob_named(&key, since).await? {
                self.db.retention_blob_done(&key).await?;
                continue;
            }
            match self.blobs.delete(&key).await {
                Ok(()) | Err(BlobError::NotFound(_)) => {
                    self.db.retention_blob_done(&key).await?;
                    deleted += 1;
                }
                Err(e) => {
                    tracing::error!(key, error = %e, "deleting a file retention removed failed; the next run retries");
                    failed += 1;
                }
            }
        }
        Ok((deleted, failed))
    }

    /// Gathers and judges everything the rules apply to at `at`.
    async fn survey(&self, at: DateTime<Utc>) -> OpResult<Survey> {
        let cfg = &self.config;
        let rules = cfg
            .retention
            .rules(cfg.audit.retention_days, cfg.support.retain_closed_days);
        // The feed's releases and the channels they are offered on.
        let mut in_feed = BTreeSet::new();
        let mut channels: HashMap<(String, Version), BTreeSet<String>> = HashMap::new();
        for product in &cfg.products {
            if let Some(feed) = self.feed.current(product) {
                for t in feed.offerable.iter() {
                    let key = (product.clone(), t.custom.version.clone());
                    channels
                        .entry(key.clone())
                        .or_default()
                        .extend(t.custom.channels.iter().cloned());
                    in_feed.insert(key);
                }
            }
        }
        let releases: Vec<ReleaseFact> = self
            .db
            .retention_releases()
            .await?
            .into_iter()
            .filter_map(|(product, version, state)| {
                let version: Version = version.parse().ok()?;
                let state: ReleaseState = state.parse().ok()?;
                let channels = channels
                    .get(&(product.clone(), version.clone()))
                    .map(|c| c.iter().cloned().collect())
                    .unwrap_or_default();
                Some(ReleaseFact {
                    product,
                    version,
                    state,
                    channels,
                })
            })
            .collect();
        let pins = pinned(&releases, rules.keep_releases, &in_feed);

        let mut items: Vec<(Item, Option<RowRef>)> = Vec::new();
        let evidence_files: HashMap<String, (u64, DateTime<Utc>)> = self
            .blobs
            .list("evidence/")
            .await?
            .into_iter()
            .map(|(k, size, at)| (k, (size, at)))
            .collect();
        let mut named_evidence = HashSet::new();
        for r in self.db.retention_stored().await? {
            let class = class_of(&r.row);
            if class == DataClass::Evidence {
                // A file removed by an earlier run leaves its verdict naming it: nothing to do.
                if !evidence_files.contains_key(&r.blob_key) {
                    continue;
                }
                named_evidence.insert(r.blob_key.clone());
            }
            items.push((
                Item {
                    class,
                    product: r.product,
                    id: r.what,
                    release: r.release.and_then(|v| v.parse().ok()),
                    bytes: r.bytes,
                    since: r.since,
                    blobs: vec![r.blob_key],
                },
                Some(r.row),
            ));
        }
        // Evidence files no verdict names any more (a gate submitted again replaced them).
        for (key, (size, written)) in &evidence_files {
            if !named_evidence.contains(key) {
                items.push((
                    Item {
                        class: DataClass::Evidence,
                        product: "-".into(),
                        id: format!("{key} (no verdict names it)"),
                        release: None,
                        bytes: *size,
                        since: *written,
                        blobs: vec![key.clone()],
                    },
                    Some(RowRef::Evidence),
                ));
            }
        }
        if let Some(before) = rules.cutoff(DataClass::LogBundles, at) {
            for (product, id, release, size, received) in self
                .db
                .log_bundles_before(before, MAX_PER_CLASS as u32 + 1)
                .await?
            {
                items.push((
                    Item {
                        class: DataClass::LogBundles,
                        product: product.clone(),
                        id: id.clone(),
                        release: release.parse().ok(),
                        bytes: size,
                        since: received,
                        blobs: vec![crate::log_bundles::blob_key(&id)],
                    },
                    Some(RowRef::LogBundle { product, id }),
                ));
            }
        }
        if let Some(before) = rules.cutoff(DataClass::CrashDumps, at) {
            for (key, size, written) in self.blobs.list("crashes/").await? {
                if written < before {
                    items.push((
                        Item {
                            class: DataClass::CrashDumps,
                            product: "-".into(),
                            id: key.clone(),
                            release: None,
                            bytes: size,
                            since: written,
                            blobs: vec![key],
                        },
                        None,
                    ));
                }
            }
            // A young crash keeps the files it names (a dump sent again is stored once).
            for (received, payload) in self.db.crash_payloads_since(before).await? {
                let blobs = crate::crashes::payload_blob_keys(&payload);
                if !blobs.is_empty() {
                    items.push((
                        Item {
                            class: DataClass::CrashDumps,
                            product: "-".into(),
                            id: "a young crash".into(),
                            release: None,
                            bytes: 0,
                            since: received,
                            blobs,
                        },
                        None,
                    ));
                }
            }
        }
        let judged = cap(items
            .into_iter()
            .map(|(item, row)| Judged {
                verdict: judge(&item, &rules, at, &pins),
                item,
                row,
            })
            .collect());
        let sizes: HashMap<&str, (DataClass, u64)> = judged
            .iter()
            .flat_map(|j| {
                j.item
                    .blobs
                    .iter()
                    .map(move |b| (b.as_str(), (j.item.class, j.item.bytes)))
            })
            .collect();
        let doomed: BTreeMap<String, (DataClass, u64)> =
            doomed_blobs(judged.iter().map(|j| (&j.item, &j.verdict)))
                .into_iter()
                .map(|k| {
                    let v = sizes
                        .get(k.as_str())
                        .copied()
                        .unwrap_or((DataClass::Artifacts, 0));
                    (k, v)
                })
                .collect();
        // Evidence and dumps are removed as files: one a kept item still names does not go.
        let mut judged = judged;
        for j in &mut judged {
            if matches!(j.item.class, DataClass::Evidence | DataClass::CrashDumps)
                && j.verdict.removes()
                && !j.item.blobs.iter().any(|b| doomed.contains_key(b))
            {
                j.verdict = Verdict::Keep {
                    reason: "the same file belongs to something kept".into(),
                };
            }
        }
        let telemetry = match rules.cutoff(DataClass::Telemetry, at) {
            Some(before) => self.db.telemetry_before(before).await?,
            None => Vec::new(),
        };
        let tickets = match rules.cutoff(DataClass::Tickets, at) {
            Some(before) => self
                .db
                .closed_tickets_before(before, MAX_PER_CLASS as u32)
                .await?
                .len() as u64,
            None => 0,
        };
        let audit_entries = match rules.cutoff(DataClass::Audit, at) {
            Some(before) => self.db.audit_entries_before(before).await?,
            None => 0,
        };
        let queued = self.db.retention_blob_queue().await?.len() as u64;
        Ok(Survey {
            at,
            rules,
            pins,
            judged,
            doomed,
            telemetry,
            tickets,
            audit_entries,
            queued,
        })
    }
}

/// The reason of a removal a run leaves to the next one.
const LEFT_FOR_NEXT_RUN: &str = "left for the next run (a run removes at most 10,000 per class)";

/// At most [`MAX_PER_CLASS`] removals per class, the oldest first; the rest are kept for
/// the next run (and so keep the files they name).
fn cap(mut judged: Vec<Judged>) -> Vec<Judged> {
    judged.sort_by_key(|j| j.item.since);
    let mut taken: HashMap<DataClass, usize> = HashMap::new();
    for j in &mut judged {
        if j.verdict.removes() {
            let n = taken.entry(j.item.class).or_default();
            *n += 1;
            if *n > MAX_PER_CLASS {
                j.verdict = Verdict::Keep {
                    reason: LEFT_FOR_NEXT_RUN.into(),
                };
            }
        }
    }
    judged
}

fn set_removed(rules: &mut [RetentionRule], class: DataClass, n: u64) {
    if let Some(r) = rules.iter_mut().find(|r| r.class == class.as_str()) {
        r.removes = n;
    }
}
