//! The `[retention]` section (R-RET-1, R-RB-3): how long each data class is kept. The audit
//! trail's days are `[audit] retention_days`, closed tickets' `[support] retain_closed_days`.

use serde::{Deserialize, Serialize};

/// `[retention]`. Days kept per class; 0 keeps the class for ever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Signed installers with their checksums (R-RET-1: 12 months).
    pub artifacts_days: u32,
    /// Gate and checklist evidence: coverage, test reports, SBOMs, scans (12 months).
    pub evidence_days: u32,
    /// Crash symbol files (with the binaries they describe: 12 months).
    pub symbols_days: u32,
    /// Crash dumps and the files sent with crashes; at most `telemetry_days`.
    pub crash_dumps_days: u32,
    /// Log bundles the apps sent (R-RET-1: logs 30 days).
    pub log_bundles_days: u32,
    /// Telemetry rows: events, crash analyses, memory warnings, hourly error counts.
    pub telemetry_days: u32,
    /// The newest releases of every product (and every channel in the feed) that are never
    /// pruned: rollback stock (R-RB-3: 3).
    pub keep_releases: usize,
    /// Run retention once a day on the server (one replica of a deployment runs it).
    pub daily: bool,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let p = relops_core::retention::Rules::playbook();
        Self {
            artifacts_days: p.artifacts_days,
            evidence_days: p.evidence_days,
            symbols_days: p.symbols_days,
            crash_dumps_days: p.crash_dumps_days,
            log_bundles_days: p.log_bundles_days,
            telemetry_days: p.telemetry_days,
            keep_releases: p.keep_releases,
            daily: true,
        }
    }
}

impl RetentionConfig {
    /// The rules, with the audit trail's and closed tickets' days from their sections.
    pub fn rules(&self, audit_days: i64, tickets_days: u32) -> relops_core::retention::Rules {
        relops_core::retention::Rules {
            artifacts_days: self.artifacts_days,
            evidence_days: self.evidence_days,
            symbols_days: self.symbols_days,
            crash_dumps_days: self.crash_dumps_days,
            log_bundles_days: self.log_bundles_days,
            telemetry_days: self.telemetry_days,
            tickets_days,
            audit_days: u32::try_from(audit_days).unwrap_or(0),
            keep_releases: self.keep_releases,
        }
    }
}
