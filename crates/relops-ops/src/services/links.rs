//! Signed links in mail to customers (issue 25): the one-click confirmation of a solution
//! and the unsubscribe link of a mail-out. A link carries an HMAC-SHA256 over what it
//! does (purpose and its fields), keyed by `links.key` in the keys directory — 32 random
//! bytes, made the first time a server opens the data directory and never rewritten, so
//! links stay valid across restarts and on every replica that shares the keys.
//!
//! A link confirms only what it names: the confirmation link names the ticket and the
//! moment it was solved, so that a link from an earlier solution does not confirm a later
//! one.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::key_files::write_private;

/// The file holding the link key, in the keys directory.
pub(crate) const LINK_KEY_FILE: &str = "links.key";

/// The key that signs links (secret; `Debug` does not show it).
#[derive(Clone)]
pub(crate) struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

impl LinkKey {
    /// Reads `keys_dir/links.key`, making it first when there is none.
    pub(crate) fn load_or_create(keys_dir: &Path) -> anyhow::Result<Self> {
        let path = keys_dir.join(LINK_KEY_FILE);
        if !path.exists() {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            match write_private(&path, hex::encode(b).as_bytes()) {
                Ok(()) => {}
                // Another replica made it first: read theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => anyhow::bail!("cannot write {}: {e}", path.display()),
            }
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let bytes = hex::decode(text.trim()).ok().filter(|b| b.len() == 32);
        let Some(bytes) = bytes else {
            anyhow::bail!(
                "{} is not 64 hex digits: restore it from backup, or delete it (links in mail already sent stop working)",
                path.display()
            );
        };
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(Self(key))
    }

    fn mac(&self, purpose: &str, fields: &[&str]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        for f in fields {
            // Each field after its length: fields cannot run into each other.
            mac.update(&(f.len() as u64).to_be_bytes());
            mac.update(f.as_bytes());
        }
        mac
    }

    /// The signature of a link doing `purpose` on `fields` (URL-safe base64).
    pub(crate) fn sign(&self, purpose: &str, fields: &[&str]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, fields).finalize().into_bytes())
    }

    /// Whether `signature` is this key's for `purpose` on `fields` (constant time).
    pub(crate) fn verify(&self, purpose: &str, fields: &[&str], signature: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(signature.trim()) {
            Ok(sig) => self.mac(purpose, fields).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_verifies_only_what_it_signed() {
        let dir = tempfile::tempdir().unwrap();
        let k = LinkKey::load_or_create(dir.path()).unwrap();
        let sig = k.sign("confirm", &["WIZ-1", "1700000000000000"]);
        assert!(k.verify("confirm", &["WIZ-1", "1700000000000000"], &sig));
        assert!(!k.verify("confirm", &["WIZ-2", "1700000000000000"], &sig));
        assert!(!k.verify("confirm", &["WIZ-1", "1700000000000001"], &sig));
        assert!(!k.verify("unsubscribe", &["WIZ-1", "1700000000000000"], &sig));
        // Fields do not run into each other.
        assert!(!k.verify("confirm", &["WIZ-1\u{0}1700000000000000"], &sig));
        assert!(!k.verify("confirm", &["WIZ-1", "1700000000000000"], "not base64!"));
        // The same key after a restart; another directory's key does not verify.
        let again = LinkKey::load_or_create(dir.path()).unwrap();
        assert!(again.verify("confirm", &["WIZ-1", "1700000000000000"], &sig));
        let other = LinkKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(!other.verify("confirm", &["WIZ-1", "1700000000000000"], &sig));
    }

    #[test]
    fn a_damaged_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LINK_KEY_FILE), "short").unwrap();
        let e = LinkKey::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("links.key") && e.contains("64 hex digits"),
            "{e}"
        );
    }
}
