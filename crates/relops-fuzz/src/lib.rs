//! Fuzz targets: every parser that reads bytes relops did not write itself. Each target
//! takes arbitrary bytes, must not panic, hang or allocate without bound, and checks what
//! the parser promises of what it accepts (an accepted envelope's records are within their
//! bounds; a coverage figure is a percentage; canonical JSON reads back as itself).
//!
//! | target | what reads it | attacker |
//! |---|---|---|
//! | [`envelope`] | the Sentry endpoint: `envelope::parse`, then `interpret::records` | anyone with the public DSN |
//! | [`minidump_form`] | the Crashpad upload's form fields: `interpret::form_event`, `minidump_record` | anyone with the public DSN |
//! | [`coverage`], [`junit`], [`lint`], [`sbom`], [`scan`], [`msi`] | the release gates' report readers (`relops-gates`) | a CI job's token, a compromised tool |
//! | [`tuf`] | TUF metadata types, canonical JSON and signature checks (`relops-tuf`) | a mirror or a tampered store |
//! | [`sealed`] | sealed crash dumps (`relops-seal`): shape check and opening | anyone with the public DSN |
//! | [`minidump`] | the crash processor (`relops-crash`): a dump into a stack | anyone with the public DSN |
//!
//! The tests below run each target on the real files in the repository (envelopes the
//! Python SDK wrote, reports the real tools wrote, feed metadata relops signed) and then
//! on generated inputs — raw bytes, and those files with bytes changed — for a bounded
//! number of runs (`BOLERO_RANDOM_ITERATIONS`, default 1,000 each). `cargo bolero test`
//! runs the same targets coverage-guided under libFuzzer for as long as asked
//! (docs/fuzzing.md, `bench/fuzz.sh`).

use std::path::PathBuf;

use relops_ingest::interpret::{self, Context};
use relops_ingest::{Record, envelope};
use serde_json::Value;

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &str, suffixes: &[&str]) -> Vec<Vec<u8>> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(root().join(dir))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.to_string_lossy();
                    suffixes.iter().any(|s| name.ends_with(s))
                })
                .filter_map(|p| Some((p.to_string_lossy().into_owned(), std::fs::read(&p).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.into_iter().map(|(_, b)| b).collect()
}

/// The real inputs each target starts from.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let reports = "crates/relops-gates/tests/data/reports";
    match target {
        "envelope" => files("crates/relops-ingest/tests/data/sentry-python", &[".envelope"]),
        "minidump_form" => vec![
            b"sentry\0{\"release\":\"wizard@2.1.0\",\"user\":{\"id\":\"i-1\"},\"tags\":{\"phase\":\"startup\"}}\0sentry[environment]\0production\0guid\0ab".to_vec(),
        ],
        "coverage" => files(reports, &[".lcov.info", ".cobertura.xml"]),
        "junit" => files(reports, &[".xml"])
            .into_iter()
            .filter(|b| b.windows(8).any(|w| w == b"testcase"))
            .collect(),
        "lint" => files(reports, &[".sarif"]),
        "msi" => files(reports, &[".msi", ".exe"]),
        "mail" => files("crates/relops-core/tests/data/mail", &[".eml"]),
        "sbom" => files(reports, &[".cdx.json"]),
        "scan" => files(reports, &["baseline.json", "cargo-audit.json", "cargo-audit-clean.json"]),
        "tuf" => tuf_seeds(),
        "sealed" => vec![sealed_seed()],
        "minidump" => files("crates/relops/tests/data", &[".dmp"]),
        _ => Vec::new(),
    }
}

/// A context as a server with one product and two channels has.
fn with_context<T>(f: impl FnOnce(&Context<'_>) -> T) -> T {
    let products = vec!["wizard".to_owned(), "atlas".to_owned()];
    let channels = vec!["internal".to_owned(), "stable".to_owned()];
    let classify = |e: &Value| {
        (e.pointer("/tags/phase").and_then(Value::as_str) == Some("startup"))
            .then(|| "crash on start".to_owned())
    };
    f(&Context {
        product: "wizard",
        products: &products,
        channels: &channels,
        production_channel: "stable",
        classify: &classify,
    })
}

/// A Sentry envelope as the endpoint reads it: what it accepts is within every bound.
pub fn envelope(input: &[u8]) {
    let Ok(env) = envelope::parse(input) else {
        return;
    };
    let _ = env.event_id();
    let Ok(batch) = with_context(|cx| interpret::records(&env, cx)) else {
        return;
    };
    let sessions = env.items.iter().filter(|i| i.ty == "session").count();
    assert!(
        sessions <= interpret::MAX_SESSION_ITEMS,
        "{sessions} session items accepted"
    );
    for (_, records) in batch.groups() {
        for r in records {
            assert!(
                r.check().is_ok(),
                "an accepted record breaks its bounds: {r:?}"
            );
            if let Record::Aggregate { counts, .. } = r {
                assert!(
                    counts
                        .iter()
                        .all(|(_, n)| *n <= relops_ingest::session::MAX_BUCKET_SESSIONS)
                );
            }
        }
    }
}

/// A Crashpad upload's form: fields separated by NUL as `name NUL value NUL …`.
pub fn minidump_form(input: &[u8]) {
    let mut parts = input.split(|b| *b == 0);
    let mut fields: Vec<(String, &[u8])> = Vec::new();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        fields.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    let event = interpret::form_event(fields.iter().map(|(n, v)| (n.as_str(), *v)));
    if let Ok((_, record)) =
        with_context(|cx| interpret::minidump_record(cx, &event, "ab".repeat(16), "{}".into()))
    {
        assert!(
            record.check().is_ok(),
            "an accepted record breaks its bounds: {record:?}"
        );
    }
}

/// lcov and Cobertura: an accepted report's figure is a percentage.
pub fn coverage(input: &[u8]) {
    if let Ok(c) = relops_gates::coverage::parse(input) {
        let p = c.line_percent();
        assert!((0.0..=100.0).contains(&p), "line coverage {p} %");
    }
}

/// SARIF lint logs (clippy-sarif, ruff): counts never exceed the results read.
pub fn lint(input: &[u8]) {
    if let Ok(s) = relops_gates::lint::parse(input) {
        let listed: u64 = s.rules.iter().map(|(_, n)| n).sum();
        assert!(listed <= s.errors + s.warnings + s.notes, "{s:?}");
        let _ = s.passes();
    }
}

/// Customers' mail (the support desk's public address): read into a ticket's parts.
pub fn mail(input: &[u8]) {
    if let Ok(m) = relops_core::mail::parse(input) {
        assert!(
            m.subject.chars().count() <= relops_core::mail::MAX_SUBJECT_CHARS,
            "{m:?}"
        );
        assert!(m.attachments.len() <= relops_core::mail::MAX_ATTACHMENTS);
        assert!(!m.from.is_empty() && !m.message_id.is_empty());
    }
}

/// Windows installers: the Authenticode signer read from an `.msi` (an OLE compound file
/// holding PKCS #7) and from a setup program's PE attribute certificate table.
pub fn msi(input: &[u8]) {
    let _ = relops_gates::authenticode::msi_signature(input);
    let _ = relops_gates::authenticode::exe_signature(input);
}

/// JUnit XML (pytest, nextest).
pub fn junit(input: &[u8]) {
    if let Ok(t) = relops_gates::junit::parse(input) {
        let _ = t.passes();
    }
}

/// CycloneDX SBOMs under the default licence policy.
pub fn sbom(input: &[u8]) {
    let _ = relops_gates::sbom::check(input, &relops_gates::sbom::LicencePolicy::default());
}

/// Vulnerability and secret scanners' JSON (cargo-audit, OSV-Scanner, Grype,
/// detect-secrets, gitleaks); redaction never panics either.
pub fn scan(input: &[u8]) {
    let _ = relops_gates::scan::parse(input, relops_gates::scan::Severity::High);
    let _ = relops_gates::scan::redacted(input);
}

/// TUF metadata: each role's type, canonical JSON (which must read back as the value it
/// came from) and the signature check against a root.
pub fn tuf(input: &[u8]) {
    use relops_tuf::{Root, Signed, Snapshot, Targets, Timestamp};
    let root = Signed::<Root>::from_bytes(input).ok();
    let _ = Signed::<Timestamp>::from_bytes(input);
    let _ = Signed::<Snapshot>::from_bytes(input);
    let _ = Signed::<Targets>::from_bytes(input);
    let Ok(value) = serde_json::from_slice::<Value>(input) else {
        return;
    };
    // OLPC canonical JSON escapes only `"` and `\` and writes control characters raw (as
    // securesystemslib does), so such output is not strict JSON: the round trip is checked
    // for everything else (found by fuzzing: a `\b` in a key id).
    if let Ok(canonical) = relops_tuf::canonical_json(&value)
        && !canonical.iter().any(|b| *b < 0x20)
    {
        let again: Value = serde_json::from_slice(&canonical).expect("canonical JSON is JSON");
        assert_eq!(again, value, "canonical JSON changed the value");
    }
    if let Some(root) = root {
        for role in root.signed.roles.values() {
            let _ = relops_tuf::verify_role(&value, &root.signed.keys, role);
        }
    }
}

/// The crash key pair of this run (the sealed seed is made with it).
fn crash_keys() -> (String, String) {
    use std::sync::OnceLock;
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(relops_seal::generate).clone()
}

/// Metadata of every role as relops signs it: a root whose roles share one key, and the
/// timestamp, snapshot and targets it signs.
fn tuf_seeds() -> Vec<Vec<u8>> {
    use relops_tuf::{Key, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp, sign};
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let public = Key::ed25519(&key.verifying_key());
    let expires = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .expect("a date")
        .with_timezone(&chrono::Utc);
    let mut root = Root::new(1, expires);
    for role in ["root", "targets", "snapshot", "timestamp"] {
        root.set_role(role, std::slice::from_ref(&public), 1);
    }
    let mut targets = Targets::new(3, expires);
    targets.targets.insert(
        "wizard/2.1.0/WIZARD-2.1.0.dmg".into(),
        TargetFile {
            length: 4096,
            hashes: [("sha256".to_owned(), "ab".repeat(32))]
                .into_iter()
                .collect(),
            custom: Some(serde_json::json!({"version": "2.1.0", "platform": "macos-universal"})),
        },
    );
    let mut snapshot = Snapshot::new(4, expires, 3);
    snapshot
        .meta
        .insert("extra.json".into(), MetaFile::version(1));
    let bytes = |v: Result<Vec<u8>, relops_tuf::TufError>| v.expect("signing works");
    vec![
        bytes(sign(root, &[&key]).and_then(|s| s.to_bytes())),
        bytes(sign(Timestamp::new(5, expires, 4), &[&key]).and_then(|s| s.to_bytes())),
        bytes(sign(snapshot, &[&key]).and_then(|s| s.to_bytes())),
        bytes(sign(targets, &[&key]).and_then(|s| s.to_bytes())),
    ]
}

fn sealed_seed() -> Vec<u8> {
    let (_, public) = crash_keys();
    relops_seal::seal(&public, "ab".repeat(16).as_str(), b"MDMP\x93\xa7 a dump")
        .expect("sealing works")
}

/// Sealed crash dumps: the shape check the server makes, and opening with the crash key.
pub fn sealed(input: &[u8]) {
    let checked = relops_seal::check(input).is_ok();
    let (private, _) = crash_keys();
    if let Ok(dump) = relops_seal::open(&private, &"ab".repeat(16), input) {
        assert!(checked, "opened what the shape check refused");
        assert!(dump.len() <= input.len(), "opening grew the dump");
    }
}

/// `seeds[pick]` with `edits` applied (position, byte) — the real file, a little wrong.
pub fn mutate(seeds: &[Vec<u8>], pick: u8, edits: &[(u16, u8)], cut: Option<u16>) -> Vec<u8> {
    if seeds.is_empty() {
        return Vec::new();
    }
    let mut b = seeds[pick as usize % seeds.len()].clone();
    for (pos, byte) in edits {
        if !b.is_empty() {
            let i = *pos as usize % b.len();
            b[i] = *byte;
        }
    }
    if let Some(c) = cut {
        let c = c as usize;
        if c < b.len() {
            b.truncate(c);
        }
    }
    b
}

/// A minidump through the crash processor: an analysis or an "unprocessable" reason,
/// never a panic; what it keeps is bounded (frames, text lengths).
pub fn minidump(input: &[u8]) {
    let symbols = relops_crash::without_symbols();
    let limits = relops_crash::process::Limits::default();
    match futures::executor::block_on(relops_crash::process::process(input, &symbols, limits)) {
        Ok(a) => {
            assert!(a.frames.len() <= limits.max_frames);
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each target: on its real files, on raw generated bytes (under `cargo bolero test`
    /// the coverage-guided target), and on its real files with bytes changed.
    macro_rules! targets {
        ($($name:ident, $mutated:ident;)*) => {$(
            #[test]
            fn $name() {
                let seeds = seeds(stringify!($name));
                assert!(!seeds.is_empty(), "no seed files for {}", stringify!($name));
                for s in &seeds {
                    super::$name(s);
                }
                bolero::check!().for_each(|input: &[u8]| super::$name(input));
            }

            #[test]
            fn $mutated() {
                let seeds = seeds(stringify!($name));
                bolero::check!()
                    .with_type::<(u8, Vec<(u16, u8)>, Option<u16>)>()
                    .for_each(|(pick, edits, cut)| {
                        super::$name(&mutate(&seeds, *pick, edits, *cut));
                    });
            }
        )*};
    }

    targets! {
        envelope, envelope_mutated;
        minidump_form, minidump_form_mutated;
        coverage, coverage_mutated;
        junit, junit_mutated;
        lint, lint_mutated;
        msi, msi_mutated;
        mail, mail_mutated;
        sbom, sbom_mutated;
        scan, scan_mutated;
        tuf, tuf_mutated;
        sealed, sealed_mutated;
        minidump, minidump_mutated;
    }

    /// Writes each target's seeds into its libFuzzer corpus (`src/__fuzz__/tests__NAME/corpus`,
    /// not kept in git), so that a long `cargo bolero test` run starts from the real files:
    /// `bench/fuzz.sh` runs this first.
    #[test]
    #[ignore = "writes the corpus directories for bench/fuzz.sh"]
    fn write_seed_corpus() {
        for target in [
            "envelope",
            "minidump_form",
            "coverage",
            "junit",
            "lint",
            "msi",
            "mail",
            "sbom",
            "scan",
            "tuf",
            "sealed",
            "minidump",
        ] {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(format!("src/__fuzz__/tests__{target}/corpus"));
            std::fs::create_dir_all(&dir).unwrap();
            for (i, s) in seeds(target).iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
            }
        }
    }

    /// The seeds are what the parsers accept: a target whose seeds all fail would fuzz
    /// only the first line of its parser.
    #[test]
    fn seeds_are_accepted() {
        for s in seeds("envelope") {
            assert!(envelope::parse(&s).is_ok());
        }
        for s in seeds("coverage") {
            assert!(relops_gates::coverage::parse(&s).is_ok());
        }
        for s in seeds("junit") {
            assert!(relops_gates::junit::parse(&s).is_ok());
        }
        assert_eq!(seeds("lint").len(), 3);
        for s in seeds("lint") {
            assert!(relops_gates::lint::parse(&s).is_ok());
        }
        assert_eq!(seeds("msi").len(), 6);
        for s in seeds("msi") {
            assert!(relops_gates::authenticode::msi_signature(&s).is_ok());
            assert!(relops_gates::authenticode::exe_signature(&s).is_ok());
        }
        for s in seeds("tuf") {
            assert!(serde_json::from_slice::<Value>(&s).is_ok());
        }
        for s in seeds("sealed") {
            assert!(relops_seal::check(&s).is_ok());
        }
    }
}
