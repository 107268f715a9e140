//! Engineering issues for escalated tickets (issue 25): the playbook escalates a reproducible
//! bug to an issue labelled `production-incident`. The request is rendered when the ticket
//! is escalated and written to the outbox in the same transaction; the outbox worker sends
//! it with the tracker's credentials from the config (never stored) and links the issue it
//! created back to the ticket.
//!
//! - Jira: `POST {url}/rest/api/2/issue`, basic auth `user:api_token`, body
//!   `{"fields": {"project": {"key"}, "issuetype": {"name"}, "summary", "description",
//!   "labels": ["production-incident"]}}`; answers `201 {"id", "key", "self"}`.
//! - GitHub: `POST {api_url}/repos/{owner}/{repo}/issues`, `Authorization: Bearer`,
//!   `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`, body
//!   `{"title", "body", "labels": ["production-incident"]}`; answers `201 {"number",
//!   "html_url"}`.
//!
//! The issue carries the ticket's id, priority, release, platform and crashes, and the
//! agent's note — not the customer's name or address.

use relops_store::{NewNotification, TicketRecord};
use serde_json::{Value, json};

use crate::config::SupportConfig;

/// The label the playbook gives every escalated bug.
pub(crate) const LABEL: &str = "production-incident";

/// A tracker relops escalates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tracker {
    Jira,
    Github,
}

impl Tracker {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s {
            "jira" => Ok(Self::Jira),
            "github" => Ok(Self::Github),
            _ => Err(format!("unknown tracker `{s}`: jira or github")),
        }
    }

    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Jira => "jira",
            Self::Github => "github",
        }
    }

    pub(crate) fn from_kind(kind: &str) -> Option<Self> {
        Self::parse(kind).ok()
    }
}

/// What the issue says.
fn description(t: &TicketRecord, crashes: &[String], note: Option<&str>) -> String {
    let mut d = format!(
        "Escalated from support ticket {} ({} priority).\n",
        t.id, t.priority
    );
    for (k, v) in [
        ("Release", t.release.as_deref()),
        ("Platform", t.platform.as_deref()),
        ("Install", t.install_id.as_deref()),
        ("Incident", t.incident.as_deref()),
    ] {
        if let Some(v) = v {
            d.push_str(&format!("{k}: {v}\n"));
        }
    }
    if !crashes.is_empty() {
        d.push_str(&format!("Crash reports: {}\n", crashes.join(", ")));
    }
    if let Some(n) = note {
        d.push_str(&format!("\n{n}\n"));
    }
    d.push_str(&format!("\nrelops: `relops ticket show {}`\n", t.id));
    d
}

/// The outbox row that creates the issue for `t`; an error when the tracker is not
/// configured.
pub(crate) fn issue_request(
    cfg: &SupportConfig,
    tracker: Tracker,
    t: &TicketRecord,
    crashes: &[String],
    note: Option<&str>,
) -> Result<NewNotification, String> {
    let title = format!("[{}] {}", t.id, t.subject);
    let text = description(t, crashes, note);
    let (url, body) = match tracker {
        Tracker::Jira => {
            let j = cfg.jira.as_ref().ok_or(
                "no [support.jira] is configured: add url, project, user and api_token (docs/support.md)",
            )?;
            (
                format!("{}/rest/api/2/issue", j.url.trim_end_matches('/')),
                json!({"fields": {
                    "project": {"key": j.project},
                    "issuetype": {"name": j.issue_type},
                    "summary": title,
                    "description": text,
                    "labels": [LABEL],
                }}),
            )
        }
        Tracker::Github => {
            let g = cfg
                .github
                .as_ref()
                .ok_or("no [support.github] is configured: add repo and token (docs/support.md)")?;
            (
                format!(
                    "{}/repos/{}/issues",
                    g.api_url.trim_end_matches('/'),
                    g.repo
                ),
                json!({"title": title, "body": text, "labels": [LABEL]}),
            )
        }
    };
    Ok(NewNotification {
        event: "ticket.escalated".into(),
        product: t.product.clone(),
        version: t.release.clone().unwrap_or_default(),
        sink: tracker.kind().into(),
        kind: tracker.kind().into(),
        url,
        payload: body.to_string(),
        created_at: chrono::Utc::now(),
        reference: Some(t.id.clone()),
    })
}

/// Adds the tracker's credentials and headers to a request.
pub(crate) fn authorize(
    cfg: &SupportConfig,
    tracker: Tracker,
    rb: reqwest::RequestBuilder,
) -> Result<reqwest::RequestBuilder, String> {
    Ok(match tracker {
        Tracker::Jira => {
            let j = cfg.jira.as_ref().ok_or("no [support.jira] is configured")?;
            rb.basic_auth(&j.user, Some(&j.api_token))
                .header(reqwest::header::ACCEPT, "application/json")
        }
        Tracker::Github => {
            let g = cfg
                .github
                .as_ref()
                .ok_or("no [support.github] is configured")?;
            rb.bearer_auth(&g.token)
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
        }
    })
}

/// The created issue's name and address from the tracker's answer.
pub(crate) fn created_issue(
    cfg: &SupportConfig,
    tracker: Tracker,
    answer: &Value,
) -> Option<(String, Option<String>)> {
    match tracker {
        Tracker::Jira => {
            let key = answer["key"].as_str()?;
            let url = cfg
                .jira
                .as_ref()
                .map(|j| format!("{}/browse/{key}", j.url.trim_end_matches('/')));
            Some((format!("jira:{key}"), url))
        }
        Tracker::Github => {
            let n = answer["number"].as_u64()?;
            let repo = cfg
                .github
                .as_ref()
                .map(|g| g.repo.clone())
                .unwrap_or_default();
            Some((
                format!("github:{repo}#{n}"),
                answer["html_url"].as_str().map(str::to_owned),
            ))
        }
    }
}
