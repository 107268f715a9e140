//! What an envelope means: the records a Sentry envelope (or a Crashpad upload's event)
//! becomes — which product and release, which channel, which platform and install, whether
//! an event is a crash, which error code it carries. Pure functions of the payloads and of
//! the server's settings ([`Context`]), tested on what the Sentry SDKs send.

use relops_core::platform::Platform;
use serde_json::Value;

use crate::envelope::{Envelope, normalize_uuid};
use crate::record::{Batch, Record, Scope};
use crate::session::{self, ReleaseRef};

/// The server's settings an interpretation needs.
pub struct Context<'a> {
    /// The product of the DSN's key.
    pub product: &'a str,
    /// Every configured product (`product@version` may name another one).
    pub products: &'a [String],
    /// The configured channels, and which of them is production (Sentry's `production`).
    pub channels: &'a [String],
    pub production_channel: &'a str,
    /// The critical-failure rule that classes a crash event, if one does.
    pub classify: &'a dyn Fn(&Value) -> Option<String>,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("product", &self.product)
            .field("products", &self.products)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

/// Most `session` items one envelope may carry (Relay's limit): SDKs send one per
/// envelope, so a flood of distinct sessions in one request is not an app's.
pub const MAX_SESSION_ITEMS: usize = 100;
/// Most buckets one `sessions` item may carry (an SDK flushes its aggregates every minute).
pub const MAX_AGGREGATE_BUCKETS: usize = 100;

/// Why an envelope's content was refused; the message says which item and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterpretError {
    #[error("a session item is not a JSON object with a `sid`")]
    Session,
    #[error("{0}")]
    Aggregates(session::AggregatesError),
    #[error("an event item is not JSON: {0}")]
    EventJson(String),
    #[error("an event without an event_id (32 hex digits, dashed or not)")]
    EventId,
    #[error("{0}")]
    Field(#[from] relops_core::text::TextError),
    #[error("an envelope carries {count} {what}; at most {max} are accepted")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
}

impl Context<'_> {
    /// Which channel an environment name means: a configured channel as is, Sentry's
    /// default `production` (or none) as the production channel, anything else kept as
    /// sent.
    pub fn channel_of(&self, env: Option<&str>) -> String {
        match env {
            Some(e) if self.channels.iter().any(|c| c == e) => e.to_owned(),
            Some("production") | None => self.production_channel.to_owned(),
            Some(e) => e.to_owned(),
        }
    }

    /// The product and release a release string names: `other@2.1.0` of a configured
    /// product is that product's; of an unknown one it is this product's release
    /// `other@2.1.0` (counted, never dropped); none is `unknown`.
    pub fn release_of(&self, r: Option<ReleaseRef>) -> (String, String) {
        match r {
            Some(ReleaseRef {
                product: Some(p),
                version,
            }) if self.products.contains(&p) => (p, version),
            Some(ReleaseRef {
                product: Some(p),
                version,
            }) => (self.product.to_owned(), format!("{p}@{version}")),
            Some(ReleaseRef {
                product: None,
                version,
            }) => (self.product.to_owned(), version),
            None => (self.product.to_owned(), "unknown".to_owned()),
        }
    }

    fn scope(&self, release: String, env: Option<&str>, platform: Option<Platform>) -> Scope {
        Scope {
            release,
            channel: self.channel_of(env),
            platform,
        }
    }
}

/// The install an event names: `user.id`, else `tags.install_id`.
pub fn install_of(event: &Value) -> Option<String> {
    ["/user/id", "/tags/install_id"]
        .iter()
        .find_map(|p| event.pointer(p).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The relops platform an event runs on: its `platform` tag if that names one, else what
/// `contexts.os` and `contexts.device.arch` say (x86-64 unless told otherwise).
pub fn platform_of(event: &Value) -> Option<Platform> {
    if let Some(p) = event.pointer("/tags/platform").and_then(Value::as_str) {
        return p.parse().ok();
    }
    let os = event
        .pointer("/contexts/os/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let arch = event
        .pointer("/contexts/device/arch")
        .and_then(Value::as_str)
        .unwrap_or("x86_64");
    let arm = arch.contains("arm") || arch.contains("aarch64");
    if os.contains("mac") || os.contains("darwin") {
        Some(if arm {
            Platform::MacosArm64
        } else {
            Platform::MacosX64
        })
    } else if os.contains("windows") {
        Some(if arm {
            Platform::WindowsArm64
        } else {
            Platform::WindowsX64
        })
    } else if os.contains("linux") {
        Some(Platform::LinuxX64)
    } else {
        None
    }
}

/// A crash: level `fatal`, or an exception whose mechanism says it was not handled.
pub fn is_crash(event: &Value) -> bool {
    event.get("level").and_then(Value::as_str) == Some("fatal")
        || event
            .pointer("/exception/values")
            .and_then(Value::as_array)
            .is_some_and(|vs| {
                vs.iter().any(|v| {
                    v.pointer("/mechanism/handled").and_then(Value::as_bool) == Some(false)
                })
            })
}

/// The error code an event carries (`tags.code` or `tags.error_code`, e.g.
/// `TOB_PARSE_ERROR`).
pub fn error_code(event: &Value) -> Option<String> {
    ["/tags/code", "/tags/error_code"]
        .iter()
        .find_map(|p| event.pointer(p).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The release an event names.
fn event_release(event: &Value) -> Option<ReleaseRef> {
    event
        .get("release")
        .and_then(Value::as_str)
        .map(session::release_ref)
}

/// The record of a crash that came as a minidump upload with `event`'s attributes (the
/// dump itself is stored by the caller; `payload` says where).
pub fn minidump_record(
    cx: &Context<'_>,
    event: &Value,
    id: String,
    payload: String,
) -> Result<(String, Record), InterpretError> {
    let (product, release) = cx.release_of(event_release(event));
    let scope = cx.scope(
        release,
        event.get("environment").and_then(Value::as_str),
        platform_of(event),
    );
    let record = Record::Event {
        scope,
        event_id: id,
        install_id: install_of(event),
        crash: true,
        critical: (cx.classify)(event),
        code: None,
        payload,
    };
    record.check()?;
    Ok((product, record))
}

/// The event of a minidump upload from its form fields: `sentry` (a JSON object) and
/// `sentry[release]`, `sentry[user][id]`, `sentry[tags][code]`-style fields, as Crashpad
/// and sentry-native send them; other fields are ignored.
pub fn form_event<'a>(fields: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Value {
    let mut event = serde_json::Map::new();
    for (name, data) in fields {
        if name == "sentry" {
            if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(data) {
                event.extend(m);
            }
        } else if let Some(path) = name.strip_prefix("sentry[") {
            let keys: Vec<&str> = path.trim_end_matches(']').split("][").collect();
            let value = Value::String(String::from_utf8_lossy(data).into_owned());
            let mut at = &mut event;
            for (i, k) in keys.iter().enumerate() {
                if i + 1 == keys.len() {
                    at.insert((*k).to_owned(), value.clone());
                } else {
                    let next = at
                        .entry((*k).to_owned())
                        .or_insert_with(|| Value::Object(serde_json::Map::new()));
                    let Value::Object(m) = next else { break };
                    at = m;
                }
            }
        }
    }
    Value::Object(event)
}

/// The records of an envelope: session updates, session aggregates and events (with
/// their crash, critical and error-code meaning); attachments, client reports and
/// unknown item types are skipped, as Relay does.
pub fn records(env: &Envelope<'_>, cx: &Context<'_>) -> Result<Batch, InterpretError> {
    records_with_files(env, cx, None, &[])
}

/// [`records`] of an envelope whose event came with files the caller stored:
/// - `dump`, an `event.minidump` attachment (`{"sha256", "size", "blob_key"}`): the event
///   is a crash whatever its level (sentry-native sends the dump with a plain event), its
///   payload the dump's place and the event, as a Crashpad upload's is;
/// - `attachments`, the other attachments' descriptions, kept with a crash's payload.
pub fn records_with_files(
    env: &Envelope<'_>,
    cx: &Context<'_>,
    dump: Option<&Value>,
    attachments: &[Value],
) -> Result<Batch, InterpretError> {
    let mut batch = Batch::new();
    let envelope_id = env.event_id();
    let count = |ty: &str| env.items.iter().filter(|i| i.ty == ty).count();
    let (sessions, events) = (count("session"), count("event"));
    if sessions > MAX_SESSION_ITEMS {
        return Err(InterpretError::TooMany {
            what: "session items",
            count: sessions,
            max: MAX_SESSION_ITEMS,
        });
    }
    if events > 1 {
        return Err(InterpretError::TooMany {
            what: "events",
            count: events,
            max: 1,
        });
    }
    for item in &env.items {
        match item.ty.as_str() {
            "session" => {
                let u = session::session_update(item.payload).ok_or(InterpretError::Session)?;
                let (p, release) = cx.release_of(u.release);
                let crashed = u.status.is_crash();
                batch.push(
                    &p,
                    Record::Session {
                        scope: cx.scope(release, u.environment.as_deref(), None),
                        session_id: u.session_id,
                        install_id: u.install_id,
                        crashed,
                        status: u.status,
                    },
                );
            }
            "sessions" => {
                let (release, buckets) =
                    session::aggregates(item.payload).map_err(InterpretError::Aggregates)?;
                if buckets.len() > MAX_AGGREGATE_BUCKETS {
                    return Err(InterpretError::TooMany {
                        what: "aggregate buckets in a sessions item",
                        count: buckets.len(),
                        max: MAX_AGGREGATE_BUCKETS,
                    });
                }
                let env_name: Option<String> = serde_json::from_slice::<Value>(item.payload)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/attrs/environment")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                let (p, release) = cx.release_of(release);
                for b in buckets {
                    batch.push(
                        &p,
                        Record::Aggregate {
                            scope: cx.scope(release.clone(), env_name.as_deref(), None),
                            install_id: b.install_id.clone(),
                            crashed: b.crashed + b.abnormal > 0,
                            counts: vec![
                                ("exited".into(), b.exited),
                                ("errored".into(), b.errored),
                                ("abnormal".into(), b.abnormal),
                                ("crashed".into(), b.crashed),
                            ],
                        },
                    );
                }
            }
            "event" => {
                let event: Value = serde_json::from_slice(item.payload)
                    .map_err(|e| InterpretError::EventJson(e.to_string()))?;
                let id = event
                    .get("event_id")
                    .and_then(Value::as_str)
                    .and_then(normalize_uuid)
                    .or_else(|| envelope_id.clone())
                    .ok_or(InterpretError::EventId)?;
                let (p, release) = cx.release_of(event_release(&event));
                let crash = dump.is_some() || is_crash(&event);
                let files = crash && !attachments.is_empty();
                let payload = if dump.is_some() || files {
                    let mut p = serde_json::json!({"event": event});
                    if let Some(d) = dump {
                        p["minidump"] = d.clone();
                    }
                    if files {
                        p["attachments"] = Value::Array(attachments.to_vec());
                    }
                    p.to_string()
                } else {
                    String::from_utf8_lossy(item.payload).into_owned()
                };
                batch.push(
                    &p,
                    Record::Event {
                        scope: cx.scope(
                            release,
                            event.get("environment").and_then(Value::as_str),
                            platform_of(&event),
                        ),
                        event_id: id,
                        install_id: install_of(&event),
                        crash,
                        critical: if crash { (cx.classify)(&event) } else { None },
                        code: error_code(&event),
                        payload,
                    },
                );
            }
            _ => {}
        }
    }
    for (_, records) in batch.groups() {
        for r in records {
            r.check()?;
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::parse;
    use crate::session::Status;

    fn products() -> Vec<String> {
        vec!["wizard".into(), "atlas".into()]
    }

    fn channels() -> Vec<String> {
        vec!["internal".into(), "stable".into()]
    }

    fn classify(event: &Value) -> Option<String> {
        (event.pointer("/tags/phase").and_then(Value::as_str) == Some("startup"))
            .then(|| "crash_on_start".to_owned())
    }

    fn interpret(envelope: &[u8]) -> Result<Vec<(String, Vec<Record>)>, InterpretError> {
        let products = products();
        let channels = channels();
        let cx = Context {
            product: "wizard",
            products: &products,
            channels: &channels,
            production_channel: "stable",
            classify: &classify,
        };
        records(&parse(envelope).unwrap(), &cx).map(Batch::into_groups)
    }

    /// An envelope as the Python sentry-sdk sends an unhandled exception: the event with
    /// `mechanism.handled: false` and its session update.
    #[test]
    fn an_unhandled_exception_is_a_crash_with_its_session() {
        let env = br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2026-11-20T10:00:00Z"}
{"type":"event","content_type":"application/json"}
{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","level":"error","release":"wizard@2.1.0","environment":"production","user":{"id":"install-7"},"contexts":{"os":{"name":"macOS"},"device":{"arch":"arm64"}},"tags":{"phase":"startup"},"exception":{"values":[{"type":"ZeroDivisionError","mechanism":{"type":"excepthook","handled":false}}]}}
{"type":"session"}
{"sid":"7c7b6d94-0b3f-4a6e-9c59-0f5a3c1f2e11","did":"install-7","status":"crashed","init":false,"errors":1,"attrs":{"release":"wizard@2.1.0","environment":"production"}}
"#;
        let groups = interpret(env).unwrap();
        assert_eq!(groups.len(), 1);
        let (product, records) = &groups[0];
        assert_eq!(product, "wizard");
        match &records[0] {
            Record::Event {
                scope,
                event_id,
                install_id,
                crash,
                critical,
                code,
                ..
            } => {
                assert_eq!(scope.release, "2.1.0");
                assert_eq!(scope.channel, "stable");
                assert_eq!(scope.platform, Some(Platform::MacosArm64));
                assert_eq!(event_id, "9ec79c33ec9942ab8353589fcb2e04dc");
                assert_eq!(install_id.as_deref(), Some("install-7"));
                assert!(*crash);
                assert_eq!(critical.as_deref(), Some("crash_on_start"));
                assert_eq!(code, &None);
            }
            other => panic!("{other:?}"),
        }
        match &records[1] {
            Record::Session {
                scope,
                status,
                crashed,
                install_id,
                ..
            } => {
                assert_eq!(scope.platform_name(), "unknown");
                assert_eq!(*status, Status::Crashed);
                assert!(*crashed);
                assert_eq!(install_id.as_deref(), Some("install-7"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// A handled error with a code is an error event, not a crash; the Rust SDK's dashed id
    /// is normalised; a release of another configured product goes to that product.
    #[test]
    fn a_handled_error_carries_its_code() {
        let env = br#"{}
{"type":"event"}
{"event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc","level":"error","release":"atlas@1.0.0","environment":"internal","tags":{"code":"TOB_PARSE_ERROR","install_id":"i-1","platform":"windows-x64"},"exception":{"values":[{"mechanism":{"handled":true}}]}}
"#;
        let groups = interpret(env).unwrap();
        assert_eq!(groups[0].0, "atlas");
        match &groups[0].1[0] {
            Record::Event {
                scope,
                event_id,
                crash,
                critical,
                code,
                install_id,
                ..
            } => {
                assert_eq!(scope.channel, "internal");
                assert_eq!(scope.platform, Some(Platform::WindowsX64));
                assert_eq!(event_id, "9ec79c33ec9942ab8353589fcb2e04dc");
                assert!(!crash);
                assert_eq!(critical, &None);
                assert_eq!(code.as_deref(), Some("TOB_PARSE_ERROR"));
                assert_eq!(install_id.as_deref(), Some("i-1"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Level `fatal` is a crash (sentry-native's crash events); an unknown product's
    /// release is kept under its full name; a platform tag relops does not ship is unknown;
    /// an environment that is no channel is kept as sent.
    #[test]
    fn fatal_events_and_strangers() {
        let env = br#"{"event_id":"0123456789abcdef0123456789abcdef"}
{"type":"event"}
{"level":"fatal","release":"other@3.0.0","environment":"beta","tags":{"platform":"amiga"}}
"#;
        let groups = interpret(env).unwrap();
        match &groups[0].1[0] {
            Record::Event {
                scope,
                event_id,
                crash,
                ..
            } => {
                assert_eq!(groups[0].0, "wizard");
                assert_eq!(scope.release, "other@3.0.0");
                assert_eq!(scope.channel, "beta");
                assert_eq!(scope.platform, None);
                assert!(*crash);
                assert_eq!(event_id, "0123456789abcdef0123456789abcdef");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Aggregates (request-mode sessions) become one record per bucket; crashed or
    /// abnormal sessions mark the install crashed.
    #[test]
    fn aggregates_become_records_per_bucket() {
        let env = br#"{}
{"type":"sessions"}
{"aggregates":[{"started":"2026-11-20T10:00:00Z","did":"a","exited":3,"crashed":1},{"started":"2026-11-20T10:00:00Z","did":"b","exited":2}],"attrs":{"release":"2.1.0","environment":"production"}}
{"type":"client_report"}
{"discarded_events":[]}
{"type":"attachment","attachment_type":"event.minidump"}
MDMP
"#;
        let groups = interpret(env).unwrap();
        let records = &groups[0].1;
        assert_eq!(
            records.len(),
            2,
            "client reports and attachments are skipped"
        );
        match (&records[0], &records[1]) {
            (
                Record::Aggregate {
                    crashed: a,
                    counts,
                    scope,
                    ..
                },
                Record::Aggregate { crashed: b, .. },
            ) => {
                assert!(*a);
                assert!(!*b);
                assert_eq!(scope.release, "2.1.0");
                assert!(counts.contains(&("crashed".into(), 1)));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Crashpad's annotations as `sentry[...]` fields, and sentry-native's `sentry` JSON.
    #[test]
    fn minidump_form_fields_make_the_event() {
        let fields: Vec<(&str, &[u8])> = vec![
            ("sentry[release]", b"wizard@2.1.0"),
            ("sentry[user][id]", b"install-9"),
            ("sentry[tags][phase]", b"startup"),
            ("prod", b"WIZARD"),
            (
                "sentry",
                br#"{"environment":"internal","contexts":{"os":{"name":"Windows"}}}"#,
            ),
        ];
        let event = form_event(fields);
        assert_eq!(event["release"], "wizard@2.1.0");
        assert_eq!(event["user"]["id"], "install-9");
        assert_eq!(event["tags"]["phase"], "startup");
        assert!(event.get("prod").is_none());
        let products = products();
        let channels = channels();
        let cx = Context {
            product: "wizard",
            products: &products,
            channels: &channels,
            production_channel: "stable",
            classify: &classify,
        };
        let (product, r) = minidump_record(&cx, &event, "ab".repeat(16), "{}".into()).unwrap();
        assert_eq!(product, "wizard");
        match r {
            Record::Event {
                scope,
                install_id,
                crash,
                critical,
                ..
            } => {
                assert_eq!(scope.release, "2.1.0");
                assert_eq!(scope.channel, "internal");
                assert_eq!(scope.platform, Some(Platform::WindowsX64));
                assert_eq!(install_id.as_deref(), Some("install-9"));
                assert!(crash);
                assert_eq!(critical.as_deref(), Some("crash_on_start"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// What the Python SDK wrote (tests/data/sentry-python): an unhandled exception, the
    /// session it crashed, and an error with a code.
    #[test]
    fn envelopes_the_python_sdk_wrote() {
        let unhandled = interpret(include_bytes!(
            "../tests/data/sentry-python/unhandled.envelope"
        ))
        .unwrap();
        match &unhandled[0].1[..] {
            [
                Record::Event {
                    scope,
                    event_id,
                    install_id,
                    crash,
                    critical,
                    code,
                    ..
                },
            ] => {
                assert_eq!(unhandled[0].0, "wizard");
                assert_eq!(scope.release, "2.1.0");
                assert_eq!(
                    scope.channel, "stable",
                    "Sentry's production is the production channel"
                );
                assert_eq!(event_id, "59fa5a8297804d0791e124e3e054f974");
                assert_eq!(install_id.as_deref(), Some("install-7"));
                assert!(*crash);
                assert_eq!(critical.as_deref(), Some("crash_on_start"));
                assert_eq!(code, &None);
            }
            other => panic!("{other:?}"),
        }
        let session = interpret(include_bytes!(
            "../tests/data/sentry-python/session-end.envelope"
        ))
        .unwrap();
        match &session[0].1[..] {
            [
                Record::Session {
                    scope,
                    status,
                    crashed,
                    install_id,
                    session_id,
                },
            ] => {
                assert_eq!(scope.release, "2.1.0");
                assert_eq!(*status, Status::Crashed);
                assert!(*crashed);
                assert_eq!(install_id.as_deref(), Some("install-7"));
                assert_eq!(session_id, "91dea65a-c8e3-4d60-8ff1-bb0b5977e596");
            }
            other => panic!("{other:?}"),
        }
        let error = interpret(include_bytes!(
            "../tests/data/sentry-python/error-code.envelope"
        ))
        .unwrap();
        match &error[0].1[..] {
            [
                Record::Event {
                    crash,
                    code,
                    install_id,
                    ..
                },
            ] => {
                assert!(!crash);
                assert_eq!(code.as_deref(), Some("TOB_PARSE_ERROR"));
                assert_eq!(install_id.as_deref(), Some("install-8"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// The attack (issue 15, 5): one 20 MB envelope of 130,000 session items with distinct
    /// `sid`/`did` added 130,000 active installs and diluted a bad release's crash rate.
    /// An envelope carries at most 100 session items and one event; a sessions item at
    /// most 100 buckets.
    #[test]
    fn envelopes_beyond_what_an_sdk_sends_are_refused() {
        let mut flood = String::from("{}\n");
        for i in 0..101 {
            flood.push_str(&format!(
                "{{\"type\":\"session\"}}\n{{\"sid\":\"s{i}\",\"did\":\"d{i}\",\"status\":\"exited\",\"attrs\":{{\"release\":\"2.1.0\"}}}}\n"
            ));
        }
        assert_eq!(
            interpret(flood.as_bytes()),
            Err(InterpretError::TooMany {
                what: "session items",
                count: 101,
                max: MAX_SESSION_ITEMS
            })
        );
        let two_events = "{}\n{\"type\":\"event\"}\n{\"event_id\":\"0123456789abcdef0123456789abcdef\"}\n{\"type\":\"event\"}\n{\"event_id\":\"1123456789abcdef0123456789abcdef\"}\n";
        assert!(matches!(
            interpret(two_events.as_bytes()),
            Err(InterpretError::TooMany { what: "events", .. })
        ));
        let buckets: Vec<String> = (0..101)
            .map(|i| format!("{{\"did\":\"d{i}\",\"exited\":1}}"))
            .collect();
        let many = format!(
            "{{}}\n{{\"type\":\"sessions\"}}\n{{\"aggregates\":[{}],\"attrs\":{{\"release\":\"2.1.0\"}}}}\n",
            buckets.join(",")
        );
        let e = interpret(many.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("101 aggregate buckets"), "{e}");
    }

    #[test]
    fn malformed_items_are_refused_with_the_reason() {
        assert_eq!(
            interpret(b"{}\n{\"type\":\"session\"}\n{\"status\":\"ok\"}\n"),
            Err(InterpretError::Session)
        );
        assert_eq!(
            interpret(b"{}\n{\"type\":\"event\"}\n{\"level\":\"error\"}\n"),
            Err(InterpretError::EventId)
        );
        assert!(matches!(
            interpret(b"{}\n{\"type\":\"event\"}\nnot json\n"),
            Err(InterpretError::EventJson(_))
        ));
    }
}
