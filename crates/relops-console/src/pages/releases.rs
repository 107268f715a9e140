//! The releases: the list, and a release's page — rollout with its actions, the readiness
//! checklist with sign buttons for the owner role and the product owner's go/no-go, the
//! quality gates, the artifacts with size, SHA-256 and signature, and the release notes.
//! The forms post here and come back to the release's page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use relops_api::{
    ApproveRequest, Checklist, GateList, Release, ReleaseSummary, RollbackRequest, RolloutStatus,
    RolloutStep,
};
use relops_core::access::Permission;
use relops_core::checklist::Item;
use relops_ops::checklist::SignOff;
use relops_ops::rollout::RolloutAction;
use relops_ops::{OpError, Ops};
use serde::Deserialize;

use super::{Done, Nav, render};
use crate::web::{Form, PageResult, User, given};

/// Releases a page of the list shows: a product's history grows by a release a week or
/// more, and a page must stay light (issue 26: under 150 KB).
const PER_PAGE: usize = 200;

#[derive(Template)]
#[template(path = "release_list.html")]
struct List {
    nav: Nav,
    releases: Vec<ReleaseSummary>,
    /// 1-based; the first is the newest.
    page: usize,
    pages: usize,
    total: usize,
    first: usize,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListQuery {
    page: Option<usize>,
}

/// `GET /console/{product}/releases?page=N`, newest first, [`PER_PAGE`] a page.
pub(crate) async fn list(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let mut releases = ops.releases(&user.actor, &product).await?.releases;
    releases.sort_by(|a, b| b.version.cmp(&a.version));
    let total = releases.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = q.page.unwrap_or(1);
    if page == 0 || page > pages {
        return Err(OpError::NotFound(format!(
            "page {page} of the releases: there are {pages} (page=1 is the newest)"
        ))
        .into());
    }
    let first = (page - 1) * PER_PAGE;
    let releases = releases.into_iter().skip(first).take(PER_PAGE).collect();
    Ok(render(List {
        nav: Nav::new(&user, &product, "releases", None),
        releases,
        page,
        pages,
        total,
        first: first + 1,
    }))
}

#[derive(Template)]
#[template(path = "release.html")]
struct Detail {
    nav: Nav,
    r: Release,
    rollout: Option<RolloutStatus>,
    /// The stages, each with `done`, `current` or `todo`.
    stages: Vec<(&'static str, &'static str)>,
    sprt_svg: String,
    checklist: Checklist,
    /// The items this user may sign now.
    signable: Vec<String>,
    gates: GateList,
    notes_html: Option<String>,
    may_manage: bool,
    may_halt: bool,
    may_rollback: bool,
    may_approve: bool,
}

/// `GET /console/{product}/releases/{version}`
pub(crate) async fn detail(
    State(ops): State<Ops>,
    Path((product, v)): Path<(String, String)>,
    user: User,
    done: Query<Done>,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let v = relops_ops::version(&v)?;
    let who = &user.actor;
    let r = ops.release(who, &product, &v).await?;
    let rollout = match ops.rollout(who, &product, &v).await {
        Ok(s) => Some(s),
        Err(OpError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let checklist = ops.checklist(who, &product, &v).await?;
    let gates = ops.gates(who, &product, &v).await?;
    let notes_html = if r.notes_sha256.is_some() {
        let md = ops.release_notes(who, &product, &v).await?;
        Some(crate::markdown(&String::from_utf8_lossy(&md)))
    } else {
        None
    };
    let signable = if user.may(Permission::ChecklistSign) {
        checklist
            .items
            .iter()
            .filter(|i| i.status == "open" && user.holds(i.owner))
            .map(|i| i.item.clone())
            .collect()
    } else {
        Vec::new()
    };
    let stages = stages(rollout.as_ref());
    let sprt_svg = rollout
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .map(|h| sprt_svg(&h.sprt))
        .unwrap_or_default();
    Ok(render(Detail {
        nav: Nav::new(&user, &product, "releases", done.0.done.as_deref()),
        may_manage: user.may(Permission::RolloutManage),
        may_halt: user.may(Permission::RolloutHalt),
        may_rollback: user.may(Permission::Rollback),
        may_approve: user.may(Permission::ReleaseApprove),
        r,
        rollout,
        stages,
        sprt_svg,
        checklist,
        signable,
        gates,
        notes_html,
    }))
}

/// The stage timeline: pilot → 25 → 50 → 100.
fn stages(s: Option<&RolloutStatus>) -> Vec<(&'static str, &'static str)> {
    const ALL: [(&str, &str); 4] = [
        ("pilot", "Pilot"),
        ("25", "25 %"),
        ("50", "50 %"),
        ("100", "100 %"),
    ];
    let at = s.and_then(|s| ALL.iter().position(|(k, _)| *k == s.stage));
    ALL.iter()
        .enumerate()
        .map(|(i, (_, label))| {
            let class = match at {
                Some(a) if i < a => "done",
                Some(a) if i == a => "current",
                _ => "todo",
            };
            (*label, class)
        })
        .collect()
}

/// The sequential test drawn as a bar: where the log-likelihood ratio stands between its
/// two boundaries (passing at or below the left one, failing at or above the right one).
fn sprt_svg(s: &relops_api::SprtFigures) -> String {
    let (lo, hi) = (s.accept_h0_at, s.accept_h1_at);
    let span = (hi - lo).max(f64::EPSILON);
    // The bar shows a margin of a quarter span beyond each boundary.
    let x = |v: f64| 20.0 + 360.0 * ((v - lo + span / 4.0) / (span * 1.5)).clamp(0.0, 1.0);
    format!(
        r##"<figure class="sprt"><svg viewBox="0 0 400 60" width="400" height="60" role="img" aria-labelledby="sprt-title"><title id="sprt-title">Sequential test: log-likelihood ratio {llr:.2}; passing at or below {lo:.2}, failing at or above {hi:.2}</title>
<rect x="20" y="22" width="360" height="12" class="sprt-bar"/>
<line x1="{xl:.1}" y1="14" x2="{xl:.1}" y2="42" class="sprt-pass"/><line x1="{xh:.1}" y1="14" x2="{xh:.1}" y2="42" class="sprt-fail"/>
<circle cx="{xv:.1}" cy="28" r="6" class="sprt-now"/>
<text x="{xl:.1}" y="56" text-anchor="middle">pass {lo:.2}</text><text x="{xh:.1}" y="56" text-anchor="middle">fail {hi:.2}</text><text x="{xv:.1}" y="11" text-anchor="middle">{llr:.2}</text>
</svg><figcaption>Log-likelihood ratio of the crash-rate test against its boundaries (p0 {p0}, p1 {p1}).</figcaption></figure>"##,
        llr = s.llr,
        xl = x(lo),
        xh = x(hi),
        xv = x(s.llr),
        p0 = s.p0,
        p1 = s.p1,
    )
}

fn back(product: &str, v: &str, done: &str) -> Response {
    Redirect::to(&format!("/console/{product}/releases/{v}?done={done}")).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignForm {
    note: Option<String>,
}

/// `POST …/checklist/{item}`: signs an item as its owner role.
pub(crate) async fn sign(
    State(ops): State<Ops>,
    Path((product, v, item)): Path<(String, String, String)>,
    f: Form<SignForm>,
) -> PageResult {
    let version = relops_ops::version(&v)?;
    let item: Item = item.parse().map_err(OpError::NotFound)?;
    let s = SignOff {
        note: given(f.fields.note),
        evidence: Default::default(),
        evidence_name: None,
        no_faq_change: false,
    };
    ops.sign_checklist(&f.user.actor, &product, &version, item, s)
        .await?;
    Ok(back(&product, &v, "signed"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DecideForm {
    decision: String,
    reason: Option<String>,
}

/// `POST …/approve`: the product owner's go or no-go.
pub(crate) async fn decide(
    State(ops): State<Ops>,
    Path((product, v)): Path<(String, String)>,
    f: Form<DecideForm>,
) -> PageResult {
    let version = relops_ops::version(&v)?;
    let no_go = match f.fields.decision.as_str() {
        "go" => false,
        "no_go" => true,
        other => {
            return Err(OpError::Invalid(format!("decision `{other}`: choose go or no-go")).into());
        }
    };
    let req = ApproveRequest {
        no_go,
        waive: Vec::new(),
        reason: given(f.fields.reason),
    };
    ops.decide_go(&f.user.actor, &product, &version, req)
        .await?;
    Ok(back(&product, &v, "decided"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct StepForm {
    reason: Option<String>,
    force: Option<String>,
}

/// `POST …/rollout/{action}`: start, advance, pause, resume or halt.
pub(crate) async fn rollout_step(
    State(ops): State<Ops>,
    Path((product, v, action)): Path<(String, String, String)>,
    f: Form<StepForm>,
) -> PageResult {
    let version = relops_ops::version(&v)?;
    let action: RolloutAction = action.parse()?;
    let req = RolloutStep {
        force: f.fields.force.as_deref() == Some("true"),
        reason: given(f.fields.reason),
    };
    ops.rollout_step(&f.user.actor, &product, &version, action, req)
        .await?;
    Ok(back(&product, &v, action.as_str()))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RollbackForm {
    reason: Option<String>,
    severity: Option<String>,
    /// `true`: confirm the product's waiting rollback as its second person.
    confirm: Option<String>,
}

/// `POST /console/{product}/rollback`: back to the newest release that reached 100 % (a
/// person's rollback waits for its second person), or the second person's confirmation.
pub(crate) async fn rollback(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    f: Form<RollbackForm>,
) -> PageResult {
    let req = RollbackRequest {
        to: None,
        reason: given(f.fields.reason).unwrap_or_default(),
        severity: given(f.fields.severity),
        next_fix: None,
        force: false,
        confirm: f.fields.confirm.as_deref() == Some("true"),
    };
    let a = ops.rollback(&f.user.actor, &product, req).await?;
    let done = if a.done.is_some() {
        "rollback"
    } else {
        "rollback_pending"
    };
    Ok(Redirect::to(&format!("/console/{product}?done={done}")).into_response())
}
