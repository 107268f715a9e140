//! The public release page (R-REL-10): the approved releases of a product with their notes,
//! dates, files and `SHA256SUMS`, for anyone — no token. Drafts and frozen releases are not
//! there: only the states the update feed publishes.

use relops_api::{PublicArtifact, PublicRelease, PublicReleases};
use relops_core::release::ReleaseState;

use crate::Ops;
use crate::error::{OpError, OpResult};

/// Most releases the page lists (newest first).
const MAX_RELEASES: usize = 100;
/// The newest releases whose notes the page carries; older ones link to theirs (notes may
/// be up to 1 MiB each, and the page is public).
const NOTES_INLINE: usize = 10;

impl Ops {
    /// The published releases of `product`, newest first; with `channel`, only those that
    /// channel offers now (its Atom feed).
    pub async fn public_releases(
        &self,
        product: &str,
        channel: Option<&str>,
    ) -> OpResult<PublicReleases> {
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
            if channel.is_some_and(|c| !channels.iter().any(|k| k == c)) {
                continue;
            }
            let notes = match &r.notes_sha256 {
                Some(_) if out.len() < NOTES_INLINE => {
                    Some(String::from_utf8_lossy(&self.notes_of(&r).await?).into_owned())
                }
                _ => None,
            };
            let notes_url = r
                .notes_sha256
                .as_ref()
                .map(|_| format!("/tuf/{product}/notes/{}.md", r.version));
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
                notes_url,
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
