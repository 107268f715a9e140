//! Nothing expires by surprise (issue 33, R-SEC of the playbook's §5): everything with an
//! expiry date in one list — each product's feed roles, the release and crash keys (which
//! do not expire), the server's TLS certificate and the platform signing certificates the
//! security engineer registers (Apple Developer ID, Windows EV) — and one warning per thing
//! at 60, 30 and 7 days and on the day it expired, to every notification channel, paging
//! on-call from 7 days on. The maintenance loop checks every round; the database keeps
//! which warnings went, so a restart or a second replica does not send them again.

use chrono::{DateTime, Utc};
use relops_api::{CertificateInfo, CertificateList, ExpiryItem, ExpiryList};
use relops_core::access::Permission;
use relops_store::CertificateRecord;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::services::notify::Notice;
use crate::{Actor, Ops};

/// The kinds of certificate `relops certs add` takes.
pub const CERT_KINDS: [&str; 2] = ["apple-developer-id", "windows-ev"];
/// Days before an expiry at which a warning goes out (0: the day it expired).
pub const THRESHOLDS: [i64; 4] = [60, 30, 7, 0];

/// Whether `days` left has reached warning threshold `t` (0: expired). A warning goes for
/// the nearest threshold reached only: one per threshold, not a backlog of the ones a new
/// install passed long ago.
fn reached(t: i64, days: i64) -> bool {
    if t == 0 { days < 0 } else { days <= t }
}

/// `ok`, `notice`, `warn`, `page` or `expired` for `days_left`.
pub fn level(days_left: Option<i64>) -> &'static str {
    match days_left {
        None => "never",
        Some(d) if d < 0 => "expired",
        Some(d) if d <= 7 => "page",
        Some(d) if d <= 30 => "warn",
        Some(d) if d <= 60 => "notice",
        Some(_) => "ok",
    }
}

fn item(
    name: String,
    kind: &str,
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    renew: &str,
) -> ExpiryItem {
    let days_left = expires.map(|e| (e - now).num_days() - i64::from(e < now));
    ExpiryItem {
        name,
        kind: kind.to_owned(),
        expires,
        days_left,
        level: level(days_left).to_owned(),
        renew: renew.to_owned(),
    }
}

/// A certificate's facts from its PEM or DER bytes.
pub fn parse_certificate(bytes: &[u8]) -> Result<(Vec<u8>, ParsedCert), String> {
    let der = if bytes.starts_with(b"-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(bytes)
            .map_err(|e| format!("not a PEM certificate: {e}"))?;
        if pem.label != "CERTIFICATE" {
            return Err(format!("a PEM `{}`, not a CERTIFICATE", pem.label));
        }
        pem.contents
    } else {
        bytes.to_vec()
    };
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("not an X.509 certificate (PEM or DER): {e}"))?;
    let time = |t: x509_parser::time::ASN1Time| {
        DateTime::<Utc>::from_timestamp(t.timestamp(), 0).unwrap_or_default()
    };
    let parsed = ParsedCert {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
    };
    Ok((der.clone(), parsed))
}

/// What relops keeps of a certificate.
#[derive(Debug, Clone)]
pub struct ParsedCert {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

fn info(c: CertificateRecord) -> CertificateInfo {
    CertificateInfo {
        kind: c.kind,
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serial,
        not_before: c.not_before,
        not_after: c.not_after,
        sha256: c.sha256,
        added_by: c.added_by,
        added_at: c.added_at,
    }
}

impl Ops {
    /// Everything that expires, the soonest first (`relops keys status`).
    pub async fn expiry_status(&self, actor: &Actor) -> OpResult<ExpiryList> {
        actor.authorize(Permission::ReleaseRead)?;
        self.expiries(Utc::now()).await
    }

    pub(crate) async fn expiries(&self, now: DateTime<Utc>) -> OpResult<ExpiryList> {
        let mut items = Vec::new();
        for product in &self.config.products {
            let Some(feed) = self.feed.current(product) else {
                continue;
            };
            let f = &self.config.feed;
            for k in feed.key_info()? {
                let name = format!("{product} {} metadata", k.role);
                let kind = format!("tuf-{}", k.role);
                let life = match k.role.as_str() {
                    "root" => {
                        items.push(item(
                            name,
                            &kind,
                            k.expires,
                            now,
                            "relops keys renew root (with the root keys' threshold on the server), or a rotation",
                        ));
                        continue;
                    }
                    "targets" => chrono::Duration::days(f.targets_expiry_days),
                    "snapshot" => chrono::Duration::days(f.snapshot_expiry_days),
                    _ => chrono::Duration::hours(f.timestamp_expiry_hours),
                };
                let mut i = item(
                    name,
                    &kind,
                    k.expires,
                    now,
                    "re-signed by the server at half its lifetime: it runs short only when relops stopped running or cannot sign",
                );
                // The server re-signs it at half its life: short of that by half again means
                // re-signing stopped, which needs someone now; otherwise nobody need act.
                i.level = match k.expires {
                    Some(e) if e < now => "expired",
                    Some(e) if e - now < life / 4 => "page",
                    _ => "auto",
                }
                .to_owned();
                items.push(i);
            }
        }
        items.push(item(
            "release key".into(),
            "release-key",
            None,
            now,
            "does not expire; pinned by installed apps",
        ));
        items.push(item(
            "crash key".into(),
            "crash-key",
            None,
            now,
            "does not expire",
        ));
        if let Some(path) = &self.config.tls_cert {
            match std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|b| parse_certificate(&b))
            {
                Ok((_, c)) => items.push(item(
                    format!("TLS certificate {}", c.subject),
                    "tls",
                    Some(c.not_after),
                    now,
                    "renew it with its CA and restart relops serve (or its proxy)",
                )),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read the TLS certificate's expiry")
                }
            }
        }
        for c in self.db.certificates().await? {
            items.push(item(
                c.subject.clone(),
                &c.kind,
                Some(c.not_after),
                now,
                if c.kind == "apple-developer-id" {
                    "renew it in the Apple Developer account, then relops certs add the new one"
                } else {
                    "renew it with its CA (EV: on its token), then relops certs add the new one"
                },
            ));
        }
        items.sort_by_key(|i| (i.expires.is_none(), i.expires));
        Ok(ExpiryList { items })
    }

    /// Registers a platform signing certificate (security engineer); audited.
    pub async fn add_certificate(
        &self,
        actor: &Actor,
        kind: &str,
        bytes: &[u8],
    ) -> OpResult<CertificateInfo> {
        let who = actor.authorize(Permission::KeyRotate)?;
        let kind = kind.trim();
        if !CERT_KINDS.contains(&kind) {
            return Err(OpError::Invalid(format!(
                "certificate kind `{kind}`: use one of {}",
                CERT_KINDS.join(", ")
            )));
        }
        if bytes.len() > 64 * 1024 {
            return Err(OpError::TooLarge(format!(
                "{} bytes: a certificate is a few KiB (send the certificate, not a bundle or a key store)",
                bytes.len()
            )));
        }
        let (der, c) = parse_certificate(bytes).map_err(OpError::Invalid)?;
        let rec = CertificateRecord {
            sha256: hex::encode(Sha256::digest(&der)),
            kind: kind.to_owned(),
            subject: c.subject,
            issuer: c.issuer,
            serial: c.serial,
            not_before: c.not_before,
            not_after: c.not_after,
            added_by: who.name.clone(),
            added_at: Utc::now(),
        };
        let audit = who.audit(
            "cert.add",
            format!("cert/{}", rec.sha256),
            json!({"kind": rec.kind, "subject": rec.subject, "not_after": rec.not_after}),
        );
        if !self.db.add_certificate(&rec, &audit).await? {
            return Err(OpError::Conflict(format!(
                "this certificate ({}) is registered already",
                rec.subject
            )));
        }
        Ok(info(rec))
    }

    /// The registered certificates, the soonest to expire first.
    pub async fn certificates(&self, actor: &Actor) -> OpResult<CertificateList> {
        actor.authorize(Permission::ReleaseRead)?;
        Ok(CertificateList {
            certificates: self
                .db
                .certificates()
                .await?
                .into_iter()
                .map(info)
                .collect(),
        })
    }

    /// Sends the expiry warnings due at `now` that were not sent yet; answers how many.
    pub async fn report_expiries(&self, now: DateTime<Utc>) -> OpResult<usize> {
        let mut sent = 0;
        for i in self.expiries(now).await?.items {
            let (Some(expires), Some(days)) = (i.expires, i.days_left) else {
                continue;
            };
            let threshold = match i.level.as_str() {
                "ok" | "auto" | "never" => continue,
                // A role the server re-signs, running short: re-signing stopped.
                "page" if i.kind != "tuf-root" && i.kind.starts_with("tuf-") => 7,
                _ => match THRESHOLDS
                    .iter()
                    .copied()
                    .filter(|t| reached(*t, days))
                    .min()
                {
                    Some(t) => t,
                    None => continue,
                },
            };
            let text = if days < 0 {
                format!(
                    "EXPIRED: {} ({}) expired {}. {}.",
                    i.name,
                    i.kind,
                    expires.format("%Y-%m-%d"),
                    i.renew
                )
            } else {
                format!(
                    "{} ({}) expires in {days} day{} ({}). {}.",
                    i.name,
                    i.kind,
                    if days == 1 { "" } else { "s" },
                    expires.format("%Y-%m-%d"),
                    i.renew
                )
            };
            let notice = Notice {
                event: "expiry.warning".into(),
                product: self.config.products.first().cloned().unwrap_or_default(),
                version: String::new(),
                text,
                page: (threshold <= 7).then_some(if days < 0 { "critical" } else { "error" }),
                details: json!({"name": i.name, "kind": i.kind, "expires": expires, "days_left": days}),
                at: now,
            };
            if self
                .db
                .report_expiry(
                    &i.name,
                    expires,
                    threshold,
                    now,
                    &notice.messages(&self.config.notify),
                )
                .await?
            {
                sent += 1;
            }
        }
        if sent > 0 {
            self.outbox.notify_one();
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_thresholds_by_days_left() {
        for (days, want) in [
            (None, "never"),
            (Some(400), "ok"),
            (Some(61), "ok"),
            (Some(60), "notice"),
            (Some(31), "notice"),
            (Some(30), "warn"),
            (Some(8), "warn"),
            (Some(7), "page"),
            (Some(0), "page"),
            (Some(-1), "expired"),
        ] {
            assert_eq!(level(days), want, "{days:?}");
        }
        let nearest = |days| {
            THRESHOLDS
                .iter()
                .copied()
                .filter(|t| reached(*t, days))
                .min()
        };
        assert_eq!(nearest(90), None);
        assert_eq!(nearest(45), Some(60));
        assert_eq!(nearest(30), Some(30));
        assert_eq!(nearest(3), Some(7));
        assert_eq!(nearest(0), Some(7), "the last day is not yet expired");
        assert_eq!(nearest(-2), Some(0));
    }

    #[test]
    fn days_left_count_whole_days_and_expired_is_negative() {
        let now = Utc::now();
        let at = |h: i64| {
            item(
                "x".into(),
                "tls",
                Some(now + chrono::Duration::hours(h)),
                now,
                "",
            )
        };
        assert_eq!(at(24 * 10 + 1).days_left, Some(10));
        assert_eq!(at(23).days_left, Some(0));
        assert_eq!(at(-1).days_left, Some(-1));
        assert_eq!(at(-1).level, "expired");
    }

    #[test]
    fn what_is_not_a_certificate_says_so() {
        assert!(
            parse_certificate(b"hello")
                .unwrap_err()
                .contains("not an X.509 certificate")
        );
        let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(parse_certificate(key).is_err());
    }
}
