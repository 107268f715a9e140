#![doc = include_str!("../README.md")]

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The specification version relops writes.
pub const SPEC_VERSION: &str = "1.0.31";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{role}: {valid} valid signature(s) from its keys, {threshold} required")]
    Threshold {
        role: String,
        valid: usize,
        threshold: u32,
    },
    #[error("metadata has no `signed` object")]
    NoSigned,
    #[error(
        "the string `{0}` in the metadata is not in Unicode normalisation form C: TUF clients disagree on its canonical bytes (python-tuf keeps it, tough normalises it), so no signature over it can be checked by both; write it in NFC"
    )]
    NotNfc(String),
}

/// Serialises `value` as OLPC canonical JSON: sorted keys, no whitespace — the bytes TUF
/// signatures cover.
///
/// Every string must already be in Unicode NFC: `olpc-cjson` (and so tough) normalises
/// strings while securesystemslib (python-tuf) writes them as they are, so for any other
/// string the two would sign and check different bytes. Refusing such strings keeps one
/// byte sequence per document.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, TufError> {
    if let Some(s) = first_non_nfc(&serde_json::to_value(value)?) {
        return Err(TufError::NotNfc(s.chars().take(40).collect()));
    }
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut ser)?;
    Ok(out)
}

/// The first string (object key or value) in `value` that is not in NFC.
fn first_non_nfc(value: &Value) -> Option<&str> {
    use unicode_normalization::is_nfc;
    match value {
        Value::String(s) => (!is_nfc(s)).then_some(s.as_str()),
        Value::Array(items) => items.iter().find_map(first_non_nfc),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if is_nfc(k) {
                first_non_nfc(v)
            } else {
                Some(k.as_str())
            }
        }),
        _ => None,
    }
}

/// Expiry timestamps in the form TUF uses: `YYYY-MM-DDTHH:MM:SSZ`.
pub mod expires {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// A public key as TUF lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub keytype: String,
    pub scheme: String,
    pub keyval: KeyVal,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVal {
    pub public: String,
}

impl Key {
    pub fn ed25519(key: &VerifyingKey) -> Key {
        Key {
            keytype: "ed25519".into(),
            scheme: "ed25519".into(),
            keyval: KeyVal {
                public: hex::encode(key.to_bytes()),
            },
            extra: BTreeMap::new(),
        }
    }

    /// The TUF key id: hex SHA-256 of the key's canonical JSON.
    pub fn key_id(&self) -> String {
        hex::encode(Sha256::digest(
            canonical_json(self).expect("a key serialises"),
        ))
    }

    fn verifying_key(&self) -> Option<VerifyingKey> {
        if self.keytype != "ed25519" || self.scheme != "ed25519" {
            return None;
        }
        let bytes: [u8; 32] = hex::decode(&self.keyval.public).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

/// Key ids and threshold of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u32,
}

/// A signature over the canonical JSON of `signed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub keyid: String,
    pub sig: String,
}

/// A metadata file: the signed payload and its signatures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signed<T> {
    pub signatures: Vec<Signature>,
    pub signed: T,
}

impl<T: Serialize> Signed<T> {
    /// The file's bytes: canonical JSON (what relops serves and exports).
    pub fn to_bytes(&self) -> Result<Vec<u8>, TufError> {
        canonical_json(self)
    }
}

impl<T: DeserializeOwned> Signed<T> {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TufError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Signs `payload` with every key in `keys`.
pub fn sign<T: Serialize>(payload: T, keys: &[&SigningKey]) -> Result<Signed<T>, TufError> {
    let bytes = canonical_json(&payload)?;
    let signatures = keys
        .iter()
        .map(|k| Signature {
            keyid: Key::ed25519(&k.verifying_key()).key_id(),
            sig: hex::encode(k.sign(&bytes).to_bytes()),
        })
        .collect();
    Ok(Signed {
        signatures,
        signed: payload,
    })
}

/// Checks that `metadata` (a whole metadata file, parsed) carries at least `role.threshold`
/// valid signatures by distinct keys of `role`, over the canonical form of its raw `signed`
/// value.
pub fn verify_role(
    metadata: &Value,
    keys: &BTreeMap<String, Key>,
    role: &RoleKeys,
) -> Result<(), TufError> {
    let signed = metadata.get("signed").ok_or(TufError::NoSigned)?;
    let bytes = canonical_json(signed)?;
    let sigs: Vec<Signature> = serde_json::from_value(
        metadata
            .get("signatures")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    )?;
    let mut valid: Vec<&str> = Vec::new();
    for s in &sigs {
        if !role.keyids.contains(&s.keyid) || valid.contains(&s.keyid.as_str()) {
            continue;
        }
        let Some(vk) = keys.get(&s.keyid).and_then(Key::verifying_key) else {
            continue;
        };
        let Some(sig) = hex::decode(&s.sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            continue;
        };
        if vk
            .verify(&bytes, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
        {
            valid.push(&s.keyid);
        }
    }
    if valid.len() >= role.threshold as usize {
        Ok(())
    } else {
        Err(TufError::Threshold {
            role: signed
                .get("_type")
                .and_then(Value::as_str)
                .unwrap_or("metadata")
                .to_owned(),
            valid: valid.len(),
            threshold: role.threshold,
        })
    }
}

/// Fields every role shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Common {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    #[serde(with = "expires")]
    pub expires: DateTime<Utc>,
}

impl Common {
    fn new(kind: &str, version: u64, expires: DateTime<Utc>) -> Self {
        Self {
            kind: kind.to_owned(),
            spec_version: SPEC_VERSION.to_owned(),
            version,
            expires,
        }
    }
}

/// `root.json`: the keys and thresholds of every role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Root {
    #[serde(flatten)]
    pub common: Common,
    pub consistent_snapshot: bool,
    pub keys: BTreeMap<String, Key>,
    pub roles: BTreeMap<String, RoleKeys>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Root {
    pub fn new(version: u64, expires: DateTime<Utc>) -> Self {
        Self {
            common: Common::new("root", version, expires),
            consistent_snapshot: true,
            keys: BTreeMap::new(),
            roles: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Adds `role` with these keys and threshold.
    pub fn set_role(&mut self, role: &str, keys: &[Key], threshold: u32) {
        let mut keyids = Vec::new();
        for k in keys {
            let id = k.key_id();
            self.keys.insert(id.clone(), k.clone());
            keyids.push(id);
        }
        self.roles
            .insert(role.to_owned(), RoleKeys { keyids, threshold });
    }
}

/// One file a client may download.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
}

/// `targets.json`: what clients may install.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(flatten)]
    pub common: Common,
    pub targets: BTreeMap<String, TargetFile>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Targets {
    pub fn new(version: u64, expires: DateTime<Utc>) -> Self {
        Self {
            common: Common::new("targets", version, expires),
            targets: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }
}

/// A version entry in snapshot or timestamp `meta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFile {
    pub version: u64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl MetaFile {
    pub fn version(version: u64) -> Self {
        Self {
            version,
            extra: BTreeMap::new(),
        }
    }
}

/// `snapshot.json`: the version of `targets.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub common: Common,
    pub meta: BTreeMap<String, MetaFile>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Snapshot {
    pub fn new(version: u64, expires: DateTime<Utc>, targets_version: u64) -> Self {
        let mut meta = BTreeMap::new();
        meta.insert(
            "targets.json".to_owned(),
            MetaFile::version(targets_version),
        );
        Self {
            common: Common::new("snapshot", version, expires),
            meta,
            extra: BTreeMap::new(),
        }
    }
}

/// `timestamp.json`: the version of `snapshot.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timestamp {
    #[serde(flatten)]
    pub common: Common,
    pub meta: BTreeMap<String, MetaFile>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Timestamp {
    pub fn new(version: u64, expires: DateTime<Utc>, snapshot_version: u64) -> Self {
        let mut meta = BTreeMap::new();
        meta.insert(
            "snapshot.json".to_owned(),
            MetaFile::version(snapshot_version),
        );
        Self {
            common: Common::new("timestamp", version, expires),
            meta,
            extra: BTreeMap::new(),
        }
    }

    pub fn snapshot_version(&self) -> Option<u64> {
        self.meta.get("snapshot.json").map(|m| m.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn canonical_json_sorts_and_compacts() {
        let v: Value = serde_json::from_str(r#"{"b": 1, "a": [true, null, "x\"y"]}"#).unwrap();
        assert_eq!(
            canonical_json(&v).unwrap(),
            br#"{"a":[true,null,"x\"y"],"b":1}"#
        );
    }

    #[test]
    fn canonical_json_refuses_strings_not_in_nfc() {
        // Found by fuzzing: olpc-cjson wrote this key as "\u{316}\u{300}" (NFC reorders
        // combining marks by class), securesystemslib as it stands.
        let key: Value = serde_json::from_str(r#"{"\u0300\u0316": 1}"#).unwrap();
        assert!(matches!(canonical_json(&key), Err(TufError::NotNfc(_))));
        let value = serde_json::json!({"a": ["Wizard-U\u{308}ber.dmg"]});
        assert!(
            matches!(canonical_json(&value), Err(TufError::NotNfc(s)) if s.starts_with("Wizard"))
        );
        // The same text in NFC is canonical and unchanged.
        let nfc = serde_json::json!({"a": ["Wizard-\u{dc}ber.dmg"]});
        assert_eq!(
            canonical_json(&nfc).unwrap(),
            "{\"a\":[\"Wizard-\u{dc}ber.dmg\"]}".as_bytes()
        );
    }

    #[test]
    fn threshold_counts_distinct_valid_keys_only() {
        let (a, b, c) = (key(1), key(2), key(3));
        let mut root = Root::new(1, Utc::now());
        let ka = Key::ed25519(&a.verifying_key());
        let kb = Key::ed25519(&b.verifying_key());
        root.set_role("targets", &[ka.clone(), kb.clone()], 2);
        let role = root.roles["targets"].clone();
        let t = Targets::new(1, Utc::now());

        let both = serde_json::to_value(sign(t.clone(), &[&a, &b]).unwrap()).unwrap();
        verify_role(&both, &root.keys, &role).unwrap();

        let one = serde_json::to_value(sign(t.clone(), &[&a]).unwrap()).unwrap();
        assert!(matches!(
            verify_role(&one, &root.keys, &role),
            Err(TufError::Threshold {
                valid: 1,
                threshold: 2,
                ..
            })
        ));

        // The same key twice counts once; a key outside the role counts not at all.
        let mut dup = sign(t.clone(), &[&a]).unwrap();
        dup.signatures.push(dup.signatures[0].clone());
        let dup = serde_json::to_value(dup).unwrap();
        assert!(verify_role(&dup, &root.keys, &role).is_err());
        let stranger = serde_json::to_value(sign(t.clone(), &[&a, &c]).unwrap()).unwrap();
        assert!(verify_role(&stranger, &root.keys, &role).is_err());

        // Changing a signed field breaks the signatures.
        let mut tampered = both.clone();
        tampered["signed"]["version"] = Value::from(2);
        assert!(verify_role(&tampered, &root.keys, &role).is_err());
    }

    #[test]
    fn round_trip_keeps_unknown_fields_and_signatures() {
        let a = key(4);
        let mut t = Targets::new(3, "2030-01-01T00:00:00Z".parse().unwrap());
        t.extra.insert("x-vendor".into(), Value::from("kept"));
        let bytes = sign(t, &[&a]).unwrap().to_bytes().unwrap();
        let back: Signed<Targets> = Signed::from_bytes(&bytes).unwrap();
        assert_eq!(back.signed.extra["x-vendor"], "kept");
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains(r#""expires":"2030-01-01T00:00:00Z""#),
            "{text}"
        );
        assert!(text.contains(r#""_type":"targets""#), "{text}");
    }
}
