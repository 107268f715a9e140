//! Artifact file names and kinds (R-REL-6).
//!
//! An [`ArtifactName`] is a flat file name that is safe to use as a path component, a URL
//! segment and a TUF target name: no path separators, no `..`, no control characters,
//! at most 255 bytes, stored in Unicode NFC (macOS hands out decomposed names; a TUF
//! target name must have one canonical spelling). The [`ArtifactKind`] is read from its extension and must fit the
//! platform (a `.dmg` is for macOS, an `.msi`/`.msix` for Windows, an `.AppImage` for Linux).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::platform::{Os, Platform};

/// Longest file name accepted, in bytes (the limit of common file systems).
pub const MAX_NAME_BYTES: usize = 255;

/// Why an artifact name or kind was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactNameError {
    #[error("artifact file name is empty")]
    Empty,
    #[error("artifact file name is {0} bytes long: at most 255 bytes are allowed; rename the file")]
    TooLong(usize),
    #[error(
        "artifact file name `{0}` contains a path separator: upload a plain file name such as wizard-2.1.0.dmg"
    )]
    PathSeparator(String),
    #[error("artifact file name `{0}` is `.`, `..` or contains `..`: path traversal is refused")]
    DotDot(String),
    #[error(
        "artifact file name contains a control character, an invisible or direction-changing one, or a space at either end: rename the file"
    )]
    ControlCharacter,
    #[error(
        "artifact file name `{0}` starts with a dot or ends with a space or dot: rename the file"
    )]
    Unportable(String),
    #[error(
        "`{0}` has no known artifact extension: expected .dmg, .msi, .msix, .exe, .zip, .tar.gz, .AppImage or .nupkg"
    )]
    UnknownKind(String),
    #[error("a .{kind} artifact cannot be for platform {platform}: {hint}")]
    KindPlatformMismatch {
        kind: ArtifactKind,
        platform: Platform,
        hint: &'static str,
    },
}

/// A validated, flat artifact file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArtifactName(String);

impl ArtifactName {
    /// Validates `name`, composed to NFC first, so `U` + U+0308 and `Ü` name one file.
    pub fn new(name: impl Into<String>) -> Result<Self, ArtifactNameError> {
        use unicode_normalization::UnicodeNormalization;
        let name: String = name.into().nfc().collect();
        if name.is_empty() {
            return Err(ArtifactNameError::Empty);
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(ArtifactNameError::TooLong(name.len()));
        }
        if crate::text::line("name", &name, MAX_NAME_BYTES).map(str::len) != Ok(name.len()) {
            // Control, invisible or direction-changing characters (U+202E turns
            // `gmd.exe` into what reads as `exe.dmg`), or spaces at either end.
            return Err(ArtifactNameError::ControlCharacter);
        }
        if name.contains(['/', '\\']) {
            return Err(ArtifactNameError::PathSeparator(name));
        }
        if name == "." || name.contains("..") {
            return Err(ArtifactNameError::DotDot(name));
        }
        if name.starts_with('.') || name.ends_with([' ', '.']) || name.contains(':') {
            return Err(ArtifactNameError::Unportable(name));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kind read from the extension.
    pub fn kind(&self) -> Result<ArtifactKind, ArtifactNameError> {
        ArtifactKind::from_name(&self.0)
    }
}

impl TryFrom<String> for ArtifactName {
    type Error = ArtifactNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<ArtifactName> for String {
    fn from(n: ArtifactName) -> String {
        n.0
    }
}

impl fmt::Display for ArtifactName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The package format of an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArtifactKind {
    #[serde(rename = "dmg")]
    Dmg,
    #[serde(rename = "msi")]
    Msi,
    #[serde(rename = "msix")]
    Msix,
    #[serde(rename = "zip")]
    Zip,
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "AppImage")]
    AppImage,
    /// A Windows setup program (NSIS, as electron-builder makes it; Inno Setup).
    #[serde(rename = "exe")]
    Exe,
    /// A Velopack (or Squirrel) full package: what a Velopack app updates from.
    #[serde(rename = "nupkg")]
    Nupkg,
}

impl ArtifactKind {
    pub const ALL: [ArtifactKind; 8] = [
        Self::Dmg,
        Self::Msi,
        Self::Msix,
        Self::Zip,
        Self::TarGz,
        Self::AppImage,
        Self::Exe,
        Self::Nupkg,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dmg => "dmg",
            Self::Msi => "msi",
            Self::Msix => "msix",
            Self::Zip => "zip",
            Self::TarGz => "tar.gz",
            Self::AppImage => "AppImage",
            Self::Exe => "exe",
            Self::Nupkg => "nupkg",
        }
    }

    /// The kind from a file name's extension; `.dmg`, `.msi`, `.msix`, `.zip`, `.tar.gz`,
    /// `.exe` and `.nupkg` match case-insensitively, `.AppImage` as AppImage spells it (or all lowercase).
    pub fn from_name(name: &str) -> Result<Self, ArtifactNameError> {
        let lower = name.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| {
                let ext = format!(".{}", k.as_str().to_ascii_lowercase());
                lower.len() > ext.len() && lower.ends_with(&ext)
            })
            .ok_or_else(|| ArtifactNameError::UnknownKind(name.to_owned()))
    }

    /// Can the SDK install this kind itself? A setup program (`.exe`) takes options only its
    /// maker knows, and a `.nupkg` is Velopack's to apply: both are published for those
    /// updaters' feeds, never offered to the SDK.
    pub fn sdk_installs(self) -> bool {
        !matches!(self, Self::Exe | Self::Nupkg)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Refuses a kind that cannot run on `platform`.
    pub fn check_platform(self, platform: Platform) -> Result<(), ArtifactNameError> {
        let hint = match (self, platform.os()) {
            (Self::Dmg, os) if os != Os::Macos => "a disk image is for macos-* platforms",
            (Self::Msi | Self::Msix | Self::Exe, os) if os != Os::Windows => {
                "Windows installers are for windows-* platforms"
            }
            (Self::AppImage, os) if os != Os::Linux => "an AppImage is for linux-* platforms",
            _ => return Ok(()),
        };
        Err(ArtifactNameError::KindPlatformMismatch {
            kind: self,
            platform,
            hint,
        })
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the release key signs for each artifact (Ed25519, server-side, at upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedFields<'a> {
    pub product: &'a str,
    pub version: &'a str,
    pub platform: &'a str,
    pub name: &'a str,
    pub size: u64,
    pub sha256: &'a str,
}

impl SignedFields<'_> {
    /// The exact bytes signed (documented in `docs/releases.md`):
    /// `relops-artifact-v1\n{product}\n{version}\n{platform}\n{name}\n{size}\n{sha256}\n`.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "relops-artifact-v1\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.product, self.version, self.platform, self.name, self.size, self.sha256
        )
        .into_bytes()
    }
}

/// The hex SHA-256 digest form relops uses everywhere: 64 lowercase hex characters.
pub fn parse_sha256_hex(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    if lower.len() == 64 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(lower)
    } else {
        Err(format!(
            "`{s}` is not a SHA-256 digest: expected 64 hexadecimal characters, as printed by `sha256sum FILE`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        let cases: &[(&str, bool)] = &[
            ("wizard-2.1.0-macos-universal.dmg", true),
            ("WIZARD Setup 2.1.0.msi", true),
            ("wizard.tar.gz", true),
            ("", false),
            ("../etc/passwd", false),
            ("a/b.dmg", false),
            ("a\\b.msi", false),
            ("..", false),
            (".", false),
            ("wizard..dmg", false),
            (".hidden.dmg", false),
            ("wizard.dmg.", false),
            ("wizard.dmg ", false),
            ("C:wizard.msi", false),
            ("wiz\u{0}ard.dmg", false),
            ("wiz\nard.dmg", false),
            ("wiz\u{7f}ard.dmg", false),
        ];
        for (name, ok) in cases {
            assert_eq!(ArtifactName::new(*name).is_ok(), *ok, "{name:?}");
        }
        let long = format!("{}.dmg", "a".repeat(252));
        assert_eq!(long.len(), 256);
        assert_eq!(
            ArtifactName::new(long),
            Err(ArtifactNameError::TooLong(256))
        );
        assert!(ArtifactName::new(format!("{}.dmg", "a".repeat(251))).is_ok());
        // A decomposed name (as macOS file systems hand it out) is stored composed, so it
        // names the same file and its TUF target name is canonical.
        let decomposed = ArtifactName::new("Wizard-U\u{308}ber.dmg").unwrap();
        assert_eq!(
            decomposed,
            ArtifactName::new("Wizard-\u{dc}ber.dmg").unwrap()
        );
        assert_eq!(decomposed.as_str(), "Wizard-\u{dc}ber.dmg");
    }

    #[test]
    fn kinds() {
        let cases = [
            ("wizard.dmg", Some(ArtifactKind::Dmg)),
            ("wizard.DMG", Some(ArtifactKind::Dmg)),
            ("wizard.msi", Some(ArtifactKind::Msi)),
            ("wizard.msix", Some(ArtifactKind::Msix)),
            ("wizard.zip", Some(ArtifactKind::Zip)),
            ("wizard-2.1.0-linux-x64.tar.gz", Some(ArtifactKind::TarGz)),
            ("Wizard-x86_64.AppImage", Some(ArtifactKind::AppImage)),
            ("Wizard Setup 2.1.0.exe", Some(ArtifactKind::Exe)),
            ("wizard-2.1.0-full.nupkg", Some(ArtifactKind::Nupkg)),
            ("wizard.pkg", None),
            ("wizard.gz", None),
            ("dmg", None),
            (".dmg", None),
        ];
        for (name, kind) in cases {
            assert_eq!(ArtifactKind::from_name(name).ok(), kind, "{name}");
        }
    }

    #[test]
    fn kind_fits_platform() {
        use Platform::*;
        assert!(ArtifactKind::Dmg.check_platform(MacosUniversal).is_ok());
        assert!(ArtifactKind::Dmg.check_platform(WindowsX64).is_err());
        assert!(ArtifactKind::Msi.check_platform(WindowsArm64).is_ok());
        assert!(ArtifactKind::Msix.check_platform(MacosArm64).is_err());
        assert!(ArtifactKind::Exe.check_platform(WindowsX64).is_ok());
        assert!(ArtifactKind::Exe.check_platform(LinuxX64).is_err());
        assert!(ArtifactKind::AppImage.check_platform(LinuxX64).is_ok());
        assert!(ArtifactKind::AppImage.check_platform(MacosX64).is_err());
        for p in Platform::ALL {
            assert!(ArtifactKind::Zip.check_platform(p).is_ok());
            assert!(ArtifactKind::TarGz.check_platform(p).is_ok());
            assert!(ArtifactKind::Nupkg.check_platform(p).is_ok());
        }
    }

    #[test]
    fn signed_message_is_line_separated() {
        let f = SignedFields {
            product: "wizard",
            version: "2.1.0",
            platform: "macos-universal",
            name: "W.dmg",
            size: 12,
            sha256: "ab",
        };
        assert_eq!(
            f.message(),
            b"relops-artifact-v1\nwizard\n2.1.0\nmacos-universal\nW.dmg\n12\nab\n"
        );
    }

    #[test]
    fn digests() {
        let h = "A".repeat(64);
        assert_eq!(parse_sha256_hex(&h).unwrap(), "a".repeat(64));
        assert!(parse_sha256_hex("abc").is_err());
        assert!(parse_sha256_hex(&"g".repeat(64)).is_err());
    }

    proptest! {
        #[test]
        fn accepted_names_are_safe_path_components(s in "\\PC{0,300}") {
            if let Ok(n) = ArtifactName::new(s) {
                let p = std::path::Path::new(n.as_str());
                prop_assert_eq!(p.components().count(), 1);
                prop_assert!(matches!(p.components().next(), Some(std::path::Component::Normal(_))));
                prop_assert!(n.as_str().len() <= MAX_NAME_BYTES);
            }
        }
    }
}
