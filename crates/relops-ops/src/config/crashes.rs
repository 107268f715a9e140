//! The `[crashes]` section: crash processing (minidumps into stacks, crash groups) and
//! symbol files.

use serde::{Deserialize, Serialize};

/// `[crashes]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrashesConfig {
    /// Dumps processed at the same time (each on its own task; the rest wait in the
    /// queue, which `relops_crash_backlog` shows).
    pub workers: usize,
    /// How many of the crashing thread's top frames make a crash group's fingerprint.
    /// More frames split groups finer; fewer merge crashes that only share the top.
    pub fingerprint_frames: usize,
    /// A dump taking longer than this is unprocessable ("took too long").
    pub process_timeout_seconds: u64,
    /// Tries per crash before it stays pending for good (a dump that stops the worker).
    pub max_attempts: u32,
    /// Largest symbol file accepted (`relops symbols upload`), in bytes.
    pub max_symbol_bytes: u64,
    /// Dumps with more threads or modules than this are unprocessable.
    pub max_threads: usize,
    pub max_modules: usize,
}

impl Default for CrashesConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            fingerprint_frames: 5,
            process_timeout_seconds: 60,
            max_attempts: 3,
            max_symbol_bytes: 512 << 20,
            max_threads: 4096,
            max_modules: 4096,
        }
    }
}

impl CrashesConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0
            || self.fingerprint_frames == 0
            || self.process_timeout_seconds == 0
            || self.max_attempts == 0
            || self.max_symbol_bytes == 0
        {
            return Err("[crashes] workers, fingerprint_frames, process_timeout_seconds, max_attempts and max_symbol_bytes must be at least 1".into());
        }
        Ok(())
    }
}
