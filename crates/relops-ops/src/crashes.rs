//! Crash reports (R-CR-3): sealed dumps from the relops SDK, listed and shown to anyone who
//! reads releases, opened only for the roles that may read dumps (audited). The server
//! stores the sealed bytes as received and opens them in memory for the reader; nothing of
//! a dump is logged.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use relops_api::{
    AnalysisStatus, CrashAnalysis, CrashList, CrashReport, CrashUpload, DumpInfo, IngestAck,
};
use relops_core::access::Permission;
use relops_ingest::{Batch, Record, envelope};
use relops_store::{AnalysisRecord, CrashRecord, PutOnce};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::ingest::check_scope;
use crate::services::networks::Origin;
use crate::{Actor, Ops};

/// The stored document of a crash, as this layer writes it (`payload` of the event row):
/// a sealed dump with the SDK's metadata, a minidump with its event, or an event.
#[derive(Debug, Default, Deserialize)]
struct Payload {
    kind: Option<String>,
    sealed: Option<StoredDump>,
    minidump: Option<StoredDump>,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    dropped_before: Option<u64>,
    tags: Option<Value>,
    event: Option<Value>,
    #[serde(default)]
    attachments: Vec<StoredAttachment>,
}

/// The stored files a crash row names: its dump (sealed or plain) and its attachments.
pub(crate) fn payload_blob_keys(payload: &str) -> Vec<String> {
    let p: Payload = serde_json::from_str(payload).unwrap_or_default();
    p.sealed
        .into_iter()
        .chain(p.minidump)
        .map(|d| d.blob_key)
        .chain(p.attachments.into_iter().map(|a| a.blob_key))
        .collect()
}

#[derive(Debug, Deserialize)]
struct StoredAttachment {
    filename: Option<String>,
    content_type: Option<String>,
    attachment_type: Option<String>,
    size: u64,
    sha256: String,
    blob_key: String,
}

#[derive(Debug, Deserialize)]
struct StoredDump {
    blob_key: String,
    size: u64,
    sha256: String,
}

/// Tags as text: an object's values, or Sentry's `[[key, value], …]` form.
fn tags_of(v: Option<&Value>) -> BTreeMap<String, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match v {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(Value::Array(pairs)) => pairs
            .iter()
            .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                Some([Value::String(k), v]) => Some((k.clone(), text(v))),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Most tags a crash report carries.
const MAX_TAGS: usize = 32;

/// Tags of a sealed crash report: at most 32, each a token name (64 bytes) with a
/// printable value of at most 200 bytes, a number or a boolean.
fn check_tags(tags: &std::collections::BTreeMap<String, Value>) -> OpResult<()> {
    use relops_core::text::{line, token};
    if tags.len() > MAX_TAGS {
        return Err(OpError::Invalid(format!(
            "a crash report carries at most {MAX_TAGS} tags (got {})",
            tags.len()
        )));
    }
    for (k, v) in tags {
        token("tag name", k, 64).map_err(crate::invalid)?;
        match v {
            Value::String(s) => {
                line(&format!("tag {k}"), s, 200).map_err(crate::invalid)?;
            }
            Value::Number(_) | Value::Bool(_) => {}
            _ => {
                return Err(OpError::Invalid(format!(
                    "tag {k} must be text, a number or a boolean"
                )));
            }
        }
    }
    Ok(())
}

/// A crash's analysis from its stored row (pending while there is none). `full`: with
/// the stack; a list shows the status, exception and group only.
fn analysis_of(a: Option<&AnalysisRecord>, full: bool) -> CrashAnalysis {
    let Some(a) = a else {
        return CrashAnalysis::default();
    };
    let mut v: CrashAnalysis = serde_json::from_str(&a.result).unwrap_or_default();
    v.status = AnalysisStatus::parse(&a.status).unwrap_or_default();
    v.group = a.group_id.clone();
    v.processed_at = a.processed_at;
    if !full {
        v.frames.clear();
        v.missing_symbols.clear();
    }
    v
}

fn view(c: &CrashRecord, analysis: CrashAnalysis) -> CrashReport {
    let p: Payload = serde_json::from_str(&c.payload).unwrap_or_default();
    let (kind, dump) = match (&p.sealed, &p.minidump) {
        (Some(s), _) => (
            p.kind.clone().unwrap_or_else(|| "minidump".into()),
            Some(DumpInfo {
                sealed: true,
                size: s.size,
                sha256: s.sha256.clone(),
            }),
        ),
        (None, Some(m)) => (
            "minidump".to_owned(),
            Some(DumpInfo {
                sealed: false,
                size: m.size,
                sha256: m.sha256.clone(),
            }),
        ),
        _ => ("event".to_owned(), None),
    };
    let tags = p
        .tags
        .as_ref()
        .or_else(|| p.event.as_ref().and_then(|e| e.get("tags")));
    CrashReport {
        id: c.id.clone(),
        release: c.release.clone(),
        channel: c.channel.clone(),
        platform: c.platform.clone(),
        install_id: c.install_id.clone(),
        received_at: c.received_at,
        kind,
        critical: c.critical.clone(),
        dump,
        dropped_before: p.dropped_before,
        created_at: p.created_at,
        tags: tags_of(tags),
        attachments: p
            .attachments
            .iter()
            .map(|a| relops_api::AttachmentInfo {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                attachment_type: a.attachment_type.clone(),
                size: a.size,
                sha256: a.sha256.clone(),
            })
            .collect(),
        log_bundles: Vec::new(),
        analysis,
    }
}

impl Ops {
    /// A crash report whose dump the SDK sealed to the crash key.
    pub async fn ingest_crash(
        &self,
        origin: &Origin,
        product: &str,
        c: CrashUpload,
    ) -> OpResult<IngestAck> {
        let scope = check_scope(&c.who, &self.config.feed.channels)?;
        let id = envelope::normalize_uuid(&c.crash_id).ok_or_else(|| {
            OpError::Invalid("`crash_id` must be a UUID (32 hex digits, dashed or not)".into())
        })?;
        let kind = c.kind.trim();
        if kind.is_empty()
            || kind.len() > 32
            || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(OpError::Invalid(
                "`kind` must be 1-32 characters of a-z, 0-9, _ (minidump, panic, …)".into(),
            ));
        }
        check_tags(&c.tags)?;
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(c.sealed.trim())
            .map_err(|e| OpError::Invalid(format!("`sealed` is not base64: {e}")))?;
        relops_seal::check(&sealed).map_err(|e| OpError::Invalid(format!("`sealed`: {e}")))?;
        self.ingest_limits
            .check(product, 1, [c.who.install_id.as_str()])?;
        let key = format!("crashes/sealed/{id}");
        // A crash id names one crash: a retry with the same bytes is the same report; other
        // bytes under a known id are refused, and what arrived first is kept.
        if self.blobs.put_once(&key, sealed.clone().into()).await? == PutOnce::Different {
            return Err(OpError::Conflict(format!(
                "crash {id} was reported before with a different dump: a crash id names one crash (make a new UUID for another); the first dump is kept"
            )));
        }
        let event = json!({"tags": c.tags});
        let r = Record::Event {
            scope,
            event_id: id.clone(),
            install_id: Some(c.who.install_id.clone()),
            crash: true,
            critical: self.config.alerts.classify(&event).map(str::to_owned),
            code: None,
            payload: json!({
                "kind": kind,
                "sealed": {"blob_key": key, "size": sealed.len(), "sha256": hex::encode(Sha256::digest(&sealed))},
                "created_at": c.created_at,
                "dropped_before": c.dropped_before,
                "tags": c.tags,
            })
            .to_string(),
        };
        self.store(Batch::of(product, vec![r]), origin).await?;
        Ok(IngestAck {
            id: Some(id),
            stored: None,
        })
    }

    /// Crash reports, newest first (`release`: of one release).
    pub async fn crashes(
        &self,
        actor: &Actor,
        product: &str,
        release: Option<&str>,
        limit: Option<u32>,
    ) -> OpResult<CrashList> {
        actor.authorize(Permission::ReleaseRead)?;
        let limit = limit.unwrap_or(100).clamp(1, 1000);
        self.telemetry_visible().await?;
        let list = self.db.crashes(product, release, limit).await?;
        Ok(CrashList {
            crashes: self.crash_views(product, &list, false).await?,
        })
    }

    /// Crashes as the API shows them, with their analyses (`full`: with the stacks).
    pub(crate) async fn crash_views(
        &self,
        product: &str,
        list: &[CrashRecord],
        full: bool,
    ) -> OpResult<Vec<CrashReport>> {
        let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
        let analyses = self.db.analyses(product, &ids).await?;
        let of = |id: &str| analyses.iter().find(|a| a.crash_id == id);
        Ok(list
            .iter()
            .map(|c| view(c, analysis_of(of(&c.id), full)))
            .collect())
    }

    async fn load_crash(&self, product: &str, id: &str) -> OpResult<CrashRecord> {
        let norm = envelope::normalize_uuid(id).unwrap_or_else(|| id.to_owned());
        self.telemetry_visible().await?;
        self.db.crash(product, &norm).await?.ok_or_else(|| {
            OpError::NotFound(format!("no crash `{id}`: `relops crash list` shows them"))
        })
    }

    /// A crash report's metadata.
    pub async fn crash(&self, actor: &Actor, product: &str, id: &str) -> OpResult<CrashReport> {
        actor.authorize(Permission::ReleaseRead)?;
        let c = self.load_crash(product, id).await?;
        let mut one = self
            .crash_views(product, std::slice::from_ref(&c), true)
            .await?;
        let mut report = one.remove(0);
        report.log_bundles = self
            .crash_log_bundles(product, &c.id, c.install_id.as_deref())
            .await?;
        Ok(report)
    }

    /// A crash's dump as stored, checked against the digest recorded when it arrived and
    /// opened with the crash key if the SDK sealed it; `None` for a crash without a dump.
    /// Returns the dump and whether it was sealed.
    pub(crate) async fn open_dump(
        &self,
        crash_id: &str,
        payload: &str,
    ) -> OpResult<Option<(Bytes, bool)>> {
        let p: Payload = serde_json::from_str(payload).unwrap_or_default();
        let (key, digest, sealed) = match (p.sealed, p.minidump) {
            (Some(s), _) => (s.blob_key, s.sha256, true),
            (None, Some(m)) => (m.blob_key, m.sha256, false),
            _ => return Ok(None),
        };
        let bytes = self.blobs.get_raw(&key).await?;
        if hex::encode(Sha256::digest(&bytes)) != digest {
            self.stored_file_changed(&key);
            return Err(OpError::Unreadable(format!(
                "the stored dump of crash {crash_id} does not match the SHA-256 recorded when it arrived: it was changed in the blob store, and is not served (tell your security engineer)"
            )));
        }
        if !sealed {
            return Ok(Some((bytes, false)));
        }
        let plain = self.crash_key.open(crash_id, &bytes).map_err(|e| {
            OpError::Unreadable(format!(
                "crash {crash_id}: {e} — was it sealed to another server's crash key?"
            ))
        })?;
        Ok(Some((plain.into(), true)))
    }

    /// File `n` (from 0) sent with a crash, opened with the crash key; audited like a dump.
    /// Returns its name (if sent) and bytes.
    pub async fn crash_attachment(
        &self,
        actor: &Actor,
        product: &str,
        id: &str,
        n: usize,
    ) -> OpResult<(Option<String>, Bytes)> {
        let who = actor.authorize(Permission::CrashDump)?;
        let c = self.load_crash(product, id).await?;
        let p: Payload = serde_json::from_str(&c.payload).unwrap_or_default();
        let a = p.attachments.get(n).ok_or_else(|| {
            OpError::NotFound(format!(
                "crash {} has {} attachments (numbered from 0)",
                c.id,
                p.attachments.len()
            ))
        })?;
        let sealed = self.blobs.get_raw(&a.blob_key).await?;
        let plain = self
            .crash_key
            .open(&format!("{}/{n}", c.id), &sealed)
            .map_err(|e| OpError::Unreadable(format!("attachment {n} of crash {}: {e}", c.id)))?;
        if hex::encode(Sha256::digest(&plain)) != a.sha256 {
            self.stored_file_changed(&a.blob_key);
            return Err(OpError::Unreadable(format!(
                "attachment {n} of crash {} does not match the SHA-256 recorded when it arrived: not served (tell your security engineer)",
                c.id
            )));
        }
        self.db
            .append_audit_entry(&who.audit(
                "crash.read_attachment",
                format!("{product}/{}/{n}", c.id),
                json!({"release": c.release, "bytes": plain.len()}),
            ))
            .await?;
        Ok((a.filename.clone(), plain.into()))
    }

    /// The crash dump, opened (sealed ones with the crash key). Every read is an audit
    /// entry. Returns the crash id and the dump.
    pub async fn crash_dump(
        &self,
        actor: &Actor,
        product: &str,
        id: &str,
    ) -> OpResult<(String, Bytes)> {
        let who = actor.authorize(Permission::CrashDump)?;
        let c = self.load_crash(product, id).await?;
        let (plain, sealed) = self.open_dump(&c.id, &c.payload).await?.ok_or_else(|| {
            OpError::NotFound(format!(
                "crash {} has no dump (it was reported as an event only)",
                c.id
            ))
        })?;
        self.db
            .append_audit_entry(&who.audit(
                "crash.read_dump",
                format!("{product}/{}", c.id),
                json!({"release": c.release, "sealed": sealed, "bytes": plain.len()}),
            ))
            .await?;
        Ok((c.id, plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: Value) -> CrashRecord {
        CrashRecord {
            id: "ab".repeat(16),
            release: "2.1.0".into(),
            channel: "stable".into(),
            platform: "windows-x64".into(),
            install_id: Some("i-1".into()),
            received_at: chrono::Utc::now(),
            critical: None,
            payload: payload.to_string(),
        }
    }

    /// The three documents a crash row holds read as the crash the API shows.
    #[test]
    fn stored_crashes_read_as_reports() {
        let sealed = view(
            &record(json!({
            "kind": "panic",
            "sealed": {"blob_key": "crashes/sealed/x", "size": 120, "sha256": "aa"},
            "created_at": "2026-11-20T10:00:00Z", "dropped_before": 2, "tags": {"phase": "startup"},
            })),
            CrashAnalysis::default(),
        );
        assert_eq!(sealed.kind, "panic");
        assert_eq!(
            sealed.dump,
            Some(DumpInfo {
                sealed: true,
                size: 120,
                sha256: "aa".into()
            })
        );
        assert_eq!(sealed.dropped_before, Some(2));
        assert_eq!(
            sealed.tags.get("phase").map(String::as_str),
            Some("startup")
        );

        let mini = view(
            &record(json!({
                "minidump": {"blob_key": "crashes/x", "size": 9, "sha256": "bb"},
                "event": {"tags": [["code", "E1"], ["n", 3]]},
            })),
            CrashAnalysis::default(),
        );
        assert_eq!(mini.kind, "minidump");
        assert!(!mini.dump.as_ref().unwrap().sealed);
        assert_eq!(mini.tags.get("code").map(String::as_str), Some("E1"));
        assert_eq!(mini.tags.get("n").map(String::as_str), Some("3"));

        let event = view(&record(json!({"level": "fatal"})), CrashAnalysis::default());
        assert_eq!(event.kind, "event");
        assert_eq!(event.dump, None);
        assert!(event.tags.is_empty());
    }
}
