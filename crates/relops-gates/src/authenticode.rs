//! The Authenticode signer of a Windows installer (R-REL-6): an `.msi` is an OLE compound
//! file whose `\u{5}DigitalSignature` stream holds the PKCS #7 signature that `signtool` or
//! `osslsigncode` wrote; a setup program (`.exe`, a PE file) holds it in its attribute
//! certificate table (read with the `authenticode` and `object` crates). This reads the
//! signing certificate's subject from either, so an upload's `--authenticode-signer` is
//! compared with what the file says.
//!
//! What it does not do: check the signature cryptographically or the certificate chain to a
//! trusted root (Windows does both at install), nor recompute the package digest.

use std::io::{Cursor, Read};

use cms::signed_data::SignerIdentifier;

/// Largest package read (the whole file is parsed in memory).
pub const MAX_BYTES: usize = 1024 * 1024 * 1024;

/// Largest signature stream read (real ones are a few KB).
const MAX_SIGNATURE_BYTES: u64 = 1024 * 1024;

/// The stream Windows Installer keeps the signature in.
const SIGNATURE_STREAM: &str = "\u{5}DigitalSignature";

/// What an installer says about its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallerSignature {
    /// Not a compound file (`.msi`) or PE file (`.exe`) at all: nothing can be read (e.g.
    /// placeholder bytes).
    NotAnInstaller,
    /// An installer without a signature.
    Unsigned,
    /// Signed; the signing certificate's subject, RFC 4514 (`CN=Wizard GmbH,O=Wizard GmbH,C=DE`).
    Signed { subject: String },
}

/// Why a signature stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the package's Authenticode signature cannot be read: {0}")]
pub struct SignatureError(String);

/// Reads the signer of an `.msi`.
pub fn msi_signature(bytes: &[u8]) -> Result<InstallerSignature, SignatureError> {
    if bytes.len() > MAX_BYTES {
        return Ok(InstallerSignature::NotAnInstaller);
    }
    let Ok(mut file) = cfb::CompoundFile::open(Cursor::new(bytes)) else {
        return Ok(InstallerSignature::NotAnInstaller);
    };
    let Ok(stream) = file.open_stream(format!("/{SIGNATURE_STREAM}")) else {
        return Ok(InstallerSignature::Unsigned);
    };
    let mut der = Vec::new();
    stream
        .take(MAX_SIGNATURE_BYTES)
        .read_to_end(&mut der)
        .map_err(|e| SignatureError(e.to_string()))?;
    let sig = authenticode::AuthenticodeSignature::from_bytes(&der)
        .map_err(|e| SignatureError(format!("{e:?}")))?;
    signer(&sig)
}

/// Reads the signer of a setup program (`.exe`): the first Authenticode signature in its
/// attribute certificate table.
pub fn exe_signature(bytes: &[u8]) -> Result<InstallerSignature, SignatureError> {
    use object::read::pe::{PeFile32, PeFile64};
    if bytes.len() > MAX_BYTES {
        return Ok(InstallerSignature::NotAnInstaller);
    }
    let table = |pe: &dyn authenticode::PeTrait| -> Result<InstallerSignature, SignatureError> {
        let Some(mut certs) = authenticode::AttributeCertificateIterator::new(pe)
            .map_err(|e| SignatureError(format!("its certificate table: {e}")))?
        else {
            return Ok(InstallerSignature::Unsigned);
        };
        let Some(first) = certs.next() else {
            return Ok(InstallerSignature::Unsigned);
        };
        let sig = first
            .map_err(|e| SignatureError(format!("its certificate table: {e}")))?
            .get_authenticode_signature()
            .map_err(|e| SignatureError(e.to_string()))?;
        signer(&sig)
    };
    if let Ok(pe) = PeFile64::parse(bytes) {
        table(&pe)
    } else if let Ok(pe) = PeFile32::parse(bytes) {
        table(&pe)
    } else {
        Ok(InstallerSignature::NotAnInstaller)
    }
}

/// The subject of the certificate that made `sig`.
fn signer(sig: &authenticode::AuthenticodeSignature) -> Result<InstallerSignature, SignatureError> {
    let cert = match &sig.signer_info().sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => sig.certificates().find(|c| {
            c.tbs_certificate.serial_number == id.serial_number
                && c.tbs_certificate.issuer == id.issuer
        }),
        SignerIdentifier::SubjectKeyIdentifier(_) => None,
    }
    .or_else(|| sig.certificates().next())
    .ok_or_else(|| SignatureError("it holds no certificate".into()))?;
    Ok(InstallerSignature::Signed {
        subject: cert.tbs_certificate.subject.to_string(),
    })
}

/// Whether `subject` (RFC 4514) has every `attribute=value` of `claimed`
/// (`CN=Wizard GmbH` matches `CN=Wizard GmbH,O=Wizard GmbH,C=DE`). Attribute names
/// compare without regard to case, values exactly.
pub fn subject_matches(subject: &str, claimed: &str) -> bool {
    let pairs = |s: &str| -> Vec<(String, String)> {
        s.split(',')
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k.trim().to_ascii_uppercase(), v.trim().to_owned()))
            })
            .collect()
    };
    let have = pairs(subject);
    let want = pairs(claimed);
    !want.is_empty() && want.iter().all(|w| have.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    /// Packages wixl built and osslsigncode signed (PROVENANCE-2026-12-05.md beside them).
    #[test]
    fn signers_of_real_packages() {
        let signed = msi_signature(&fixture("wizard-signed.msi")).unwrap();
        let InstallerSignature::Signed { subject } = &signed else {
            panic!("{signed:?}")
        };
        assert!(subject_matches(subject, "CN=Wizard GmbH"), "{subject}");
        assert!(
            subject_matches(subject, "cn=Wizard GmbH, O=Wizard GmbH"),
            "{subject}"
        );
        assert!(!subject_matches(subject, "CN=Mallory Ltd"), "{subject}");
        let other = msi_signature(&fixture("wizard-other.msi")).unwrap();
        assert_eq!(
            other,
            InstallerSignature::Signed {
                subject: "CN=Mallory Ltd".into()
            }
        );
        assert_eq!(
            msi_signature(&fixture("wizard-unsigned.msi")).unwrap(),
            InstallerSignature::Unsigned
        );
        assert_eq!(
            msi_signature(&[7u8; 4096]).unwrap(),
            InstallerSignature::NotAnInstaller
        );
        assert!(!subject_matches("CN=Wizard GmbH", ""));
        // Setup programs signed the same way (osslsigncode over a PE file).
        let signed = exe_signature(&fixture("wizard-setup-signed.exe")).unwrap();
        let InstallerSignature::Signed { subject } = &signed else {
            panic!("{signed:?}")
        };
        assert!(
            subject_matches(subject, "CN=Wizard GmbH, O=Wizard GmbH"),
            "{subject}"
        );
        assert_eq!(
            exe_signature(&fixture("wizard-setup-other.exe")).unwrap(),
            InstallerSignature::Signed {
                subject: "CN=Mallory Ltd".into()
            }
        );
        assert_eq!(
            exe_signature(&fixture("wizard-setup-unsigned.exe")).unwrap(),
            InstallerSignature::Unsigned
        );
        assert_eq!(
            exe_signature(&[7u8; 4096]).unwrap(),
            InstallerSignature::NotAnInstaller
        );
        // An .msi is no PE file, and a PE file no .msi.
        assert_eq!(
            exe_signature(&fixture("wizard-signed.msi")).unwrap(),
            InstallerSignature::NotAnInstaller
        );
        assert_eq!(
            msi_signature(&fixture("wizard-setup-signed.exe")).unwrap(),
            InstallerSignature::NotAnInstaller
        );
    }
}
