//! Session updates and aggregates, and the release they belong to.

use serde::Serialize;
use serde_json::Value;

/// A session's status, as Relay accepts them: the four classic ones, `errored` and
/// `unhandled` from newer SDKs, and anything else kept as unknown (never an error).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Status {
    Ok,
    Exited,
    Crashed,
    Abnormal,
    Errored,
    Unhandled,
    Unknown(String),
}

impl Status {
    pub fn parse(s: &str) -> Status {
        match s {
            "ok" => Status::Ok,
            "exited" => Status::Exited,
            "crashed" => Status::Crashed,
            "abnormal" => Status::Abnormal,
            "errored" => Status::Errored,
            "unhandled" => Status::Unhandled,
            other => Status::Unknown(other.to_owned()),
        }
    }

    /// The status as sent (`exited`, …; an unknown one as it was).
    pub fn as_str(&self) -> &str {
        match self {
            Status::Ok => "ok",
            Status::Exited => "exited",
            Status::Crashed => "crashed",
            Status::Abnormal => "abnormal",
            Status::Errored => "errored",
            Status::Unhandled => "unhandled",
            Status::Unknown(s) => s,
        }
    }

    /// Does this status end a session in a crash (for the crash rate)? Abnormal exits
    /// (killed, hung) count, as Sentry's crash-free rate counts them.
    pub fn is_crash(&self) -> bool {
        matches!(self, Status::Crashed | Status::Abnormal)
    }
}

impl From<String> for Status {
    fn from(s: String) -> Self {
        match Status::parse(&s) {
            Status::Unknown(_) => Status::Unknown(s),
            known => known,
        }
    }
}

impl From<&str> for Status {
    fn from(s: &str) -> Self {
        Status::parse(s)
    }
}

impl From<Status> for String {
    fn from(s: Status) -> Self {
        match s {
            Status::Unknown(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

/// Which release a release string names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseRef {
    /// `Some` for `product@version`; `None` for a bare version (the DSN's product).
    pub product: Option<String>,
    pub version: String,
}

/// `wizard@2.1.0` → (wizard, 2.1.0); `2.1.0` → (DSN's product, 2.1.0). The version is kept
/// as sent: an unknown or malformed one is counted under its name, never dropped.
pub fn release_ref(release: &str) -> ReleaseRef {
    match release.split_once('@') {
        Some((p, v)) if !p.is_empty() => ReleaseRef {
            product: Some(p.to_owned()),
            version: v.to_owned(),
        },
        _ => ReleaseRef {
            product: None,
            version: release.to_owned(),
        },
    }
}

/// One session update (`session` item).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionUpdate {
    pub session_id: String,
    /// The install (`did`, distinct id), when the SDK sends one.
    pub install_id: Option<String>,
    pub status: Status,
    pub init: bool,
    pub errors: u64,
    pub duration_seconds: Option<f64>,
    pub release: Option<ReleaseRef>,
    pub environment: Option<String>,
}

/// Counts of one `sessions` aggregate bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    pub install_id: Option<String>,
    pub exited: u64,
    pub errored: u64,
    pub abnormal: u64,
    pub crashed: u64,
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// The fields of a `session` payload relops reads, typed as SDKs send them; every other
/// field is skipped unread. The hot path of ingest: no map is built.
#[derive(Debug, serde::Deserialize)]
struct TypedSession {
    sid: String,
    did: Option<String>,
    status: Option<String>,
    init: Option<bool>,
    errors: Option<u64>,
    duration: Option<f64>,
    #[serde(default)]
    attrs: TypedAttrs,
}

#[derive(Debug, Default, serde::Deserialize)]
struct TypedAttrs {
    release: Option<String>,
    environment: Option<String>,
}

/// Reads a `session` item payload; `None` if it is not a JSON object with a `sid`.
pub fn session_update(payload: &[u8]) -> Option<SessionUpdate> {
    // A struct would also accept a JSON array of its fields: only objects take the typed
    // path. One with a field of an unexpected type takes the lenient one.
    let object = payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    match serde_json::from_slice::<TypedSession>(payload) {
        Ok(v) if object => Some(SessionUpdate {
            session_id: v.sid,
            install_id: v.did,
            status: Status::parse(v.status.as_deref().unwrap_or("ok")),
            init: v.init.unwrap_or(false),
            errors: v.errors.unwrap_or(0),
            duration_seconds: v.duration,
            release: v.attrs.release.as_deref().map(release_ref),
            environment: v.attrs.environment,
        }),
        _ => session_update_lenient(payload),
    }
}

/// [`session_update`] for payloads the typed reading refuses: a field of an unexpected
/// type counts as absent (only a missing or non-string `sid` refuses the item).
fn session_update_lenient(payload: &[u8]) -> Option<SessionUpdate> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let attrs = v.get("attrs").unwrap_or(&Value::Null);
    Some(SessionUpdate {
        session_id: str_of(&v, "sid")?.to_owned(),
        install_id: str_of(&v, "did").map(str::to_owned),
        status: Status::parse(str_of(&v, "status").unwrap_or("ok")),
        init: v.get("init").and_then(Value::as_bool).unwrap_or(false),
        errors: v.get("errors").and_then(Value::as_u64).unwrap_or(0),
        duration_seconds: v.get("duration").and_then(Value::as_f64),
        release: str_of(attrs, "release").map(release_ref),
        environment: str_of(attrs, "environment").map(str::to_owned),
    })
}

/// The most sessions of one status one aggregate bucket may count. A bucket is one
/// install's sessions in one minute (Sentry's request mode); a count beyond this is not a
/// real app's, and counts that large would overflow the figures they add to.
pub const MAX_BUCKET_SESSIONS: u64 = 10_000;

/// Why a `sessions` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AggregatesError {
    #[error("a sessions item has no `aggregates` list")]
    NoList,
    #[error(
        "a sessions aggregate counts {count} `{status}` sessions in one bucket; at most {MAX_BUCKET_SESSIONS} are accepted"
    )]
    TooMany { status: &'static str, count: u64 },
}

/// Reads a `sessions` (aggregates) payload: the release and the buckets.
pub fn aggregates(payload: &[u8]) -> Result<(Option<ReleaseRef>, Vec<Aggregate>), AggregatesError> {
    let v: Value = serde_json::from_slice(payload).map_err(|_| AggregatesError::NoList)?;
    let release = v
        .get("attrs")
        .and_then(|a| str_of(a, "release"))
        .map(release_ref);
    let n = |b: &Value, status: &'static str| {
        let count = b.get(status).and_then(Value::as_u64).unwrap_or(0);
        if count > MAX_BUCKET_SESSIONS {
            return Err(AggregatesError::TooMany { status, count });
        }
        Ok(count)
    };
    v.get("aggregates")
        .and_then(Value::as_array)
        .ok_or(AggregatesError::NoList)?
        .iter()
        .map(|b| {
            Ok(Aggregate {
                install_id: str_of(b, "did").map(str::to_owned),
                exited: n(b, "exited")?,
                errored: n(b, "errored")?,
                abnormal: n(b, "abnormal")?,
                crashed: n(b, "crashed")?,
            })
        })
        .collect::<Result<_, _>>()
        .map(|buckets| (release, buckets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_beyond_the_classic_four() {
        for (s, crash) in [
            ("ok", false),
            ("exited", false),
            ("crashed", true),
            ("abnormal", true),
            ("errored", false),
            ("unhandled", false),
            ("something-new", false),
        ] {
            assert_eq!(Status::parse(s).is_crash(), crash, "{s}");
            assert_eq!(Status::parse(s).as_str(), s);
        }
        assert_eq!(Status::parse("weird"), Status::Unknown("weird".into()));
    }

    #[test]
    fn release_strings() {
        assert_eq!(
            release_ref("wizard@2.1.0"),
            ReleaseRef {
                product: Some("wizard".into()),
                version: "2.1.0".into()
            }
        );
        assert_eq!(
            release_ref("2.1.0"),
            ReleaseRef {
                product: None,
                version: "2.1.0".into()
            }
        );
        // Kept as sent, flagged later as unknown, never dropped.
        assert_eq!(release_ref("wizard@2.1.0-beta+5").version, "2.1.0-beta+5");
        assert_eq!(release_ref("@2.1.0").product, None);
    }

    #[test]
    fn session_items_as_sdks_send_them() {
        let s = session_update(
            br#"{"sid":"7c7b6585f901470ba98e5ef4a13e2c04","did":"4a7d7c3e-1111-2222-3333-444455556666","init":true,
                 "started":"2027-03-16T10:00:00Z","status":"crashed","errors":1,"duration":12.5,
                 "attrs":{"release":"wizard@2.1.0","environment":"production"}}"#,
        )
        .unwrap();
        assert_eq!(s.status, Status::Crashed);
        assert!(s.init);
        assert_eq!(
            s.install_id.as_deref(),
            Some("4a7d7c3e-1111-2222-3333-444455556666")
        );
        assert_eq!(s.release.unwrap().product.as_deref(), Some("wizard"));
        assert_eq!(s.duration_seconds, Some(12.5));
        assert!(session_update(b"{\"status\":\"ok\"}").is_none(), "no sid");
        assert!(session_update(b"[]").is_none());
        assert!(
            session_update(br#"["x", "y"]"#).is_none(),
            "an array is not a session"
        );
        assert!(
            session_update(br#"{"sid": 5}"#).is_none(),
            "a sid must be a string"
        );

        // Fields of unexpected types count as absent; nulls too; the rest is read.
        let odd = session_update(
            br#"{"sid":"s1","did":7,"status":"exited","init":"yes","errors":-1,"duration":"long",
                 "attrs":"none","extra":{"nested":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(odd.session_id, "s1");
        assert_eq!(odd.install_id, None);
        assert_eq!(odd.status, Status::Exited);
        assert!(!odd.init);
        assert_eq!((odd.errors, odd.duration_seconds), (0, None));
        assert_eq!((odd.release, odd.environment), (None, None));
        let nulls = session_update(
            br#"{"sid":"s2","did":null,"status":null,"attrs":{"release":null,"environment":"beta"}}"#,
        )
        .unwrap();
        assert_eq!(nulls.status, Status::Ok);
        assert_eq!(nulls.environment.as_deref(), Some("beta"));
        // The typed and the lenient reading agree on what SDKs send.
        let sent = br#"{"sid":"s3","did":"d","init":true,"status":"crashed","errors":2,"duration":3,
                        "started":"2027-03-16T10:00:00Z","attrs":{"release":"2.1.0","environment":"production","user_agent":"x"}}"#;
        assert_eq!(session_update(sent), session_update_lenient(sent));
        assert_eq!(session_update(sent).unwrap().duration_seconds, Some(3.0));

        let (release, buckets) = aggregates(
            br#"{"aggregates":[{"started":"2027-03-16T10:00:00Z","exited":5,"crashed":1},{"started":"2027-03-16T10:01:00Z","did":"x","errored":2}],
                 "attrs":{"release":"2.1.0"}}"#,
        )
        .unwrap();
        assert_eq!(release.unwrap().version, "2.1.0");
        assert_eq!(
            buckets[0],
            Aggregate {
                install_id: None,
                exited: 5,
                errored: 0,
                abnormal: 0,
                crashed: 1
            }
        );
        assert_eq!(buckets[1].errored, 2);
    }

    /// The attack (issue 15, 6): `exited: 18446744073709551615` made the health endpoint
    /// fail (an SQL sum overflowed) or show 100 % crash-free; two `i64::MAX` wrapped. A
    /// count no real bucket holds is refused, naming the status.
    #[test]
    fn absurd_aggregate_counts_are_refused() {
        for big in ["18446744073709551615", "9223372036854775807", "10001"] {
            let payload = format!(
                r#"{{"aggregates":[{{"started":"2027-03-16T10:00:00Z","did":"a","exited":{big}}}],"attrs":{{"release":"2.1.0"}}}}"#
            );
            let e = aggregates(payload.as_bytes()).unwrap_err();
            assert!(
                matches!(
                    e,
                    AggregatesError::TooMany {
                        status: "exited",
                        ..
                    }
                ),
                "{e}"
            );
            assert!(e.to_string().contains("at most 10000"), "{e}");
        }
        let ok = r#"{"aggregates":[{"did":"a","crashed":10000}],"attrs":{"release":"2.1.0"}}"#;
        assert_eq!(
            aggregates(ok.as_bytes()).unwrap().1[0].crashed,
            MAX_BUCKET_SESSIONS
        );
        assert_eq!(aggregates(b"[]"), Err(AggregatesError::NoList));
    }
}
