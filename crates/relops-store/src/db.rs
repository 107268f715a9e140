//! Metadata in SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Every query here is written once, with `$n` placeholders that both engines accept.
//! Writes that read before they write run in an immediate transaction on SQLite (so two
//! writers never deadlock on a lock upgrade) and in a plain one on PostgreSQL, where the
//! primary keys settle races.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use relops_api::{Artifact, Release, ReleaseSummary};
use relops_core::access::Role;
use relops_core::artifact::ArtifactKind;
use relops_core::platform::Platform;
use relops_core::release::ReleaseState;
use relops_core::version::Version;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub(crate) use crate::audit::append_audit;

/// Set on every SQLite connection (the pool's and the ingest writer's). WAL: readers never
/// block the writer; `synchronous = FULL`: a commit is on disk before it returns (DESIGN
/// decision 8).
pub(crate) const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
];

/// Set on the database's connections (the pool's and the ingest writer's, not the ingest
/// journal's): the WAL is copied back into the database file once it holds 16,384 pages
/// (64 MiB) instead of SQLite's default 1,000. Ingest folds rewrite the same pages (the
/// counts, the events' index, the ends of the appended tables); a page rewritten by several
/// folds between two checkpoints is copied back once, so the disk writes less, and the
/// ingest journal's syncs, which acknowledgements wait for, queue behind less (paced p99
/// lower in each of three alternating pairs; bench/RESULTS.md, session 9). The commit that
/// crosses the mark does the copy; under load nearly all commits are the fold's. The WAL
/// file keeps its largest size.
pub(crate) const SQLITE_DB_PRAGMAS: &[&str] = &["PRAGMA wal_autocheckpoint = 16384"];

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("unsupported database_url `{0}`: expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("the ingest writer stopped: {0}")]
    Writer(String),
}

impl DbError {
    pub(crate) fn from_insert(e: sqlx::Error, what: impl FnOnce() -> String) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => Self::Conflict(what()),
            _ => Self::Sql(e),
        }
    }
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// The metadata database.
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) pool: AnyPool,
    /// Where write transactions run. SQLite: one connection, handed out first come, first
    /// served — SQLite's own lock is not fair (a waiting writer sleeps and retries while a
    /// busy one re-takes the lock at once), so a stream of ingest commits could starve an
    /// automatic halt. PostgreSQL: the same pool as reads.
    pub(crate) writer: AnyPool,
    /// SQLite: the ingest writer's own connection (`ingest_write/sqlite.rs`).
    ingest: Option<crate::ingest_write::IngestConnection>,
    /// SQLite: the ingest journal next to the database file (`ingest_write/journal.rs`).
    pub(crate) journal: Option<crate::ingest_write::IngestJournal>,
    backend: Backend,
}

/// An artifact as stored: what the API shows plus where its bytes are.
#[derive(Debug, Clone)]
pub struct StoredArtifact {
    pub artifact: Artifact,
    pub blob_key: String,
}

/// What an upload hands to [`Db::put_artifact`].
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub product: String,
    pub version: Version,
    pub artifact: Artifact,
    pub blob_key: String,
}

/// A stored API token (its hash only).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
}

/// One audit entry to append.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    pub request_id: Option<String>,
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse<T: FromStr>(row: &AnyRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse()
        .map_err(|e: T::Err| DbError::Corrupt(format!("column {col} = {s:?}: {e}")))
}

fn parse_opt<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| {
        s.parse()
            .map_err(|e: T::Err| DbError::Corrupt(format!("column {col} = {s:?}: {e}")))
    })
    .transpose()
}

fn count(row: &AnyRow, col: &str) -> Result<u64> {
    let n: i64 = row.try_get(col)?;
    u64::try_from(n).map_err(|_| DbError::Corrupt(format!("column {col} = {n}")))
}

// Column lists as macros so that queries stay `&'static str` (sqlx refuses dynamic SQL).
macro_rules! release_columns {
    () => {
        "product, version, kind, state, go_live, freeze_date, branch, tag, commit_sha, \
         created_at, created_by, frozen_at, frozen_by, approved_at, approved_by, notes_sha256"
    };
}

macro_rules! artifact_columns {
    () => {
        "name, platform, kind, size, sha256, blob_key, signature, key_id, uploaded_at, \
         uploaded_by, notarization_id, authenticode_signer, critical_fix_reason, replaces"
    };
}

fn release_from_row(row: &AnyRow) -> Result<Release> {
    Ok(Release {
        product: row.try_get("product")?,
        version: parse(row, "version")?,
        kind: parse(row, "kind")?,
        state: parse(row, "state")?,
        go_live: parse(row, "go_live")?,
        freeze_date: parse(row, "freeze_date")?,
        branch: row.try_get("branch")?,
        tag: row.try_get("tag")?,
        commit: row.try_get("commit_sha")?,
        created_at: parse(row, "created_at")?,
        created_by: row.try_get("created_by")?,
        frozen_at: parse_opt(row, "frozen_at")?,
        frozen_by: row.try_get("frozen_by")?,
        approved_at: parse_opt(row, "approved_at")?,
        approved_by: row.try_get("approved_by")?,
        notes_sha256: row.try_get("notes_sha256")?,
        artifacts: Vec::new(),
    })
}

pub(crate) fn artifact_from_row(row: &AnyRow) -> Result<StoredArtifact> {
    let kind: String = row.try_get("kind")?;
    let replaces = count(row, "replaces")?;
    Ok(StoredArtifact {
        artifact: Artifact {
            name: row.try_get("name")?,
            platform: parse(row, "platform")?,
            kind: ArtifactKind::parse(&kind)
                .ok_or_else(|| DbError::Corrupt(format!("artifact kind {kind:?}")))?,
            size: count(row, "size")?,
            sha256: row.try_get("sha256")?,
            signature: row.try_get("signature")?,
            key_id: row.try_get("key_id")?,
            uploaded_at: parse(row, "uploaded_at")?,
            uploaded_by: row.try_get("uploaded_by")?,
            notarization_id: row.try_get("notarization_id")?,
            authenticode_signer: row.try_get("authenticode_signer")?,
            critical_fix_reason: row.try_get("critical_fix_reason")?,
            replaces: u32::try_from(replaces).unwrap_or(u32::MAX),
        },
        blob_key: row.try_get("blob_key")?,
    })
}

impl Db {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating an SQLite file if
    /// absent, and applies the migrations of that backend.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(url.to_owned()));
        };
        // SQLite: the ingest writer's own connection needs the database file (refuses an
        // in-memory URL before anything connects).
        let ingest_file = match backend {
            Backend::Sqlite => Some(crate::ingest_write::IngestConnection::file_of(url)?),
            Backend::Postgres => None,
        };
        let mut opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let url = match backend {
            Backend::Sqlite => {
                opts = opts.max_connections(8).after_connect(|conn, _| {
                    Box::pin(async move {
                        for pragma in SQLITE_PRAGMAS.iter().chain(SQLITE_DB_PRAGMAS) {
                            sqlx::query(*pragma).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                });
                if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                }
            }
            Backend::Postgres => {
                opts = opts.max_connections(16);
                url.to_owned()
            }
        };
        let pool = opts.clone().connect(&url).await?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&pool).await?;
        let writer = match backend {
            Backend::Sqlite => opts.max_connections(1).connect(&url).await?,
            Backend::Postgres => pool.clone(),
        };
        let journal = ingest_file
            .as_deref()
            .map(|path| {
                crate::ingest_write::IngestJournal::open(
                    &crate::ingest_write::IngestJournal::path_for(path),
                )
            })
            .transpose()?;
        let ingest = ingest_file
            .map(|path| crate::ingest_write::IngestConnection::open(&path))
            .transpose()?;
        Ok(Self {
            pool,
            writer,
            ingest,
            journal,
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Is the database reachable? (`/readyz`)
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The writer's turn, held while a batch is written through another connection: the
    /// same first-come, first-served order as [`Db::begin_write`].
    pub(crate) async fn writer_turn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.writer.acquire().await?)
    }

    /// The ingest writer's own connection, for an SQLite database file.
    pub(crate) fn ingest_connection(&self) -> Option<crate::ingest_write::IngestConnection> {
        self.ingest.clone()
    }

    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    /// All versions of a product, for kind inference.
    pub async fn versions(&self, product: &str) -> Result<Vec<Version>> {
        let rows = sqlx::query("SELECT version FROM releases WHERE product = $1")
            .bind(product)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| parse(r, "version")).collect()
    }

    /// Inserts a new release (no artifacts) and its audit entry; `Conflict` if the version
    /// exists.
    pub async fn insert_release(&self, r: &Release, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "INSERT INTO releases (",
            release_columns!(),
            ", major, minor, patch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        ))
        .bind(&r.product)
        .bind(r.version.to_string())
        .bind(r.kind.as_str())
        .bind(r.state.as_str())
        .bind(r.go_live.to_string())
        .bind(r.freeze_date.to_string())
        .bind(&r.branch)
        .bind(&r.tag)
        .bind(r.commit.as_deref())
        .bind(ts(r.created_at))
        .bind(&r.created_by)
        .bind(r.frozen_at.map(ts))
        .bind(r.frozen_by.as_deref())
        .bind(r.approved_at.map(ts))
        .bind(r.approved_by.as_deref())
        .bind(r.notes_sha256.as_deref())
        .bind(r.version.major() as i64)
        .bind(r.version.minor() as i64)
        .bind(r.version.patch() as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            DbError::from_insert(e, || format!("release {} of {}", r.version, r.product))
        })?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One release with its artifacts.
    pub async fn release(&self, product: &str, version: &Version) -> Result<Option<Release>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            release_columns!(),
            " FROM releases WHERE product = $1 AND version = $2"
        ))
        .bind(product)
        .bind(version.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut release = release_from_row(&row)?;
        release.artifacts = self
            .artifacts(product, version)
            .await?
            .into_iter()
            .map(|a| a.artifact)
            .collect();
        Ok(Some(release))
    }

    /// All releases of a product, newest version first, with artifact counts and platforms:
    /// two queries whatever the number of releases.
    pub async fn list_releases(&self, product: &str) -> Result<Vec<ReleaseSummary>> {
        let rows = sqlx::query(
            "SELECT version, kind, state, go_live, freeze_date FROM releases \
             WHERE product = $1 ORDER BY major DESC, minor DESC, patch DESC",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        let counts = sqlx::query(
            "SELECT version, platform, COUNT(*) AS n FROM artifacts WHERE product = $1 \
             GROUP BY version, platform",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        let mut per_version: BTreeMap<String, (u64, Vec<Platform>)> = BTreeMap::new();
        for row in &counts {
            let version: String = row.try_get("version")?;
            let entry = per_version.entry(version).or_default();
            entry.0 += count(row, "n")?;
            entry.1.push(parse(row, "platform")?);
        }
        rows.iter()
            .map(|row| {
                let version: String = row.try_get("version")?;
                let (artifact_count, mut platforms) =
                    per_version.remove(&version).unwrap_or_default();
                platforms.sort();
                Ok(ReleaseSummary {
                    product: product.to_owned(),
                    version: version
                        .parse()
                        .map_err(|e| DbError::Corrupt(format!("version {version:?}: {e}")))?,
                    kind: parse(row, "kind")?,
                    state: parse(row, "state")?,
                    go_live: parse(row, "go_live")?,
                    freeze_date: parse(row, "freeze_date")?,
                    artifact_count,
                    platforms,
                })
            })
            .collect()
    }

    /// Moves a release from `from` to `to` state, recording who froze or approved it when
    /// `to` is `frozen` or `approved`. Returns false if the release was not in `from` (a
    /// concurrent change).
    pub async fn transition(
        &self,
        product: &str,
        version: &Version,
        from: ReleaseState,
        to: ReleaseState,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let stamp = match to {
            ReleaseState::Frozen => 1i64,
            ReleaseState::Approved => 2,
            _ => 0,
        };
        let done = sqlx::query(
            "UPDATE releases SET state = $1, \
             frozen_at = CASE WHEN $2 = 1 THEN $3 ELSE frozen_at END, \
             frozen_by = CASE WHEN $2 = 1 THEN $4 ELSE frozen_by END, \
             approved_at = CASE WHEN $2 = 2 THEN $3 ELSE approved_at END, \
             approved_by = CASE WHEN $2 = 2 THEN $4 ELSE approved_by END \
             WHERE product = $5 AND version = $6 AND state = $7",
        )
        .bind(to.as_str())
        .bind(stamp)
        .bind(ts(at))
        .bind(&audit.actor)
        .bind(product)
        .bind(version.to_string())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            append_audit(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok(done)
    }

    /// The artifacts of a release, by name.
    pub async fn artifacts(&self, product: &str, version: &Version) -> Result<Vec<StoredArtifact>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts WHERE product = $1 AND version = $2 \
             ORDER BY name"
        ))
        .bind(product)
        .bind(version.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(artifact_from_row).collect()
    }

    pub async fn artifact(
        &self,
        product: &str,
        version: &Version,
        name: &str,
    ) -> Result<Option<StoredArtifact>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts \
             WHERE product = $1 AND version = $2 AND name = $3"
        ))
        .bind(product)
        .bind(version.to_string())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(artifact_from_row).transpose()
    }

    /// Makes an uploaded artifact visible, replacing one of the same name (which moves to
    /// `artifact_history`), provided the release is still in `expected_state`. Returns the
    /// stored artifact, or `None` if the release changed state meanwhile.
    pub async fn put_artifact(
        &self,
        new: &NewArtifact,
        expected_state: ReleaseState,
        audit: &AuditRecord,
    ) -> Result<Option<Artifact>> {
        let mut tx = self.begin_write().await?;
        let version = new.version.to_string();
        let a = &new.artifact;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM releases WHERE product = $1 AND version = $2")
                .bind(&new.product)
                .bind(&version)
                .fetch_optional(&mut *tx)
                .await?;
        if state.as_deref() != Some(expected_state.as_str()) {
            return Ok(None);
        }
        let old = sqlx::query(concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts \
             WHERE product = $1 AND version = $2 AND name = $3"
        ))
        .bind(&new.product)
        .bind(&version)
        .bind(&a.name)
        .fetch_optional(&mut *tx)
        .await?;
        let mut stored = a.clone();
        if let Some(old) = old.as_ref().map(artifact_from_row).transpose()? {
            stored.replaces = old.artifact.replaces + 1;
            sqlx::query(
                "INSERT INTO artifact_history (product, version, name, platform, size, sha256, \
                 blob_key, signature, uploaded_at, uploaded_by, replaced_at, replaced_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&new.product)
            .bind(&version)
            .bind(&a.name)
            .bind(old.artifact.platform.as_str())
            .bind(old.artifact.size as i64)
            .bind(&old.artifact.sha256)
            .bind(&old.blob_key)
            .bind(&old.artifact.signature)
            .bind(ts(old.artifact.uploaded_at))
            .bind(&old.artifact.uploaded_by)
            .bind(ts(a.uploaded_at))
            .bind(&a.uploaded_by)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM artifacts WHERE product = $1 AND version = $2 AND name = $3")
                .bind(&new.product)
                .bind(&version)
                .bind(&a.name)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(concat!(
            "INSERT INTO artifacts (product, version, ",
            artifact_columns!(),
            ") \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(&new.product)
        .bind(&version)
        .bind(&stored.name)
        .bind(stored.platform.as_str())
        .bind(stored.kind.as_str())
        .bind(stored.size as i64)
        .bind(&stored.sha256)
        .bind(&new.blob_key)
        .bind(&stored.signature)
        .bind(&stored.key_id)
        .bind(ts(stored.uploaded_at))
        .bind(&stored.uploaded_by)
        .bind(stored.notarization_id.as_deref())
        .bind(stored.authenticode_signer.as_deref())
        .bind(stored.critical_fix_reason.as_deref())
        .bind(i64::from(stored.replaces))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(stored))
    }

    /// Every blob key a row still points at (current artifacts and replaced ones).
    pub async fn referenced_blob_keys(&self) -> Result<std::collections::HashSet<String>> {
        let rows = sqlx::query(
            "SELECT blob_key FROM artifacts UNION SELECT blob_key FROM artifact_history",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("blob_key").map_err(DbError::from))
            .collect()
    }

    /// Stores a new token by its hash.
    pub async fn insert_token(
        &self,
        token: &TokenRecord,
        token_hash: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<()> {
        let roles: Vec<&str> = token.roles.iter().map(|r| r.as_str()).collect();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (id, name, token_hash, roles, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(token_hash)
        .bind(roles.join(","))
        .bind(ts(at))
        .bind(&audit.actor)
        .execute(&mut *tx)
        .await
        .map_err(|e| DbError::from_insert(e, || format!("token {}", token.name)))?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live token with this hash.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT id, name, roles FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let roles: String = row.try_get("roles")?;
        let roles = roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Role>().map_err(DbError::Corrupt))
            .collect::<Result<_>>()?;
        Ok(Some(TokenRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            roles,
        }))
    }

    /// How many tokens exist (to know whether `init` must make the first one).
    pub async fn token_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens")
            .fetch_one(&self.pool)
            .await?;
        count(&row, "n")
    }

    /// Points a release at its release notes (stored in the blob store by `sha256`).
    pub async fn set_notes(
        &self,
        product: &str,
        version: &Version,
        sha256: &str,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE releases SET notes_sha256 = $1 WHERE product = $2 AND version = $3",
        )
        .bind(sha256)
        .bind(product)
        .bind(version.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            append_audit(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok(n == 1)
    }

    /// Release notes digests of the product's releases in `states` (for the feed).
    pub async fn notes_of(
        &self,
        product: &str,
    ) -> Result<std::collections::HashMap<String, String>> {
        let rows = sqlx::query(
            "SELECT version, notes_sha256 FROM releases WHERE product = $1 AND notes_sha256 IS NOT NULL",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("notes_sha256")?)))
            .collect()
    }

    /// Appends an audit entry on its own (for actions whose state lives outside the
    /// database, such as key files).
    pub async fn append_audit_entry(&self, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
