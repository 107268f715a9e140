//! The crash group of an analysis: SHA-256 over its top frames, each normalised so that the
//! same crash from another build, address layout or install gives the same text:
//! function names without addresses and without Rust's `::h0123…` hashes, and for frames
//! without symbols the module's name alone (its offsets move with every build).

use relops_api::{CrashAnalysis, CrashFrame};
use sha2::{Digest, Sha256};

/// A crash's group key and the name people see for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 (hex) over the normalised frames, one per line.
    pub hash: String,
    /// The first frame with a function name that is not the language runtime's
    /// (`ProjectLoader::open`, not `core::ptr::write_volatile` or libc's `raise`), else the
    /// first function, else the first module (`libwizard.so`), else the exception.
    pub signature: String,
}

/// The group of `analysis` from its top `depth` frames; `None` when it has no frame and no
/// exception (nothing to tell crashes apart by).
pub fn of(analysis: &CrashAnalysis, depth: usize) -> Option<Fingerprint> {
    let frames: Vec<String> = analysis
        .frames
        .iter()
        .take(depth.max(1))
        .map(normalise)
        .collect();
    let exception = analysis.exception.as_deref().map(exception_kind);
    if frames.is_empty() && exception.is_none() {
        return None;
    }
    let mut h = Sha256::new();
    if frames.is_empty() {
        h.update(exception.as_deref().unwrap_or_default());
    }
    for f in &frames {
        h.update(f.as_bytes());
        h.update(b"\n");
    }
    let functions = || analysis.frames.iter().filter_map(|f| f.function.as_deref());
    let signature = functions()
        .find(|f| !is_runtime(f))
        .or_else(|| functions().next())
        .map(function)
        .or_else(|| frames.first().cloned())
        .or(exception)
        .unwrap_or_default();
    Some(Fingerprint {
        hash: hex::encode(h.finalize()),
        signature,
    })
}

/// Functions of the language runtimes and the C library that sit above the app's own frame
/// when it crashes (a volatile write, a panic, an abort): not what a crash is named by.
fn is_runtime(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "core::",
        "std::",
        "alloc::",
        "<core::",
        "<std::",
        "<alloc::",
        "__rust",
        "rust_panic",
        "rust_begin_unwind",
        "__GI_",
        "__pthread_kill",
        "pthread_kill",
        "raise",
        "abort",
        "__libc_",
        "_platform_",
        "__cxa_throw",
        "_CxxThrowException",
        "RaiseException",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// One frame as the fingerprint sees it.
pub fn normalise(f: &CrashFrame) -> String {
    match (&f.function, &f.module) {
        (Some(func), _) => function(func),
        (None, Some(m)) => m.clone(),
        (None, None) => "?".to_owned(),
    }
}

/// A function name without what changes between builds: ` + 0x1f` offsets, hex
/// addresses, and Rust's trailing `::h` + 16 hex digits.
pub fn function(name: &str) -> String {
    let name = name.split(" + 0x").next().unwrap_or(name).trim();
    let name = match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    };
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let digits = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        if digits == 0 {
            out.push_str("0x");
        } else {
            out.push_str("0x?");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// An exception's kind without its message's variable parts: `SIGSEGV / SEGV_MAPERR`
/// stays; `ValueError: bad id 42` becomes `ValueError`.
fn exception_kind(e: &str) -> String {
    e.split(':').next().unwrap_or(e).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(module: &str, function: Option<&str>) -> CrashFrame {
        CrashFrame {
            module: Some(module.into()),
            function: function.map(str::to_owned),
            ..CrashFrame::default()
        }
    }

    fn analysis(frames: Vec<CrashFrame>) -> CrashAnalysis {
        CrashAnalysis {
            frames,
            exception: Some("SIGSEGV / SEGV_MAPERR".into()),
            ..CrashAnalysis::default()
        }
    }

    #[test]
    fn names_lose_addresses_and_hashes() {
        assert_eq!(function("wizard::open::h0123456789abcdef"), "wizard::open");
        assert_eq!(
            function("ProjectLoader::open(int) + 0x1f"),
            "ProjectLoader::open(int)"
        );
        assert_eq!(function("lambda at 0x7ffe12"), "lambda at 0x?");
        assert_eq!(function("a::hxyz"), "a::hxyz");
    }

    /// Two builds of the same crash (other hashes, other offsets) are one group; another
    /// top frame is another group; depth bounds what counts.
    #[test]
    fn the_same_crash_is_one_group() {
        let a = analysis(vec![
            frame("wizard", Some("wizard::loader::open::h0123456789abcdef")),
            CrashFrame {
                module_offset: Some("0x1234".into()),
                ..frame("libc.so.6", None)
            },
            frame("wizard", Some("main")),
        ]);
        let b = analysis(vec![
            frame("wizard", Some("wizard::loader::open::hfedcba9876543210")),
            CrashFrame {
                module_offset: Some("0x9999".into()),
                ..frame("libc.so.6", None)
            },
            frame("wizard", Some("main")),
        ]);
        let fa = of(&a, 5).unwrap();
        assert_eq!(fa, of(&b, 5).unwrap());
        assert_eq!(fa.signature, "wizard::loader::open");
        // Runtime frames above the app's are not its name.
        let mut r = a.clone();
        r.frames
            .insert(0, frame("wizard", Some("core::ptr::write_volatile")));
        assert_eq!(of(&r, 5).unwrap().signature, "wizard::loader::open");
        let mut c = a.clone();
        c.frames[0].function = Some("wizard::loader::save".into());
        assert_ne!(of(&c, 5).unwrap().hash, fa.hash);
        // Below the depth, frames do not matter.
        let mut d = a.clone();
        d.frames[2].function = Some("other_main".into());
        assert_eq!(of(&d, 2).unwrap().hash, of(&a, 2).unwrap().hash);
        assert_ne!(of(&d, 3).unwrap().hash, of(&a, 3).unwrap().hash);
        // No frames: the exception's kind groups; nothing at all: no group.
        let e = CrashAnalysis {
            exception: Some("ValueError: bad id 42".into()),
            ..CrashAnalysis::default()
        };
        let f = CrashAnalysis {
            exception: Some("ValueError: bad id 7".into()),
            ..CrashAnalysis::default()
        };
        assert_eq!(of(&e, 5), of(&f, 5));
        assert_eq!(of(&e, 5).unwrap().signature, "ValueError");
        assert_eq!(of(&CrashAnalysis::default(), 5), None);
    }
}
