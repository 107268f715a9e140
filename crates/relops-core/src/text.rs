//! The one rule for text relops keeps (issue 15): every string that reaches a table, a
//! log line, a notification or a page is checked at the edge by the kind of field it is.
//!
//! - **A line** ([`line`]): printable Unicode — no control characters (C0, DEL, C1), no
//!   bidirectional overrides or isolates (`U+202A`–`U+202E`, `U+2066`–`U+2069`, which make a
//!   name read differently from what it is: `exe.dmg` shown for `gmd.exe`), no
//!   zero-width or BOM characters — trimmed, not empty, at most a given number of bytes.
//! - **Text** ([`text`]): the same, but newlines and tabs allowed (a reason, a note).
//! - **A token** ([`token`]): ASCII letters, digits and `- _ . :`, for ids that go into
//!   keys, URLs and headers (request ids, session ids from SDKs are wider: they are lines).
//!
//! Each check names the field and the limit in its error, so the refusal says what to fix.

/// Why a field was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    #[error("`{field}` is empty")]
    Empty { field: String },
    #[error("`{field}` is {len} bytes long: at most {max} are accepted")]
    TooLong {
        field: String,
        len: usize,
        max: usize,
    },
    #[error(
        "`{field}` contains {what} (U+{code:04X}): send printable text without control or direction-changing characters"
    )]
    Unprintable {
        field: String,
        what: &'static str,
        code: u32,
    },
    #[error("`{field}` may hold only ASCII letters, digits and - _ . : (got {shown:?})")]
    NotAToken { field: String, shown: String },
}

/// What kind of invisible or steering character `c` is, if it is one relops refuses.
fn unprintable(c: char, newlines: bool) -> Option<&'static str> {
    match c {
        '\n' | '\t' | '\r' if newlines => None,
        c if c.is_control() => Some("a control character"),
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' => {
            Some("a direction-changing character")
        }
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => Some("an invisible character"),
        _ => None,
    }
}

fn check<'a>(field: &str, s: &'a str, max: usize, newlines: bool) -> Result<&'a str, TextError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(TextError::Empty {
            field: field.to_owned(),
        });
    }
    if t.len() > max {
        return Err(TextError::TooLong {
            field: field.to_owned(),
            len: t.len(),
            max,
        });
    }
    if let Some((c, what)) = t
        .chars()
        .find_map(|c| unprintable(c, newlines).map(|w| (c, w)))
    {
        return Err(TextError::Unprintable {
            field: field.to_owned(),
            what,
            code: c as u32,
        });
    }
    Ok(t)
}

/// A one-line field: printable, trimmed, 1 to `max` bytes.
pub fn line<'a>(field: &str, s: &'a str, max: usize) -> Result<&'a str, TextError> {
    check(field, s, max, false)
}

/// A multi-line field (a reason, a note): printable but for newlines and tabs, trimmed,
/// 1 to `max` bytes.
pub fn text<'a>(field: &str, s: &'a str, max: usize) -> Result<&'a str, TextError> {
    check(field, s, max, true)
}

/// An id for keys, URLs and headers: 1 to `max` bytes of ASCII letters, digits and
/// `- _ . :`.
pub fn token<'a>(field: &str, s: &'a str, max: usize) -> Result<&'a str, TextError> {
    let t = line(field, s, max)?;
    if t.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        Ok(t)
    } else {
        Err(TextError::NotAToken {
            field: field.to_owned(),
            shown: t.chars().take(40).collect(),
        })
    }
}

/// `s` composed to Unicode NFC: the one spelling text has in signed TUF metadata (whose
/// canonical JSON refuses any other, as its clients disagree on it).
pub fn nfc(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfc().collect()
}

/// Is `s` printable one-line text (for values that are dropped, not refused, when not)?
pub fn is_line(s: &str, max: usize) -> bool {
    line("", s, max).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_per_field_kind() {
        assert_eq!(line("name", "  ci-release  ", 128), Ok("ci-release"));
        assert_eq!(
            line("name", "Zoë's build 2.1 ✓", 128),
            Ok("Zoë's build 2.1 ✓")
        );
        for bad in [
            "a\u{0}b",
            "a\u{1b}[31mred",
            "x\u{7f}",
            "a\u{85}b",
            "\u{202E}gmd.exe",
            "a\u{2066}b",
            "zero\u{200B}width",
            "\u{FEFF}bom",
        ] {
            assert!(
                matches!(line("f", bad, 100), Err(TextError::Unprintable { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            line("f", "a\nb", 100),
            Err(TextError::Unprintable { .. })
        ));
        assert_eq!(
            text("reason", "line one\nline two\tx", 100),
            Ok("line one\nline two\tx")
        );
        assert!(matches!(
            text("reason", "a\u{0}", 100),
            Err(TextError::Unprintable { .. })
        ));
        assert_eq!(
            line("release", &"9".repeat(1_000_000), 200),
            Err(TextError::TooLong {
                field: "release".into(),
                len: 1_000_000,
                max: 200
            })
        );
        assert!(matches!(line("f", "   ", 10), Err(TextError::Empty { .. })));
        assert_eq!(
            token("request id", "3f9a0c1e-000000000042", 64),
            Ok("3f9a0c1e-000000000042")
        );
        assert!(matches!(
            token("request id", "a b", 64),
            Err(TextError::NotAToken { .. })
        ));
        assert!(matches!(
            token("channel", "../../x", 64),
            Err(TextError::NotAToken { .. })
        ));
        let e = line("notarization_id", &"x".repeat(60_000), 256).unwrap_err();
        assert!(
            e.to_string()
                .contains("`notarization_id` is 60000 bytes long: at most 256"),
            "{e}"
        );
        assert!(is_line("fine", 10) && !is_line("not\u{1b}fine", 10));
    }
}
