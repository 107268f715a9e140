//! The knowledge base (issue 25): FAQ articles and known issues, and search.

use chrono::{DateTime, Utc};
use relops_core::version::Version;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An article (`relops kb show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KbArticle {
    /// `FAQ-3`, `KI-2`.
    pub id: String,
    pub product: String,
    /// `faq` or `known_issue`.
    pub kind: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// `draft` or `published`.
    pub status: String,
    #[serde(default)]
    pub release: Option<String>,
    /// Known issues: the crash fingerprint (a critical rule, an error code) they explain.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Known issues: `open` or `fixed in X.Y.Z`.
    #[serde(default)]
    pub issue_status: Option<String>,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    /// Every revision, oldest first (in `show`; empty in lists).
    #[serde(default)]
    pub revisions: Vec<KbRevision>,
}

/// One kept revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KbRevision {
    pub revision: i64,
    pub title: String,
    pub status: String,
    #[serde(default)]
    pub release: Option<String>,
    pub author: String,
    pub at: DateTime<Utc>,
}

/// `POST /v1/kb`: a new article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NewKbArticle {
    /// `faq` (default) or `known_issue`.
    #[serde(default)]
    pub kind: Option<String>,
    pub title: String,
    /// Markdown.
    pub body: String,
    #[serde(default)]
    pub release: Option<Version>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Publish at once (support lead); otherwise a draft.
    #[serde(default)]
    pub publish: bool,
}

/// `POST /v1/kb/{id}`: a new revision; what is left out stays.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct KbEdit {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub release: Option<Version>,
    /// Known issues: the release that fixes it (`fixed in X.Y.Z`).
    #[serde(default)]
    pub fixed_in: Option<Version>,
    /// Publish this revision (support lead).
    #[serde(default)]
    pub publish: bool,
}

/// `GET /v1/kb`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KbList {
    pub articles: Vec<KbArticle>,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchHit {
    pub id: String,
    pub title: String,
    /// `faq`, `known_issue` or `ticket`.
    pub kind: String,
    /// `published`, `draft`, or `ticket`.
    pub status: String,
    /// Higher is better (comparable within one answer).
    pub score: f64,
}

/// `GET /v1/search?q=`: the knowledge base and (for those who may read them) the tickets,
/// best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchResults {
    pub query: String,
    pub hits: Vec<SearchHit>,
}
