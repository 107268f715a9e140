//! Test results from JUnit XML (pytest, cargo-nextest, and the many tools that write it).
//!
//! Counted from the `<testcase>` elements: a case with a `<failure>` child failed, with an
//! `<error>` child errored, with `<skipped>` was skipped. Summary attributes are not
//! trusted (pytest puts them on `<testsuite>`, nextest on both levels, some tools nowhere).
//! A suite counts as UI smoke when its name, or a case's class name, contains `smoke`
//! (`ui_smoke`, `UISmokeTests`, …).

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;

use crate::{ReportError, check_size};

/// Largest JUnit file read.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestSummary {
    pub tests: u64,
    pub passed: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
    /// `classname::name` of every failed or errored case.
    pub failed: Vec<String>,
    /// Suite names, in order.
    pub suites: Vec<String>,
    /// A UI-smoke suite ran (with at least one case).
    pub ui_smoke: bool,
}

impl TestSummary {
    /// The gate: at least one test ran and none failed or errored.
    pub fn passes(&self) -> bool {
        self.tests > 0 && self.failures == 0 && self.errors == 0
    }
}

fn bad(why: impl Into<String>) -> ReportError {
    ReportError::Format {
        expected: "JUnit XML",
        why: why.into(),
    }
}

fn attr(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Reads one JUnit XML file.
pub fn parse(bytes: &[u8]) -> Result<TestSummary, ReportError> {
    check_size(bytes, MAX_BYTES)?;
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut s = TestSummary::default();
    let mut depth = 0usize;
    let mut root: Option<Vec<u8>> = None;
    let mut suite_is_smoke = false;
    // The case being read: (id, outcome seen).
    let mut case: Option<(String, bool)> = None;
    let outcome = |s: &mut TestSummary, case: &mut Option<(String, bool)>, what: &[u8]| {
        let Some((id, seen)) = case.as_mut() else {
            return;
        };
        if *seen {
            return;
        }
        *seen = true;
        match what {
            b"failure" => {
                s.failures += 1;
                s.failed.push(id.clone());
            }
            b"error" => {
                s.errors += 1;
                s.failed.push(id.clone());
            }
            _ => s.skipped += 1,
        }
    };
    loop {
        let event = reader.read_event_into(&mut buf);
        match event {
            Ok(Event::Start(ref e)) | Ok(Event::Empty(ref e)) => {
                let is_start = matches!(event, Ok(Event::Start(_)));
                let name = e.name().as_ref().to_vec();
                if root.is_none() {
                    if name != b"testsuites" && name != b"testsuite" {
                        return Err(bad(format!(
                            "the root element is <{}>, expected <testsuites> or <testsuite>",
                            String::from_utf8_lossy(&name)
                        )));
                    }
                    root = Some(name.clone());
                }
                match name.as_slice() {
                    b"testsuite" => {
                        let n = attr(e, b"name").unwrap_or_default();
                        suite_is_smoke = n.to_ascii_lowercase().contains("smoke");
                        s.suites.push(n);
                    }
                    b"testcase" => {
                        let class = attr(e, b"classname").unwrap_or_default();
                        let n = attr(e, b"name").unwrap_or_default();
                        s.tests += 1;
                        if suite_is_smoke || class.to_ascii_lowercase().contains("smoke") {
                            s.ui_smoke = true;
                        }
                        let id = if class.is_empty() {
                            n
                        } else {
                            format!("{class}::{n}")
                        };
                        if is_start {
                            case = Some((id, false));
                        } else {
                            s.passed += 1;
                        }
                    }
                    b"failure" | b"error" | b"skipped" => outcome(&mut s, &mut case, &name),
                    _ => {}
                }
                if is_start {
                    depth += 1;
                }
            }
            Ok(Event::End(e)) => {
                depth = depth.saturating_sub(1);
                if e.name().as_ref() == b"testcase"
                    && let Some((_, seen)) = case.take()
                    && !seen
                {
                    s.passed += 1;
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(bad(format!(
                    "malformed XML at byte {}: {e} (truncated file?)",
                    reader.error_position()
                )));
            }
        }
        buf.clear();
    }
    if root.is_none() {
        return Err(bad("no <testsuites> or <testsuite> element"));
    }
    if depth != 0 {
        return Err(bad("the XML ends inside an element: truncated file?"));
    }
    Ok(s)
}

/// Several files (one per test run) as one summary.
pub fn merge(parts: impl IntoIterator<Item = TestSummary>) -> TestSummary {
    parts
        .into_iter()
        .fold(TestSummary::default(), |mut acc, p| {
            acc.tests += p.tests;
            acc.passed += p.passed;
            acc.failures += p.failures;
            acc.errors += p.errors;
            acc.skipped += p.skipped;
            acc.failed.extend(p.failed);
            acc.suites.extend(p.suites);
            acc.ui_smoke |= p.ui_smoke;
            acc
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn real_reports_of_pytest_and_nextest() {
        // What pytest and nextest printed for these runs (README of the fixtures).
        let cases = [
            ("junit-pytest-pass.xml", 19, 19, 0, 0, 0, true),
            ("junit-pytest-fail.xml", 25, 20, 3, 1, 1, false),
            ("junit-nextest-pass.xml", 5, 5, 0, 0, 0, true),
            ("junit-nextest-fail.xml", 8, 5, 3, 0, 0, false),
        ];
        for (file, tests, passed, failures, errors, skipped, pass) in cases {
            let s = parse(&fixture(file)).unwrap();
            assert_eq!(
                (s.tests, s.passed, s.failures, s.errors, s.skipped),
                (tests, passed, failures, errors, skipped),
                "{file}"
            );
            assert_eq!(s.passes(), pass, "{file}");
            assert!(!s.ui_smoke, "{file}");
        }
        let fail = parse(&fixture("junit-pytest-fail.xml")).unwrap();
        for name in [
            "test_discount_rounds_half_up",
            "test_split_evenly_zero_parts_returns_empty",
            "test_tax_banker_rounding",
            "test_sync_with_warehouse",
        ] {
            assert!(
                fail.failed.iter().any(|f| f.ends_with(name)),
                "{name}: {:?}",
                fail.failed
            );
        }
        let nextest = parse(&fixture("junit-nextest-fail.xml")).unwrap();
        assert_eq!(nextest.suites, ["verparse", "verparse::changelog"]);
        assert!(
            nextest
                .failed
                .iter()
                .any(|f| f.ends_with("four_part_versions_are_accepted"))
        );
        let all = merge([parse(&fixture("junit-pytest-pass.xml")).unwrap(), nextest]);
        assert_eq!((all.tests, all.failures), (27, 3));
        assert!(!all.passes());
    }

    #[test]
    fn ui_smoke_suites_are_recognised() {
        let xml = br#"<testsuite name="ui_smoke" tests="1"><testcase classname="app" name="opens_project"/></testsuite>"#;
        let s = parse(xml).unwrap();
        assert!(s.ui_smoke && s.passes());
        let xml = br#"<testsuites><testsuite name="e2e"><testcase classname="UISmokeTests" name="launch"/></testsuite></testsuites>"#;
        assert!(parse(xml).unwrap().ui_smoke);
    }

    #[test]
    fn malformed_or_empty_results_are_refused() {
        let truncated = {
            let x = fixture("junit-pytest-pass.xml");
            x[..x.len() - 40].to_vec()
        };
        for (bytes, needle) in [
            (b"".to_vec(), "empty"),
            (truncated, "truncated"),
            (b"<coverage/>".to_vec(), "expected <testsuites>"),
            (b"not xml at all".to_vec(), "no <testsuites>"),
        ] {
            let err = parse(&bytes).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        // No tests at all is not a pass.
        assert!(!parse(b"<testsuites/>").unwrap().passes());
    }
}
