//! The `[console]` section: the web console's sessions.

use serde::{Deserialize, Serialize};

/// `[console]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A console session ends this many hours after login (log in again).
    pub session_hours: u32,
    /// Send the session cookie with `Secure` (browsers then send it over HTTPS only).
    /// Default: when relops serves TLS itself (`tls_cert`); set `true` behind a proxy that
    /// terminates TLS.
    pub secure_cookie: Option<bool>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookie: None,
        }
    }
}
