//! `relops-crashme crash OUT.dmp`: crashes with a null write in [`wizard_open_project`] and
//! leaves a minidump of itself in `OUT.dmp`, then dies of the signal (exit 139 in a shell).
//!
//! A process cannot ptrace itself, and minidump-writer reads the crashed process through
//! ptrace, so the signal handler starts this program again as a helper
//! (`relops-crashme helper OUT.dmp`), hands it the crash context (registers and signal
//! information, as crash-context's bytes) on its stdin and waits while the helper attaches,
//! writes the dump and detaches. The crash-analysis tests build its symbols with dump_syms
//! and expect the stack to name `wizard_open_project` and the line marked below.

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("crash"), Some(out)) => linux::crash(out),
        (Some("helper"), Some(out)) => linux::helper(out),
        _ => {
            eprintln!("usage: relops-crashme crash OUT.dmp");
            std::process::exit(2);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("relops-crashme writes Linux minidumps only");
    std::process::exit(2);
}

/// Opens a "project": writes its name's length through a pointer that is null. The
/// `black_box` keeps the compiler from seeing the null (it would emit a trap instead).
#[inline(never)]
pub fn wizard_open_project(name: &str) -> u32 {
    let slot = std::hint::black_box(std::ptr::null_mut::<u32>());
    let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
    // SAFETY: none — this write is the crash the tests want.
    unsafe { std::ptr::write_volatile(slot, len) }; // relops-crashme: the crash
    len
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    use crash_handler::{CrashContext, CrashEventResult, CrashHandler, make_crash_event};
    use minidump_writer::minidump_writer::MinidumpWriterConfig;

    pub fn crash(out: &str) {
        let exe = std::env::current_exe().expect("the program's own path");
        let out = out.to_owned();
        // SAFETY: the closure runs in the signal handler. It allocates and starts a process,
        // which a real crash reporter must not; this program crashes at a known place
        // outside the allocator, so the heap is sound when it does.
        let event = unsafe {
            make_crash_event(move |cc: &CrashContext| {
                let ok = Command::new(&exe)
                    .arg("helper")
                    .arg(&out)
                    .stdin(Stdio::piped())
                    .spawn()
                    .and_then(|mut child| {
                        if let Some(mut stdin) = child.stdin.take() {
                            stdin.write_all(cc.as_bytes())?;
                        }
                        child.wait()
                    })
                    .is_ok_and(|s| s.success());
                if !ok {
                    eprintln!("relops-crashme: the helper did not write the dump");
                }
                // Handled: the default action comes back and the fault kills the process.
                CrashEventResult::Handled(true)
            })
        };
        let _handler = CrashHandler::attach(event).expect("install the crash handler");
        // Where Yama restricts ptrace to ancestors, allow the helper (a child) to attach.
        // SAFETY: prctl with integer arguments only.
        unsafe {
            libc::prctl(libc::PR_SET_PTRACER, libc::PR_SET_PTRACER_ANY, 0, 0, 0);
        }
        let n = crate::wizard_open_project("Quarterly plan.wzp");
        unreachable!("the write above crashes (wrote {n})");
    }

    pub fn helper(out: &str) {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .expect("read the crash context");
        let cc = CrashContext::from_bytes(&bytes).expect("a crash context on stdin");
        let mut config = MinidumpWriterConfig::new(cc.pid, cc.tid);
        config.set_crash_context(minidump_writer::CrashContextExt { inner: cc });
        let mut file = std::fs::File::create(out).expect("create the dump file");
        config.write(&mut file).expect("write the minidump");
    }
}
