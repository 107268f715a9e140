//! The stack of a crash that came as a Sentry event (SDKs that send no dump: Python, the
//! Rust `sentry` panic handler, JavaScript): the raised exception's type and message and its
//! stack trace, innermost frame first, as the same [`CrashAnalysis`] a dump gives.
//!
//! Sentry orders `exception.values` from the first cause to the exception that was raised
//! (the last), and a stack trace's frames from the outermost call to the innermost (the
//! last). Without a stack trace on the exception, the crashed thread's is used.

use relops_api::{AnalysisStatus, CrashAnalysis, CrashFrame};
use serde_json::Value;

/// Longest text kept of a name, file or message (the event is the fleet's input).
const MAX_TEXT: usize = 256;

/// The analysis of an event; `NoStack` when it has neither exception nor stack trace.
pub fn analyse(event: &Value, max_frames: usize) -> CrashAnalysis {
    let raised = event
        .pointer("/exception/values")
        .and_then(Value::as_array)
        .and_then(|v| v.last());
    let exception = raised.and_then(|e| {
        let ty = text(e.get("type"));
        let value = text(e.get("value"));
        match (ty, value) {
            (Some(t), Some(v)) => Some(bounded(&format!("{t}: {v}"))),
            (Some(t), None) => Some(t),
            (None, v) => v,
        }
    });
    let crashed_thread = || {
        event
            .pointer("/threads/values")
            .and_then(Value::as_array)?
            .iter()
            .find(|t| t.get("crashed").and_then(Value::as_bool) == Some(true))?
            .get("stacktrace")
    };
    let frames: Vec<CrashFrame> = raised
        .and_then(|e| e.get("stacktrace"))
        .or_else(crashed_thread)
        .and_then(|s| s.get("frames"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .rev()
                .take(max_frames)
                .map(|f| CrashFrame {
                    module: text(f.get("package")).or_else(|| text(f.get("module"))),
                    function: text(f.get("function")),
                    file: text(f.get("filename")).or_else(|| text(f.get("abs_path"))),
                    line: f
                        .get("lineno")
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok()),
                    module_offset: None,
                    trust: None,
                })
                .collect()
        })
        .unwrap_or_default();
    let status = if frames.is_empty() && exception.is_none() {
        AnalysisStatus::NoStack
    } else {
        AnalysisStatus::Processed
    };
    CrashAnalysis {
        status,
        exception,
        frames,
        uptime_seconds: uptime(event),
        ..CrashAnalysis::default()
    }
}

/// Seconds from the app's start (`contexts.app.app_start_time`) to the event's
/// `timestamp` (RFC 3339, or seconds since the epoch as Sentry also writes).
fn uptime(event: &Value) -> Option<u64> {
    let time = |v: &Value| -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => {
                let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
                Some(t.timestamp_micros() as f64 / 1e6)
            }
            _ => None,
        }
    };
    let start = time(event.pointer("/contexts/app/app_start_time")?)?;
    let at = time(event.get("timestamp")?)?;
    (at >= start).then_some((at - start) as u64)
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(bounded)
}

fn bounded(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    match s.char_indices().nth(MAX_TEXT) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_raised_exception_and_its_frames_innermost_first() {
        let event = json!({"exception": {"values": [
            {"type": "KeyError", "value": "'x'"},
            {"type": "RuntimeError", "value": "project could not be opened", "stacktrace": {"frames": [
                {"function": "main", "module": "wizard.app", "filename": "wizard/app.py", "lineno": 10},
                {"function": "open", "module": "wizard.loader", "filename": "wizard/loader.py", "lineno": 42}
            ]}}
        ]}});
        let a = analyse(&event, 64);
        assert_eq!(a.status, AnalysisStatus::Processed);
        assert_eq!(
            a.exception.as_deref(),
            Some("RuntimeError: project could not be opened")
        );
        assert_eq!(a.frames[0].function.as_deref(), Some("open"));
        assert_eq!(a.frames[0].line, Some(42));
        assert_eq!(a.frames[1].module.as_deref(), Some("wizard.app"));
        assert_eq!(analyse(&event, 1).frames.len(), 1);
        assert_eq!(a.uptime_seconds, None);
        let early = json!({"timestamp": "2026-12-05T10:00:04.5Z",
            "contexts": {"app": {"app_start_time": "2026-12-05T10:00:00Z"}},
            "exception": {"values": [{"type": "panic"}]}});
        assert_eq!(analyse(&early, 64).uptime_seconds, Some(4));
        let epoch = json!({"timestamp": 1_764_928_810.0,
            "contexts": {"app": {"app_start_time": "2025-12-05T10:00:00Z"}}});
        assert_eq!(analyse(&epoch, 64).uptime_seconds, Some(10));
    }

    #[test]
    fn the_crashed_thread_when_the_exception_has_no_stack() {
        let event = json!({
            "exception": {"values": [{"type": "panic", "value": "oops\u{7}"}]},
            "threads": {"values": [
                {"crashed": false, "stacktrace": {"frames": [{"function": "idle"}]}},
                {"crashed": true, "stacktrace": {"frames": [{"function": "outer"}, {"function": "inner", "package": "/usr/bin/wizard"}]}}
            ]}
        });
        let a = analyse(&event, 64);
        assert_eq!(a.exception.as_deref(), Some("panic: oops"));
        assert_eq!(a.frames[0].function.as_deref(), Some("inner"));
        assert_eq!(a.frames[0].module.as_deref(), Some("/usr/bin/wizard"));
        assert_eq!(
            analyse(&json!({"message": "x"}), 64).status,
            AnalysisStatus::NoStack
        );
        let long = analyse(
            &json!({"exception": {"values": [{"type": "x".repeat(5000)}]}}),
            64,
        );
        assert!(long.exception.unwrap().chars().count() <= MAX_TEXT + 1);
    }
}
