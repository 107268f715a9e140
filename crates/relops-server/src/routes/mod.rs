//! The HTTP routes. Each handler names the permission it needs as its first act.

pub mod alerts;
pub mod artifacts;
pub mod audit;
mod body;
pub mod checklist;
pub mod crashes;
pub mod gates;
pub mod health;
pub mod incidents;
pub mod ingest;
pub mod releases;
pub mod rollouts;
pub mod table;
pub mod tokens;
pub mod tuf;
pub mod update;

use relops_core::version::Version;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;

/// `?product=` on every `/v1` route; optional while only one product is configured.
#[derive(Debug, Deserialize, Default)]
pub struct ProductQuery {
    pub product: Option<String>,
}

impl AppState {
    /// The product a request is about.
    pub fn product(&self, asked: Option<&str>) -> Result<String, ApiError> {
        let products = &self.config.products;
        match asked {
            Some(p) if products.iter().any(|x| x == p) => Ok(p.to_owned()),
            Some(p) => Err(ApiError::NotFound(format!(
                "unknown product `{p}`: this server has {}",
                products.join(", ")
            ))),
            None if products.len() == 1 => Ok(products[0].clone()),
            None => Err(ApiError::BadRequest(format!(
                "several products are configured ({}): name one with --product (or ?product=)",
                products.join(", ")
            ))),
        }
    }

    /// Waits until every telemetry record answered so far is in the ingest tables and in
    /// the health engine (see [`crate::ingest_writer`]): reads of ingest data and health
    /// decisions call this first.
    pub async fn telemetry_visible(&self) -> Result<(), ApiError> {
        self.ingest_writer
            .flush()
            .await
            .map_err(|e| ApiError::Unavailable(format!("{e}; retry")))
    }
}

/// Parses a version from a path segment.
pub fn version(s: &str) -> Result<Version, ApiError> {
    s.parse()
        .map_err(|e: relops_core::version::VersionError| ApiError::BadRequest(e.to_string()))
}
