//! Licence check of a CycloneDX JSON SBOM (spec 1.2–1.6).
//!
//! Each component's licences come as SPDX ids (`{"license": {"id": "MIT"}}`), SPDX
//! expressions (`{"expression": "MIT OR Apache-2.0"}`) or free-text names. Ids and
//! expressions are evaluated with the `spdx` crate against the policy: an expression passes
//! when the allowed licences satisfy it (`OR`: one alternative, `AND`: all). A component
//! whose only licence information is a name that is not an SPDX id, or that has none,
//! is *unknown* and fails unless the policy accepts unknown licences.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ReportError, check_size};

/// Largest SBOM read.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Which licences a release may ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LicencePolicy {
    /// SPDX ids allowed.
    pub allow: Vec<String>,
    /// SPDX ids never allowed, even inside an `OR` that has an allowed alternative.
    pub deny: Vec<String>,
    /// Pass components without (recognisable) licence information.
    pub allow_unknown: bool,
}

impl Default for LicencePolicy {
    /// Permissive and weak-copyleft licences a proprietary desktop app can ship; strong
    /// copyleft denied; unknown licences fail (review them, then allow).
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect();
        Self {
            allow: s(&[
                "MIT",
                "MIT-0",
                "Apache-2.0",
                "BSD-2-Clause",
                "BSD-3-Clause",
                "ISC",
                "Zlib",
                "0BSD",
                "Unlicense",
                "CC0-1.0",
                "BSL-1.0",
                "MPL-2.0",
                "Unicode-DFS-2016",
                "Unicode-3.0",
                "Python-2.0",
                "PSF-2.0",
            ]),
            deny: s(&["GPL-2.0", "GPL-3.0", "AGPL-3.0", "SSPL-1.0"]),
            allow_unknown: false,
        }
    }
}

/// One component's finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentLicence {
    pub name: String,
    pub version: Option<String>,
    /// The licence as declared (ids, expressions, names), joined with ` / `.
    pub declared: String,
    pub verdict: LicenceVerdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceVerdict {
    Allowed,
    Denied,
    Unknown,
}

/// What the SBOM holds and what the policy says of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SbomReport {
    pub spec_version: String,
    pub components: Vec<ComponentLicence>,
    pub allowed: u64,
    pub denied: u64,
    pub unknown: u64,
    pub pass: bool,
}

fn bad(why: impl Into<String>) -> ReportError {
    ReportError::Format {
        expected: "CycloneDX JSON",
        why: why.into(),
    }
}

/// Reads a CycloneDX JSON SBOM and checks every component's licences against `policy`.
pub fn check(bytes: &[u8], policy: &LicencePolicy) -> Result<SbomReport, ReportError> {
    check_size(bytes, MAX_BYTES)?;
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err(bad("`bomFormat` is not \"CycloneDX\""));
    }
    let spec_version = doc
        .get("specVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no `specVersion`"))?
        .to_owned();
    let components = match doc.get("components") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad("`components` is not an array")),
    };
    let mut out = Vec::new();
    for c in &components {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a component has no `name`"))?;
        let (declared, verdict) = judge(c.get("licenses"), policy);
        out.push(ComponentLicence {
            name: name.to_owned(),
            version: c.get("version").and_then(Value::as_str).map(str::to_owned),
            declared,
            verdict,
        });
    }
    let count = |v: LicenceVerdict| out.iter().filter(|c| c.verdict == v).count() as u64;
    let (allowed, denied, unknown) = (
        count(LicenceVerdict::Allowed),
        count(LicenceVerdict::Denied),
        count(LicenceVerdict::Unknown),
    );
    Ok(SbomReport {
        spec_version,
        pass: denied == 0 && (unknown == 0 || policy.allow_unknown),
        components: out,
        allowed,
        denied,
        unknown,
    })
}

fn judge(licenses: Option<&Value>, policy: &LicencePolicy) -> (String, LicenceVerdict) {
    let entries = licenses
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut declared = Vec::new();
    let mut expressions = Vec::new();
    for e in &entries {
        if let Some(x) = e.get("expression").and_then(Value::as_str) {
            declared.push(x.to_owned());
            expressions.push(x.to_owned());
        } else if let Some(l) = e.get("license") {
            if let Some(id) = l.get("id").and_then(Value::as_str) {
                declared.push(id.to_owned());
                expressions.push(id.to_owned());
            } else if let Some(n) = l.get("name").and_then(Value::as_str) {
                declared.push(n.to_owned());
                // A name that happens to be an SPDX id counts as one.
                if spdx::license_id(n).is_some() {
                    expressions.push(n.to_owned());
                }
            }
        }
    }
    let declared_text = declared.join(" / ");
    if expressions.is_empty() {
        return (declared_text, LicenceVerdict::Unknown);
    }
    let allowed = |req: &spdx::LicenseReq| {
        req.license.id().is_some_and(|id| {
            policy.allow.iter().any(|a| a == id.name) && !policy.deny.iter().any(|d| d == id.name)
        })
    };
    let mut verdict = LicenceVerdict::Allowed;
    for x in &expressions {
        let Ok(expr) = spdx::Expression::parse_mode(x, spdx::ParseMode::LAX) else {
            return (declared_text, LicenceVerdict::Unknown);
        };
        let mentions_denied = expr.requirements().any(|r| {
            r.req
                .license
                .id()
                .is_some_and(|id| policy.deny.iter().any(|d| id.name.starts_with(d.as_str())))
        });
        if mentions_denied && !expr.evaluate(allowed) {
            return (declared_text, LicenceVerdict::Denied);
        }
        if !expr.evaluate(allowed) {
            verdict = LicenceVerdict::Unknown;
        }
    }
    (declared_text, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn real_sboms() {
        let policy = LicencePolicy::default();
        let env = check(&fixture("sbom-python-env.cdx.json"), &policy).unwrap();
        assert_eq!(env.spec_version, "1.6");
        assert_eq!(env.components.len(), 9);
        assert!(env.pass, "{env:?}");
        let certifi = env.components.iter().find(|c| c.name == "certifi").unwrap();
        assert_eq!(certifi.verdict, LicenceVerdict::Allowed);
        assert!(certifi.declared.contains("MPL-2.0"));

        let req = check(&fixture("sbom-python-requirements.cdx.json"), &policy).unwrap();
        assert_eq!(req.components.len(), 7);
        assert_eq!(req.unknown, 7, "a requirements file carries no licences");
        assert!(!req.pass);
        let lenient = LicencePolicy {
            allow_unknown: true,
            ..LicencePolicy::default()
        };
        assert!(
            check(&fixture("sbom-python-requirements.cdx.json"), &lenient)
                .unwrap()
                .pass
        );

        for (file, spec) in [
            ("sbom-rust-cargo.cdx.json", "1.3"),
            ("sbom-rust-cargo-1.5.cdx.json", "1.5"),
        ] {
            let r = check(&fixture(file), &policy).unwrap();
            assert_eq!(r.spec_version, spec);
            assert_eq!(r.components.len(), 3);
            assert!(r.pass, "{file}");
        }
    }

    #[test]
    fn policy_evaluates_expressions() {
        let sbom = |lic: &str| {
            format!(
                r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{{"name":"x","licenses":[{lic}]}}]}}"#
            )
        };
        let policy = LicencePolicy::default();
        let v = |lic: &str| check(sbom(lic).as_bytes(), &policy).unwrap().components[0].verdict;
        assert_eq!(
            v(r#"{"expression":"MIT OR GPL-3.0-only"}"#),
            LicenceVerdict::Allowed
        );
        assert_eq!(
            v(r#"{"expression":"MIT AND GPL-3.0-only"}"#),
            LicenceVerdict::Denied
        );
        assert_eq!(
            v(r#"{"license":{"id":"AGPL-3.0-or-later"}}"#),
            LicenceVerdict::Denied
        );
        assert_eq!(
            v(r#"{"license":{"id":"EPL-2.0"}}"#),
            LicenceVerdict::Unknown
        );
        assert_eq!(
            v(r#"{"license":{"name":"Proprietary, ask legal"}}"#),
            LicenceVerdict::Unknown
        );
        assert_eq!(v(r#"{"license":{"name":"MIT"}}"#), LicenceVerdict::Allowed);
        let denied = check(
            sbom(r#"{"license":{"id":"GPL-2.0-only"}}"#).as_bytes(),
            &policy,
        )
        .unwrap();
        assert!(!denied.pass);
        assert_eq!(denied.denied, 1);
    }

    #[test]
    fn not_an_sbom_is_refused() {
        let policy = LicencePolicy::default();
        for (bytes, needle) in [
            (&b"{\"foo\": 1}"[..], "bomFormat"),
            (&b"<bom/>"[..], "invalid JSON"),
            (&b"{\"bomFormat\":\"SPDX\"}"[..], "bomFormat"),
            (
                &b"{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.5\",\"components\":{}}"[..],
                "not an array",
            ),
        ] {
            let err = check(bytes, &policy).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
