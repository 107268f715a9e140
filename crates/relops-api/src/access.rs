//! API tokens, the caller, and the signing keys.

use chrono::{DateTime, Utc};
use relops_core::access::Role;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /v1/tokens`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CreateToken {
    pub name: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// The secret, shown once; only its hash is stored.
    pub token: String,
    /// The token holds admin, product_owner or security_engineer: it works once a second
    /// person confirmed it (`relops token confirm ID`).
    #[serde(default)]
    pub awaiting_confirmation: bool,
}

/// `POST /v1/tokens/{id}/confirm`: a token confirmed by the second person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenConfirmed {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub created_by: String,
    pub confirmed_by: String,
}

/// One API token as `GET /v1/tokens` lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Made, but not usable until a second person confirms it.
    pub awaiting_confirmation: bool,
    #[serde(default)]
    pub confirmed_by: Option<String>,
}

/// `GET /v1/tokens`: the tokens that work (or await confirmation), oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// `POST /v1/tokens/{id}/revoke`: the token no longer works, nor do the console sessions
/// made with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub revoked_by: String,
    pub revoked_at: DateTime<Utc>,
}

/// `GET /v1/whoami`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WhoAmI {
    pub name: String,
    pub roles: Vec<Role>,
    pub products: Vec<String>,
}

/// `GET /v1/keys`: the keys of a product's feed and the release key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct KeyList {
    pub product: String,
    pub keys: Vec<KeyInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct KeyInfo {
    /// `root`, `targets`, `snapshot`, `timestamp` (TUF roles) or `release`.
    pub role: String,
    pub key_ids: Vec<String>,
    /// Hex Ed25519 public keys, in the order of `key_ids` (the release key's is what the
    /// SDK's `release_key` setting wants).
    pub public_keys: Vec<String>,
    /// The same public keys in base64: the release key's is what Sparkle's
    /// `SUPublicEDKey` wants (it checks the appcast's `sparkle:edSignature` with it).
    #[serde(default)]
    pub public_keys_base64: Vec<String>,
    /// Signatures required (TUF roles; 1 for the release key).
    pub threshold: u32,
    /// Expiry of the role's current metadata (none for the release key).
    pub expires: Option<DateTime<Utc>>,
    /// Version of the role's current metadata.
    pub version: Option<u64>,
}

/// `POST /v1/keys/rotate`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RotateKey {
    /// `root`, `targets`, `snapshot` or `timestamp`.
    pub role: String,
}

/// `POST /v1/keys/root/renew`: the new root version per product and when it expires.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RootRenewed {
    /// The root version signed, per product.
    pub root_versions: Vec<(String, u64)>,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct KeyRotated {
    pub role: String,
    /// The new key id.
    pub key_id: String,
    /// The root version that lists it, per product.
    pub root_versions: Vec<(String, u64)>,
}

/// One thing that expires (`relops keys status`): a feed role's metadata, a key, the
/// server's TLS certificate, a registered signing certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExpiryItem {
    /// What it is, e.g. `wizard root metadata`, `Developer ID Application: Example GmbH`.
    pub name: String,
    /// `tuf-root`, `tuf-targets`, `tuf-snapshot`, `tuf-timestamp`, `release-key`,
    /// `crash-key`, `tls`, `apple-developer-id`, `windows-ev`.
    pub kind: String,
    /// None: it does not expire.
    #[serde(default)]
    pub expires: Option<DateTime<Utc>>,
    /// Whole days until it expires (negative: expired); none when it does not expire.
    #[serde(default)]
    pub days_left: Option<i64>,
    /// `ok`, `notice` (≤ 60 days), `warn` (≤ 30), `page` (≤ 7), `expired`, `never`, or
    /// `auto` for feed metadata the server re-signs itself (`page` when that stopped).
    pub level: String,
    /// What keeps it from expiring.
    pub renew: String,
}

/// `GET /v1/keys/status`: everything that expires, the soonest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExpiryList {
    pub items: Vec<ExpiryItem>,
}

/// A registered platform signing certificate (`relops certs add|list`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CertificateInfo {
    /// `apple-developer-id` or `windows-ev`.
    pub kind: String,
    pub subject: String,
    pub issuer: String,
    /// Hex.
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the DER certificate (its fingerprint).
    pub sha256: String,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

/// `GET /v1/certs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CertificateList {
    pub certificates: Vec<CertificateInfo>,
}

/// A review to do or done (`relops review list`): a document reviewed every half year, or a
/// release's retrospective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewItem {
    /// `permissions`, `kb:FAQ-1`, `retro:2.1.0`.
    pub subject: String,
    /// `document` or `retrospective`.
    pub kind: String,
    /// The role that does it.
    pub owner_role: String,
    /// What to do, in words.
    pub what: String,
    pub opened_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Open and past its due date.
    pub overdue: bool,
    #[serde(default)]
    pub done_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub done_by: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// The knowledge-base revision the review was closed with (e.g. the playbook updated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<KbRevisionRef>,
}

/// A revision of a knowledge-base article: `FAQ-3@4` on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KbRevisionRef {
    /// The article's id (`FAQ-3`).
    pub article: String,
    /// Its revision number (1 is the first text).
    pub revision: i64,
}

/// `GET /v1/reviews`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewList {
    pub reviews: Vec<ReviewItem>,
}

/// `POST /v1/reviews/{subject}/done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewDone {
    /// What the review found or changed ("playbook §3 updated: …", "nothing to change").
    /// May be empty when `revision` says what changed.
    #[serde(default)]
    pub note: String,
    /// The knowledge-base revision that carries the change (e.g. the playbook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<KbRevisionRef>,
}
