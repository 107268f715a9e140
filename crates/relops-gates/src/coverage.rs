//! Line coverage from lcov tracefiles and Cobertura XML.
//!
//! lcov: per `SF:` record the `LF`/`LH` totals when present, else the `DA:` lines counted
//! (a line with hits > 0 is covered); `BRF`/`BRH` for branches. Cobertura: every `<line>`
//! element of every class counted, so that a report whose root attributes disagree with
//! its body cannot pass on the attributes; the root's `lines-valid`/`lines-covered` are
//! used only when the body lists no lines.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;

use crate::{ReportError, check_size};

/// Largest coverage report read (real ones of large projects are a few MiB).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Lcov,
    Cobertura,
}

/// The numbers behind a coverage verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub format: Format,
    pub files: u64,
    pub lines_valid: u64,
    pub lines_covered: u64,
    pub branches_valid: u64,
    pub branches_covered: u64,
}

impl Coverage {
    /// Line coverage in percent (100 when there are no lines).
    pub fn line_percent(&self) -> f64 {
        if self.lines_valid == 0 {
            100.0
        } else {
            self.lines_covered as f64 * 100.0 / self.lines_valid as f64
        }
    }

    /// The gate: pass at or above `min_percent` line coverage.
    pub fn passes(&self, min_percent: f64) -> bool {
        self.lines_valid > 0 && self.line_percent() + 1e-9 >= min_percent
    }
}

/// Reads an lcov tracefile or a Cobertura XML report (detected from the content).
pub fn parse(bytes: &[u8]) -> Result<Coverage, ReportError> {
    check_size(bytes, MAX_BYTES)?;
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let cov = if bytes[start] == b'<' {
        parse_cobertura(bytes)?
    } else {
        parse_lcov(bytes)?
    };
    cov.consistent()?;
    Ok(cov)
}

impl Coverage {
    /// Refuses a report that covers more than it has: 22 lines hit of 2 found read as
    /// 1,100 % coverage (found by fuzzing, issue 15) and passed any threshold.
    fn consistent(&self) -> Result<(), ReportError> {
        let expected = match self.format {
            Format::Lcov => "lcov",
            Format::Cobertura => "Cobertura",
        };
        if self.lines_covered > self.lines_valid {
            return Err(bad(
                expected,
                format!(
                    "it says {} lines are covered of {} lines: more covered than there are",
                    self.lines_covered, self.lines_valid
                ),
            ));
        }
        if self.branches_covered > self.branches_valid {
            return Err(bad(
                expected,
                format!(
                    "it says {} branches are covered of {}: more covered than there are",
                    self.branches_covered, self.branches_valid
                ),
            ));
        }
        Ok(())
    }
}

fn bad(expected: &'static str, why: impl Into<String>) -> ReportError {
    ReportError::Format {
        expected,
        why: why.into(),
    }
}

fn parse_lcov(bytes: &[u8]) -> Result<Coverage, ReportError> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("lcov", "not UTF-8 text"))?;
    let mut cov = Coverage {
        format: Format::Lcov,
        files: 0,
        lines_valid: 0,
        lines_covered: 0,
        branches_valid: 0,
        branches_covered: 0,
    };
    // Per record: totals from LF/LH if given, else from DA lines.
    let (mut in_record, mut da_valid, mut da_hit, mut lf, mut lh, mut brf, mut brh) =
        (false, 0u64, 0u64, None, None, 0u64, 0u64);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let num = |v: &str| -> Result<u64, ReportError> {
            v.trim()
                .parse()
                .map_err(|_| bad("lcov", format!("line {}: `{line}` has no number", n + 1)))
        };
        if let Some(_path) = line.strip_prefix("SF:") {
            in_record = true;
            (da_valid, da_hit, lf, lh, brf, brh) = (0, 0, None, None, 0, 0);
        } else if line == "end_of_record" {
            if !in_record {
                return Err(bad(
                    "lcov",
                    format!("line {}: end_of_record without SF:", n + 1),
                ));
            }
            let (valid, covered) = (lf.unwrap_or(da_valid), lh.unwrap_or(da_hit));
            if covered > valid || brh > brf {
                return Err(bad(
                    "lcov",
                    format!(
                        "line {}: the record says {covered} of {valid} lines and {brh} of {brf} branches are hit: more hit than found",
                        n + 1
                    ),
                ));
            }
            let sum = |a: u64, b: u64| {
                a.checked_add(b)
                    .ok_or_else(|| bad("lcov", format!("line {}: totals beyond counting", n + 1)))
            };
            cov.files += 1;
            cov.lines_valid = sum(cov.lines_valid, valid)?;
            cov.lines_covered = sum(cov.lines_covered, covered)?;
            cov.branches_valid = sum(cov.branches_valid, brf)?;
            cov.branches_covered = sum(cov.branches_covered, brh)?;
            in_record = false;
        } else if let Some(v) = line.strip_prefix("DA:") {
            let mut parts = v.split(',');
            let (_line_no, hits) = (parts.next(), parts.next());
            let hits =
                hits.ok_or_else(|| bad("lcov", format!("line {}: DA without hits", n + 1)))?;
            da_valid += 1;
            if num(hits)? > 0 {
                da_hit += 1;
            }
        } else if let Some(v) = line.strip_prefix("LF:") {
            lf = Some(num(v)?);
        } else if let Some(v) = line.strip_prefix("LH:") {
            lh = Some(num(v)?);
        } else if let Some(v) = line.strip_prefix("BRF:") {
            brf = num(v)?;
        } else if let Some(v) = line.strip_prefix("BRH:") {
            brh = num(v)?;
        } else if !(line.is_empty()
            || line.starts_with("TN:")
            || line.starts_with("FN")
            || line.starts_with("BRDA:")
            || line.starts_with("VER:"))
        {
            return Err(bad(
                "lcov",
                format!("line {}: unexpected `{}`", n + 1, truncate(line)),
            ));
        }
    }
    if in_record {
        return Err(bad(
            "lcov",
            "the last record has no end_of_record: truncated file?",
        ));
    }
    if cov.files == 0 {
        return Err(bad("lcov", "no SF: records"));
    }
    Ok(cov)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn attr_u64(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<u64> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse().ok())
}

fn parse_cobertura(bytes: &[u8]) -> Result<Coverage, ReportError> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut cov = Coverage {
        format: Format::Cobertura,
        files: 0,
        lines_valid: 0,
        lines_covered: 0,
        branches_valid: 0,
        branches_covered: 0,
    };
    let (mut root_seen, mut root_valid, mut root_covered) = (false, None, None);
    let (mut root_bvalid, mut root_bcovered) = (None, None);
    let mut counted_lines = false;
    // Open elements (a truncated file ends with some still open) and <method> nesting
    // (tools that list lines per method too would otherwise count them twice).
    let (mut depth, mut in_method) = (0usize, 0usize);
    loop {
        let event = reader.read_event_into(&mut buf);
        match &event {
            Ok(Event::Start(e)) => {
                depth += 1;
                if e.name().as_ref() == b"method" {
                    in_method += 1;
                }
            }
            Ok(Event::End(e)) => {
                depth = depth.saturating_sub(1);
                if e.name().as_ref() == b"method" {
                    in_method = in_method.saturating_sub(1);
                }
            }
            _ => {}
        }
        match event {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => match e.name().as_ref() {
                b"coverage" => {
                    root_seen = true;
                    root_valid = attr_u64(&e, b"lines-valid");
                    root_covered = attr_u64(&e, b"lines-covered");
                    root_bvalid = attr_u64(&e, b"branches-valid");
                    root_bcovered = attr_u64(&e, b"branches-covered");
                }
                _ if !root_seen => {
                    return Err(bad("Cobertura", "the root element is not <coverage>"));
                }
                b"class" => cov.files += 1,
                b"line" if in_method == 0 => {
                    counted_lines = true;
                    cov.lines_valid += 1;
                    if attr_u64(&e, b"hits").is_some_and(|h| h > 0) {
                        cov.lines_covered += 1;
                    }
                }
                _ => {}
            },
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(bad(
                    "Cobertura",
                    format!(
                        "malformed XML at byte {}: {e} (truncated file?)",
                        reader.error_position()
                    ),
                ));
            }
        }
        buf.clear();
    }
    if !root_seen {
        return Err(bad("Cobertura", "no <coverage> element"));
    }
    if depth != 0 {
        return Err(bad(
            "Cobertura",
            "the XML ends inside an element: truncated file?",
        ));
    }
    if !counted_lines {
        cov.lines_valid = root_valid.unwrap_or(0);
        cov.lines_covered = root_covered.unwrap_or(0);
    }
    cov.branches_valid = root_bvalid.unwrap_or(0);
    cov.branches_covered = root_bcovered.unwrap_or(0);
    Ok(cov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    /// Found by fuzzing (issue 15): `LH` above `LF` read as 1,100 % and passed the gate.
    #[test]
    fn more_covered_than_there_is_is_refused() {
        let lcov = b"SF:a.py\nDA:1,1\nLF:2\nLH:22\nend_of_record\n";
        let e = parse(lcov).unwrap_err().to_string();
        assert!(e.contains("22 of 2 lines"), "{e}");
        let branches = b"SF:a.py\nDA:1,1\nBRF:1\nBRH:5\nend_of_record\n";
        assert!(parse(branches).is_err());
        let huge = format!(
            "SF:a\nLF:{m}\nLH:0\nend_of_record\nSF:b\nLF:{m}\nLH:0\nend_of_record\n",
            m = u64::MAX
        );
        assert!(
            parse(huge.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("beyond counting")
        );
        let cobertura = br#"<?xml version="1.0"?><coverage lines-valid="2" lines-covered="9"><packages/></coverage>"#;
        let e = parse(cobertura).unwrap_err().to_string();
        assert!(e.contains("9 lines are covered of 2"), "{e}");
    }

    #[test]
    fn real_reports_of_coverage_py() {
        // The figures coverage.py itself printed for these runs (README of the fixtures).
        let cases = [
            (
                "coverage-high.cobertura.xml",
                Format::Cobertura,
                86,
                84,
                0,
                0,
                true,
            ),
            ("coverage-high.lcov.info", Format::Lcov, 86, 84, 0, 0, true),
            (
                "coverage-low.cobertura.xml",
                Format::Cobertura,
                86,
                59,
                0,
                0,
                false,
            ),
            ("coverage-low.lcov.info", Format::Lcov, 86, 59, 0, 0, false),
            (
                "coverage-branch.cobertura.xml",
                Format::Cobertura,
                86,
                84,
                28,
                25,
                true,
            ),
            (
                "coverage-branch.lcov.info",
                Format::Lcov,
                86,
                84,
                28,
                25,
                true,
            ),
        ];
        for (file, format, valid, covered, bvalid, bcovered, pass) in cases {
            let c = parse(&fixture(file)).unwrap();
            assert_eq!(c.format, format, "{file}");
            assert_eq!((c.lines_valid, c.lines_covered), (valid, covered), "{file}");
            assert_eq!(
                (c.branches_valid, c.branches_covered),
                (bvalid, bcovered),
                "{file}"
            );
            assert_eq!(c.files, 4, "{file}");
            assert_eq!(c.passes(70.0), pass, "{file}: {:.2} %", c.line_percent());
        }
        let low = parse(&fixture("coverage-low.lcov.info")).unwrap();
        assert!((low.line_percent() - 68.60).abs() < 0.01);
        // The threshold is configurable: 68.6 % passes a 65 % gate.
        assert!(low.passes(65.0));
    }

    #[test]
    fn malformed_reports_are_refused_with_a_reason() {
        let truncated_xml = {
            let x = fixture("coverage-high.cobertura.xml");
            x[..x.len() / 2].to_vec()
        };
        let truncated_lcov = {
            let l = String::from_utf8(fixture("coverage-high.lcov.info")).unwrap();
            let cut = l.rfind("end_of_record").unwrap();
            l.as_bytes()[..cut].to_vec()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "empty"),
            (b"   \n".to_vec(), "empty"),
            (truncated_xml, "truncated"),
            (truncated_lcov, "truncated"),
            (b"<testsuites/>".to_vec(), "not <coverage>"),
            (b"hello world\n".to_vec(), "unexpected"),
            (b"SF:a.py\nDA:1,x\nend_of_record\n".to_vec(), "no number"),
            (b"{\"bomFormat\": \"CycloneDX\"}".to_vec(), "unexpected"),
        ];
        for (bytes, needle) in cases {
            let err = parse(&bytes).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        let huge = vec![b' '; 10]
            .into_iter()
            .chain(vec![b'x'; MAX_BYTES])
            .collect::<Vec<_>>();
        assert!(matches!(parse(&huge), Err(ReportError::TooLarge(..))));
    }

    #[test]
    fn body_wins_over_root_attributes() {
        let xml = br#"<coverage lines-valid="10" lines-covered="10"><packages><package><classes>
            <class filename="a.py"><methods/><lines><line number="1" hits="1"/><line number="2" hits="0"/></lines></class>
            </classes></package></packages></coverage>"#;
        let c = parse(xml).unwrap();
        assert_eq!((c.lines_valid, c.lines_covered), (2, 1));
        assert!(!c.passes(70.0));
        // Lines listed again under <method> are not counted twice.
        let xml = br#"<coverage><packages><package><classes><class filename="A.java">
            <methods><method name="f"><lines><line number="1" hits="1"/></lines></method></methods>
            <lines><line number="1" hits="1"/><line number="2" hits="1"/></lines></class>
            </classes></package></packages></coverage>"#;
        assert_eq!(parse(xml).unwrap().lines_valid, 2);
    }
}
