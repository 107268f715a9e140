//! The metadata database: SQLite or PostgreSQL through sqlx's `Any` driver, its
//! migrations, and the write discipline every query module follows.
//!
//! Every query is written once, with `$n` placeholders that both engines accept. Writes
//! that read before they write run in an immediate transaction on SQLite (so two writers
//! never deadlock on a lock upgrade) and in a plain one on PostgreSQL, where the primary
//! keys settle races. The queries live with their tables: `releases.rs`, `artifacts.rs`,
//! `tokens.rs`, `audit.rs`, `rollout.rs`, `alerts.rs`, `checklist.rs`, `gates.rs`,
//! `feed.rs`, `outbox.rs`, `ingest.rs` and `ingest_write/`.

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::ingest_write::conn::IngestConnection;
use crate::ingest_write::journal::IngestJournal;
use crate::sql::{Backend, DbError, Result, SQLITE_DB_PRAGMAS, SQLITE_PRAGMAS};

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
    ingest: Option<IngestConnection>,
    /// SQLite: the ingest journal next to the database file (`ingest_write/journal.rs`).
    pub(crate) journal: Option<IngestJournal>,
    /// PostgreSQL: the ingest writer's own connection (`ingest_write/multirow.rs`), outside
    /// the pool — a pooled connection is pinged when taken and again when given back, two
    /// round trips more than a batch's own.
    pub(crate) pg_ingest: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::AnyConnection>>>,
    backend: Backend,
    /// PostgreSQL: where [`crate::FeedListener`] connects (a connection of its own); none
    /// on SQLite, which has nobody to tell.
    pub(crate) listen_url: Option<crate::changes::Url>,
    /// This process's name on the rows it shares with other replicas ([`crate::fleet`]).
    origin: std::sync::Arc<str>,
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
            Backend::Sqlite => Some(IngestConnection::file_of(url)?),
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
                // While the database is down a request waits this long for a connection,
                // then is answered 503 with Retry-After (an outage, not a hang).
                opts = opts
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10));
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
            .map(|path| IngestJournal::open(&IngestJournal::path_for(path)))
            .transpose()?;
        let ingest = ingest_file
            .map(|path| IngestConnection::open(&path))
            .transpose()?;
        Ok(Self {
            pool,
            writer,
            ingest,
            journal,
            pg_ingest: Default::default(),
            backend,
            listen_url: (backend == Backend::Postgres).then(|| crate::changes::Url(url.clone())),
            origin: crate::fleet::new_origin(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This process's name on what it shares with other replicas.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
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
    pub(crate) fn ingest_connection(&self) -> Option<IngestConnection> {
        self.ingest.clone()
    }

    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => match self.writer.begin_with("BEGIN IMMEDIATE").await {
                // A COMMIT that failed (a full disk) leaves SQLite rolled back but sqlx
                // counting the transaction as open, and its ROLLBACK then fails too: that
                // connection can never begin again. It is dropped from the pool (the
                // writer pool holds one), and a new one is opened.
                Err(sqlx::Error::InvalidSavePointStatement) => {
                    tracing::warn!(
                        "replacing the database writer connection a failed commit left stuck"
                    );
                    drop(self.writer.acquire().await?.detach());
                    self.writer.begin_with("BEGIN IMMEDIATE").await?
                }
                tx => tx?,
            },
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
