//! The HTTP routes, one file per area, each handler thin: extract the path, query and
//! body, call one operation of `relops-ops` as the [`Caller`](crate::auth::Caller), and
//! answer with its `relops-api` type. What a route needs is said once, in [`table`].

mod alerts;
mod artifacts;
mod audit;
mod body_decoding;
mod checklist;
mod crashes;
mod gates;
mod health;
mod incidents;
mod ingest;
mod kb;
mod log_bundles;
mod pilot;
mod probes;
mod public;
mod releases;
mod retention;
mod rollouts;
pub mod spec;
mod support;
pub mod table;
mod tickets;
mod tokens;
mod tuf;
mod update;
mod updaters;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;

/// `?product=` on every `/v1` route; optional while only one product is configured.
#[derive(Debug, Deserialize, Default)]
pub struct ProductQuery {
    pub product: Option<String>,
}

/// The product a `/v1` request is about: `?product=`, or the only one configured.
#[derive(Debug, Clone)]
pub struct Product(pub String);

impl FromRequestParts<AppState> for Product {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let q: ProductQuery = axum::extract::Query::try_from_uri(&parts.uri)
            .map(|q| q.0)
            .unwrap_or_default();
        Ok(Product(state.ops.product(q.product.as_deref())?))
    }
}

/// A version from a path segment.
pub fn version(s: &str) -> Result<relops_core::version::Version, ApiError> {
    Ok(relops_ops::version(s)?)
}

#[cfg(test)]
mod tests {
    /// Handlers answer with `relops-api` types, which the CLI, the console and the SDK read
    /// and the OpenAPI document describes: a JSON answer built by hand (`json!`) is how a
    /// handler drifts from all three unseen.
    #[test]
    fn no_route_builds_json_by_hand() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            assert!(
                !code.contains(concat!("json", "!(")),
                "{} builds JSON by hand: answer with a relops-api type",
                path.display()
            );
            checked += 1;
        }
        assert!(checked >= 15, "{checked}");
    }
}
