//! Breakpad symbol files: the `MODULE` line that names what a file symbolises.

use thiserror::Error;

/// What a symbol file's first line says: `MODULE Linux x86_64 D3096ED4…0 wizard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymHeader {
    pub os: String,
    pub arch: String,
    /// Breakpad form, upper case (33 or more hex digits).
    pub debug_id: String,
    /// The debug file's name (`wizard`, `Wizard.pdb`).
    pub module: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SymFileError {
    #[error(
        "not a Breakpad symbol file: it must start with `MODULE <os> <arch> <debug id> <name>` (make one with `dump_syms`, or upload the native debug file and let `relops symbols upload` convert it)"
    )]
    NoModuleLine,
    #[error("the MODULE line's debug id `{0}` is not hex (Breakpad form: 33+ hex digits)")]
    BadDebugId(String),
    #[error("the MODULE line's {0} is too long or not printable")]
    BadField(&'static str),
}

/// Reads the `MODULE` line (the first line) of a Breakpad `.sym` file.
pub fn header(bytes: &[u8]) -> Result<SymHeader, SymFileError> {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(first)
        .map_err(|_| SymFileError::NoModuleLine)?
        .trim_end_matches('\r');
    let mut parts = line.splitn(5, ' ');
    let (Some("MODULE"), Some(os), Some(arch), Some(id), Some(module)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(SymFileError::NoModuleLine);
    };
    let field = |name, v: &str, max: usize| {
        if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
            Err(SymFileError::BadField(name))
        } else {
            Ok(v.to_owned())
        }
    };
    if id.len() < 33 || id.len() > 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SymFileError::BadDebugId(id.chars().take(48).collect()));
    }
    Ok(SymHeader {
        os: field("os", os, 32)?,
        arch: field("arch", arch, 32)?,
        debug_id: id.to_ascii_uppercase(),
        module: field("module name", module.trim(), 255)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lines() {
        let h =
            header(b"MODULE Linux x86_64 D3096ED481217FD4C16B29CD9BC208BA0 wizard\nFILE 0 a.rs\n")
                .unwrap();
        assert_eq!(h.os, "Linux");
        assert_eq!(h.arch, "x86_64");
        assert_eq!(h.debug_id, "D3096ED481217FD4C16B29CD9BC208BA0");
        assert_eq!(h.module, "wizard");
        // Module names may hold spaces (Windows paths do not reach here, names do).
        let h = header(b"MODULE windows x86_64 d3096ed481217fd4c16b29cd9bc208ba1 My App.pdb\r\n")
            .unwrap();
        assert_eq!(h.module, "My App.pdb");
        assert_eq!(h.debug_id, "D3096ED481217FD4C16B29CD9BC208BA1");
        assert_eq!(header(b"FILE 0 a.rs\n"), Err(SymFileError::NoModuleLine));
        assert_eq!(header(b""), Err(SymFileError::NoModuleLine));
        assert_eq!(header(b"\x7fELF\x02"), Err(SymFileError::NoModuleLine));
        assert!(matches!(
            header(b"MODULE Linux x86_64 xyz wizard\n"),
            Err(SymFileError::BadDebugId(_))
        ));
    }
}
