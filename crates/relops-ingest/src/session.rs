//! Session updates and aggregates, and the release they belong to.

use serde::Serialize;
use serde_json::Value;

/// A session's status, as Relay accepts them: the four classic ones, `errored` and
/// `unhandled` from newer SDKs, and anything else kept as unknown (never an error).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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

    /// Does this status end a session in a crash (for the crash rate)? Abnormal exits
    /// (killed, hung) count, as Sentry's crash-free rate counts them.
    pub fn is_crash(&self) -> bool {
        matches!(self, Status::Crashed | Status::Abnormal)
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

/// Reads a `session` item payload; `None` if it is not a JSON object with a `sid`.
pub fn session_update(payload: &[u8]) -> Option<SessionUpdate> {
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

/// Reads a `sessions` (aggregates) payload: the release and the buckets.
pub fn aggregates(payload: &[u8]) -> Option<(Option<ReleaseRef>, Vec<Aggregate>)> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let release = v
        .get("attrs")
        .and_then(|a| str_of(a, "release"))
        .map(release_ref);
    let n = |b: &Value, k: &str| b.get(k).and_then(Value::as_u64).unwrap_or(0);
    let buckets = v
        .get("aggregates")?
        .as_array()?
        .iter()
        .map(|b| Aggregate {
            install_id: str_of(b, "did").map(str::to_owned),
            exited: n(b, "exited"),
            errored: n(b, "errored"),
            abnormal: n(b, "abnormal"),
            crashed: n(b, "crashed"),
        })
        .collect();
    Some((release, buckets))
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
}
