//! Every environment variable relops reads, in one place.
//!
//! Precedence everywhere: command-line flag > environment variable > config file > default.

/// URL of the relops server the CLI talks to (`--url`).
pub const URL: &str = "RELOPS_URL";
/// API token of the CLI (`--token`).
pub const TOKEN: &str = "RELOPS_TOKEN";
/// Product the CLI acts on when the server has several (`--product`).
pub const PRODUCT: &str = "RELOPS_PRODUCT";
/// A PEM CA certificate the CLI trusts besides the system's (`--ca-cert`): for a server
/// whose HTTPS certificate comes from an internal CA.
pub const CA_CERT: &str = "RELOPS_CA_CERT";
/// Data directory of `relops serve` and `relops init` (`--data-dir`).
pub const DATA_DIR: &str = "RELOPS_DATA_DIR";
/// Config file of `relops serve` and `relops init` (`--config`).
pub const CONFIG: &str = "RELOPS_CONFIG";
/// Log filter, in `tracing_subscriber::EnvFilter` syntax (default `info` for the server,
/// `warn` for the client).
pub const LOG: &str = "RELOPS_LOG";
// The server also reads RELOPS_LISTEN, RELOPS_DATABASE_URL, RELOPS_MAX_ARTIFACT_BYTES and
// RELOPS_BLOB__* (see `relops_ops::config`).
