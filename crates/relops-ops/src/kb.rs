//! The knowledge base (issue 25): FAQ articles and known issues in Markdown, drafts and
//! published, every revision kept in the database and committed to a Git repository; full
//! text search over it and the tickets; the public FAQ of a product.
//!
//! Support agents and QA write drafts; the support lead publishes and edits what is
//! published. A known issue names the crash fingerprint it explains (a critical rule's
//! name, an error code) and is `open` until a release fixes it (`fixed in X.Y.Z`).

use chrono::Utc;
use relops_api::{KbArticle, KbEdit, KbList, KbRevision, NewKbArticle, SearchHit, SearchResults};
use relops_core::access::Permission;
use relops_store::KbArticleRecord;
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::tickets::bounded;
use crate::{Actor, Authorized, Ops};

const MAX_TITLE: usize = 200;
const MAX_ARTICLE: usize = 200_000;

fn prefix(kind: &str) -> &'static str {
    if kind == "known_issue" { "KI" } else { "FAQ" }
}

pub(crate) fn view(a: KbArticleRecord) -> KbArticle {
    KbArticle {
        id: a.id,
        product: a.product,
        kind: a.kind,
        title: a.title,
        body: a.body,
        status: a.status,
        release: a.release,
        fingerprint: a.fingerprint,
        issue_status: a.issue_status,
        revision: a.revision,
        created_at: a.created_at,
        updated_at: a.updated_at,
        updated_by: a.updated_by,
        published_at: a.published_at,
        revisions: Vec::new(),
    }
}

/// The file a revision is committed as: front matter, then the Markdown.
fn file(a: &KbArticleRecord) -> String {
    let mut s = format!(
        "---\nid: {}\nkind: {}\ntitle: {}\nstatus: {}\nrevision: {}\n",
        a.id, a.kind, a.title, a.status, a.revision
    );
    for (k, v) in [
        ("release", &a.release),
        ("fingerprint", &a.fingerprint),
        ("issue_status", &a.issue_status),
    ] {
        if let Some(v) = v {
            s.push_str(&format!("{k}: {v}\n"));
        }
    }
    s.push_str("---\n\n");
    s.push_str(&a.body);
    s.push('\n');
    s
}

impl Ops {
    /// Commits revision `a` to the Git repository (off the async threads); a failure is
    /// logged, the database keeps the revision.
    async fn commit_revision(&self, a: &KbArticleRecord, what: &str) {
        let ops = self.clone();
        let (product, id, content) = (a.product.clone(), a.id.clone(), file(a));
        let author = crate::actor::person(&a.updated_by).to_owned();
        let message = format!("{id} revision {}: {what}\n\n{}", a.revision, a.title);
        let done = tokio::task::spawn_blocking(move || {
            ops.kb_repo
                .commit(&product, &id, &content, &author, &message)
        })
        .await;
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, article = %a.id, "committing the revision to the knowledge-base repository failed")
            }
            Err(e) => {
                tracing::error!(error = %e, article = %a.id, "committing the revision panicked")
            }
        }
    }

    /// Writes a new article (a draft unless published by a support lead).
    pub async fn add_kb_article(
        &self,
        actor: &Actor,
        product: &str,
        req: NewKbArticle,
    ) -> OpResult<KbArticle> {
        let who = actor.authorize(Permission::KbWrite)?;
        if req.publish {
            actor.authorize(Permission::KbPublish)?;
        }
        let kind = match req.kind.as_deref().unwrap_or("faq") {
            k @ ("faq" | "known_issue") => k.to_owned(),
            k => {
                return Err(OpError::Invalid(format!(
                    "article kind `{k}`: faq or known_issue"
                )));
            }
        };
        let title = bounded("the title", &req.title, MAX_TITLE)?;
        let body = bounded("the article", &req.body, MAX_ARTICLE)?;
        let fingerprint = req
            .fingerprint
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(|f| bounded("the fingerprint", f, 100))
            .transpose()?;
        if let Some(v) = &req.release {
            self.load_release(product, v).await?;
        }
        self.add_article(
            &who,
            product,
            KbArticleRecord {
                id: String::new(),
                product: product.to_owned(),
                issue_status: (kind == "known_issue").then(|| "open".to_owned()),
                kind,
                title,
                body,
                status: if req.publish { "published" } else { "draft" }.into(),
                release: req.release.map(|v| v.to_string()),
                fingerprint,
                revision: 1,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                updated_by: who.name.clone(),
                published_at: req.publish.then(Utc::now),
            },
        )
        .await
    }

    /// Stores and commits a new article written under `who`.
    pub(crate) async fn add_article(
        &self,
        who: &Authorized,
        product: &str,
        a: KbArticleRecord,
    ) -> OpResult<KbArticle> {
        let id = self
            .db
            .add_kb_article(prefix(&a.kind), &a, |id| {
                who.audit(
                    "kb.added",
                    id.to_owned(),
                    json!({"product": product, "kind": a.kind, "status": a.status, "release": a.release}),
                )
            })
            .await?;
        let a = KbArticleRecord { id, ..a };
        self.commit_revision(
            &a,
            if a.status == "published" {
                "published"
            } else {
                "draft"
            },
        )
        .await;
        Ok(view(a))
    }

    async fn load_article(&self, id: &str) -> OpResult<KbArticleRecord> {
        let id = id.trim().to_ascii_uppercase();
        match self.db.kb_article(&id).await? {
            Some(a) if self.config.products.contains(&a.product) => Ok(a),
            _ => Err(OpError::NotFound(format!(
                "no article {id}: `relops kb list` shows them"
            ))),
        }
    }

    /// A new revision of an article. A published article is edited by a support lead only
    /// (what customers read changes); a draft by anyone who writes the knowledge base.
    pub async fn edit_kb_article(
        &self,
        actor: &Actor,
        id: &str,
        req: KbEdit,
    ) -> OpResult<KbArticle> {
        let who = actor.authorize(Permission::KbWrite)?;
        let before = self.load_article(id).await?;
        if req.publish || before.status == "published" {
            actor.authorize(Permission::KbPublish)?;
        }
        let mut a = before.clone();
        if let Some(t) = &req.title {
            a.title = bounded("the title", t, MAX_TITLE)?;
        }
        if let Some(b) = &req.body {
            a.body = bounded("the article", b, MAX_ARTICLE)?;
        }
        if let Some(v) = &req.release {
            self.load_release(&a.product, v).await?;
            a.release = Some(v.to_string());
        }
        if let Some(v) = &req.fixed_in {
            if a.kind != "known_issue" {
                return Err(OpError::Invalid(format!(
                    "{}: only a known issue is fixed in a release",
                    a.id
                )));
            }
            self.load_release(&a.product, v).await?;
            a.issue_status = Some(format!("fixed in {v}"));
        }
        let now = Utc::now();
        if req.publish && a.status != "published" {
            a.status = "published".into();
            a.published_at = Some(now);
        } else if req.publish {
            a.published_at = Some(now);
        }
        a.revision += 1;
        a.updated_at = now;
        a.updated_by = who.name.clone();
        let audit = who.audit(
            "kb.revised",
            a.id.clone(),
            json!({"revision": a.revision, "status": a.status, "release": a.release, "issue_status": a.issue_status}),
        );
        self.db
            .revise_kb_article(&a, &audit)
            .await
            .map_err(|e| match e {
                relops_store::DbError::Conflict(m) => OpError::Conflict(m),
                e => e.into(),
            })?;
        self.commit_revision(&a, if req.publish { "published" } else { "revised" })
            .await;
        self.kb_article(actor, &a.id).await
    }

    /// An article with its revisions (drafts only for those who write the knowledge base).
    pub async fn kb_article(&self, actor: &Actor, id: &str) -> OpResult<KbArticle> {
        actor.authorize(Permission::ReleaseRead)?;
        let a = self.load_article(id).await?;
        if a.status != "published" && actor.authorize(Permission::KbWrite).is_err() {
            return Err(OpError::NotFound(format!(
                "no article {}: `relops kb list` shows them",
                a.id
            )));
        }
        let revisions = self
            .db
            .kb_revisions(&a.id)
            .await?
            .into_iter()
            .map(|r| KbRevision {
                revision: r.revision,
                title: r.title,
                status: r.status,
                release: r.release,
                author: r.author,
                at: r.at,
            })
            .collect();
        Ok(KbArticle {
            revisions,
            ..view(a)
        })
    }

    pub async fn kb_articles(&self, actor: &Actor, product: &str) -> OpResult<KbList> {
        actor.authorize(Permission::ReleaseRead)?;
        let drafts = actor.authorize(Permission::KbWrite).is_ok();
        Ok(KbList {
            articles: self
                .db
                .kb_articles(product, drafts)
                .await?
                .into_iter()
                .map(view)
                .collect(),
        })
    }

    /// Searches the knowledge base — and the tickets, for those who may read them; drafts
    /// for those who write articles.
    pub async fn search(
        &self,
        actor: &Actor,
        product: &str,
        q: &str,
        limit: Option<u32>,
    ) -> OpResult<SearchResults> {
        actor.authorize(Permission::ReleaseRead)?;
        let mut statuses = vec!["published"];
        if actor.authorize(Permission::KbWrite).is_ok() {
            statuses.push("draft");
        }
        if actor.authorize(Permission::TicketRead).is_ok() {
            statuses.push("ticket");
        }
        let hits = self
            .search_as(product, q, &statuses, limit.unwrap_or(20))
            .await?;
        Ok(SearchResults {
            query: q.to_owned(),
            hits,
        })
    }

    pub(crate) async fn search_as(
        &self,
        product: &str,
        q: &str,
        statuses: &[&str],
        limit: u32,
    ) -> OpResult<Vec<SearchHit>> {
        if q.len() > 10_000 {
            return Err(OpError::TooLarge(
                "the query is longer than 10,000 bytes".into(),
            ));
        }
        let words = relops_store::query_words(q);
        Ok(self
            .db
            .search(product, &words, statuses, limit.clamp(1, 100))
            .await?
            .into_iter()
            .map(|h| SearchHit {
                id: h.id,
                title: h.title,
                kind: h.kind,
                status: h.status,
                score: h.score,
            })
            .collect())
    }

    /// The public FAQ of `product`: published articles, newest first, or those matching `q`
    /// best first. Needs no token (`/support/{product}/faq`).
    pub async fn public_faq(&self, product: &str, q: Option<&str>) -> OpResult<Vec<KbArticle>> {
        let product = self.product(Some(product))?;
        let all: Vec<KbArticleRecord> = self.db.kb_articles(&product, false).await?;
        Ok(match q.map(str::trim).filter(|q| !q.is_empty()) {
            None => all.into_iter().map(view).collect(),
            Some(q) => {
                let hits = self.search_as(&product, q, &["published"], 50).await?;
                hits.iter()
                    .filter_map(|h| all.iter().find(|a| a.id == h.id).cloned())
                    .map(view)
                    .collect()
            }
        })
    }

    /// Whether the knowledge base was updated for release `v` since `since` (a published
    /// revision naming it): what the checklist's Support item needs.
    pub(crate) async fn faq_updated_for(
        &self,
        product: &str,
        v: &str,
        since: chrono::DateTime<Utc>,
    ) -> OpResult<bool> {
        Ok(self.db.kb_published_for(product, v, since).await?)
    }
}
