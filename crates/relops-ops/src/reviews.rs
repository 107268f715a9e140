//! Review cycles (issue 33, the playbook's §6 and its footer): documents are reviewed every
//! half year — the permission matrix (security engineer) and each published knowledge-base
//! article (support lead) — and after every release that reached 100 % the release manager
//! holds a short retrospective ("update the playbook?"). The maintenance loop opens each
//! review when it comes due, reminds its owner once when it is overdue, and the owner closes
//! it with a note or a linked knowledge-base revision (the playbook's, when the playbook is
//! kept in the knowledge base), audited; closing a document's review opens the next, half a
//! year on.

use chrono::{DateTime, Duration, Utc};
use relops_api::{ReviewDone, ReviewItem, ReviewList};
use relops_core::access::Permission;
use relops_core::rollout::Stage;
use relops_store::ReviewRecord;
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::services::notify::Notice;
use crate::{Actor, Ops};

/// Days between reviews of a document (half a year).
pub const REVIEW_DAYS: i64 = 182;
/// Days a retrospective is due after the release reached 100 %.
pub const RETRO_DAYS: i64 = 7;
/// Releases that reached 100 % this many days ago or less get a retrospective (older ones,
/// from before review cycles, do not).
const RETRO_WINDOW_DAYS: i64 = 30;

fn item(r: ReviewRecord, now: DateTime<Utc>) -> ReviewItem {
    ReviewItem {
        overdue: r.done_at.is_none() && r.due_at < now,
        subject: r.subject,
        kind: r.kind,
        owner_role: r.owner_role,
        what: r.what,
        opened_at: r.opened_at,
        due_at: r.due_at,
        done_at: r.done_at,
        done_by: r.done_by,
        note: r.note,
        revision: r
            .revision
            .map(|(article, revision)| relops_api::KbRevisionRef { article, revision }),
    }
}

/// The permission a subject's owner needs to close its review.
fn owner_permission(subject: &str) -> Option<Permission> {
    if subject == "permissions" {
        Some(Permission::KeyRotate)
    } else if subject.starts_with("kb:") {
        Some(Permission::KbPublish)
    } else if subject.starts_with("retro:") {
        Some(Permission::RolloutManage)
    } else {
        None
    }
}

impl Ops {
    /// The product's reviews, open ones first.
    pub async fn reviews(&self, actor: &Actor, product: &str) -> OpResult<ReviewList> {
        actor.authorize(Permission::ReleaseRead)?;
        let now = Utc::now();
        Ok(ReviewList {
            reviews: self
                .db
                .reviews(product)
                .await?
                .into_iter()
                .map(|r| item(r, now))
                .collect(),
        })
    }

    /// Closes the open review of `subject` with a note (its owner); a document's next review
    /// opens at once, half a year on.
    pub async fn review_done(
        &self,
        actor: &Actor,
        product: &str,
        subject: &str,
        done: ReviewDone,
    ) -> OpResult<ReviewItem> {
        let subject = subject.trim();
        let permission = owner_permission(subject).ok_or_else(|| {
            OpError::NotFound(format!(
                "no review `{subject}`: `relops review list` shows them (permissions, kb:ID, retro:VERSION)"
            ))
        })?;
        let who = actor.authorize(permission)?;
        let linked = match &done.revision {
            Some(r) => Some(self.linked_revision(product, r).await?),
            None => None,
        };
        let note = match (done.note.trim(), &linked) {
            ("", None) => {
                return Err(OpError::Invalid(
                    "say what the review found or changed (--note), e.g. \"nothing to change\", or link the revision that carries the change (--revision FAQ-3@4)".into(),
                ));
            }
            ("", Some((r, title))) => format!("revised: {title} ({}@{})", r.article, r.revision),
            (note, _) => note.to_owned(),
        };
        let note = relops_core::text::line("note", &note, 2000)
            .map_err(crate::invalid)?
            .to_owned();
        let now = Utc::now();
        let revision = linked
            .as_ref()
            .map(|(r, _)| (r.article.as_str(), r.revision));
        let audit = who.audit(
            "review.done",
            format!("{product}/review/{subject}"),
            json!({"note": note, "revision": linked.as_ref().map(|(r, _)| r)}),
        );
        if !self
            .db
            .close_review(product, subject, &who.name, &note, revision, now, &audit)
            .await?
        {
            return Err(OpError::NotFound(format!(
                "no open review `{subject}`: `relops review list` shows what is open"
            )));
        }
        self.open_due_reviews(now).await?;
        let r = self
            .db
            .reviews(product)
            .await?
            .into_iter()
            .filter(|r| r.subject == subject && r.done_at.is_some())
            .max_by_key(|r| r.done_at);
        r.map(|r| item(r, now)).ok_or_else(|| {
            OpError::Internal(anyhow::anyhow!(
                "the closed review of {subject} is not found"
            ))
        })
    }

    /// The knowledge-base revision `r` names, checked: an article of `product` that has
    /// reached that revision; with the article's title.
    async fn linked_revision(
        &self,
        product: &str,
        r: &relops_api::KbRevisionRef,
    ) -> OpResult<(relops_api::KbRevisionRef, String)> {
        let article = r.article.trim();
        let a = self
            .db
            .kb_article(article)
            .await?
            .filter(|a| a.product == product)
            .ok_or_else(|| {
                OpError::NotFound(format!(
                    "no knowledge-base article `{article}` for {product}: `relops kb list` shows them"
                ))
            })?;
        if r.revision < 1 || r.revision > a.revision {
            return Err(OpError::Invalid(format!(
                "{article} has revisions 1 to {}; `relops kb show {article}` lists them",
                a.revision
            )));
        }
        Ok((
            relops_api::KbRevisionRef {
                article: a.id,
                revision: r.revision,
            },
            a.title,
        ))
    }

    /// Opens the reviews that came due and reminds once of overdue ones (the maintenance
    /// loop); answers how many reminders went out.
    pub async fn open_due_reviews(&self, now: DateTime<Utc>) -> OpResult<usize> {
        let mut reminded = 0;
        for product in &self.config.products {
            let existing = self.db.reviews(product).await?;
            let last_done = |subject: &str| {
                existing
                    .iter()
                    .filter(|r| r.subject == subject)
                    .filter_map(|r| r.done_at)
                    .max()
            };
            let mut wanted = vec![ReviewRecord {
                product: product.clone(),
                subject: "permissions".into(),
                kind: "document".into(),
                owner_role: "security_engineer".into(),
                what: "review the permission matrix (docs/permissions.md, `relops token list`): who holds which role, and whether it still fits".into(),
                opened_at: now,
                due_at: last_done("permissions").unwrap_or(now) + Duration::days(REVIEW_DAYS),
                done_at: None,
                done_by: None,
                note: None,
                revision: None,
            }];
            for a in self.db.kb_articles(product, false).await? {
                let subject = format!("kb:{}", a.id);
                let since = last_done(&subject).map_or(a.updated_at, |d| d.max(a.updated_at));
                wanted.push(ReviewRecord {
                    product: product.clone(),
                    what: format!(
                        "review {} \"{}\": still true for the current releases?",
                        a.id, a.title
                    ),
                    subject,
                    kind: "document".into(),
                    owner_role: "support_lead".into(),
                    opened_at: now,
                    due_at: since + Duration::days(REVIEW_DAYS),
                    done_at: None,
                    done_by: None,
                    note: None,
                    revision: None,
                });
            }
            for r in self.db.rollouts(product).await? {
                let subject = format!("retro:{}", r.version);
                if r.rollout.stage == Stage::P100
                    && now - r.updated_at <= Duration::days(RETRO_WINDOW_DAYS)
                    && !existing.iter().any(|e| e.subject == subject)
                {
                    wanted.push(ReviewRecord {
                        product: product.clone(),
                        what: format!(
                            "retrospective of {}: what went well, what not — update the playbook?",
                            r.version
                        ),
                        subject,
                        kind: "retrospective".into(),
                        owner_role: "release_manager".into(),
                        opened_at: now,
                        due_at: r.updated_at + Duration::days(RETRO_DAYS),
                        done_at: None,
                        done_by: None,
                        note: None,
                        revision: None,
                    });
                }
            }
            for w in &wanted {
                self.db.open_review(w).await?;
            }
            for r in self.db.reviews(product).await? {
                if r.done_at.is_some() || r.due_at >= now {
                    continue;
                }
                let notice = Notice {
                    event: "review.overdue".into(),
                    product: product.clone(),
                    version: String::new(),
                    text: format!(
                        "{product}: review overdue since {} ({}): {}. Close it with `relops review done {} --note …`.",
                        r.due_at.format("%Y-%m-%d"),
                        r.owner_role,
                        r.what,
                        r.subject
                    ),
                    page: None,
                    details: json!({"subject": r.subject, "owner_role": r.owner_role, "due_at": r.due_at}),
                    at: now,
                };
                if self
                    .db
                    .report_expiry(
                        &format!("review:{product}:{}", r.subject),
                        r.due_at,
                        0,
                        now,
                        &notice.messages(&self.config.notify),
                    )
                    .await?
                {
                    reminded += 1;
                }
            }
        }
        if reminded > 0 {
            self.outbox.notify_one();
        }
        Ok(reminded)
    }
}
