//! Release gates: `PUT /v1/releases/{version}/gates/{kind}` takes the reports a real tool
//! wrote (multipart, one part per file) for `relops_ops::gates`; `GET …/gates` lists the
//! verdicts.

use crate::extract::Json;
use crate::extract::{Multipart, Path};
use axum::extract::State;
use relops_api::{Gate, GateList};
use relops_ops::OpError;
use relops_ops::gates::{KINDS, ReportFile};

use super::{Product, version};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

async fn read_parts(Multipart(mut mp): Multipart, max: usize) -> ApiResult<Vec<ReportFile>> {
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
        // The field name says what the file is (`report`, or `unit`/`integration`/
        // `ui_smoke` for the tests gate); bounded, it is echoed in refusals.
        let part: String = field.name().unwrap_or("report").chars().take(40).collect();
        let name = field
            .file_name()
            .map(str::to_owned)
            .unwrap_or_else(|| part.clone());
        let bytes = field.bytes().await.map_err(multipart_error)?;
        files.push(ReportFile { name, bytes, part });
    }
    Ok(files)
}

pub async fn submit(
    State(state): State<AppState>,
    Path((v, kind)): Path<(String, String)>,
    Product(product): Product,
    Caller(who): Caller,
    mp: Multipart,
) -> ApiResult<Json<Gate>> {
    // Refused before the body is read.
    if !KINDS.contains(&kind.as_str()) {
        return Err(OpError::NotFound(format!(
            "no gate `{kind}`: submit to coverage, tests, sbom or scan"
        ))
        .into());
    }
    let v = version(&v)?;
    let files = read_parts(mp, state.ops.config().gates.max_report_bytes).await?;
    Ok(Json(
        state
            .ops
            .submit_gate(&who, &product, &v, &kind, files)
            .await?,
    ))
}

pub async fn list(
    State(state): State<AppState>,
    Path(v): Path<String>,
    Product(product): Product,
    Caller(who): Caller,
) -> ApiResult<Json<GateList>> {
    Ok(Json(state.ops.gates(&who, &product, &version(&v)?).await?))
}
