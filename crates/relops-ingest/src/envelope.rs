//! Sentry envelopes: a JSON header line, then items, each a JSON header line and a payload
//! of `length` bytes (or, without `length`, up to the next newline).

use serde_json::{Map, Value};

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

/// One item: its type, its header and its payload bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<'a> {
    /// `event`, `session`, `sessions`, `attachment`, `client_report`, … (any string).
    pub ty: String,
    pub header: Map<String, Value>,
    pub payload: &'a [u8],
}

/// A parsed envelope, borrowing the payloads from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    pub header: Map<String, Value>,
    pub items: Vec<Item<'a>>,
}

impl Envelope<'_> {
    /// The envelope's `event_id`, with or without dashes, as 32 lowercase hex digits.
    pub fn event_id(&self) -> Option<String> {
        self.header
            .get("event_id")
            .and_then(Value::as_str)
            .and_then(normalize_uuid)
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

fn object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let trimmed = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if trimmed.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(trimmed) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("not an object".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses an (already decompressed) envelope.
pub fn parse(input: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(EnvelopeError::Empty);
    }
    let (head, mut rest) = line(input);
    let header = object(head).map_err(EnvelopeError::Header)?;
    let mut items = Vec::new();
    while !rest.is_empty() {
        let (item_head, after) = line(rest);
        if item_head.iter().all(u8::is_ascii_whitespace) {
            rest = after;
            continue;
        }
        let index = items.len();
        let header = object(item_head).map_err(|why| EnvelopeError::ItemHeader { index, why })?;
        let (payload, next) = match header.get("length").and_then(Value::as_u64) {
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
        let ty = header
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        items.push(Item {
            ty,
            header,
            payload,
        });
        rest = next;
    }
    Ok(Envelope { header, items })
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
        assert_eq!(env.items[2].header["attachment_type"], "event.minidump");
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
    }
}
