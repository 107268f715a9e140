//! Crash analysis: what a crash says, and which crashes are the same.
//!
//! | module | does |
//! |---|---|
//! | [`process`] | a minidump → the crashing thread's frames, exception, OS and CPU, through `minidump-processor` with Breakpad symbols from a [`SymbolSupplier`] the caller implements (relops-ops reads them from the blob store) |
//! | [`event`] | a Sentry event's exception and stack trace → the same analysis (events from SDKs that send no dump) |
//! | [`fingerprint`] | the crash group of an analysis: its top frames normalised (no addresses, no Rust hashes; module names for frames without symbols) |
//! | [`symfile`] | a Breakpad `.sym` file's `MODULE` line: the module and debug id it is stored under |
//!
//! Everything here is pure apart from the supplier: bytes in, `relops_api` types out. A dump
//! is attacker-controlled (the DSN is public), so [`process::Limits`] bound what is read, and
//! every failure is an [`process::Unprocessable`] with a reason, never a panic that leaves.
//! The analysis keeps no memory of the crashed process: frames, modules and the exception.

pub mod event;
pub mod fingerprint;
pub mod process;
pub mod symfile;

pub use breakpad_symbols::{
    FileError, FileKind, LocateSymbolsResult, Module, SimpleSymbolSupplier, SymbolError,
    SymbolFile, SymbolSupplier, Symbolizer, basename,
};
pub use debugid::DebugId;

/// A symbolizer that has no symbols (every frame names its module and offset): for dumps
/// processed before any symbols exist, and for tests and fuzzing.
pub fn without_symbols() -> Symbolizer {
    Symbolizer::new(breakpad_symbols::StringSymbolSupplier::new(
        Default::default(),
    ))
}

/// The Breakpad form of a module's debug id (`D3096ED481217FD4C16B29CD9BC208BA0`): how symbol
/// files name it and how they are stored.
pub fn breakpad_id(id: &DebugId) -> String {
    id.breakpad().to_string()
}
