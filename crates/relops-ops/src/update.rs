//! The thin-client update check (`GET /v1/update`): answered from the in-memory signed
//! targets with [`relops_core::offer::decide`], the function the SDK runs on the same
//! targets after verifying them. Public, like the feed it reads.

use relops_api::UpdateOffer;
use relops_core::offer::Install;
use relops_core::platform::Platform;
use relops_core::version::Version;

use crate::Ops;
use crate::error::{OpError, OpResult};

/// What an install asks with.
#[derive(Debug, Clone, Copy)]
pub struct UpdateQuestion<'a> {
    pub platform: &'a str,
    pub channel: &'a str,
    pub version: &'a str,
    pub install_id: &'a str,
}

/// An install id as the fleet sends it, bounded (the DSN is public).
pub(crate) fn install_id(id: &str) -> OpResult<&str> {
    if id.len() > 128 {
        return Err(OpError::Invalid(
            "install_id is longer than 128 characters: send the install's UUID".into(),
        ));
    }
    Ok(id)
}

impl Ops {
    /// The feed served for `product` now.
    pub(crate) fn published(
        &self,
        product: &str,
    ) -> OpResult<std::sync::Arc<crate::services::feed::Published>> {
        self.feed.current(product).ok_or_else(|| {
            OpError::Unavailable(format!("the feed of {product} is not loaded yet; retry"))
        })
    }

    /// What `q`'s install should install now, if anything: an update, or the target of a
    /// rollback directive.
    pub fn update_offer(
        &self,
        product: &str,
        q: UpdateQuestion<'_>,
    ) -> OpResult<Option<UpdateOffer>> {
        let platform: Platform = q
            .platform
            .parse()
            .map_err(|e: relops_core::platform::UnknownPlatform| OpError::Invalid(e.to_string()))?;
        let version: Version = crate::version(q.version)?;
        install_id(q.install_id)?;
        let feed = self.published(product)?;
        let install = Install {
            product,
            platform,
            channel: q.channel,
            version: &version,
            install_id: q.install_id,
        };
        let Some((t, offer)) = feed.decide(&install) else {
            self.count_update_check(product, q.channel, None);
            return Ok(None);
        };
        self.count_update_check(product, q.channel, Some(&offer.version.to_string()));
        Ok(Some(UpdateOffer {
            version: offer.version,
            url: format!("/tuf/{product}/targets/{}.{}", t.sha256, t.name),
            target: t.name.clone(),
            size: t.length,
            sha256: t.sha256.clone(),
            artifact: t.custom.artifact.clone(),
            signature: t.custom.release_signature.clone(),
            release_key_id: t.custom.release_key_id.clone(),
            downgrade: offer.downgrade,
        }))
    }
}
