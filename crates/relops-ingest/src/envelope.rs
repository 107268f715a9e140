//! Sentry envelopes: a JSON header line, then items, each a JSON header line and a payload
//! of `length` bytes (or, without `length`, up to the next newline).

use serde::Deserialize;
use serde_json::Value;

/// Why an envelope was refused; the message says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    #[error("empty envelope")]
    Empty,
    #[error("envelope header is not a JSON object: {0}")]
    Header(String),
    #[error("item {index}: header is not a JSON object: {why}")]
    ItemHeader { index: usize, why: String },
    #[error("item {index}: declares {declared} bytes but only {available} follow")]
    Truncated {
        index: usize,
        declared: u64,
        available: usize,
    },
}

/// One item: its type, its attachment type (for `attachment` items) and its payload bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<'a> {
    /// `event`, `session`, `sessions`, `attachment`, `client_report`, … (any string).
    pub ty: String,
    /// `event.minidump`, `event.attachment`, … when the item header says.
    pub attachment_type: Option<String>,
    /// An attachment's file name and content type, when the item header says.
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub payload: &'a [u8],
}

/// A parsed envelope, borrowing the payloads from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    /// The header's `event_id`, as sent.
    event_id: Option<String>,
    pub items: Vec<Item<'a>>,
}

impl Envelope<'_> {
    /// The envelope's `event_id`, with or without dashes, as 32 lowercase hex digits.
    pub fn event_id(&self) -> Option<String> {
        self.event_id.as_deref().and_then(normalize_uuid)
    }
}

/// `0123…` (32 hex) or `01234567-89ab-…` (dashed) → 32 lowercase hex digits.
pub fn normalize_uuid(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

fn line(input: &[u8]) -> (&[u8], &[u8]) {
    match input.iter().position(|b| *b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[]),
    }
}

/// The header fields relops reads; every other field is skipped unread. Each is taken as
/// any JSON value, so that one of an unexpected type is ignored as before (a header used
/// to be read whole into a map — one allocation per field, on the ingest hot path).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Header {
    event_id: Option<Value>,
    #[serde(rename = "type")]
    ty: Option<Value>,
    length: Option<Value>,
    attachment_type: Option<Value>,
    filename: Option<Value>,
    content_type: Option<Value>,
}

fn text(v: Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// A header line; an empty one is an empty object.
fn header(bytes: &[u8]) -> Result<Header, String> {
    let trimmed = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    match trimmed.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Ok(Header::default()),
        // A struct would also accept a JSON array of its fields.
        Some(b'{') => serde_json::from_slice(trimmed).map_err(|e| e.to_string()),
        Some(_) => Err("not an object".into()),
    }
}

/// Parses an (already decompressed) envelope.
pub fn parse(input: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(EnvelopeError::Empty);
    }
    let (head, mut rest) = line(input);
    let head = header(head).map_err(EnvelopeError::Header)?;
    let mut items = Vec::new();
    while !rest.is_empty() {
        let (item_head, after) = line(rest);
        if item_head.iter().all(u8::is_ascii_whitespace) {
            rest = after;
            continue;
        }
        let index = items.len();
        let h = header(item_head).map_err(|why| EnvelopeError::ItemHeader { index, why })?;
        let (payload, next) = match h.length.as_ref().and_then(Value::as_u64) {
            Some(len) => {
                let n = usize::try_from(len).unwrap_or(usize::MAX);
                if after.len() < n {
                    return Err(EnvelopeError::Truncated {
                        index,
                        declared: len,
                        available: after.len(),
                    });
                }
                let (p, tail) = after.split_at(n);
                (p, tail.strip_prefix(b"\n").unwrap_or(tail))
            }
            None => line(after),
        };
        items.push(Item {
            ty: text(h.ty).unwrap_or_default(),
            attachment_type: text(h.attachment_type),
            filename: text(h.filename),
            content_type: text(h.content_type),
            payload,
        });
        rest = next;
    }
    Ok(Envelope {
        event_id: text(head.event_id),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_and_without_length() {
        let body = b"{\"event_id\":\"9ec79c33-ec99-42ab-8353-589fcb2e04dc\",\"sent_at\":\"2027-03-16T10:00:00Z\"}\n\
{\"type\":\"session\",\"length\":20}\n{\"status\":\"crashed\"}\n\
{\"type\":\"event\"}\n{\"level\":\"error\"}\n\
{\"type\":\"attachment\",\"length\":4,\"attachment_type\":\"event.minidump\",\"filename\":\"a.dmp\"}\nMD\nP\n\
{\"type\":\"profile_chunk\"}\n{}";
        let env = parse(body).unwrap();
        assert_eq!(
            env.event_id().as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        let types: Vec<&str> = env.items.iter().map(|i| i.ty.as_str()).collect();
        assert_eq!(types, ["session", "event", "attachment", "profile_chunk"]);
        assert_eq!(env.items[0].payload, b"{\"status\":\"crashed\"}");
        assert_eq!(env.items[1].payload, b"{\"level\":\"error\"}");
        // Binary payloads may contain newlines: `length` decides.
        assert_eq!(env.items[2].payload, b"MD\nP");
        assert_eq!(
            env.items[2].attachment_type.as_deref(),
            Some("event.minidump")
        );
    }

    #[test]
    fn what_real_sdks_send() {
        // Python sentry-sdk: 32-hex event id, trailing newline. Rust `sentry`: dashed id,
        // no trailing newline, no length.
        let py = b"{\"event_id\":\"0123456789abcdef0123456789abcdef\"}\n{\"type\":\"session\",\"length\":2}\n{}\n";
        assert_eq!(parse(py).unwrap().items.len(), 1);
        let rs = b"{\"event_id\":\"01234567-89ab-cdef-0123-456789abcdef\"}\n{\"type\":\"event\"}\n{\"x\":1}";
        let env = parse(rs).unwrap();
        assert_eq!(
            env.event_id().as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(env.items[0].payload, b"{\"x\":1}");
        // An envelope with only a header is fine (client reports may be empty).
        assert!(parse(b"{}\n").unwrap().items.is_empty());
    }

    #[test]
    fn malformed_envelopes_are_refused_with_where() {
        assert_eq!(parse(b""), Err(EnvelopeError::Empty));
        assert!(matches!(
            parse(b"not json\n"),
            Err(EnvelopeError::Header(_))
        ));
        assert!(matches!(
            parse(b"{}\n[1]\n{}"),
            Err(EnvelopeError::ItemHeader { index: 0, .. })
        ));
        assert_eq!(
            parse(b"{}\n{\"type\":\"event\",\"length\":100}\n{}"),
            Err(EnvelopeError::Truncated {
                index: 0,
                declared: 100,
                available: 2
            })
        );
        assert_eq!(normalize_uuid("xyz"), None);
        // Header fields of unexpected types are ignored, as if absent; others are skipped.
        let odd = parse(
            b"{\"event_id\":5,\"sdk\":{\"name\":\"x\"}}\n{\"type\":\"session\",\"length\":\"2\",\"attachment_type\":[]}\n{}\n{\"type\":7}\nx",
        )
        .unwrap();
        assert_eq!(odd.event_id(), None);
        assert_eq!(odd.items.len(), 2);
        assert_eq!(odd.items[0].ty, "session");
        assert_eq!(odd.items[0].attachment_type, None);
        assert_eq!(odd.items[0].payload, b"{}");
        assert_eq!(
            (odd.items[1].ty.as_str(), odd.items[1].payload),
            ("", &b"x"[..])
        );
        assert!(matches!(parse(b"[]\n"), Err(EnvelopeError::Header(_))));
    }
}
