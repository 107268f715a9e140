//! The ingest record: the one fact of telemetry relops keeps, whichever endpoint it came
//! through (a Sentry envelope, a Crashpad upload, the native endpoints). Records are made
//! durable in a batch before the answer (the store's ingest journal serialises them as
//! JSON) and counted by the health engine.

use relops_core::platform::Platform;
use serde::{Deserialize, Serialize};

use relops_core::text::{TextError, line};

use crate::session::Status;

/// Where a record belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// The release as sent (`2.1.0`); unknown ones are kept under their name.
    pub release: String,
    pub channel: String,
    /// `None` when the sender did not say, or named a platform relops does not ship;
    /// stored and shown as `unknown`.
    #[serde(with = "platform_or_unknown")]
    pub platform: Option<Platform>,
}

/// How a scope's platform is written where a name is needed.
pub const UNKNOWN_PLATFORM: &str = "unknown";

impl Scope {
    /// The platform's name, or `unknown`.
    pub fn platform_name(&self) -> &'static str {
        self.platform.map_or(UNKNOWN_PLATFORM, Platform::as_str)
    }
}

/// Reads a stored platform name: a known one, else `None` (`unknown`, or a name an older
/// build kept as sent).
pub fn platform_named(name: &str) -> Option<Platform> {
    name.parse().ok()
}

/// One thing to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A session's state now; ended statuses (anything but `ok`) count once.
    Session {
        scope: Scope,
        session_id: String,
        install_id: Option<String>,
        status: Status,
        crashed: bool,
    },
    /// Pre-aggregated ended sessions (Sentry `sessions` items): ended sessions per status.
    Aggregate {
        scope: Scope,
        install_id: Option<String>,
        counts: Vec<(String, u64)>,
        crashed: bool,
    },
    /// An error or crash event, stored once per id.
    Event {
        scope: Scope,
        event_id: String,
        install_id: Option<String>,
        crash: bool,
        /// The critical-failure rule that classed this crash, if one did.
        critical: Option<String>,
        code: Option<String>,
        /// The stored document: the event as sent, or where a dump is and the client's
        /// metadata.
        payload: String,
    },
    Memory {
        scope: Scope,
        install_id: String,
        host_percent: u8,
    },
}

impl Record {
    /// What kind of record this is: `session`, `aggregate`, `event` or `memory`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Session { .. } => "session",
            Self::Aggregate { .. } => "aggregate",
            Self::Event { .. } => "event",
            Self::Memory { .. } => "memory",
        }
    }
}

/// The bounds of a record's text (issue 15: a 1 MB release or a NUL in an environment
/// was stored as sent): Relay's limits where it has them.
pub const MAX_RELEASE_BYTES: usize = 200;
pub const MAX_CHANNEL_BYTES: usize = 64;
pub const MAX_ID_BYTES: usize = 128;
pub const MAX_CODE_BYTES: usize = 64;
pub const MAX_STATUS_BYTES: usize = 32;

impl Record {
    /// Checks every text field against its kind's rule ([`relops_core::text`]): printable,
    /// within its bound; an unknown session status is at most 32 bytes of `a-z _`.
    pub fn check(&self) -> Result<(), TextError> {
        let s = self.scope();
        line("release", &s.release, MAX_RELEASE_BYTES)?;
        line("environment", &s.channel, MAX_CHANNEL_BYTES)?;
        if let Some(i) = self.install() {
            line("install id", i, MAX_ID_BYTES)?;
        }
        match self {
            Self::Session {
                session_id, status, ..
            } => {
                line("session id", session_id, MAX_ID_BYTES)?;
                if let Status::Unknown(name) = status {
                    let ok = name.len() <= MAX_STATUS_BYTES
                        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                    if !ok {
                        return Err(TextError::NotAToken {
                            field: "status".into(),
                            shown: name.chars().take(40).collect(),
                        });
                    }
                }
            }
            Self::Event { code: Some(c), .. } => {
                line("error code", c, MAX_CODE_BYTES)?;
            }
            _ => {}
        }
        Ok(())
    }

    pub fn scope(&self) -> &Scope {
        match self {
            Self::Session { scope, .. }
            | Self::Aggregate { scope, .. }
            | Self::Event { scope, .. }
            | Self::Memory { scope, .. } => scope,
        }
    }

    /// The install the record names, if it does.
    pub fn install(&self) -> Option<&str> {
        match self {
            Self::Session { install_id, .. }
            | Self::Aggregate { install_id, .. }
            | Self::Event { install_id, .. } => install_id.as_deref(),
            Self::Memory { install_id, .. } => Some(install_id),
        }
    }
}

impl Record {
    /// What is left of the record when its install may not count in a release's figures
    /// (one network's share of a release's installs is bounded): an event keeps its
    /// evidence without the install; sessions, aggregates and memory warnings say only
    /// what an install did, so nothing is left of them.
    pub fn without_install(self) -> Option<Record> {
        match self {
            Self::Event {
                scope,
                event_id,
                crash,
                critical,
                code,
                payload,
                ..
            } => Some(Self::Event {
                scope,
                event_id,
                install_id: None,
                crash,
                critical,
                code,
                payload,
            }),
            Self::Session { .. } | Self::Aggregate { .. } | Self::Memory { .. } => None,
        }
    }
}

/// Records grouped by the product they belong to, in the order each product first
/// appears (almost always one product). The one place records are grouped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    groups: Vec<(String, Vec<Record>)>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch of one product's records.
    pub fn of(product: &str, records: Vec<Record>) -> Self {
        Self {
            groups: vec![(product.to_owned(), records)],
        }
    }

    pub fn push(&mut self, product: &str, r: Record) {
        match self.groups.iter_mut().find(|(p, _)| p == product) {
            Some((_, rs)) => rs.push(r),
            None => self.groups.push((product.to_owned(), vec![r])),
        }
    }

    /// The installs the batch's records name, in order (repeats included).
    pub fn installs(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .flat_map(|(_, rs)| rs)
            .filter_map(Record::install)
    }

    /// Lets `counts(product, scope, install)` decide, record by record, whether a
    /// record's install counts; a record whose install does not is replaced by
    /// [`Record::without_install`]. Answers how many records were changed or dropped.
    pub fn count_only(&mut self, mut counts: impl FnMut(&str, &Scope, &str) -> bool) -> usize {
        let mut changed = 0;
        for (product, records) in &mut self.groups {
            let before = std::mem::take(records);
            for r in before {
                let keep = match r.install() {
                    Some(i) => counts(product, r.scope(), i),
                    None => true,
                };
                if keep {
                    records.push(r);
                } else {
                    changed += 1;
                    records.extend(r.without_install());
                }
            }
        }
        changed
    }

    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|(_, rs)| rs.is_empty())
    }

    /// Records, all products.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|(_, rs)| rs.len()).sum()
    }

    /// The records by product.
    pub fn groups(&self) -> &[(String, Vec<Record>)] {
        &self.groups
    }

    pub fn into_groups(self) -> Vec<(String, Vec<Record>)> {
        self.groups
    }
}

/// `Option<Platform>` as a platform name, `unknown` for `None`; any other name read back
/// (an older build kept tag values as sent) is `None`.
mod platform_or_unknown {
    use relops_core::platform::Platform;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<Platform>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.map_or(super::UNKNOWN_PLATFORM, Platform::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Platform>, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(super::platform_named(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(platform: Option<Platform>) -> Scope {
        Scope {
            release: "2.1.0".into(),
            channel: "stable".into(),
            platform,
        }
    }

    /// The journal keeps records as JSON: platform and status read and write as the names
    /// earlier builds wrote, so entries written before an upgrade fold after it.
    #[test]
    fn journal_form_is_stable() {
        let r = Record::Session {
            scope: scope(Some(Platform::WindowsX64)),
            session_id: "s1".into(),
            install_id: Some("i1".into()),
            status: Status::Crashed,
            crashed: true,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"Session":{"scope":{"release":"2.1.0","channel":"stable","platform":"windows-x64"},"session_id":"s1","install_id":"i1","status":"crashed","crashed":true}}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), r);
        let older = r#"{"Session":{"scope":{"release":"2.1.0","channel":"stable","platform":"Solaris"},"session_id":"s1","install_id":null,"status":"weird","crashed":false}}"#;
        match serde_json::from_str::<Record>(older).unwrap() {
            Record::Session { scope, status, .. } => {
                assert_eq!(scope.platform, None);
                assert_eq!(scope.platform_name(), "unknown");
                assert_eq!(status, Status::Unknown("weird".into()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_batch_groups_by_product_once() {
        let mem = |i: &str| Record::Memory {
            scope: scope(None),
            install_id: i.into(),
            host_percent: 95,
        };
        let mut b = Batch::new();
        assert!(b.is_empty());
        b.push("wizard", mem("a"));
        b.push("other", mem("b"));
        b.push("wizard", mem("c"));
        assert_eq!(b.len(), 3);
        assert_eq!(
            b.installs().collect::<Vec<_>>(),
            ["a", "c", "b"],
            "by product"
        );
        let groups = b.into_groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, "wizard");
        assert_eq!(groups[0].1.len(), 2);
        assert_eq!(groups[1].1, vec![mem("b")]);
    }

    /// An install that may not count: its session is dropped, its event kept as evidence
    /// without the install; records of other installs and of nobody are untouched.
    #[test]
    fn records_of_an_install_that_does_not_count() {
        let session = |i: &str| Record::Session {
            scope: scope(None),
            session_id: format!("s-{i}"),
            install_id: Some(i.into()),
            status: Status::Exited,
            crashed: false,
        };
        let event = |i: Option<&str>| Record::Event {
            scope: scope(None),
            event_id: "e1".into(),
            install_id: i.map(Into::into),
            crash: true,
            critical: None,
            code: None,
            payload: "{}".into(),
        };
        let mut b = Batch::of(
            "wizard",
            vec![
                session("ok"),
                session("over"),
                event(Some("over")),
                event(None),
            ],
        );
        let mut asked = Vec::new();
        let changed = b.count_only(|p, s, i| {
            asked.push((p.to_owned(), s.release.clone(), i.to_owned()));
            i != "over"
        });
        assert_eq!(changed, 2);
        assert_eq!(
            asked.len(),
            3,
            "records without an install are not asked about"
        );
        assert_eq!(asked[0], ("wizard".into(), "2.1.0".into(), "ok".into()));
        assert_eq!(
            b.into_groups()[0].1,
            vec![session("ok"), event(None), event(None)]
        );
    }
}
