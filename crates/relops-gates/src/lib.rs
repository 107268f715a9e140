#![doc = include_str!("../README.md")]

pub mod authenticode;
pub mod coverage;
pub mod junit;
pub mod lint;
pub mod sbom;
pub mod scan;

/// Why a report could not be read. Each message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("report is empty")]
    Empty,
    #[error("report is {0} bytes, over the {1}-byte limit for this kind of report")]
    TooLarge(usize, usize),
    #[error("not a {expected} report: {why}")]
    Format { expected: &'static str, why: String },
}

pub(crate) fn check_size(bytes: &[u8], limit: usize) -> Result<(), ReportError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReportError::Empty);
    }
    if bytes.len() > limit {
        return Err(ReportError::TooLarge(bytes.len(), limit));
    }
    Ok(())
}

/// A report from `tests/data/reports` (real tool output, unedited).
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/reports/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}
