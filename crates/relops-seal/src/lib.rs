//! Sealed crash dumps (R-CR-3, DESIGN decision 6).
//!
//! A dump is sealed on the client with HPKE base mode (RFC 9180) — KEM DHKEM(X25519,
//! HKDF-SHA256), KDF HKDF-SHA256, AEAD AES-256-GCM — to the server's crash key (the
//! X25519 key `relops init` makes, `keys/crash.json`). The sealed form is
//!
//! ```text
//! "RSD1" ‖ enc (32 bytes, the encapsulated X25519 key) ‖ ciphertext (dump + 16-byte tag)
//! ```
//!
//! with `info` = `relops crash dump v1` and the crash's id as additional authenticated
//! data, so a sealed dump cannot be passed off under another id. Only the holder of the
//! crash key's private half opens it; the server stores the sealed bytes as received.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};

/// The first bytes of a sealed dump.
pub const MAGIC: &[u8; 4] = b"RSD1";
const INFO: &[u8] = b"relops crash dump v1";
const ENC_LEN: usize = 32;
const TAG_LEN: usize = 16;

type KemT = X25519HkdfSha256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the crash key must be 64 hex characters (an X25519 public key): {0}")]
    BadKey(String),
    #[error("not a sealed crash dump: {0}")]
    Malformed(String),
    #[error("the sealed dump does not open with this key and id (wrong key, wrong id, or altered)")]
    Open,
    #[error("sealing failed: {0}")]
    Seal(String),
}

fn key_bytes(hex_key: &str) -> Result<Vec<u8>, SealError> {
    let b = hex::decode(hex_key.trim()).map_err(|e| SealError::BadKey(e.to_string()))?;
    if b.len() != 32 {
        return Err(SealError::BadKey(format!("{} bytes", b.len())));
    }
    Ok(b)
}

/// Seals `dump` with crash id `id` to the public crash key (hex).
pub fn seal(public_key_hex: &str, id: &str, dump: &[u8]) -> Result<Vec<u8>, SealError> {
    let pk = <KemT as Kem>::PublicKey::from_bytes(&key_bytes(public_key_hex)?)
        .map_err(|e| SealError::BadKey(format!("{e:?}")))?;
    let (enc, ct) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, KemT>(
        &OpModeS::Base,
        &pk,
        INFO,
        dump,
        id.as_bytes(),
    )
    .map_err(|e| SealError::Seal(format!("{e:?}")))?;
    let mut out = Vec::with_capacity(MAGIC.len() + ENC_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Checks the shape of a sealed dump without opening it (what the server can check).
pub fn check(sealed: &[u8]) -> Result<(), SealError> {
    if !sealed.starts_with(MAGIC) {
        return Err(SealError::Malformed("it does not start with RSD1".into()));
    }
    if sealed.len() < MAGIC.len() + ENC_LEN + TAG_LEN {
        return Err(SealError::Malformed(format!(
            "{} bytes is too short",
            sealed.len()
        )));
    }
    Ok(())
}

/// Opens a sealed dump with the private crash key (hex) and the crash's id.
pub fn open(private_key_hex: &str, id: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    check(sealed)?;
    let sk = <KemT as Kem>::PrivateKey::from_bytes(&key_bytes(private_key_hex)?)
        .map_err(|e| SealError::BadKey(format!("{e:?}")))?;
    let body = &sealed[MAGIC.len()..];
    let enc = <KemT as Kem>::EncappedKey::from_bytes(&body[..ENC_LEN])
        .map_err(|e| SealError::Malformed(format!("encapsulated key: {e:?}")))?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, KemT>(
        &OpModeR::Base,
        &sk,
        &enc,
        INFO,
        &body[ENC_LEN..],
        id.as_bytes(),
    )
    .map_err(|_| SealError::Open)
}

/// A fresh key pair `(private, public)` as hex (tests and tools; the server's comes from
/// `relops init`).
pub fn generate() -> (String, String) {
    let (sk, pk) = KemT::gen_keypair();
    (hex::encode(sk.to_bytes()), hex::encode(pk.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let (sk, pk) = generate();
        let dump = b"MDMP\x93\xa7 a minidump".repeat(1000);
        let sealed = seal(&pk, "6f1c", &dump).unwrap();
        assert!(sealed.starts_with(MAGIC));
        assert_eq!(sealed.len(), 4 + 32 + dump.len() + 16);
        assert!(
            !sealed.windows(4).any(|w| w == b"MDMP"),
            "no plaintext inside"
        );
        assert_eq!(open(&sk, "6f1c", &sealed).unwrap(), dump);
        // Two seals of the same dump differ (fresh ephemeral key each time).
        assert_ne!(seal(&pk, "6f1c", &dump).unwrap(), sealed);
    }

    #[test]
    fn refuses_what_does_not_open() {
        let (sk, pk) = generate();
        let (other_sk, _) = generate();
        let sealed = seal(&pk, "id-1", b"dump").unwrap();
        assert_eq!(open(&other_sk, "id-1", &sealed), Err(SealError::Open));
        assert_eq!(
            open(&sk, "id-2", &sealed),
            Err(SealError::Open),
            "bound to its id"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&sk, "id-1", &altered), Err(SealError::Open));
        assert!(matches!(
            open(&sk, "id-1", b"RSD1"),
            Err(SealError::Malformed(_))
        ));
        assert!(matches!(check(b"MDMP...."), Err(SealError::Malformed(_))));
        assert!(matches!(seal("abc", "x", b"d"), Err(SealError::BadKey(_))));
    }

    #[test]
    fn works_with_the_key_relops_init_writes() {
        // `relops init` makes the crash key with x25519-dalek: 32 random bytes as the
        // private key (hex), X25519(secret, base point) as the public key (hex).
        let secret = [7u8; 32];
        let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret));
        let (sk, pk) = (hex::encode(secret), hex::encode(public.to_bytes()));
        let sealed = seal(&pk, "c1", b"panic at src/main.rs:3").unwrap();
        assert_eq!(open(&sk, "c1", &sealed).unwrap(), b"panic at src/main.rs:3");
    }
}
