//! Crash and telemetry ingest (DESIGN decision 5): what the fleet sends through the Sentry
//! envelope endpoint, Crashpad's minidump upload and the native endpoints, authenticated
//! by the product's public ingest key.
//!
//! Each operation bounds what it reads, turns it into records (`relops-ingest`), checks the
//! rate limits and hands the batch to the ingest writer, which makes it durable before the
//! operation returns (acknowledged = stored); retries are idempotent (event ids, session
//! ends). A release the registry does not know is counted under its name and listed by
//! `relops health --unknown`, never dropped.

use bytes::Bytes;
use chrono::Utc;
use relops_api::{Dsn, ErrorReport, IngestAck, InstallScope, MemoryWarning, SessionUpdate};
use relops_core::access::Permission;
use relops_ingest::interpret::{self, Context};
use relops_ingest::session::Status;
use relops_ingest::{Batch, Record, Scope, envelope};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::services::networks::{Capped, Origin};
use crate::services::notify::Notice;
use crate::{Actor, Ops};

/// Most sessions one request may carry.
const MAX_SESSIONS_PER_REQUEST: usize = 1000;

/// Checks what every native record names: an install id and a release (printable, at most
/// 128 and 200 bytes), a configured channel, a platform relops ships.
pub(crate) fn check_scope(s: &InstallScope, channels: &[String]) -> OpResult<Scope> {
    use relops_core::text::line;
    line("install_id", &s.install_id, 128).map_err(crate::invalid)?;
    let release = line("release", &s.release, 200).map_err(crate::invalid)?;
    if !channels.contains(&s.channel) {
        return Err(OpError::Invalid(format!(
            "`channel` must be one of this server's channels ({}), not {:?}",
            channels.join(", "),
            s.channel.chars().take(64).collect::<String>()
        )));
    }
    let platform = s
        .platform
        .parse::<relops_core::platform::Platform>()
        .map_err(|e| OpError::Invalid(e.to_string()))?;
    Ok(Scope {
        release: release.to_owned(),
        channel: s.channel.clone(),
        platform: Some(platform),
    })
}

/// A session status as sent: one of Relay's, or an unknown one of at most 32 bytes of
/// `a-z _` (kept as sent, counted under its name).
fn session_status(s: &str) -> OpResult<Status> {
    let status = Status::parse(s.trim());
    if let Status::Unknown(name) = &status
        && (name.is_empty()
            || name.len() > 32
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    {
        return Err(OpError::Invalid(format!(
            "`status` {:?} is not a session status: ok, exited, crashed, abnormal, errored",
            name.chars().take(40).collect::<String>()
        )));
    }
    Ok(status)
}

impl Ops {
    /// The product whose public ingest key this is, if it is one.
    pub fn ingest_product(&self, key: &str) -> Option<&str> {
        self.ingest_keys.get(key.trim()).map(String::as_str)
    }

    /// The Sentry project id of a product: its position in `products`, from 1.
    fn project_id(&self, product: &str) -> usize {
        self.config
            .products
            .iter()
            .position(|p| p == product)
            .map_or(0, |i| i + 1)
    }

    /// Refuses a project id that is not the key's product's.
    pub fn check_project(&self, product: &str, project: &str) -> OpResult<()> {
        let expected = self.project_id(product);
        if project.parse::<usize>().ok() == Some(expected) {
            Ok(())
        } else {
            Err(OpError::Invalid(format!(
                "project {project} does not belong to this key: {product} is project {expected} (use the DSN from `relops ingest dsn`)"
            )))
        }
    }

    /// What interpreting `product`'s telemetry needs of the configuration.
    fn with_context<T>(&self, product: &str, f: impl FnOnce(&Context<'_>) -> T) -> T {
        let alerts = &self.config.alerts;
        let classify = |event: &Value| alerts.classify(event).map(str::to_owned);
        let cx = Context {
            product,
            products: &self.config.products,
            channels: &self.config.feed.channels,
            production_channel: self.config.feed.production_channel(),
            classify: &classify,
        };
        f(&cx)
    }

    /// Makes a batch durable (and counted by the health engine) before returning; answers
    /// how many records were kept. Records of installs beyond their network's share of a
    /// release ([`crate::services::networks`]) count nowhere: an event is kept without its
    /// install, the rest is dropped.
    pub(crate) async fn store(&self, mut batch: Batch, origin: &Origin) -> OpResult<usize> {
        let mut capped = Vec::new();
        if origin.network().is_some() {
            let now = Utc::now().timestamp();
            batch.count_only(|product, scope, install| {
                self.networks
                    .counts(origin, product, &scope.release, install, now, &mut capped)
            });
        }
        let kept = batch.len();
        for (product, records) in batch.into_groups() {
            if records.is_empty() {
                continue;
            }
            let mut kinds: Vec<(&'static str, u64)> = Vec::with_capacity(4);
            for r in &records {
                match kinds.iter_mut().find(|(k, _)| *k == r.kind()) {
                    Some((_, n)) => *n += 1,
                    None => kinds.push((r.kind(), 1)),
                }
            }
            for (kind, n) in kinds {
                crate::metrics::ingested(&product, kind, n);
            }
            self.ingest_writer
                .write(&product, records)
                .await
                .map_err(|e| OpError::Unavailable(format!("{e}; retry")))?;
        }
        for c in capped {
            self.tell_network_bounded(c).await;
        }
        Ok(kept)
    }

    /// Tells the release manager (the notification webhooks) that a network sent more
    /// installs of a release than count. A failure to queue the notice is logged: the
    /// records are stored already, and the health report names the network anyway.
    async fn tell_network_bounded(&self, c: Capped) {
        tracing::warn!(product = %c.product, release = %c.release, network = %c.network,
            "a network sent more installs of a release than [ingest] installs_per_network counts");
        let cap = self.config.ingest.installs_per_network;
        let notice = Notice {
            event: "ingest.network_bounded".into(),
            product: c.product.clone(),
            version: c.release.clone(),
            text: format!(
                "{} {}: one network ({}) sent more than {cap} installs in 24 h. Its further installs do not count in the health figures, so that they cannot dilute the crash rate; `relops health {}` names such networks. If relops runs behind a proxy, name the proxy in [http] trusted_proxies.",
                c.product, c.release, c.network, c.release
            ),
            page: None,
            details: json!({"network": c.network.to_string(), "installs_per_network": cap}),
            at: Utc::now(),
        };
        match self
            .db
            .enqueue_notifications(&notice.messages(&self.config.notify))
            .await
        {
            Ok(()) => self.outbox.notify_one(),
            Err(e) => tracing::error!(error = ?e, "cannot queue the network notice"),
        }
    }

    /// A Sentry envelope (its body decoded): sessions, aggregates and events.
    pub async fn ingest_envelope(
        &self,
        origin: &Origin,
        product: &str,
        project: &str,
        body: &[u8],
    ) -> OpResult<IngestAck> {
        self.check_project(product, project)?;
        let env = envelope::parse(body)
            .map_err(|e| OpError::Invalid(format!("malformed Sentry envelope: {e}")))?;
        let dump = envelope_minidump(&env)?;
        let dump = dump.map(|d| (d, dump_place(d)));
        let files = self.envelope_attachments(&env)?;
        let described: Vec<Value> = files.iter().map(|(_, _, d)| d.clone()).collect();
        let batch = self
            .with_context(product, |cx| {
                interpret::records_with_files(
                    &env,
                    cx,
                    dump.as_ref().map(|(_, p)| &p.described),
                    &described,
                )
            })
            .map_err(|e| OpError::Invalid(e.to_string()))?;
        self.ingest_limits
            .check(product, batch.len(), batch.installs())?;
        // Within the limits: the files are stored before the crash that lists them.
        for (key, sealed, _) in files {
            self.blobs.put_once(&key, sealed.into()).await?;
        }
        if !described.is_empty() {
            crate::metrics::ingested(product, "attachment", described.len() as u64);
        }
        if let Some((d, place)) = dump {
            // Stored by its content before the crash that points at it becomes visible.
            self.blobs
                .put_once(&place.key, Bytes::copy_from_slice(d))
                .await?;
        }
        self.store(batch, origin).await?;
        Ok(IngestAck {
            id: env.event_id(),
            stored: None,
        })
    }

    /// The attachments of a crash event other than its minidump (logs, screenshots,
    /// `event.attachment`): at most [`MAX_ATTACHMENTS`], each sealed to the crash key — what
    /// customers' machines send is read only by the roles that read dumps — and stored
    /// under the event's id (the first copy stays). Returns each one's blob key, sealed
    /// bytes and description for the crash's payload; none when the envelope holds no crash
    /// event. The caller stores them once the envelope passed the ingest limits.
    fn envelope_attachments(
        &self,
        env: &envelope::Envelope<'_>,
    ) -> OpResult<Vec<(String, Vec<u8>, Value)>> {
        let files: Vec<&envelope::Item<'_>> = env
            .items
            .iter()
            .filter(|i| {
                i.ty == "attachment" && i.attachment_type.as_deref() != Some("event.minidump")
            })
            .collect();
        if files.is_empty() {
            return Ok(Vec::new());
        }
        if files.len() > MAX_ATTACHMENTS {
            return Err(OpError::Invalid(format!(
                "an envelope carries at most {MAX_ATTACHMENTS} attachments besides the minidump (got {})",
                files.len()
            )));
        }
        let event: Option<Value> = env
            .items
            .iter()
            .find(|i| i.ty == "event")
            .and_then(|i| serde_json::from_slice(i.payload).ok());
        let crash = event.as_ref().is_some_and(interpret::is_crash)
            || env
                .items
                .iter()
                .any(|i| i.attachment_type.as_deref() == Some("event.minidump"));
        let id = event
            .as_ref()
            .and_then(|e| e.get("event_id"))
            .and_then(Value::as_str)
            .and_then(envelope::normalize_uuid)
            .or_else(|| env.event_id());
        let (true, Some(id)) = (crash, id) else {
            return Ok(Vec::new());
        };
        let text = |v: Option<&String>, max: usize| {
            v.map(|s| {
                s.chars()
                    .filter(|c| !c.is_control())
                    .take(max)
                    .collect::<String>()
            })
        };
        let mut out = Vec::with_capacity(files.len());
        for (n, f) in files.iter().enumerate() {
            let sealed =
                relops_seal::seal(self.crash_key.public_hex(), &format!("{id}/{n}"), f.payload)
                    .map_err(|e| {
                        OpError::Internal(anyhow::anyhow!("sealing an attachment: {e}"))
                    })?;
            let key = format!("crashes/attachments/{id}/{n}");
            let described = json!({
                "filename": text(f.filename.as_ref(), 200),
                "content_type": text(f.content_type.as_ref(), 100),
                "attachment_type": text(f.attachment_type.as_ref(), 64),
                "size": f.payload.len(),
                "sha256": hex::encode(Sha256::digest(f.payload)),
                "blob_key": key,
            });
            out.push((key, sealed, described));
        }
        Ok(out)
    }

    /// A Crashpad / sentry-native minidump upload: the dump and the form's other fields
    /// (the event's attributes). The dump is kept in the blob store by content; a re-sent
    /// dump is stored once.
    pub async fn ingest_minidump(
        &self,
        origin: &Origin,
        product: &str,
        project: &str,
        dump: Option<Bytes>,
        fields: &[(String, Bytes)],
    ) -> OpResult<IngestAck> {
        self.check_project(product, project)?;
        let dump = dump
            .ok_or_else(|| OpError::Invalid("no `upload_file_minidump` part in the form".into()))?;
        if !dump.starts_with(b"MDMP") {
            return Err(OpError::Invalid(
                "`upload_file_minidump` is not a minidump (it does not start with MDMP)".into(),
            ));
        }
        let event = interpret::form_event(fields.iter().map(|(k, v)| (k.as_str(), &v[..])));
        let place = dump_place(&dump);
        let id = event
            .get("event_id")
            .and_then(Value::as_str)
            .and_then(envelope::normalize_uuid)
            // No event id: the dump's digest names the crash, so a re-sent dump is one crash.
            .unwrap_or_else(|| place.sha256[..32].to_owned());
        let payload = json!({"minidump": place.described, "event": event}).to_string();
        let (p, record) = self
            .with_context(product, |cx| {
                interpret::minidump_record(cx, &event, id.clone(), payload)
            })
            .map_err(|e| OpError::Invalid(e.to_string()))?;
        self.ingest_limits.check(product, 1, record.install())?;
        // Stored by its content: the same dump again is the same blob.
        self.blobs.put_once(&place.key, dump.clone()).await?;
        self.store(Batch::of(&p, vec![record]), origin).await?;
        Ok(IngestAck {
            id: Some(id),
            stored: None,
        })
    }

    /// Native session updates: one (`SessionUpdate`) or `{"sessions": [...]}` (up to
    /// 1,000), stored all or nothing.
    pub async fn ingest_sessions(
        &self,
        origin: &Origin,
        product: &str,
        body: Value,
    ) -> OpResult<IngestAck> {
        let parse = |v: Value, at: &str| {
            serde_json::from_value::<SessionUpdate>(v)
                .map_err(|e| OpError::Invalid(format!("{at}{e}")))
        };
        let (sessions, one) = match body {
            Value::Object(mut o) if o.contains_key("sessions") => match o.remove("sessions") {
                Some(Value::Array(list)) => (
                    list.into_iter()
                        .enumerate()
                        .map(|(i, v)| parse(v, &format!("sessions[{i}]: ")))
                        .collect::<OpResult<Vec<_>>>()?,
                    false,
                ),
                _ => {
                    return Err(OpError::Invalid(
                        "`sessions` must be a list of session objects".into(),
                    ));
                }
            },
            v => (vec![parse(v, "")?], true),
        };
        if sessions.is_empty() || sessions.len() > MAX_SESSIONS_PER_REQUEST {
            return Err(OpError::Invalid(format!(
                "`sessions` must hold 1 to {MAX_SESSIONS_PER_REQUEST} sessions (got {})",
                sessions.len()
            )));
        }
        let mut records = Vec::with_capacity(sessions.len());
        for (i, s) in sessions.iter().enumerate() {
            let scope = check_scope(&s.who, &self.config.feed.channels).map_err(|e| match e {
                OpError::Invalid(m) if !one => OpError::Invalid(format!("sessions[{i}]: {m}")),
                other => other,
            })?;
            let status = session_status(&s.status).map_err(|e| match e {
                OpError::Invalid(m) if !one => OpError::Invalid(format!("sessions[{i}]: {m}")),
                other => other,
            })?;
            relops_core::text::line("session_id", &s.session_id, 128).map_err(|e| {
                let m = e.to_string();
                OpError::Invalid(if one {
                    m
                } else {
                    format!("sessions[{i}]: {m}")
                })
            })?;
            records.push(Record::Session {
                scope,
                session_id: s.session_id.clone(),
                install_id: Some(s.who.install_id.clone()),
                crashed: status.is_crash(),
                status,
            });
        }
        self.ingest_limits.check(
            product,
            records.len(),
            sessions.iter().map(|s| s.who.install_id.as_str()),
        )?;
        let kept = self.store(Batch::of(product, records), origin).await?;
        Ok(if one {
            IngestAck {
                id: Some(sessions[0].session_id.clone()),
                stored: None,
            }
        } else {
            IngestAck {
                id: None,
                stored: Some(kept as u64),
            }
        })
    }

    /// A native error event with a code (e.g. `TOB_PARSE_ERROR`).
    pub async fn ingest_error(
        &self,
        origin: &Origin,
        product: &str,
        e: ErrorReport,
    ) -> OpResult<IngestAck> {
        let scope = check_scope(&e.who, &self.config.feed.channels)?;
        self.ingest_limits
            .check(product, 1, [e.who.install_id.as_str()])?;
        let id = envelope::normalize_uuid(&e.event_id).ok_or_else(|| {
            OpError::Invalid("`event_id` must be a UUID (32 hex digits, dashed or not)".into())
        })?;
        let code = e.code.trim();
        if code.is_empty()
            || code.len() > 64
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        {
            return Err(OpError::Invalid(
                "`code` must be 1-64 characters of A-Z, 0-9, _ . - (e.g. TOB_PARSE_ERROR)".into(),
            ));
        }
        let message = match e.message.as_deref() {
            Some(m) => Some(relops_core::text::text("message", m, 4096).map_err(crate::invalid)?),
            None => None,
        };
        let r = Record::Event {
            scope,
            event_id: id.clone(),
            install_id: Some(e.who.install_id.clone()),
            crash: false,
            critical: None,
            code: Some(code.to_owned()),
            payload: json!({"code": code, "message": message}).to_string(),
        };
        self.store(Batch::of(product, vec![r]), origin).await?;
        Ok(IngestAck {
            id: Some(id),
            stored: None,
        })
    }

    /// A native memory warning.
    pub async fn ingest_memory(
        &self,
        origin: &Origin,
        product: &str,
        m: MemoryWarning,
    ) -> OpResult<IngestAck> {
        let scope = check_scope(&m.who, &self.config.feed.channels)?;
        self.ingest_limits
            .check(product, 1, [m.who.install_id.as_str()])?;
        if m.host_memory_percent > 100 {
            return Err(OpError::Invalid("`host_memory_percent` is 0-100".into()));
        }
        let r = Record::Memory {
            scope,
            install_id: m.who.install_id.clone(),
            host_percent: m.host_memory_percent,
        };
        let kept = self.store(Batch::of(product, vec![r]), origin).await?;
        Ok(IngestAck {
            id: None,
            stored: Some(kept as u64),
        })
    }

    /// The product's DSN. `host`: the address the caller used, when no
    /// `[ingest] public_url` is configured.
    pub async fn dsn(&self, actor: &Actor, product: &str, host: Option<&str>) -> OpResult<Dsn> {
        actor.authorize(Permission::ReleaseRead)?;
        let key = self
            .ingest_keys
            .iter()
            .find(|(_, p)| *p == product)
            .map(|(k, _)| k.clone())
            .ok_or_else(|| OpError::NotFound(format!("no ingest key for {product}")))?;
        let base = match &self.config.ingest.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", host.unwrap_or("127.0.0.1:8080")),
        };
        let (scheme, rest) = base.split_once("://").unwrap_or(("http", &base));
        Ok(Dsn {
            dsn: format!("{scheme}://{key}@{rest}/{}", self.project_id(product)),
            product: product.to_owned(),
            public_key: key,
        })
    }
}

/// Where a minidump is stored: by its content, so a re-sent dump is one blob.
struct DumpPlace {
    sha256: String,
    key: String,
    /// What a crash's payload keeps of it.
    described: Value,
}

fn dump_place(dump: &[u8]) -> DumpPlace {
    let sha256 = hex::encode(Sha256::digest(dump));
    let key = format!("crashes/{sha256}");
    let described = json!({"sha256": sha256, "size": dump.len(), "blob_key": key});
    DumpPlace {
        sha256,
        key,
        described,
    }
}

/// The `event.minidump` attachment of an envelope (sentry-native, the Electron and Cocoa
/// SDKs send the dump so): at most one, a minidump, with the event it belongs to.
fn envelope_minidump<'a>(env: &envelope::Envelope<'a>) -> OpResult<Option<&'a [u8]>> {
    let mut dumps = env
        .items
        .iter()
        .filter(|i| i.ty == "attachment" && i.attachment_type.as_deref() == Some("event.minidump"));
    let Some(first) = dumps.next() else {
        return Ok(None);
    };
    if dumps.next().is_some() {
        return Err(OpError::Invalid(
            "an envelope carries at most one event.minidump attachment (send one crash per envelope)".into(),
        ));
    }
    if !first.payload.starts_with(b"MDMP") {
        return Err(OpError::Invalid(
            "the event.minidump attachment is not a minidump (it does not start with MDMP)".into(),
        ));
    }
    if !env.items.iter().any(|i| i.ty == "event") {
        return Err(OpError::Invalid(
            "an event.minidump attachment needs the event it belongs to in the same envelope"
                .into(),
        ));
    }
    Ok(Some(first.payload))
}

/// Attachments besides the minidump an envelope may carry.
pub(crate) const MAX_ATTACHMENTS: usize = 8;
