//! The signing keys of the feed and the release: listed with their expiry, and the feed's
//! role keys rotated (the release key is pinned by installed apps and is not rotated
//! online).

use relops_api::{KeyInfo, KeyList, KeyRotated, RootRenewed, RotateKey};
use relops_core::access::Permission;
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::services::feed::MissingRootKeys;
use crate::services::key_files::load_signing_key;
use crate::{Actor, Ops};

impl Ops {
    /// Key ids, thresholds, versions and expiry of the feed's roles, the release key and
    /// the crash key.
    pub async fn keys(&self, actor: &Actor, product: &str) -> OpResult<KeyList> {
        actor.authorize(Permission::ReleaseRead)?;
        let feed = self
            .feed
            .current(product)
            .ok_or_else(|| OpError::NotFound(format!("{product} is not in the feed")))?;
        let mut keys = feed.key_info()?;
        keys.push(KeyInfo {
            role: "release".into(),
            key_ids: vec![self.release_key.key_id().to_owned()],
            public_keys: vec![self.release_key.public_hex()],
            public_keys_base64: vec![base64_of_hex(&self.release_key.public_hex())],
            threshold: 1,
            expires: None,
            version: None,
        });
        keys.push(KeyInfo {
            role: "crash".into(),
            key_ids: vec![self.crash_key.key_id().to_owned()],
            public_keys: vec![self.crash_key.public_hex().to_owned()],
            public_keys_base64: vec![base64_of_hex(self.crash_key.public_hex())],
            threshold: 1,
            expires: None,
            version: None,
        });
        Ok(KeyList {
            product: product.to_owned(),
            keys,
        })
    }

    /// A new version of every product's root with the same keys and a new expiry
    /// (`relops keys renew root`): needs the root keys' threshold on this server, like a
    /// rotation.
    pub async fn renew_root(&self, actor: &Actor) -> OpResult<RootRenewed> {
        let who = actor.authorize(Permission::KeyRotate)?;
        let root_versions = self.feed.renew_root(&self.db).await.map_err(|e| match e
            .downcast::<MissingRootKeys>()
        {
            Ok(missing) => OpError::Refused(format!("cannot renew the root: {missing}")),
            Err(e) => OpError::Internal(e.context("renewing the root failed")),
        })?;
        let expires =
            chrono::Utc::now() + chrono::Duration::days(self.config.feed.root_expiry_days);
        self.db
            .append_audit_entry(&who.audit(
                "key.renew_root",
                "key/root".to_owned(),
                json!({ "root_versions": root_versions, "expires": expires }),
            ))
            .await?;
        Ok(RootRenewed {
            root_versions,
            expires,
        })
    }

    /// A new key for a TUF role, published in a new root version of every product.
    pub async fn rotate_key(&self, actor: &Actor, req: RotateKey) -> OpResult<KeyRotated> {
        let who = actor.authorize(Permission::KeyRotate)?;
        let role = req.role.trim();
        if !["root", "targets", "snapshot", "timestamp"].contains(&role) {
            return Err(OpError::Invalid(format!(
                "cannot rotate `{role}`: rotate one of root, targets, snapshot, timestamp (the release \
                 key is pinned by installed apps and is not rotated online)"
            )));
        }
        let root_versions = self
            .feed
            .rotate(&self.db, &self.config.keys_dir, role)
            .await
            .map_err(|e| match e.downcast::<MissingRootKeys>() {
                Ok(missing) => OpError::Refused(format!("cannot rotate the {role} key: {missing}")),
                Err(e) => OpError::Internal(e.context(format!("rotating the {role} key failed"))),
            })?;
        let key = load_signing_key(&self.config.keys_dir, role)
            .map_err(|e| OpError::Internal(e.into()))?;
        let key_id = relops_tuf::Key::ed25519(&key.verifying_key()).key_id();
        let audit = who.audit(
            "key.rotate",
            format!("key/{role}"),
            json!({ "key_id": key_id, "root_versions": root_versions }),
        );
        self.db.append_audit_entry(&audit).await?;
        Ok(KeyRotated {
            role: role.to_owned(),
            key_id,
            root_versions,
        })
    }
}

/// A hex key as base64 (empty if it is not hex, which keys relops made always are).
pub(crate) fn base64_of_hex(hex_key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_key).unwrap_or_default())
}
