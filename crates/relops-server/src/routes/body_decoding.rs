//! Whole-body content decoding for the Sentry envelope endpoint, the ingest hot path: the
//! (compressed) body is already in memory, so it is decoded in one synchronous pass rather
//! than through the streaming decompression layer the other telemetry routes use (whose
//! per-request buffers and polls cost more than the inflating on small envelopes). Same
//! encodings (gzip, deflate, br, zstd), same limit after decoding, same answers: 413 past
//! `[ingest] max_body_bytes`, 400 for a body that does not decode, 415 for an unknown
//! encoding.

use std::io::Read;

use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use bytes::Bytes;

use crate::error::ApiError;

/// `body` decoded as its `Content-Encoding` says (several codings are undone last
/// first), at most `limit` bytes.
pub(crate) fn decode(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(body);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("the Content-Encoding header is not ASCII".to_owned()))?;
    let mut body = body;
    for coding in value.rsplit(',').map(str::trim) {
        body = decode_one(coding, &body, limit)?.unwrap_or(body);
    }
    Ok(body)
}

thread_local! {
    /// A decompressor per worker thread, reused (it holds ~10 KiB of tables).
    static GUNZIP: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

/// Largest decoded size taken in one call: the buffer is allocated from the trailer's
/// claim before anything is decoded, so a small body claiming a large size must not get a
/// large buffer (the streaming decoder grows its buffer only as data decodes).
const WHOLE_GZIP_MAX: usize = 64 * 1024;

/// A gzip body in one call, when its trailer's size (the last four bytes) is within
/// `limit` and [`WHOLE_GZIP_MAX`] and is what it decodes to — every SDK's small
/// envelope: one gzip member. `None` for anything else (several members, a corrupt body,
/// a larger size), which the streaming decoder then reads or explains. Like the streaming
/// decoder, it reads the first member: bytes after it are ignored.
fn gunzip_whole(body: &[u8], limit: usize) -> Option<Vec<u8>> {
    let size = u32::from_le_bytes(body.get(body.len().checked_sub(4)?..)?.try_into().ok()?);
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= limit.min(WHOLE_GZIP_MAX))?;
    let mut out = vec![0; size];
    let n = GUNZIP
        .with_borrow_mut(|d| d.gzip_decompress(body, &mut out))
        .ok()?;
    (n == size).then_some(out)
}

/// One coding undone; `None` for identity.
fn decode_one(coding: &str, body: &[u8], limit: usize) -> Result<Option<Bytes>, ApiError> {
    let coding = coding.to_ascii_lowercase();
    if matches!(coding.as_str(), "gzip" | "x-gzip")
        && let Some(out) = gunzip_whole(body, limit)
    {
        return Ok(Some(Bytes::from(out)));
    }
    let reader: Box<dyn Read + '_> = match coding.as_str() {
        "" | "identity" => return Ok(None),
        // The `bufread` decoders read the slice in place (the `read` ones would put a
        // 32 KiB buffer of their own in front of it, per request).
        "gzip" | "x-gzip" => Box::new(flate2::bufread::GzDecoder::new(body)),
        // HTTP's deflate is the zlib format (RFC 9110 §8.4.1.2).
        "deflate" => Box::new(flate2::bufread::ZlibDecoder::new(body)),
        "br" => Box::new(brotli::Decompressor::new(body, 4096)),
        "zstd" => {
            Box::new(zstd::stream::read::Decoder::with_buffer(body).map_err(|e| {
                ApiError::BadRequest(format!("cannot read the compressed body: {e}"))
            })?)
        }
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "unsupported Content-Encoding `{other}`: send gzip, deflate, br, zstd or an uncompressed body"
            )));
        }
    };
    // Never hold more than the limit (and one byte to tell it was passed).
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("cannot read the compressed body: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::PayloadTooLarge(format!(
            "the body is larger than [ingest] max_body_bytes = {limit} once decompressed"
        )));
    }
    Ok(Some(Bytes::from(out)))
}

#[cfg(test)]
mod tests {
    use super::decode;
    use axum::http::{HeaderMap, HeaderValue, StatusCode};
    use bytes::Bytes;
    use std::io::Write;

    fn encoded(coding: &str, body: &[u8]) -> Vec<u8> {
        match coding {
            "gzip" => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(body).unwrap();
                e.finish().unwrap()
            }
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(body).unwrap();
                e.finish().unwrap()
            }
            "br" => {
                let mut out = Vec::new();
                brotli::CompressorWriter::new(&mut out, 4096, 5, 22)
                    .write_all(body)
                    .unwrap();
                out
            }
            "zstd" => zstd::encode_all(body, 3).unwrap(),
            _ => body.to_vec(),
        }
    }

    fn headers(coding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-encoding", HeaderValue::from_str(coding).unwrap());
        h
    }

    #[test]
    fn every_coding_round_trips() {
        let body = b"{\"sent_at\":\"2026-11-27T10:00:00Z\"}\n".repeat(50);
        for coding in [
            "gzip", "GZIP", "x-gzip", "deflate", "br", "zstd", "identity",
        ] {
            let lower = coding.to_lowercase();
            let sent = Bytes::from(encoded(lower.trim_start_matches("x-"), &body));
            let got = decode(&headers(coding), sent, 1 << 20).unwrap();
            assert_eq!(got, body.as_slice(), "{coding}");
        }
        assert_eq!(
            decode(&HeaderMap::new(), Bytes::from_static(b"plain"), 10).unwrap(),
            "plain"
        );
        // Applied gzip then br: undone br then gzip.
        let twice = encoded("br", &encoded("gzip", &body));
        let got = decode(&headers("gzip, br"), Bytes::from(twice), 1 << 20).unwrap();
        assert_eq!(got, body.as_slice());
    }

    /// The one-call gzip path and the streaming one agree: the first member is the body
    /// (as Sentry's Relay reads it), whatever the trailer of the last one says, and a
    /// trailer that lies is refused, not trusted.
    #[test]
    fn gzip_members_and_trailers() {
        let (a, b) = (b"first member\n".repeat(20), b"second member\n".repeat(30));
        let two = [encoded("gzip", &a), encoded("gzip", &b)].concat();
        assert_eq!(
            decode(&headers("gzip"), Bytes::from(two), 1 << 20).unwrap(),
            a
        );
        // Same size in both members: the last trailer matches the first member's size.
        let c = b"FIRST MEMBER\n".repeat(20);
        let same = [encoded("gzip", &a), encoded("gzip", &c)].concat();
        assert_eq!(
            decode(&headers("gzip"), Bytes::from(same), 1 << 20).unwrap(),
            a
        );

        // Larger than one call takes: streamed, same result.
        let big = b"0123456789abcdef".repeat(10_000);
        let sent = Bytes::from(encoded("gzip", &big));
        assert_eq!(decode(&headers("gzip"), sent, 1 << 20).unwrap(), big);

        let mut lying = encoded("gzip", &a);
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&7u32.to_le_bytes());
        let e = decode(&headers("gzip"), Bytes::from(lying), 1 << 20).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{e}");
        // A bomb that claims to be small is still stopped at the limit.
        let mut bomb = encoded("gzip", &vec![0; 2_000_000]);
        let n = bomb.len();
        bomb[n - 4..].copy_from_slice(&100u32.to_le_bytes());
        let e = decode(&headers("gzip"), Bytes::from(bomb), 100_000).unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    }

    #[test]
    fn refusals_say_what_was_wrong() {
        let status = |coding: &str, body: Vec<u8>, limit: usize| {
            decode(&headers(coding), Bytes::from(body), limit)
                .unwrap_err()
                .status()
        };
        // A bomb: 2 MB of zeros in a few KB, refused at the limit, not after inflating.
        let bomb = encoded("gzip", &vec![0; 2_000_000]);
        assert!(bomb.len() < 10_000);
        assert_eq!(status("gzip", bomb, 100_000), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            status("zstd", encoded("zstd", &[7; 101]), 100),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        // Exactly the limit is fine.
        assert_eq!(
            decode(&headers("br"), Bytes::from(encoded("br", &[7; 100])), 100)
                .unwrap()
                .len(),
            100
        );
        for coding in ["gzip", "deflate", "br", "zstd"] {
            assert_eq!(
                status(coding, b"not compressed at all".to_vec(), 1000),
                StatusCode::BAD_REQUEST,
                "{coding}"
            );
        }
        let e = decode(&headers("compress"), Bytes::from_static(b"x"), 10).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            e.to_string().contains("send gzip, deflate, br, zstd"),
            "{e}"
        );
    }
}
