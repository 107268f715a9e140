//! Key files: generation at `relops init`, loading at `relops serve`.
//!
//! Each key is one JSON file in the securesystemslib/TUF key format that python-tuf tools
//! read, with the private part in hex:
//! `{"keytype":"ed25519","scheme":"ed25519","keyid":"…","keyval":{"public":"…","private":"…"}}`.
//! Private key files are created with mode 0600 and never overwritten.
//!
//! | file | role |
//! |---|---|
//! | `root.json` | TUF root (keep offline once the feed is set up) |
//! | `targets.json`, `snapshot.json`, `timestamp.json` | TUF online roles |
//! | `release.json` | signs every artifact's digest at upload (Ed25519) |
//! | `audit.json` | signs checkpoints of the audit hash chain (Ed25519) |
//! | `crash.json` | X25519: crash dumps are sealed to its public half (HPKE) |

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The Ed25519 keys `relops init` makes.
pub const ED25519_ROLES: [&str; 6] = [
    "root",
    "targets",
    "snapshot",
    "timestamp",
    "release",
    "audit",
];
/// The X25519 key for sealed crash dumps.
pub const CRASH_ROLE: &str = "crash";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyVal {
    pub public: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<String>,
}

/// A key file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub keytype: String,
    pub scheme: String,
    pub keyid: String,
    pub keyval: KeyVal,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} is not a valid {expected} key: {why}; restore it from backup or run `relops init` on a fresh data dir"
    )]
    Invalid {
        path: PathBuf,
        expected: &'static str,
        why: String,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("random number generator failed: {0}")]
    Random(String),
}

fn random_32() -> Result<[u8; 32], KeyError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(b)
}

/// TUF key id: hex SHA-256 of the canonical JSON of the public key.
pub fn key_id(keytype: &str, public_hex: &str) -> String {
    relops_tuf::Key {
        keytype: keytype.to_owned(),
        scheme: keytype.to_owned(),
        keyval: relops_tuf::KeyVal {
            public: public_hex.to_owned(),
        },
        extra: Default::default(),
    }
    .key_id()
}

fn key_path(dir: &Path, role: &str) -> PathBuf {
    dir.join(format!("{role}.json"))
}

/// Writes a private key file with mode 0600, refusing to overwrite.
fn write_key(path: &Path, key: &KeyFile) -> Result<(), KeyError> {
    let mut json = serde_json::to_vec_pretty(key).expect("key serialises");
    json.push(b'\n');
    write_private(path, &json).map_err(|source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a new file readable by its owner only (mode 0600 on Unix) and syncs it; refuses
/// to overwrite an existing one.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// What `ensure_keys` did for each role.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    pub role: String,
    pub keyid: String,
    pub created: bool,
}

/// The file role name of root key `i` (0-based): `root`, `root-2`, `root-3`, …
pub fn root_key_role(i: usize) -> String {
    if i == 0 {
        "root".to_owned()
    } else {
        format!("root-{}", i + 1)
    }
}

/// Every root key file present in `dir` (`root.json`, `root-2.json`, …), in order. Root
/// keys may be kept offline: the server needs them only to sign new root versions.
pub fn load_root_keys(dir: &Path) -> Result<Vec<SigningKey>, KeyError> {
    let entries = std::fs::read_dir(dir).map_err(|source| KeyError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut found: Vec<(usize, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = match name.as_str() {
                "root.json" => 1,
                other => other
                    .strip_prefix("root-")?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()?,
            };
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    found.iter().map(|(_, p)| load_signing_key_at(p)).collect()
}

/// Creates every missing key in `dir` (with `root_keys` root keys); existing keys are kept
/// untouched.
pub fn ensure_keys(dir: &Path, root_keys: usize) -> Result<Vec<KeyReport>, KeyError> {
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut out = Vec::new();
    let roles: Vec<String> = (0..root_keys.max(1))
        .map(root_key_role)
        .chain(ED25519_ROLES.iter().skip(1).map(|r| (*r).to_owned()))
        .chain([CRASH_ROLE.to_owned()])
        .collect();
    for role in roles.iter().map(String::as_str) {
        let path = key_path(dir, role);
        if path.exists() {
            let existing = read_key_file(&path)?;
            out.push(KeyReport {
                role: role.to_owned(),
                keyid: existing.keyid,
                created: false,
            });
            continue;
        }
        let secret = random_32()?;
        let (keytype, public) = if role == CRASH_ROLE {
            let s = x25519_dalek::StaticSecret::from(secret);
            ("x25519", x25519_dalek::PublicKey::from(&s).to_bytes())
        } else {
            (
                "ed25519",
                SigningKey::from_bytes(&secret).verifying_key().to_bytes(),
            )
        };
        let public_hex = hex::encode(public);
        let key = KeyFile {
            keytype: keytype.to_owned(),
            scheme: keytype.to_owned(),
            keyid: key_id(keytype, &public_hex),
            keyval: KeyVal {
                public: public_hex,
                private: Some(hex::encode(secret)),
            },
        };
        write_key(&path, &key)?;
        out.push(KeyReport {
            role: role.to_owned(),
            keyid: key.keyid,
            created: true,
        });
    }
    Ok(out)
}

/// A fresh key of `keytype` (`ed25519` or `x25519`) in the key-file format.
fn new_key_file(keytype: &str) -> Result<KeyFile, KeyError> {
    let secret = random_32()?;
    let public = if keytype == "x25519" {
        let s = x25519_dalek::StaticSecret::from(secret);
        x25519_dalek::PublicKey::from(&s).to_bytes()
    } else {
        SigningKey::from_bytes(&secret).verifying_key().to_bytes()
    };
    let public_hex = hex::encode(public);
    Ok(KeyFile {
        keytype: keytype.to_owned(),
        scheme: keytype.to_owned(),
        keyid: key_id(keytype, &public_hex),
        keyval: KeyVal {
            public: public_hex,
            private: Some(hex::encode(secret)),
        },
    })
}

fn next_path(dir: &Path, role: &str) -> PathBuf {
    dir.join(format!("{role}.next.json"))
}

/// Key rotation, step 1: a new Ed25519 key for `role` in `{role}.next.json` (0600).
pub fn create_next_key(dir: &Path, role: &str) -> Result<SigningKey, KeyError> {
    let path = next_path(dir, role);
    let _ = std::fs::remove_file(&path);
    write_key(&path, &new_key_file("ed25519")?)?;
    load_signing_key_at(&path)
}

/// The pending key of an unfinished rotation, if any.
pub fn next_key(dir: &Path, role: &str) -> Result<Option<SigningKey>, KeyError> {
    let path = next_path(dir, role);
    if !path.exists() {
        return Ok(None);
    }
    load_signing_key_at(&path).map(Some)
}

/// Key rotation, step 2 (after the new root is stored): the old key file is kept as
/// `{role}.retired-{unix time}.json`, the new one becomes `{role}.json`.
pub fn promote_next_key(dir: &Path, role: &str) -> Result<(), KeyError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Write { path, source }
    };
    let current = key_path(dir, role);
    let retired = dir.join(format!(
        "{role}.retired-{}.json",
        chrono::Utc::now().timestamp()
    ));
    if current.exists() {
        std::fs::rename(&current, &retired).map_err(err(&retired))?;
    }
    std::fs::rename(next_path(dir, role), &current).map_err(err(&current))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Drops the pending key of a rotation that never published.
pub fn discard_next_key(dir: &Path, role: &str) -> Result<(), KeyError> {
    let path = next_path(dir, role);
    std::fs::remove_file(&path).map_err(|source| KeyError::Write { path, source })
}

fn read_key_file(path: &Path) -> Result<KeyFile, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| KeyError::Invalid {
        path: path.to_path_buf(),
        expected: "JSON",
        why: e.to_string(),
    })
}

/// The release key: signs artifact digests at upload, server-side only.
#[derive(Debug, Clone)]
pub struct ReleaseKey {
    signing: SigningKey,
    key_id: String,
}

/// Loads the Ed25519 private key of `role` from `keys_dir`, checking that its halves match.
pub fn load_signing_key(keys_dir: &Path, role: &str) -> Result<SigningKey, KeyError> {
    load_signing_key_at(&key_path(keys_dir, role))
}

fn load_signing_key_at(path: &Path) -> Result<SigningKey, KeyError> {
    let path = path.to_path_buf();
    let file = read_key_file(&path)?;
    let invalid = |why: &str| KeyError::Invalid {
        path: path.clone(),
        expected: "ed25519",
        why: why.to_owned(),
    };
    if file.keytype != "ed25519" {
        return Err(invalid("keytype is not ed25519"));
    }
    let private = file
        .keyval
        .private
        .as_deref()
        .ok_or_else(|| invalid("no private part"))?;
    let bytes: [u8; 32] = hex::decode(private)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid("private part is not 32 bytes of hex"))?;
    let signing = SigningKey::from_bytes(&bytes);
    if hex::encode(signing.verifying_key().to_bytes()) != file.keyval.public {
        return Err(invalid("public part does not match the private part"));
    }
    Ok(signing)
}

impl ReleaseKey {
    pub fn load(keys_dir: &Path) -> Result<Self, KeyError> {
        let signing = load_signing_key(keys_dir, "release")?;
        Ok(Self {
            key_id: key_id("ed25519", &hex::encode(signing.verifying_key().to_bytes())),
            signing,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().to_bytes())
    }

    /// Signs an artifact; returns the hex signature.
    pub fn sign(&self, a: &SignedFields<'_>) -> String {
        hex::encode(self.signing.sign(&a.message()).to_bytes())
    }

    /// Signs a file's bytes with pure Ed25519, as Sparkle's `sign_update` does, and returns
    /// the hex signature. Ed25519 hashes the message twice (once for the nonce, once for the
    /// signature), so `read` is called twice and must feed the whole file to the digest each
    /// time; the file streams and never sits in memory.
    pub fn sign_file<E>(
        &self,
        read: impl Fn(&mut sha2::Sha512) -> Result<(), E>,
    ) -> Result<String, E> {
        use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign_byupdate};
        let failed = std::cell::RefCell::new(None);
        let esk = ExpandedSecretKey::from(&self.signing.to_bytes());
        let signed = raw_sign_byupdate::<sha2::Sha512, _>(
            &esk,
            |h| {
                read(h).map_err(|e| {
                    *failed.borrow_mut() = Some(e);
                    ed25519_dalek::SignatureError::new()
                })
            },
            &self.signing.verifying_key(),
        );
        match (signed, failed.into_inner()) {
            (_, Some(e)) => Err(e),
            (Ok(sig), None) => Ok(hex::encode(sig.to_bytes())),
            // Only `read` fails a signature made this way.
            (Err(e), None) => unreachable!("Ed25519 signing failed by itself: {e}"),
        }
    }

    /// Checks a hex signature made by [`sign`](Self::sign).
    pub fn verify(&self, a: &SignedFields<'_>, signature_hex: &str) -> bool {
        verify_artifact(&self.signing.verifying_key(), a, signature_hex)
    }
}

pub use relops_core::artifact::SignedFields;

/// The crash key: crash dumps are sealed to its public half on the client; the server opens
/// them only for a role that may read dumps. Its private half never leaves this struct
/// (no `Debug` of it).
#[derive(Clone)]
pub struct CrashKey {
    private_hex: String,
    public_hex: String,
    key_id: String,
}

impl std::fmt::Debug for CrashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrashKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl CrashKey {
    pub fn load(keys_dir: &Path) -> Result<Self, KeyError> {
        let path = key_path(keys_dir, CRASH_ROLE);
        let file = read_key_file(&path)?;
        let invalid = |why: &str| KeyError::Invalid {
            path: path.clone(),
            expected: "x25519",
            why: why.to_owned(),
        };
        if file.keytype != "x25519" {
            return Err(invalid("keytype is not x25519"));
        }
        let private_hex = file
            .keyval
            .private
            .ok_or_else(|| invalid("no private key"))?;
        // The halves must match: a dump sealed to the public key must open.
        let probe = relops_seal::seal(&file.keyval.public, "probe", b"probe")
            .map_err(|e| invalid(&e.to_string()))?;
        relops_seal::open(&private_hex, "probe", &probe)
            .map_err(|_| invalid("the private key does not match the public key"))?;
        Ok(Self {
            key_id: file.keyid,
            public_hex: file.keyval.public,
            private_hex,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_hex(&self) -> &str {
        &self.public_hex
    }

    /// Opens a sealed dump of crash `id`.
    pub fn open(&self, id: &str, sealed: &[u8]) -> Result<Vec<u8>, relops_seal::SealError> {
        relops_seal::open(&self.private_hex, id, sealed)
    }
}

/// The audit key: signs checkpoints of the audit hash chain.
#[derive(Debug, Clone)]
pub struct AuditKey {
    signing: SigningKey,
    key_id: String,
}

impl AuditKey {
    pub fn load(keys_dir: &Path) -> Result<Self, KeyError> {
        let signing = load_signing_key(keys_dir, "audit")?;
        Ok(Self {
            key_id: key_id("ed25519", &hex::encode(signing.verifying_key().to_bytes())),
            signing,
        })
    }

    /// Key id and hex signature of `message`.
    pub fn sign(&self, message: &[u8]) -> (String, String) {
        (
            self.key_id.clone(),
            hex::encode(self.signing.sign(message).to_bytes()),
        )
    }

    /// Whether a checkpoint carries this key's valid signature.
    pub fn verifies(&self, cp: &relops_store::Checkpoint) -> bool {
        let Some(sig) = hex::decode(&cp.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&sig);
        let key = self.signing.verifying_key();
        let signed = |m: Vec<u8>| key.verify(&m, &sig).is_ok();
        cp.key_id == self.key_id
            && (signed(relops_store::Checkpoint::message(
                cp.seq, &cp.hash, &cp.at, cp.pruned,
            )) || (!cp.pruned
                && signed(relops_store::Checkpoint::message_v1(
                    cp.seq, &cp.hash, &cp.at,
                ))))
    }
}

/// Verifies an artifact signature against a public key.
pub fn verify_artifact(key: &VerifyingKey, a: &SignedFields<'_>, signature_hex: &str) -> bool {
    let Some(sig) = hex::decode(signature_hex)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    key.verify(&a.message(), &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_keys_creates_once_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_keys(dir.path(), 1).unwrap();
        assert_eq!(first.len(), 7);
        assert!(first.iter().all(|k| k.created));
        #[cfg(unix)]
        for role in ["root", "release", "crash"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(format!("{role}.json")))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{role}");
        }
        let before = std::fs::read(dir.path().join("release.json")).unwrap();
        let second = ensure_keys(dir.path(), 1).unwrap();
        assert!(second.iter().all(|k| !k.created));
        assert_eq!(
            std::fs::read(dir.path().join("release.json")).unwrap(),
            before
        );
        let ids: Vec<_> = first.iter().map(|k| &k.keyid).collect();
        let ids2: Vec<_> = second.iter().map(|k| &k.keyid).collect();
        assert_eq!(ids, ids2);
    }

    #[test]
    fn sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        ensure_keys(dir.path(), 1).unwrap();
        let key = ReleaseKey::load(dir.path()).unwrap();
        let fields = SignedFields {
            product: "wizard",
            version: "2.1.0",
            platform: "macos-universal",
            name: "wizard.dmg",
            size: 3,
            sha256: "ab",
        };
        let sig = key.sign(&fields);
        assert!(key.verify(&fields, &sig));
        let other = SignedFields {
            version: "2.0.0",
            ..fields
        };
        assert!(!key.verify(&other, &sig));
        assert!(!key.verify(&fields, "00"));
    }
}
