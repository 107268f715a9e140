//! The knowledge base (issue 25): FAQ articles and known issues with every revision, and
//! full-text search over them and the tickets' text — SQLite FTS5 (`bm25`) or PostgreSQL
//! text search (`ts_rank` over German and English stems), behind one method.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditRecord, append_audit};
use crate::pool::Db;
use crate::sql::{Backend, DbError, Result, parse, parse_opt, ts};

/// An article as stored (its newest revision).
#[derive(Debug, Clone, PartialEq)]
pub struct KbArticleRecord {
    pub id: String,
    pub product: String,
    /// `faq` or `known_issue`.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// `draft` or `published`.
    pub status: String,
    pub release: Option<String>,
    pub fingerprint: Option<String>,
    /// Known issues: `open` or `fixed in X.Y.Z`.
    pub issue_status: Option<String>,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub published_at: Option<DateTime<Utc>>,
}

/// One kept revision.
#[derive(Debug, Clone, PartialEq)]
pub struct KbRevisionRecord {
    pub revision: i64,
    pub title: String,
    pub status: String,
    pub release: Option<String>,
    pub author: String,
    pub at: DateTime<Utc>,
}

/// A search hit: what it is, its id, its title.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// `faq`, `known_issue` or `ticket`.
    pub kind: String,
    pub id: String,
    pub title: String,
    pub status: String,
    /// Higher is better.
    pub score: f64,
}

const COLUMNS: &str = "id, product, kind, title, body, status, release_version, fingerprint, \
     issue_status, revision, created_at, updated_at, updated_by, published_at";

fn from_row(r: &AnyRow) -> Result<KbArticleRecord> {
    Ok(KbArticleRecord {
        id: r.try_get("id")?,
        product: r.try_get("product")?,
        kind: r.try_get("kind")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        release: r.try_get("release_version")?,
        fingerprint: r.try_get("fingerprint")?,
        issue_status: r.try_get("issue_status")?,
        revision: r.try_get("revision")?,
        created_at: parse(r, "created_at")?,
        updated_at: parse(r, "updated_at")?,
        updated_by: r.try_get("updated_by")?,
        published_at: parse_opt(r, "published_at")?,
    })
}

/// Replaces the search rows of `a` with its current text.
async fn index_article(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    a: &KbArticleRecord,
) -> Result<()> {
    sqlx::query("DELETE FROM search_fts WHERE ref = $1 AND kind <> 'ticket'")
        .bind(&a.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO search_fts (kind, ref, product, status, title, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.kind)
    .bind(&a.id)
    .bind(&a.product)
    .bind(&a.status)
    .bind(&a.title)
    .bind(&a.body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Indexes one message of ticket `id` (its subject as the title).
pub(crate) async fn index_ticket_text(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    product: &str,
    subject: &str,
    body: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO search_fts (kind, ref, product, status, title, body) \
         VALUES ('ticket', $1, $2, 'ticket', $3, $4)",
    )
    .bind(id)
    .bind(product)
    .bind(subject)
    .bind(body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_revision(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    a: &KbArticleRecord,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO kb_revisions (article, revision, title, body, status, release_version, \
         author, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&a.id)
    .bind(a.revision)
    .bind(&a.title)
    .bind(&a.body)
    .bind(&a.status)
    .bind(&a.release)
    .bind(&a.updated_by)
    .bind(ts(a.updated_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The words of a query, for a full-text match: letters and digits only (so nothing in
/// the query is syntax), at most 32 words of at most 64 characters.
pub fn query_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(64).collect::<String>().to_lowercase())
        .take(32)
        .collect()
}

impl Db {
    /// Adds an article as revision 1 with id `{prefix}-{n}` (the next number of its kind);
    /// `a.id` and `a.revision` are ignored. Answers the id.
    pub async fn add_kb_article(
        &self,
        prefix: &str,
        a: &KbArticleRecord,
        audit: impl FnOnce(&str) -> AuditRecord,
    ) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO kb_numbers (product, kind, last) VALUES ($1, $2, 1) \
             ON CONFLICT (product, kind) DO UPDATE SET last = kb_numbers.last + 1 RETURNING last",
        )
        // Numbered across products: an id names one article.
        .bind("*")
        .bind(&a.kind)
        .fetch_one(&mut *tx)
        .await?;
        let n: i64 = row.try_get("last")?;
        let a = KbArticleRecord {
            id: format!("{prefix}-{n}"),
            revision: 1,
            ..a.clone()
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO kb_articles ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14)"
        )))
        .bind(&a.id)
        .bind(&a.product)
        .bind(&a.kind)
        .bind(&a.title)
        .bind(&a.body)
        .bind(&a.status)
        .bind(&a.release)
        .bind(&a.fingerprint)
        .bind(&a.issue_status)
        .bind(a.revision)
        .bind(ts(a.created_at))
        .bind(ts(a.updated_at))
        .bind(&a.updated_by)
        .bind(a.published_at.map(ts))
        .execute(&mut *tx)
        .await
        .map_err(|e| DbError::from_insert(e, || format!("article {}", a.id)))?;
        insert_revision(&mut tx, &a).await?;
        index_article(&mut tx, &a).await?;
        append_audit(&mut tx, &audit(&a.id)).await?;
        tx.commit().await?;
        Ok(a.id)
    }

    /// Writes `a` as its next revision, if the stored one is still `a.revision - 1`.
    pub async fn revise_kb_article(&self, a: &KbArticleRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE kb_articles SET title = $1, body = $2, status = $3, release_version = $4, \
             fingerprint = $5, issue_status = $6, revision = $7, updated_at = $8, \
             updated_by = $9, published_at = $10 WHERE id = $11 AND revision = $12",
        )
        .bind(&a.title)
        .bind(&a.body)
        .bind(&a.status)
        .bind(&a.release)
        .bind(&a.fingerprint)
        .bind(&a.issue_status)
        .bind(a.revision)
        .bind(ts(a.updated_at))
        .bind(&a.updated_by)
        .bind(a.published_at.map(ts))
        .bind(&a.id)
        .bind(a.revision - 1)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(DbError::Conflict(format!(
                "a newer revision of {} (someone edited it meanwhile: look again)",
                a.id
            )));
        }
        insert_revision(&mut tx, a).await?;
        index_article(&mut tx, a).await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn kb_article(&self, id: &str) -> Result<Option<KbArticleRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM kb_articles WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// A product's articles, newest change first; only published ones unless `drafts`.
    pub async fn kb_articles(&self, product: &str, drafts: bool) -> Result<Vec<KbArticleRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM kb_articles WHERE product = $1 AND (status = 'published' OR $2 = 1) \
             ORDER BY updated_at DESC"
        )))
        .bind(product)
        .bind(i64::from(drafts))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Whether an article of `product` had a published revision naming `release` at or
    /// after `since`.
    pub async fn kb_published_for(
        &self,
        product: &str,
        release: &str,
        since: DateTime<Utc>,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM kb_revisions r JOIN kb_articles a ON a.id = r.article \
             WHERE a.product = $1 AND r.release_version = $2 AND r.status = 'published' \
             AND r.at >= $3",
        )
        .bind(product)
        .bind(release)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(crate::sql::count(&row, "n")? > 0)
    }

    pub async fn kb_revisions(&self, id: &str) -> Result<Vec<KbRevisionRecord>> {
        let rows = sqlx::query(
            "SELECT revision, title, status, release_version, author, at FROM kb_revisions \
             WHERE article = $1 ORDER BY revision",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KbRevisionRecord {
                    revision: r.try_get("revision")?,
                    title: r.try_get("title")?,
                    status: r.try_get("status")?,
                    release: r.try_get("release_version")?,
                    author: r.try_get("author")?,
                    at: parse(r, "at")?,
                })
            })
            .collect()
    }

    /// Full-text search of a product: the best `limit` hits, one per article or ticket —
    /// first those that contain every word, then (when fewer) those with any of them.
    /// `statuses`: which rows may match (`published`, `draft`, `ticket`).
    pub async fn search(
        &self,
        product: &str,
        words: &[String],
        statuses: &[&str],
        limit: u32,
    ) -> Result<Vec<SearchHit>> {
        if words.is_empty() || statuses.is_empty() {
            return Ok(Vec::new());
        }
        let mut hits = self
            .search_rows(product, words, statuses, limit, true)
            .await?;
        if hits.len() < limit as usize && words.len() > 1 {
            for h in self
                .search_rows(product, words, statuses, limit, false)
                .await?
            {
                if hits.len() == limit as usize {
                    break;
                }
                if !hits.iter().any(|x| x.kind == h.kind && x.id == h.id) {
                    hits.push(h);
                }
            }
        }
        Ok(hits)
    }

    /// One search pass: every word (`all`) or any.
    async fn search_rows(
        &self,
        product: &str,
        words: &[String],
        statuses: &[&str],
        limit: u32,
        all: bool,
    ) -> Result<Vec<SearchHit>> {
        // The status names are fixed words of the callers; quoted, they cannot be syntax.
        let allowed = statuses
            .iter()
            .filter(|s| s.bytes().all(|b| b.is_ascii_lowercase()))
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        // A ticket is indexed one row per message: the best rows are ranked first, within
        // a bound, and grouped per ticket after — grouping every match would rank them all.
        let rows_ranked = i64::from(limit) * 10;
        let rows = match self.backend() {
            Backend::Sqlite => {
                // Each word a quoted prefix term; bm25 ranks (lower is better).
                let q = words
                    .iter()
                    .map(|w| format!("\"{w}\"*"))
                    .collect::<Vec<_>>()
                    .join(if all { " AND " } else { " OR " });
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    // MATERIALIZED: bm25 works only in the full-text query itself, which a
                    // flattened subquery would not be.
                    "WITH m AS MATERIALIZED (SELECT kind, ref, title, status, \
                     bm25(search_fts, 0, 0, 0, 0, 4.0, 1.0) AS r FROM search_fts \
                     WHERE search_fts MATCH $1 AND product = $2 AND status IN ({allowed}) \
                     ORDER BY r LIMIT $4) \
                     SELECT kind, ref, MIN(title) AS title, MIN(status) AS status, MIN(r) AS r \
                     FROM m GROUP BY kind, ref ORDER BY MIN(r) LIMIT $3"
                )))
                .bind(q)
                .bind(product)
                .bind(i64::from(limit))
                .bind(rows_ranked)
                .fetch_all(&self.pool)
                .await?
            }
            Backend::Postgres => {
                let q = words
                    .iter()
                    .map(|w| format!("{w}:*"))
                    .collect::<Vec<_>>()
                    .join(if all { " & " } else { " | " });
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "WITH m AS (SELECT kind, ref, title, status, ts_rank(doc, q) AS rank \
                     FROM search_fts, \
                     (SELECT to_tsquery('german', $1) || to_tsquery('english', $1) AS q) x \
                     WHERE doc @@ q AND product = $2 AND status IN ({allowed}) \
                     ORDER BY rank DESC LIMIT $4) \
                     SELECT kind, ref, MIN(title) AS title, MIN(status) AS status, \
                     -MAX(rank)::float8 AS r FROM m GROUP BY kind, ref ORDER BY r LIMIT $3"
                )))
                .bind(q)
                .bind(product)
                .bind(i64::from(limit))
                .bind(rows_ranked)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                let rank: f64 = r.try_get("r")?;
                Ok(SearchHit {
                    kind: r.try_get("kind")?,
                    id: r.try_get("ref")?,
                    title: r.try_get("title")?,
                    status: r.try_get("status")?,
                    score: -rank,
                })
            })
            .collect()
    }
}
