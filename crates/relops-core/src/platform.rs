//! The platforms relops ships to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A target platform of an artifact. The set is closed: an unknown name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Platform {
    MacosUniversal,
    MacosArm64,
    MacosX64,
    WindowsX64,
    WindowsArm64,
    LinuxX64,
}

/// Which operating system a platform belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    Macos,
    Windows,
    Linux,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Self::MacosUniversal,
        Self::MacosArm64,
        Self::MacosX64,
        Self::WindowsX64,
        Self::WindowsArm64,
        Self::LinuxX64,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MacosUniversal => "macos-universal",
            Self::MacosArm64 => "macos-arm64",
            Self::MacosX64 => "macos-x64",
            Self::WindowsX64 => "windows-x64",
            Self::WindowsArm64 => "windows-arm64",
            Self::LinuxX64 => "linux-x64",
        }
    }

    pub fn os(self) -> Os {
        match self {
            Self::MacosUniversal | Self::MacosArm64 | Self::MacosX64 => Os::Macos,
            Self::WindowsX64 | Self::WindowsArm64 => Os::Windows,
            Self::LinuxX64 => Os::Linux,
        }
    }
}

/// An unknown platform name; the message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown platform `{0}`: expected one of macos-universal, macos-arm64, macos-x64, windows-x64, windows-arm64, linux-x64"
)]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlatform(s.to_owned()))
    }
}

impl TryFrom<String> for Platform {
    type Error = UnknownPlatform;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.as_str().to_owned()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusal() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>().unwrap(), p);
        }
        let err = "macos".parse::<Platform>().unwrap_err().to_string();
        assert!(err.contains("macos-universal"), "{err}");
        assert!("Windows-x64".parse::<Platform>().is_err());
    }
}
