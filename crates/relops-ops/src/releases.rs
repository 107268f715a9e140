//! Releases: create (R-REL-1..4), list, show, freeze, release notes.

use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use relops_api::{CreateRelease, Release, ReleaseList, ReleaseSummary};
use relops_core::access::Permission;
use relops_core::data_schema::DataSchema;
use relops_core::release::{ReleaseState, TransitionError};
use relops_core::version::{ReleaseKind, Version, check_commit, previous_of};
use relops_store::{ReleaseRecord, ReleaseSummaryRecord};
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::{Actor, Authorized, Ops};

/// The name the scheduled feature freeze is recorded under (it is nobody's click).
pub const SCHEDULER_NAME: &str = "relops scheduler (system)";

/// Largest release notes accepted.
const MAX_NOTES_BYTES: usize = 1024 * 1024;

/// Blob key of release notes with this digest.
pub(crate) fn notes_key(sha256: &str) -> String {
    format!("notes/{sha256}")
}

impl Ops {
    /// A new release in `draft`, its kind inferred from the versions before it and its
    /// freeze date from the business calendar.
    pub async fn create_release(
        &self,
        actor: &Actor,
        product: &str,
        req: CreateRelease,
    ) -> OpResult<Release> {
        let who = actor.authorize(Permission::ReleaseWrite)?;
        let version = crate::version(&req.version)?;
        let bad = |e: relops_core::version::VersionError| OpError::Invalid(e.to_string());
        if let Some(b) = &req.branch {
            version.check_branch(b).map_err(bad)?;
        }
        if let Some(t) = &req.tag {
            version.check_tag(t).map_err(bad)?;
        }
        if let Some(c) = &req.commit {
            check_commit(c).map_err(bad)?;
        }
        let go_live: NaiveDate = req.go_live.trim().parse().map_err(|_| {
            OpError::Invalid(format!(
                "go-live `{}` is not a date: expected YYYY-MM-DD, e.g. 2027-03-15",
                req.go_live
            ))
        })?;
        let data_schema = match (req.data_schema, req.downgrades_to) {
            (Some(schema), down) => {
                Some(DataSchema::declare(schema, down).map_err(OpError::Invalid)?)
            }
            (None, Some(_)) => {
                return Err(OpError::Invalid(
                    "--downgrades-to needs --data-schema: the schema this release writes".into(),
                ));
            }
            (None, None) => None,
        };
        let security = crate::given_line("security", req.security.as_deref())?;
        let existing = self.db.versions(product).await?;
        if existing.contains(&version) {
            return Err(OpError::Conflict(format!(
                "release {version} of {product} already exists: `relops release show {version}`"
            )));
        }
        let kind = ReleaseKind::infer(previous_of(&existing, &version), &version);
        let release = ReleaseRecord {
            product: product.to_owned(),
            kind,
            state: ReleaseState::Draft,
            go_live,
            freeze_date: self.calendar.freeze_date(go_live),
            branch: version.branch(),
            tag: version.tag(),
            commit: req.commit.map(|c| c.to_ascii_lowercase()),
            created_at: Utc::now(),
            created_by: who.name.clone(),
            frozen_at: None,
            frozen_by: None,
            approved_at: None,
            approved_by: None,
            notes_sha256: None,
            data_schema,
            security,
            artifacts: Vec::new(),
            version,
        };
        let audit = who.audit(
            "release.create",
            format!("{product}/{}", release.version),
            json!({
                "kind": release.kind, "go_live": release.go_live,
                "freeze_date": release.freeze_date, "commit": release.commit,
                "data_schema": release.data_schema, "security": release.security,
            }),
        );
        self.db.insert_release(&release, &audit).await?;
        Ok(release_view(release))
    }

    /// Every release of a product, newest first.
    pub async fn releases(&self, actor: &Actor, product: &str) -> OpResult<ReleaseList> {
        actor.authorize(Permission::ReleaseRead)?;
        Ok(ReleaseList {
            releases: self
                .db
                .list_releases(product)
                .await?
                .into_iter()
                .map(summary_view)
                .collect(),
        })
    }

    /// One release with its artifacts.
    pub async fn release(&self, actor: &Actor, product: &str, v: &Version) -> OpResult<Release> {
        actor.authorize(Permission::ReleaseRead)?;
        self.load_release(product, v).await
    }

    /// Loads a release or says how to find the right one.
    pub(crate) async fn load_release(&self, product: &str, version: &Version) -> OpResult<Release> {
        self.db.release(product, version).await?.map(release_view).ok_or_else(|| {
            OpError::NotFound(format!(
                "release {version} of {product} does not exist: `relops release list` shows the releases"
            ))
        })
    }

    /// Feature freeze: from here on an artifact changes only as a critical fix.
    pub async fn freeze_release(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
    ) -> OpResult<Release> {
        let who = actor.authorize(Permission::ReleaseWrite)?;
        let release = self.load_release(product, v).await?;
        self.transition(&who, product, &release, ReleaseState::freeze, "freeze")
            .await?;
        self.load_release(product, v).await
    }

    /// Freezes every draft whose freeze date has come (R-REL-4), as the scheduler, audited
    /// like a person's freeze; returns the releases it froze. Called by the maintenance
    /// loop: the freeze happens on the date even when nobody remembers it.
    pub(crate) async fn freeze_due(&self, today: NaiveDate) -> OpResult<Vec<(String, Version)>> {
        let who = Authorized {
            name: SCHEDULER_NAME.to_owned(),
            request_id: None,
        };
        let mut frozen = Vec::new();
        for product in &self.config.products {
            for r in self.db.list_releases(product).await? {
                if r.state != ReleaseState::Draft || r.freeze_date > today {
                    continue;
                }
                let release = self.load_release(product, &r.version).await?;
                match self
                    .transition(&who, product, &release, ReleaseState::freeze, "freeze")
                    .await
                {
                    Ok(()) => frozen.push((product.clone(), r.version.clone())),
                    // Somebody froze (or otherwise moved) it meanwhile: nothing to do.
                    Err(OpError::Conflict(_) | OpError::Refused(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(frozen)
    }

    /// Records the move of `release` to the state `step` gives (refused when the state
    /// machine says no), with its audit entry in one transaction; a concurrent change of
    /// the release is a conflict.
    async fn transition(
        &self,
        who: &Authorized,
        product: &str,
        release: &Release,
        step: fn(ReleaseState) -> Result<ReleaseState, TransitionError>,
        verb: &str,
    ) -> OpResult<()> {
        let to = step(release.state)
            .map_err(|e| OpError::Refused(format!("release {}: {e}", release.version)))?;
        let audit = who.audit(
            &format!("release.{verb}"),
            format!("{product}/{}", release.version),
            json!({ "from": release.state, "to": to }),
        );
        let done = self
            .db
            .transition(
                product,
                &release.version,
                release.state,
                to,
                Utc::now(),
                &audit,
            )
            .await?;
        if done {
            Ok(())
        } else {
            Err(OpError::Conflict(format!(
                "release {} changed state while trying to {verb} it; look again with `relops release show {}`",
                release.version, release.version
            )))
        }
    }

    /// Stores the release notes (Markdown, UTF-8) and re-publishes the feed, whose
    /// published releases link to their notes.
    pub async fn put_release_notes(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
        body: Bytes,
    ) -> OpResult<Release> {
        let who = actor.authorize(Permission::ReleaseNotes)?;
        let release = self.load_release(product, v).await?;
        if body.len() > MAX_NOTES_BYTES {
            return Err(OpError::TooLarge(format!(
                "release notes are {} bytes; at most {MAX_NOTES_BYTES} are accepted",
                body.len()
            )));
        }
        let text = std::str::from_utf8(&body)
            .map_err(|_| OpError::Invalid("release notes must be UTF-8 Markdown text".into()))?;
        if text.trim().is_empty() {
            return Err(OpError::Invalid("the release notes are empty".into()));
        }
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
        self.blobs.put_raw(&notes_key(&sha), body.clone()).await?;
        let audit = who.audit(
            "release.notes",
            format!("{product}/{}", release.version),
            json!({ "sha256": sha, "bytes": body.len() }),
        );
        self.db
            .set_notes(product, &release.version, &sha, &audit)
            .await?;
        self.feed.publish(&self.db, product).await.map_err(|e| {
            OpError::Internal(
                e.context("notes stored, but publishing the feed failed; the server retries"),
            )
        })?;
        self.load_release(product, v).await
    }

    /// The release notes of a release (Markdown).
    pub async fn release_notes(
        &self,
        actor: &Actor,
        product: &str,
        v: &Version,
    ) -> OpResult<Bytes> {
        actor.authorize(Permission::ReleaseRead)?;
        let release = self.load_release(product, v).await?;
        self.notes_of(&release).await
    }

    /// The notes of a published release, for anyone (the feed links to them); 404 for a
    /// release that is not in the feed.
    pub async fn published_notes(&self, product: &str, v: &str) -> OpResult<Bytes> {
        let not_found = || OpError::NotFound(format!("{v}.md is not in the feed"));
        let v = crate::version(v)?;
        let release = self.load_release(product, &v).await?;
        if !relops_store::PUBLISHED_STATES.contains(&release.state) {
            return Err(not_found());
        }
        self.notes_of(&release).await
    }

    pub(crate) async fn notes_of(&self, release: &Release) -> OpResult<Bytes> {
        let sha = release.notes_sha256.as_deref().ok_or_else(|| {
            OpError::NotFound(format!(
                "release {} has no release notes yet: `relops release notes {} FILE.md`",
                release.version, release.version
            ))
        })?;
        Ok(self.blobs.get_raw(&notes_key(sha)).await?)
    }
}

/// A stored release as the API shows it.
pub(crate) fn release_view(r: ReleaseRecord) -> Release {
    Release {
        product: r.product,
        version: r.version,
        kind: r.kind,
        state: r.state,
        go_live: r.go_live,
        freeze_date: r.freeze_date,
        branch: r.branch,
        tag: r.tag,
        commit: r.commit,
        created_at: r.created_at,
        created_by: r.created_by,
        frozen_at: r.frozen_at,
        frozen_by: r.frozen_by,
        approved_at: r.approved_at,
        approved_by: r.approved_by,
        notes_sha256: r.notes_sha256,
        data_schema: r.data_schema,
        security: r.security,
        artifacts: r
            .artifacts
            .into_iter()
            .map(crate::artifacts::artifact_view)
            .collect(),
    }
}

fn summary_view(r: ReleaseSummaryRecord) -> ReleaseSummary {
    ReleaseSummary {
        product: r.product,
        version: r.version,
        kind: r.kind,
        state: r.state,
        go_live: r.go_live,
        freeze_date: r.freeze_date,
        artifact_count: r.artifact_count,
        platforms: r.platforms,
        data_schema: r.data_schema,
    }
}
