//! Keys and certificates (release.read): everything that expires — each product's feed
//! metadata, the release and crash keys, the TLS certificate and the registered platform
//! signing certificates — the soonest first, with how many days are left, how urgent it is
//! and what keeps it from expiring (the same list as `relops keys status`).

use askama::Template;
use axum::extract::{Path, State};
use relops_api::ExpiryItem;
use relops_ops::Ops;

use super::{Nav, render};
use crate::web::{PageResult, User};

#[derive(Template)]
#[template(path = "keys.html")]
struct Keys {
    nav: Nav,
    items: Vec<ExpiryItem>,
}

impl Keys {
    /// The urgency of `level` in words a security engineer reads.
    fn urgency(&self, level: &str) -> &'static str {
        match level {
            "expired" => "EXPIRED",
            "page" => "7 days or less: on-call is paged",
            "warn" => "30 days or less",
            "notice" => "60 days or less",
            "auto" => "renewed by the server",
            "never" => "does not expire",
            _ => "fine",
        }
    }
}

/// `GET /console/{product}/keys`
pub(crate) async fn page(
    State(ops): State<Ops>,
    Path(product): Path<String>,
    user: User,
) -> PageResult {
    let product = ops.product(Some(&product))?;
    let items = ops.expiry_status(&user.actor).await?.items;
    Ok(render(Keys {
        nav: Nav::new(&user, &product, "keys", None),
        items,
    }))
}
