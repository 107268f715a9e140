//! The audit trail: append-only and hash-chained (R-CR-2).
//!
//! Entry `n` stores `hash = SHA-256(JSON [seq, at, actor, action, target, detail,
//! request_id, prev_hash])` with `prev_hash` the hash of entry `n − 1` (64 zeros for the
//! first). `audit_head` keeps the newest sequence number and hash. [`Db::audit_verify`]
//! recomputes the chain and names the first entry that was edited, deleted or reordered.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{AuditRecord, Db, Result, ts};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry as stored (and exported as a JSON line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    pub request_id: Option<String>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// What [`Db::audit_verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerdict {
    pub entries: u64,
    pub ok: bool,
    /// The first bad entry's sequence number, and what is wrong with it.
    pub first_bad: Option<(u64, String)>,
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
    request_id: Option<&str>,
    prev_hash: &str,
) -> String {
    let fields = serde_json::json!([
        seq, at, actor, action, target, detail, request_id, prev_hash
    ]);
    hex::encode(Sha256::digest(fields.to_string().as_bytes()))
}

/// Appends `a` to the chain inside `tx`.
pub(crate) async fn append_audit(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    a: &AuditRecord,
) -> Result<()> {
    // Taking the head row first serialises appenders (a row lock on PostgreSQL; SQLite
    // writers are serial anyway).
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut **tx)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev: String = head.try_get("hash")?;
    let at = ts(Utc::now());
    let detail = a.detail.to_string();
    let hash = entry_hash(
        seq as u64,
        &at,
        &a.actor,
        &a.action,
        &a.target,
        &detail,
        a.request_id.as_deref(),
        &prev,
    );
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, target, detail, request_id, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(seq)
    .bind(&at)
    .bind(&a.actor)
    .bind(&a.action)
    .bind(&a.target)
    .bind(&detail)
    .bind(a.request_id.as_deref())
    .bind(&prev)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

struct RawEntry {
    seq: u64,
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    request_id: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

impl Db {
    async fn raw_audit(&self, since: Option<DateTime<Utc>>) -> Result<Vec<RawEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, target, detail, request_id, prev_hash, hash \
             FROM audit_log WHERE at >= $1 ORDER BY seq",
        )
        .bind(since.map(ts).unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get("seq")?;
                Ok(RawEntry {
                    seq: seq as u64,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    request_id: r.try_get("request_id")?,
                    prev_hash: r.try_get("prev_hash")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }

    /// The entries at or after `since` (all when `None`), oldest first.
    pub async fn audit_export(&self, since: Option<DateTime<Utc>>) -> Result<Vec<AuditEntry>> {
        self.raw_audit(since)
            .await?
            .into_iter()
            .map(|e| {
                Ok(AuditEntry {
                    seq: e.seq,
                    at: e.at.parse().map_err(|err| {
                        crate::DbError::Corrupt(format!("audit at {:?}: {err}", e.at))
                    })?,
                    actor: e.actor,
                    action: e.action,
                    target: e.target,
                    detail: serde_json::from_str(&e.detail)
                        .unwrap_or(serde_json::Value::String(e.detail)),
                    request_id: e.request_id,
                    prev_hash: e.prev_hash,
                    hash: e.hash,
                })
            })
            .collect()
    }

    /// Recomputes the whole chain; names the first entry that does not fit.
    pub async fn audit_verify(&self) -> Result<AuditVerdict> {
        let entries = self.raw_audit(None).await?;
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let head_seq: i64 = head.try_get("seq")?;
        let head_hash: String = head.try_get("hash")?;
        let n = entries.len() as u64;
        let bad = |seq: u64, why: String| AuditVerdict {
            entries: n,
            ok: false,
            first_bad: Some((seq, why)),
        };
        // Entries from before the chain existed (no hash) may only come first.
        let mut prev: Option<(u64, String)> = None;
        for e in &entries {
            let (Some(prev_hash), Some(hash)) = (&e.prev_hash, &e.hash) else {
                if prev.is_some() {
                    return Ok(bad(e.seq, "entry has no hash inside the chain".into()));
                }
                continue;
            };
            let (expected_seq, expected_prev) = match &prev {
                Some((s, h)) => (Some(s + 1), h.as_str()),
                None => (None, GENESIS),
            };
            if let Some(want) = expected_seq
                && e.seq != want
            {
                return Ok(bad(
                    want,
                    format!("entry {want} is missing (next is {})", e.seq),
                ));
            }
            if prev_hash != expected_prev {
                return Ok(bad(
                    e.seq,
                    "does not follow the entry before it: deleted, inserted or reordered".into(),
                ));
            }
            let again = entry_hash(
                e.seq,
                &e.at,
                &e.actor,
                &e.action,
                &e.target,
                &e.detail,
                e.request_id.as_deref(),
                prev_hash,
            );
            if &again != hash {
                return Ok(bad(e.seq, "content does not match its hash: edited".into()));
            }
            prev = Some((e.seq, hash.clone()));
        }
        match prev {
            Some((seq, hash)) if (seq as i64) != head_seq || hash != head_hash => Ok(bad(
                seq + 1,
                format!(
                    "the chain ends at entry {seq}, but {head_seq} were written: newest entries deleted"
                ),
            )),
            None if head_seq > 0 && head_hash != GENESIS => {
                Ok(bad(1, "every chained entry was deleted".into()))
            }
            _ => Ok(AuditVerdict {
                entries: n,
                ok: true,
                first_bad: None,
            }),
        }
    }
}
