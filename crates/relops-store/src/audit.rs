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

use crate::pool::Db;
use crate::sql::{Result, ts};

/// One audit entry to append.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    pub request_id: Option<String>,
}

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

/// A signed statement that entry `seq` of the chain has hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    pub at: String,
    pub key_id: String,
    pub signature: String,
    /// Entries up to `seq` were pruned when it was written.
    pub pruned: bool,
}

impl Checkpoint {
    /// The bytes the audit key signs: whether entries up to `seq` were pruned is signed
    /// too, so a checkpoint cannot be turned into a licence to delete the entries before it.
    pub fn message(seq: u64, hash: &str, at: &str, pruned: bool) -> Vec<u8> {
        format!("relops-audit-checkpoint-v2\n{seq}\n{hash}\n{at}\n{pruned}\n").into_bytes()
    }

    /// What builds before the pruned flag was signed signed (`v1`); such a signature
    /// stands only for a checkpoint that does not claim a prune.
    pub fn message_v1(seq: u64, hash: &str, at: &str) -> Vec<u8> {
        format!("relops-audit-checkpoint-v1\n{seq}\n{hash}\n{at}\n").into_bytes()
    }
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
    /// Appends an audit entry on its own (for actions whose state lives outside the
    /// database, such as key files).
    pub async fn append_audit_entry(&self, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn raw_audit(&self, since: Option<DateTime<Utc>>) -> Result<Vec<RawEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, target, detail, request_id, prev_hash, hash \
             FROM audit_log WHERE at >= $1 ORDER BY seq",
        )
        .bind(since.map(ts).unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(raw_entry).collect()
    }

    /// The newest `limit` entries whose actor contains `actor` and whose action starts
    /// with `action` (either empty: any), newest first.
    pub async fn audit_recent(
        &self,
        actor: &str,
        action: &str,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let like = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, target, detail, request_id, prev_hash, hash \
             FROM audit_log WHERE actor LIKE $1 ESCAPE '\\' AND action LIKE $2 ESCAPE '\\' \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(format!("%{}%", like(actor)))
        .bind(format!("{}%", like(action)))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| entry(raw_entry(r)?)).collect()
    }

    /// The entries at or after `since` (all when `None`), oldest first.
    pub async fn audit_export(&self, since: Option<DateTime<Utc>>) -> Result<Vec<AuditEntry>> {
        self.raw_audit(since)
            .await?
            .into_iter()
            .map(entry)
            .collect()
    }

    /// The newest entry's sequence number and hash (the chain head).
    pub async fn audit_head(&self) -> Result<(u64, String)> {
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let seq: i64 = head.try_get("seq")?;
        Ok((seq as u64, head.try_get("hash")?))
    }

    /// Stores a signed checkpoint of the head (`sign` gets the bytes and returns key id and
    /// signature) — or returns the one stored already when the chain has not grown since,
    /// so that checkpointing often writes nothing while nothing happens. Only the newest
    /// such checkpoint is kept in the database (the signed prunes stay): since every hash
    /// covers the one before it, it pins the whole chain below it, so older ones would add
    /// no check — only a row a minute and a signature to verify each.
    pub async fn audit_checkpoint(
        &self,
        sign: impl Fn(&[u8]) -> (String, String),
    ) -> Result<Option<Checkpoint>> {
        let (seq, hash) = self.audit_head().await?;
        if seq == 0 {
            return Ok(None);
        }
        if let Some(cp) = self
            .checkpoints_where("WHERE seq = $1", Some(seq))
            .await?
            .into_iter()
            .find(|c| c.hash == hash)
        {
            return Ok(Some(cp));
        }
        let at = ts(Utc::now());
        let (key_id, signature) = sign(&Checkpoint::message(seq, &hash, &at, false));
        let cp = Checkpoint {
            seq,
            hash,
            at,
            key_id,
            signature,
            pruned: false,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM audit_checkpoints WHERE pruned = 0")
            .execute(&mut *tx)
            .await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM audit_checkpoints WHERE seq = $1")
                .bind(seq as i64)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            insert_checkpoint(&mut tx, &cp).await?;
        }
        tx.commit().await?;
        Ok(Some(cp))
    }

    /// Deletes the entries written before `before` — never the newest, so the chain keeps a
    /// head — after storing a signed checkpoint of the last one deleted; returns it (or
    /// `None` when nothing was old enough). The prune's own entry follows.
    pub async fn audit_prune(
        &self,
        before: DateTime<Utc>,
        sign: impl Fn(&[u8]) -> (String, String),
        audit: &AuditRecord,
    ) -> Result<Option<Checkpoint>> {
        let mut tx = self.begin_write().await?;
        let last = sqlx::query(
            "SELECT seq, hash FROM audit_log WHERE at < $1 AND hash IS NOT NULL \
             AND seq < (SELECT MAX(seq) FROM audit_log) ORDER BY seq DESC LIMIT 1",
        )
        .bind(ts(before))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(last) = last else { return Ok(None) };
        let seq: i64 = last.try_get("seq")?;
        let hash: String = last.try_get("hash")?;
        let at = ts(Utc::now());
        let (key_id, signature) = sign(&Checkpoint::message(seq as u64, &hash, &at, true));
        let cp = Checkpoint {
            seq: seq as u64,
            hash,
            at,
            key_id,
            signature,
            pruned: true,
        };
        sqlx::query("DELETE FROM audit_checkpoints WHERE seq = $1")
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        insert_checkpoint(&mut tx, &cp).await?;
        sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(cp))
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        self.checkpoints_where("", None).await
    }

    /// The checkpoints `filter` selects (`$1` bound to `seq`), in order.
    async fn checkpoints_where(&self, filter: &str, seq: Option<u64>) -> Result<Vec<Checkpoint>> {
        let sql = format!(
            "SELECT seq, hash, at, key_id, signature, pruned FROM audit_checkpoints {filter} ORDER BY seq"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(seq) = seq {
            q = q.bind(seq as i64);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get("seq")?;
                let pruned: i64 = r.try_get("pruned")?;
                Ok(Checkpoint {
                    seq: seq as u64,
                    hash: r.try_get("hash")?,
                    at: r.try_get("at")?,
                    key_id: r.try_get("key_id")?,
                    signature: r.try_get("signature")?,
                    pruned: pruned != 0,
                })
            })
            .collect()
    }

    /// Recomputes the whole chain and checks it against the signed checkpoints (`valid`
    /// checks a checkpoint's signature), then against `anchors`: signed checkpoints kept
    /// outside the database, which it cannot take back ([`check_anchors`]). Names the first
    /// entry that does not fit.
    pub async fn audit_verify(
        &self,
        valid: impl Fn(&Checkpoint) -> bool,
        anchors: &[Checkpoint],
    ) -> Result<AuditVerdict> {
        let entries = self.raw_audit(None).await?;
        let checkpoints = self.checkpoints().await?;
        let (head_seq, head_hash) = self.audit_head().await?;
        let head_seq = head_seq as i64;
        let n = entries.len() as u64;
        let bad = |seq: u64, why: String| AuditVerdict {
            entries: n,
            ok: false,
            first_bad: Some((seq, why)),
        };
        for cp in &checkpoints {
            if !valid(cp) {
                return Ok(bad(
                    cp.seq,
                    "its signed checkpoint does not verify with the audit key".into(),
                ));
            }
        }
        // Entries from before the chain existed (no hash) may only come first. After a
        // prune the chain starts from the signed checkpoint of the last pruned entry.
        let pruned_to = checkpoints
            .iter()
            .filter(|c| c.pruned)
            .max_by_key(|c| c.seq);
        let mut prev: Option<(u64, String)> = pruned_to.map(|c| (c.seq, c.hash.clone()));
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
                let why = if prev.is_none() && e.seq > 1 {
                    format!(
                        "entries before {} were deleted without a signed checkpoint",
                        e.seq
                    )
                } else {
                    "does not follow the entry before it: deleted, inserted or reordered".to_owned()
                };
                return Ok(bad(e.seq, why));
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
            if let Some(cp) = checkpoints.iter().find(|c| c.seq == e.seq)
                && &cp.hash != hash
            {
                return Ok(bad(
                    e.seq,
                    "differs from its signed checkpoint: the chain was rewritten".into(),
                ));
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
            _ => {
                let hashes: std::collections::HashMap<u64, &str> = entries
                    .iter()
                    .filter_map(|e| Some((e.seq, e.hash.as_deref()?)))
                    .collect();
                let pruned_through = checkpoints
                    .iter()
                    .chain(anchors)
                    .filter(|c| c.pruned && valid(c))
                    .map(|c| c.seq)
                    .max();
                match check_anchors(anchors, &valid, head_seq as u64, &hashes, pruned_through) {
                    Some((seq, why)) => Ok(bad(seq, why)),
                    None => Ok(AuditVerdict {
                        entries: n,
                        ok: true,
                        first_bad: None,
                    }),
                }
            }
        }
    }
}

/// Checks the chain against anchors: each must carry a valid signature; the chain's head
/// must have reached its entry; and the entry must still have the anchored hash — or have
/// been pruned under a signed prune (`pruned_through`). Since every hash covers the one
/// before it, an anchor of entry `n` pins entries 1 to `n`: a chain truncated and its head
/// reset, re-hashed without its checkpoints, or deleted whole is named here even though
/// it is consistent in itself.
fn check_anchors(
    anchors: &[Checkpoint],
    valid: impl Fn(&Checkpoint) -> bool,
    head: u64,
    hashes: &std::collections::HashMap<u64, &str>,
    pruned_through: Option<u64>,
) -> Option<(u64, String)> {
    for a in anchors {
        if !valid(a) {
            return Some((
                a.seq,
                format!(
                    "the anchor of entry {} made {} does not verify with the audit key",
                    a.seq, a.at
                ),
            ));
        }
        if a.seq > head {
            return Some((
                head + 1,
                format!(
                    "entry {} was anchored {}, but the chain ends at entry {head}: entries were deleted and the head reset",
                    a.seq, a.at
                ),
            ));
        }
        match hashes.get(&a.seq) {
            Some(h) if *h == a.hash => {}
            Some(_) => {
                return Some((
                    a.seq,
                    format!(
                        "differs from its anchor made {}: the chain was rewritten",
                        a.at
                    ),
                ));
            }
            None if pruned_through.is_some_and(|p| p >= a.seq) => {}
            None => {
                return Some((
                    a.seq,
                    format!(
                        "entry {} was anchored {} and is gone, with no signed prune covering it",
                        a.seq, a.at
                    ),
                ));
            }
        }
    }
    None
}

async fn insert_checkpoint(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    cp: &Checkpoint,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature, pruned) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(cp.seq as i64)
    .bind(&cp.hash)
    .bind(&cp.at)
    .bind(&cp.key_id)
    .bind(&cp.signature)
    .bind(i64::from(cp.pruned))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn raw_entry(r: &sqlx::any::AnyRow) -> Result<RawEntry> {
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
}

fn entry(e: RawEntry) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: e.seq,
        at: e
            .at
            .parse()
            .map_err(|err| crate::DbError::Corrupt(format!("audit at {:?}: {err}", e.at)))?,
        actor: e.actor,
        action: e.action,
        target: e.target,
        detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::String(e.detail)),
        request_id: e.request_id,
        prev_hash: e.prev_hash,
        hash: e.hash,
    })
}
