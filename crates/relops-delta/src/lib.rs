//! Binary deltas between two releases of an artifact (issue 29, part 5).
//!
//! The method, chosen by measurement (`bench/delta.sh`, `bench/RESULTS.md`): zstd's
//! "patch-from" — the new file compressed with the old one as reference prefix — cut into
//! blocks so that applying a delta holds a bounded window, not the whole base, in memory.
//! New block `i` (bytes `i·B .. (i+1)·B`) is compressed, with long-distance matching, against
//! the base's window `[c − M, c + B + M)` where `c = i·B · base_len / new_len`: where that
//! block's content most likely was. Code and data of a patch release move by far less than
//! the margin `M`, so the windowed delta is nearly as small as zstd over the whole file.
//! Applying reads one base window (`B + 2M`, 32 MiB by default) and writes one block (`B`,
//! 16 MiB) at a time.
//!
//! Format (`RLDELTA1`): magic, `block`, `margin`, `base_len`, `new_len` (u64 LE), the base's
//! and the new file's SHA-256, the block count (u32 LE), then per block its frame's length
//! (u32 LE) and the zstd frame. [`apply`] refuses a base whose length or digest differs
//! and checks the rebuilt file's length and SHA-256 before it reports success; the caller
//! still verifies the result exactly as a full download (TUF length and hash, release
//! signature) and falls back to the full file on any error.

use std::io::{self, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};
use zstd::zstd_safe::{self, CParameter, DParameter};

/// The magic bytes a delta starts with.
pub const MAGIC: &[u8; 8] = b"RLDELTA1";

/// Largest block and margin a delta may declare: what [`apply`] is willing to hold.
pub const MAX_BLOCK: u64 = 64 << 20;
pub const MAX_MARGIN: u64 = 32 << 20;

/// How a delta is made.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Bytes of the new file per block.
    pub block: u64,
    /// Bytes of base on either side of a block's expected place.
    pub margin: u64,
    /// zstd level (19 is what `zstd --patch-from -19` uses).
    pub level: i32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            block: 16 << 20,
            margin: 8 << 20,
            level: 19,
        }
    }
}

/// Why a delta could not be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("reading or writing: {0}")]
    Io(#[from] io::Error),
    #[error("not a relops delta: {0}")]
    Malformed(String),
    #[error("the delta is for another base ({0}); download the full file")]
    WrongBase(String),
    #[error("the rebuilt file is not the release's ({0}); download the full file")]
    Mismatch(String),
    #[error("zstd: {0}")]
    Zstd(String),
}

fn zstd_err(code: usize) -> DeltaError {
    DeltaError::Zstd(zstd_safe::get_error_name(code).to_owned())
}

/// What [`diff`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    pub delta_len: u64,
    pub blocks: u32,
}

/// The base window of the block starting at `start` of the new file.
fn window(start: u64, base_len: u64, new_len: u64, p: (u64, u64)) -> (u64, u64) {
    let (block, margin) = p;
    let centre = if new_len == 0 {
        0
    } else {
        u64::try_from(u128::from(start) * u128::from(base_len) / u128::from(new_len))
            .unwrap_or(base_len)
    };
    let from = centre.saturating_sub(margin).min(base_len);
    let to = centre
        .saturating_add(block)
        .saturating_add(margin)
        .min(base_len);
    (from, to)
}

fn read_window(
    base: &mut (impl Read + Seek),
    (from, to): (u64, u64),
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    buf.clear();
    base.seek(SeekFrom::Start(from))?;
    base.take(to - from).read_to_end(buf)?;
    if buf.len() as u64 != to - from {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the base is shorter than said",
        ));
    }
    Ok(())
}

fn sha256_of(r: &mut (impl Read + Seek)) -> io::Result<(u64, [u8; 32])> {
    r.seek(SeekFrom::Start(0))?;
    let mut h = Sha256::new();
    let len = io::copy(r, &mut HashWriter(&mut h))?;
    Ok((len, h.finalize().into()))
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the delta that turns `base` into `new` to `out`.
pub fn diff(
    base: &mut (impl Read + Seek),
    new: &mut (impl Read + Seek),
    out: &mut impl Write,
    p: &Params,
) -> Result<Made, DeltaError> {
    if p.block == 0 || p.block > MAX_BLOCK || p.margin > MAX_MARGIN {
        return Err(DeltaError::Malformed(format!(
            "block {} and margin {} must be within 1..={MAX_BLOCK} and 0..={MAX_MARGIN}",
            p.block, p.margin
        )));
    }
    let (base_len, base_sha) = sha256_of(base)?;
    let (new_len, new_sha) = sha256_of(new)?;
    let blocks = u32::try_from(new_len.div_ceil(p.block))
        .map_err(|_| DeltaError::Malformed("too many blocks".into()))?;
    let mut header = Vec::with_capacity(8 + 32 + 64 + 4);
    header.extend_from_slice(MAGIC);
    for n in [p.block, p.margin, base_len, new_len] {
        header.extend_from_slice(&n.to_le_bytes());
    }
    header.extend_from_slice(&base_sha);
    header.extend_from_slice(&new_sha);
    header.extend_from_slice(&blocks.to_le_bytes());
    out.write_all(&header)?;
    let mut delta_len = header.len() as u64;

    let (mut reference, mut block, mut frame) = (Vec::new(), Vec::new(), Vec::new());
    new.seek(SeekFrom::Start(0))?;
    for i in 0..u64::from(blocks) {
        let start = i * p.block;
        read_window(
            base,
            window(start, base_len, new_len, (p.block, p.margin)),
            &mut reference,
        )?;
        block.clear();
        new.by_ref().take(p.block).read_to_end(&mut block)?;
        // A context per block: the reference prefix is borrowed for the context's life.
        let mut cctx = zstd_safe::CCtx::create();
        let window_log = (reference.len() + block.len())
            .next_power_of_two()
            .trailing_zeros()
            .max(10);
        for param in [
            CParameter::CompressionLevel(p.level),
            CParameter::WindowLog(window_log),
            CParameter::EnableLongDistanceMatching(true),
            CParameter::ChecksumFlag(false),
        ] {
            cctx.set_parameter(param).map_err(zstd_err)?;
        }
        cctx.ref_prefix(&reference).map_err(zstd_err)?;
        frame.clear();
        frame.reserve(zstd_safe::compress_bound(block.len()));
        cctx.compress2(&mut frame, &block).map_err(zstd_err)?;
        let len = u32::try_from(frame.len())
            .map_err(|_| DeltaError::Malformed("frame too large".into()))?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&frame)?;
        delta_len += 4 + frame.len() as u64;
    }
    Ok(Made { delta_len, blocks })
}

fn read_u64(r: &mut impl Read) -> Result<u64, DeltaError> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// What a delta says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub block: u64,
    pub margin: u64,
    pub base_len: u64,
    pub new_len: u64,
    pub base_sha256: String,
    pub new_sha256: String,
    pub blocks: u32,
}

/// Reads and checks a delta's header.
pub fn header(delta: &mut impl Read) -> Result<Header, DeltaError> {
    let mut magic = [0; 8];
    delta.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(DeltaError::Malformed("wrong magic bytes".into()));
    }
    let (block, margin, base_len, new_len) = (
        read_u64(delta)?,
        read_u64(delta)?,
        read_u64(delta)?,
        read_u64(delta)?,
    );
    let mut shas = [0; 64];
    delta.read_exact(&mut shas)?;
    let mut n = [0; 4];
    delta.read_exact(&mut n)?;
    let blocks = u32::from_le_bytes(n);
    if block == 0 || block > MAX_BLOCK || margin > MAX_MARGIN {
        return Err(DeltaError::Malformed(format!(
            "block {block} or margin {margin} beyond what a delta may hold in memory"
        )));
    }
    if u64::from(blocks) != new_len.div_ceil(block) {
        return Err(DeltaError::Malformed(format!(
            "{blocks} blocks cannot make {new_len} bytes in blocks of {block}"
        )));
    }
    Ok(Header {
        block,
        margin,
        base_len,
        new_len,
        base_sha256: hex::encode(&shas[..32]),
        new_sha256: hex::encode(&shas[32..]),
        blocks,
    })
}

/// Rebuilds the new file from `base` (whose SHA-256 the caller knows, `base_sha256`) and
/// `delta` into `out`; returns the bytes written. Checks the rebuilt length and SHA-256
/// against the delta's header; on any error `out` holds garbage and must be discarded.
pub fn apply(
    base: &mut (impl Read + Seek),
    base_sha256: &str,
    delta: &mut impl Read,
    out: &mut impl Write,
) -> Result<u64, DeltaError> {
    let h = header(delta)?;
    if !h.base_sha256.eq_ignore_ascii_case(base_sha256) {
        return Err(DeltaError::WrongBase(format!(
            "made from {}, you hold {base_sha256}",
            h.base_sha256
        )));
    }
    let base_len = base.seek(SeekFrom::End(0))?;
    if base_len != h.base_len {
        return Err(DeltaError::WrongBase(format!(
            "made from {} bytes, you hold {base_len}",
            h.base_len
        )));
    }
    let (mut reference, mut frame) = (Vec::new(), Vec::new());
    let mut block = Vec::with_capacity(usize::try_from(h.block.min(h.new_len)).unwrap_or(0));
    let mut sha = Sha256::new();
    let mut written = 0u64;
    for i in 0..u64::from(h.blocks) {
        let start = i * h.block;
        let want = h.block.min(h.new_len - start);
        read_window(
            base,
            window(start, h.base_len, h.new_len, (h.block, h.margin)),
            &mut reference,
        )?;
        let mut n = [0; 4];
        delta.read_exact(&mut n)?;
        let len = u64::from(u32::from_le_bytes(n));
        // A frame never needs more than its block's bound; a larger one is not ours.
        if len > zstd_safe::compress_bound(usize::try_from(want).unwrap_or(usize::MAX)) as u64 {
            return Err(DeltaError::Malformed(format!(
                "block {i}: a frame of {len} bytes"
            )));
        }
        frame.clear();
        delta.by_ref().take(len).read_to_end(&mut frame)?;
        if frame.len() as u64 != len {
            return Err(DeltaError::Malformed(format!("block {i} is cut short")));
        }
        let mut dctx = zstd_safe::DCtx::create();
        dctx.set_parameter(DParameter::WindowLogMax(31))
            .map_err(zstd_err)?;
        dctx.ref_prefix(&reference).map_err(zstd_err)?;
        block.clear();
        let got = dctx.decompress(&mut block, &frame).map_err(zstd_err)?;
        if got as u64 != want {
            return Err(DeltaError::Mismatch(format!(
                "block {i} rebuilt {got} bytes, not {want}"
            )));
        }
        sha.update(&block);
        out.write_all(&block)?;
        written += want;
    }
    let rebuilt = hex::encode(sha.finalize());
    if written != h.new_len || rebuilt != h.new_sha256 {
        return Err(DeltaError::Mismatch(format!(
            "{written} bytes with SHA-256 {rebuilt}, the delta promised {} bytes with {}",
            h.new_len, h.new_sha256
        )));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use proptest::prelude::*;

    use super::*;

    fn small() -> Params {
        Params {
            block: 4096,
            margin: 1024,
            level: 3,
        }
    }

    fn pseudo(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) as u8
            })
            .collect()
    }

    fn roundtrip(base: &[u8], new: &[u8], p: &Params) -> (Vec<u8>, Vec<u8>) {
        let mut delta = Vec::new();
        diff(&mut Cursor::new(base), &mut Cursor::new(new), &mut delta, p).unwrap();
        let base_sha = hex::encode(Sha256::digest(base));
        let mut out = Vec::new();
        apply(
            &mut Cursor::new(base),
            &base_sha,
            &mut Cursor::new(&delta),
            &mut out,
        )
        .unwrap();
        (delta, out)
    }

    #[test]
    fn a_small_change_makes_a_small_delta_and_rebuilds_exactly() {
        let base = pseudo(100_000, 1);
        let mut new = base.clone();
        new[50_000..50_010].copy_from_slice(b"0123456789");
        new.splice(20_000..20_000, b"inserted".iter().copied());
        let (delta, out) = roundtrip(&base, &new, &small());
        assert_eq!(out, new);
        assert!(delta.len() < 2_000, "{} bytes", delta.len());
    }

    #[test]
    fn a_wrong_base_or_a_damaged_delta_is_refused() {
        let base = pseudo(20_000, 2);
        let new = pseudo(20_000, 3);
        let mut delta = Vec::new();
        diff(
            &mut Cursor::new(&base),
            &mut Cursor::new(&new),
            &mut delta,
            &small(),
        )
        .unwrap();
        let other = pseudo(20_000, 4);
        let err = apply(
            &mut Cursor::new(&other),
            &hex::encode(Sha256::digest(&other)),
            &mut Cursor::new(&delta),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, DeltaError::WrongBase(_)), "{err}");
        let base_sha = hex::encode(Sha256::digest(&base));
        let mut bad = delta.clone();
        let last = bad.len() - 3;
        bad[last] ^= 0xff;
        assert!(
            apply(
                &mut Cursor::new(&base),
                &base_sha,
                &mut Cursor::new(&bad),
                &mut Vec::new()
            )
            .is_err()
        );
        let cut = &delta[..delta.len() - 10];
        assert!(
            apply(
                &mut Cursor::new(&base),
                &base_sha,
                &mut Cursor::new(cut),
                &mut Vec::new()
            )
            .is_err()
        );
        let mut huge = delta.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = apply(
            &mut Cursor::new(&base),
            &base_sha,
            &mut Cursor::new(&huge),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, DeltaError::Malformed(_)), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_pair_rebuilds_byte_identical(
            base in proptest::collection::vec(any::<u8>(), 0..20_000),
            new in proptest::collection::vec(any::<u8>(), 0..20_000),
        ) {
            let (_, out) = roundtrip(&base, &new, &small());
            prop_assert_eq!(out, new);
        }

        #[test]
        fn edits_of_a_base_rebuild_byte_identical(
            seed in any::<u64>(),
            edits in proptest::collection::vec((0usize..30_000, any::<u8>()), 0..20),
            cut in 0usize..5_000,
        ) {
            let base = pseudo(30_000, seed);
            let mut new = base[cut..].to_vec();
            for (at, b) in edits {
                if at < new.len() { new[at] = b; }
            }
            let (_, out) = roundtrip(&base, &new, &small());
            prop_assert_eq!(out, new);
        }
    }
}
