//! Release gates (R-REL-5): `PUT /v1/releases/{version}/gates/{kind}` takes the reports a
//! real tool wrote (multipart, one part per file), computes the verdict with
//! `relops-gates`, keeps the files as evidence and records verdict, numbers and evidence
//! in one transaction. A report that cannot be read is refused and nothing changes: the
//! gate keeps its previous verdict.

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use bytes::Bytes;
use chrono::Utc;
use relops_api::{Evidence, Gate, GateList};
use relops_core::release::ArtifactPolicy;
use relops_gates::{ReportError, coverage, junit, sbom, scan};
use relops_store::{AuditRecord, GateRecord};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ProductQuery, releases::load};
use crate::AppState;
use crate::auth::Principal;
use crate::config::GATES;
use crate::error::{ApiError, ApiResult};

/// Kinds a report can be submitted as; `scan` becomes `vulnerabilities` or `secrets`.
const KINDS: [&str; 4] = ["coverage", "tests", "sbom", "scan"];

struct Upload {
    name: String,
    bytes: Bytes,
}

async fn read_parts(mut mp: Multipart, max: usize) -> ApiResult<Vec<Upload>> {
    let mut files = Vec::new();
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the reports are larger than this server accepts ([gates] max_report_bytes = {max} per file)"
            ))
        } else {
            ApiError::BadRequest(format!("malformed multipart body: {e}"))
        }
    };
    while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field
            .file_name()
            .or(field.name())
            .unwrap_or("report")
            .to_owned();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        if bytes.len() > max {
            return Err(ApiError::PayloadTooLarge(format!(
                "{name} is {} bytes; reports up to {max} bytes are accepted ([gates] max_report_bytes)",
                bytes.len()
            )));
        }
        files.push(Upload { name, bytes });
    }
    if files.is_empty() {
        return Err(ApiError::BadRequest("no report file in the request".into()));
    }
    Ok(files)
}

fn unreadable(name: &str, e: ReportError) -> ApiError {
    ApiError::Unprocessable(format!(
        "{name}: {e}; nothing was stored, the gate keeps its previous verdict"
    ))
}

/// Computes `(gate, passed, summary)` from the files.
fn judge(
    state: &AppState,
    kind: &str,
    files: &[Upload],
) -> ApiResult<(String, bool, serde_json::Value)> {
    let cfg = &state.config.gates;
    let one = || -> ApiResult<&Upload> {
        match files {
            [f] => Ok(f),
            _ => Err(ApiError::BadRequest(format!(
                "the {kind} gate takes exactly one report file"
            ))),
        }
    };
    Ok(match kind {
        "coverage" => {
            let f = one()?;
            let c = coverage::parse(&f.bytes).map_err(|e| unreadable(&f.name, e))?;
            let pass = c.passes(cfg.min_line_coverage);
            let summary = json!({
                "format": c.format, "files": c.files,
                "lines_valid": c.lines_valid, "lines_covered": c.lines_covered,
                "line_percent": (c.line_percent() * 100.0).round() / 100.0,
                "branches_valid": c.branches_valid, "branches_covered": c.branches_covered,
                "min_line_coverage": cfg.min_line_coverage,
            });
            ("coverage".into(), pass, summary)
        }
        "tests" => {
            let mut parts = Vec::new();
            for f in files {
                parts.push(junit::parse(&f.bytes).map_err(|e| unreadable(&f.name, e))?);
            }
            let s = junit::merge(parts);
            (
                "tests".into(),
                s.passes(),
                serde_json::to_value(&s).expect("serialisable"),
            )
        }
        "sbom" => {
            let f = one()?;
            let r = sbom::check(&f.bytes, &cfg.licences).map_err(|e| unreadable(&f.name, e))?;
            (
                "sbom".into(),
                r.pass,
                serde_json::to_value(&r).expect("serialisable"),
            )
        }
        _ => {
            let f = one()?;
            match scan::parse(&f.bytes, cfg.fail_at_severity).map_err(|e| unreadable(&f.name, e))? {
                scan::ScanReport::Vulnerabilities(v) => (
                    "vulnerabilities".into(),
                    v.pass,
                    serde_json::to_value(&v).expect("serialisable"),
                ),
                scan::ScanReport::Secrets(s) => (
                    "secrets".into(),
                    s.pass,
                    serde_json::to_value(&s).expect("serialisable"),
                ),
            }
        }
    })
}

pub async fn submit(
    State(state): State<AppState>,
    Path((v, kind)): Path<(String, String)>,
    Query(q): Query<ProductQuery>,
    who: Principal,
    mp: Multipart,
) -> ApiResult<Json<Gate>> {
    if !KINDS.contains(&kind.as_str()) {
        return Err(ApiError::NotFound(format!(
            "no gate `{kind}`: submit to coverage, tests, sbom or scan"
        )));
    }
    let product = state.product(q.product.as_deref())?;
    let release = load(&state, &product, &v).await?;
    if release.state.artifact_policy() == ArtifactPolicy::Closed {
        return Err(ApiError::Conflict(format!(
            "release {} is {}: its gates are settled",
            release.version, release.state
        )));
    }
    let files = read_parts(mp, state.config.gates.max_report_bytes).await?;
    let (gate, passed, summary) = judge(&state, &kind, &files)?;
    // Evidence first (content-addressed, idempotent), then the verdict that points to it.
    // A secrets report that holds the secret values (gitleaks) is kept redacted.
    let mut evidence = Vec::new();
    for f in &files {
        let redacted = (gate == "secrets")
            .then(|| scan::redacted(&f.bytes))
            .flatten()
            .map(Bytes::from);
        let kept = redacted.clone().unwrap_or_else(|| f.bytes.clone());
        let sha = hex::encode(Sha256::digest(&kept));
        let key = format!("evidence/{sha}");
        let size = kept.len();
        state.blobs.put_raw(&key, kept).await?;
        let mut entry = json!({ "name": f.name, "sha256": sha, "size": size, "blob_key": key });
        if redacted.is_some() {
            entry["redacted"] = true.into();
        }
        evidence.push(entry);
    }
    let record = GateRecord {
        gate: gate.clone(),
        passed,
        summary,
        evidence: serde_json::Value::Array(evidence),
        recorded_at: Utc::now(),
        recorded_by: who.actor(),
    };
    let audit = AuditRecord {
        actor: who.actor(),
        action: "gate.submit".into(),
        target: format!("{product}/{}/{gate}", release.version),
        detail: json!({ "passed": passed, "summary": record.summary, "evidence": record.evidence }),
        request_id: who.request_id.clone(),
    };
    state
        .db
        .put_gate(&product, &release.version, &record, &audit)
        .await?;
    Ok(Json(to_api(record)))
}

fn to_api(r: GateRecord) -> Gate {
    let evidence = r
        .evidence
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| Evidence {
                    name: e["name"].as_str().unwrap_or_default().to_owned(),
                    sha256: e["sha256"].as_str().unwrap_or_default().to_owned(),
                    size: e["size"].as_u64().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Gate {
        gate: r.gate,
        passed: r.passed,
        summary: r.summary,
        evidence,
        recorded_at: r.recorded_at,
        recorded_by: r.recorded_by,
    }
}

/// The gates of a release, and the required ones still missing.
pub async fn gate_list(
    state: &AppState,
    product: &str,
    version: &relops_core::version::Version,
) -> ApiResult<GateList> {
    let gates: Vec<Gate> = state
        .db
        .gates(product, version)
        .await?
        .into_iter()
        .map(to_api)
        .collect();
    let missing = state
        .config
        .gates
        .required
        .iter()
        .filter(|r| GATES.contains(&r.as_str()) && !gates.iter().any(|g| &g.gate == *r))
        .cloned()
        .collect();
    Ok(GateList { gates, missing })
}

pub async fn list(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Query(q): Query<ProductQuery>,
) -> ApiResult<Json<GateList>> {
    let product = state.product(q.product.as_deref())?;
    let release = load(&state, &product, &v).await?;
    Ok(Json(gate_list(&state, &product, &release.version).await?))
}
