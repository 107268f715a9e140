//! The audit trail (audit.read): the newest entries, filtered by who and by action, and
//! "verify the chain" with its result.

use askama::Template;
use axum::extract::{Path, Query, State};
use relops_api::{AuditEntryInfo, AuditVerification};
use relops_ops::Ops;
use serde::Deserialize;

use super::{Nav, render};
use crate::web::{PageResult, User};

/// Entries a page shows.
const LIMIT: u32 = 200;

#[derive(Template)]
#[template(path = "audit.html")]
struct Audit {
    nav: Nav,
    actor: String,
    action: String,
    entries: Vec<AuditEntryInfo>,
    verification: Option<AuditVerification>,
    limit: u32,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Filter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    verify: Option<String>,
}

/// `GET /console/{product}/audit?actor=&action=&verify=1`
pub(crate) async fn page(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
    q: Query<Filter>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let q = q.0;
    let entries = ops
        .audit_entries(&user.actor, &q.actor, &q.action, LIMIT)
        .await?
        .entries;
    let verification = match q.verify.as_deref() {
        Some("1") => Some(ops.verify_audit(&user.actor, &[]).await?),
        _ => None,
    };
    Ok(render(Audit {
        nav: Nav::new(&user, &product, "audit", None),
        actor: q.actor,
        action: q.action,
        entries,
        verification,
        limit: LIMIT,
    }))
}
