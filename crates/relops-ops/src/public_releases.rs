//! The public release page (R-REL-10): the approved releases of a product with their notes,
//! dates, files and `SHA256SUMS`, for anyone — no token. Drafts and frozen releases are not
//! there: only the states the update feed publishes.

use relops_api::{PublicArtifact, PublicRelease, PublicReleases};
use relops_core::release::ReleaseState;

use crate::Ops;
use crate::error::{OpError, OpResult};

/// Most releases the page lists (newest first).
const MAX_RELEASES: usize = 100;

impl Ops {
    /// The published releases of `product`, newest first.
    pub async fn public_releases(&self, product: &str) -> OpResult<PublicReleases> {
        if !self.config.products.iter().any(|p| p == product) {
            return Err(OpError::NotFound(format!("no product {product} here")));
        }
        let mut out = Vec::new();
        for s in self.db.list_releases(product).await? {
            if !relops_store::PUBLISHED_STATES.contains(&s.state) {
                continue;
            }
            if out.len() == MAX_RELEASES {
                break;
            }
            let r = self.load_release(product, &s.version).await?;
            let withdrawn = r.state == ReleaseState::RolledBack;
            let channels = match self.db.rollout(product, &r.version).await? {
                Some(rec) if !withdrawn => self
                    .config
                    .feed
                    .rollout_state(&rec)
                    .bps
                    .iter()
                    .filter(|(_, p)| p.as_f64() > 0.0)
                    .map(|(c, _)| c.clone())
                    .collect(),
                _ => Vec::new(),
            };
            let notes = match &r.notes_sha256 {
                Some(_) => Some(String::from_utf8_lossy(&self.notes_of(&r).await?).into_owned()),
                None => None,
            };
            let sha256sums = crate::artifacts::sha256sums_of(&r);
            out.push(PublicRelease {
                withdrawn,
                version: r.version,
                kind: r.kind,
                state: r.state,
                go_live: r.go_live,
                approved_at: r.approved_at,
                channels,
                notes,
                sha256sums,
                artifacts: r
                    .artifacts
                    .into_iter()
                    .map(|a| PublicArtifact {
                        name: a.name,
                        platform: a.platform,
                        size: a.size,
                        sha256: a.sha256,
                    })
                    .collect(),
            });
        }
        Ok(PublicReleases {
            product: product.to_owned(),
            releases: out,
        })
    }
}
