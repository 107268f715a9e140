//! A minidump into an analysis: the crashing thread's frames (with inlined frames expanded),
//! the exception, OS and CPU, and the modules on the stack whose symbols are missing.
//!
//! Bounds, because the dump comes from anyone with the DSN: its size, its thread and module
//! counts are checked before the stack walk, and at most [`Limits::max_frames`] frames are
//! kept. `minidump-processor` reads the dump in place (no copies). A panic inside it is the
//! caller's to contain (relops-ops runs each dump as its own task and turns a panic into
//! "unprocessable"); everything this module can see going wrong is an [`Unprocessable`].

use minidump::{Minidump, MinidumpModuleList, MinidumpThreadList, Module};
use minidump_processor::ProcessorOptions;
use minidump_unwind::{FrameTrust, StackFrame, Symbolizer};
use relops_api::{AnalysisStatus, CrashAnalysis, CrashFrame, ModuleId};
use thiserror::Error;

/// What a dump may hold before it is refused.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_dump_bytes: usize,
    pub max_threads: usize,
    pub max_modules: usize,
    /// Frames kept of the crashing thread (the rest are counted, not stored).
    pub max_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_dump_bytes: 512 << 20,
            max_threads: 4096,
            max_modules: 4096,
            max_frames: 64,
        }
    }
}

/// Why a dump could not be processed, in words for the crash page.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Unprocessable(pub String);

/// Processes one minidump. Symbols come through `symbols` (its cache keeps each symbol file
/// parsed once across dumps).
pub async fn process(
    dump: &[u8],
    symbols: &Symbolizer,
    limits: Limits,
) -> Result<CrashAnalysis, Unprocessable> {
    let bad = |what: String| Unprocessable(what);
    if dump.len() > limits.max_dump_bytes {
        return Err(bad(format!(
            "the dump is {} bytes, more than the {} a dump may have",
            dump.len(),
            limits.max_dump_bytes
        )));
    }
    let md = Minidump::read(dump).map_err(|e| bad(format!("not a readable minidump: {e}")))?;
    if let Ok(threads) = md.get_stream::<MinidumpThreadList>()
        && threads.threads.len() > limits.max_threads
    {
        return Err(bad(format!(
            "the dump lists {} threads, more than the {} a dump may have",
            threads.threads.len(),
            limits.max_threads
        )));
    }
    if let Ok(modules) = md.get_stream::<MinidumpModuleList>()
        && modules.iter().count() > limits.max_modules
    {
        return Err(bad(format!(
            "the dump lists more than {} modules",
            limits.max_modules
        )));
    }
    let state = minidump_processor::process_minidump_with_options(
        &md,
        symbols,
        ProcessorOptions::stable_basic(),
    )
    .await
    .map_err(|e| bad(format!("the dump could not be processed: {e}")))?;

    let stats = symbols.stats();
    let thread = state
        .requesting_thread
        .and_then(|i| state.threads.get(i).map(|t| (i, t)));
    let mut frames = Vec::new();
    let mut missing = std::collections::BTreeSet::new();
    if let Some((_, stack)) = thread {
        for f in &stack.frames {
            expand(f, &mut frames);
            if f.function_name.is_none()
                && let Some(m) = &f.module
            {
                let name = breakpad_symbols::basename(&m.code_file()).to_owned();
                let loaded = stats.get(&name).is_some_and(|s| s.loaded_symbols);
                if !loaded {
                    missing.insert(ModuleId {
                        module: m
                            .debug_file()
                            .map(|d| breakpad_symbols::basename(&d).to_owned())
                            .unwrap_or(name),
                        debug_id: m
                            .debug_identifier()
                            .map(|id| crate::breakpad_id(&id))
                            .unwrap_or_default(),
                    });
                }
            }
            if frames.len() >= limits.max_frames {
                break;
            }
        }
    }
    frames.truncate(limits.max_frames);
    let os = match &state.system_info.os_version {
        Some(v) => format!("{} {v}", state.system_info.os.long_name()),
        None => state.system_info.os.long_name().into_owned(),
    };
    let exception = state.exception_info.as_ref();
    let uptime_seconds = state
        .process_create_time
        .and_then(|start| state.time.duration_since(start).ok())
        .map(|d| d.as_secs());
    Ok(CrashAnalysis {
        uptime_seconds,
        status: AnalysisStatus::Processed,
        exception: exception.map(|e| e.reason.to_string()),
        crash_address: exception.map(|e| format!("{:#x}", e.address.0)),
        os: Some(os),
        cpu: Some(state.system_info.cpu.to_string()),
        crashing_thread: thread.and_then(|(i, _)| u32::try_from(i).ok()),
        thread_name: thread.and_then(|(_, t)| t.thread_name.clone()),
        frames,
        missing_symbols: missing.into_iter().collect(),
        ..CrashAnalysis::default()
    })
}

/// A frame and the frames inlined into it, innermost first.
fn expand(f: &StackFrame, out: &mut Vec<CrashFrame>) {
    let module = f
        .module
        .as_ref()
        .map(|m| breakpad_symbols::basename(&m.code_file()).to_owned());
    let offset = f
        .module
        .as_ref()
        .map(|m| format!("{:#x}", f.instruction.saturating_sub(m.base_address())));
    let trust = Some(trust_name(f.trust).to_owned());
    // Each inline frame carries the line inside itself, innermost first (the processor
    // orders them so); the frame's own function is the one they were inlined into.
    for inline in &f.inlines {
        out.push(CrashFrame {
            module: module.clone(),
            function: Some(inline.function_name.clone()),
            file: inline.source_file_name.clone(),
            line: inline.source_line,
            module_offset: offset.clone(),
            trust: trust.clone(),
        });
    }
    out.push(CrashFrame {
        module,
        function: f.function_name.clone(),
        file: f.source_file_name.clone(),
        line: f.source_line,
        module_offset: offset,
        trust,
    });
}

fn trust_name(t: FrameTrust) -> &'static str {
    match t {
        FrameTrust::None => "none",
        FrameTrust::Scan => "scan",
        FrameTrust::CfiScan => "cfi_scan",
        FrameTrust::FramePointer => "frame_pointer",
        FrameTrust::CallFrameInfo => "cfi",
        FrameTrust::PreWalked => "prewalked",
        FrameTrust::Context => "context",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../relops/tests/data/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn no_symbols() -> Symbolizer {
        crate::without_symbols()
    }

    /// The fixture dumps minidump-writer wrote (README of the fixtures): a SIGSEGV in the
    /// `minidump-self` program, no symbols here, so frames name their modules and offsets,
    /// and the program is reported as missing symbols.
    #[tokio::test]
    async fn the_segv_fixture_without_symbols() {
        let a = process(&dump("minidump-segv.dmp"), &no_symbols(), Limits::default())
            .await
            .unwrap();
        assert_eq!(a.status, AnalysisStatus::Processed);
        assert!(
            a.exception.as_deref().unwrap().starts_with("SIGSEGV"),
            "{a:?}"
        );
        assert_eq!(a.os.as_deref().map(|o| o.starts_with("Linux")), Some(true));
        assert_eq!(a.cpu.as_deref(), Some("amd64"));
        assert!(!a.frames.is_empty());
        assert!(a.frames.iter().all(|f| f.function.is_none()));
        // minidump-writer's Linux dumps carry no process start time (Windows and macOS
        // dumps do, in their misc info stream): no uptime rather than a wrong one.
        assert_eq!(a.uptime_seconds, None);
        let top = &a.frames[0];
        assert!(
            top.module.is_some() && top.module_offset.is_some(),
            "{top:?}"
        );
        assert!(
            a.missing_symbols
                .iter()
                .any(|m| m.module == *top.module.as_ref().unwrap() && m.debug_id.len() >= 33),
            "{:?}",
            a.missing_symbols
        );
        let plain = process(
            &dump("minidump-plain.dmp"),
            &no_symbols(),
            Limits::default(),
        )
        .await
        .unwrap();
        assert_eq!(plain.status, AnalysisStatus::Processed);
    }

    /// Damaged dumps are unprocessable with a reason: cut short at many lengths, bytes
    /// flipped through the header and directory, other files, limits.
    #[tokio::test]
    async fn damaged_dumps_are_unprocessable_not_panics() {
        let good = dump("minidump-segv.dmp");
        let s = no_symbols();
        for len in [
            0,
            3,
            4,
            16,
            31,
            32,
            100,
            1000,
            good.len() / 2,
            good.len() - 1,
        ] {
            let r = process(&good[..len], &s, Limits::default()).await;
            if let Err(e) = r {
                assert!(!e.0.is_empty());
            }
        }
        for at in (0..good.len().min(4096)).step_by(7) {
            let mut bad = good.clone();
            bad[at] ^= 0xff;
            let _ = process(&bad, &s, Limits::default()).await;
        }
        assert!(
            process(b"PK\x03\x04 a zip", &s, Limits::default())
                .await
                .is_err()
        );
        let small = Limits {
            max_dump_bytes: 100,
            ..Limits::default()
        };
        let e = process(&good, &s, small).await.unwrap_err();
        assert!(e.0.contains("more than the 100"), "{e}");
        let few = Limits {
            max_threads: 0,
            ..Limits::default()
        };
        let e = process(&good, &s, few).await.unwrap_err();
        assert!(e.0.contains("threads"), "{e}");
    }
}
