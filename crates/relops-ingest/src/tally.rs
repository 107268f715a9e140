//! What the health engine counts of a stored batch: one [`Tally`] per record that counts —
//! a session's (crashed or not) install, a new crash or error event, a memory warning.
//! The replica that stored the batch counts these at once; with several replicas on one
//! database it also writes them beside the batch, and every other replica counts the same
//! tallies when it reads them (issue 28: the gate judges the whole fleet whichever replica
//! received its telemetry). One function, [`tallies`], says what counts, for both.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::{Record, Scope};

/// One counted observation of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally<'a> {
    #[serde(rename = "s")]
    pub scope: Cow<'a, Scope>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Cow<'a, str>>,
    #[serde(rename = "k")]
    pub kind: Counted<'a>,
}

/// What was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Counted<'a> {
    /// A session; `true` when it crashed (or ended abnormally).
    #[serde(rename = "s")]
    Session(bool),
    /// A crash report; `true` when a critical-failure rule classed it.
    #[serde(rename = "c")]
    Crash(bool),
    /// An error event with a code.
    #[serde(rename = "e")]
    Error(Cow<'a, str>),
    /// A memory warning at this percentage of the host's memory.
    #[serde(rename = "m")]
    Memory(u8),
}

impl Tally<'_> {
    /// The tally as owned data (to keep beyond the batch it was read from).
    pub fn into_owned(self) -> Tally<'static> {
        Tally {
            scope: Cow::Owned(self.scope.into_owned()),
            install: self.install.map(|i| Cow::Owned(i.into_owned())),
            kind: match self.kind {
                Counted::Session(c) => Counted::Session(c),
                Counted::Crash(c) => Counted::Crash(c),
                Counted::Error(code) => Counted::Error(Cow::Owned(code.into_owned())),
                Counted::Memory(p) => Counted::Memory(p),
            },
        }
    }
}

/// What of `records` counts, in order. `fresh[i]` says record i was stored for the first
/// time: sessions and memory warnings count every time (a session seen again keeps its
/// install active, and the engine counts installs, not updates), an event only the first
/// time (a retried upload is not a second crash). A crash event with a code yields two
/// tallies: the crash and the error.
pub fn tallies<'a>(records: &'a [Record], fresh: &'a [bool]) -> impl Iterator<Item = Tally<'a>> {
    records.iter().enumerate().flat_map(move |(i, r)| {
        let new = fresh.get(i).copied().unwrap_or(true);
        let tally = |scope: &'a Scope, install: Option<&'a str>, kind| Tally {
            scope: Cow::Borrowed(scope),
            install: install.map(Cow::Borrowed),
            kind,
        };
        let mut out: [Option<Tally<'a>>; 2] = [None, None];
        match r {
            Record::Session {
                scope,
                install_id,
                crashed,
                ..
            }
            | Record::Aggregate {
                scope,
                install_id,
                crashed,
                ..
            } => {
                out[0] = Some(tally(
                    scope,
                    install_id.as_deref(),
                    Counted::Session(*crashed),
                ));
            }
            Record::Event {
                scope,
                install_id,
                crash,
                critical,
                code,
                ..
            } if new => {
                let install = install_id.as_deref();
                if *crash {
                    out[0] = Some(tally(scope, install, Counted::Crash(critical.is_some())));
                }
                if let Some(code) = code {
                    out[1] = Some(tally(scope, install, Counted::Error(Cow::Borrowed(code))));
                }
            }
            Record::Event { .. } => {}
            Record::Memory {
                scope,
                install_id,
                host_percent,
            } => {
                out[0] = Some(tally(
                    scope,
                    Some(install_id),
                    Counted::Memory(*host_percent),
                ));
            }
        }
        out.into_iter().flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            release: "2.1.0".into(),
            channel: "stable".into(),
            platform: crate::record::platform_named("windows-x64"),
        }
    }

    fn event(id: &str, crash: bool, code: Option<&str>) -> Record {
        Record::Event {
            scope: scope(),
            event_id: id.into(),
            install_id: Some("i-1".into()),
            crash,
            critical: None,
            code: code.map(Into::into),
            payload: "{}".into(),
        }
    }

    #[test]
    fn what_counts_and_how_it_is_written() {
        let records = vec![
            Record::Memory {
                scope: scope(),
                install_id: "i-2".into(),
                host_percent: 93,
            },
            event("e1", true, Some("TOB_PARSE_ERROR")),
            // Stored before: a retry counts nothing.
            event("e2", true, None),
            event("e3", false, None),
        ];
        let t: Vec<Tally> = tallies(&records, &[true, true, false, true]).collect();
        let kinds: Vec<&Counted> = t.iter().map(|t| &t.kind).collect();
        assert_eq!(
            kinds,
            [
                &Counted::Memory(93),
                &Counted::Crash(false),
                &Counted::Error(Cow::Borrowed("TOB_PARSE_ERROR")),
            ]
        );
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains(r#""k":{"e":"TOB_PARSE_ERROR"}"#), "{json}");
        let back: Vec<Tally<'static>> = serde_json::from_str::<Vec<Tally>>(&json)
            .unwrap()
            .into_iter()
            .map(Tally::into_owned)
            .collect();
        assert_eq!(back, t);
    }
}
