//! `relops artifact …`

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use relops_api::{Artifact, ArtifactList, UploadCheck, UploadParams, VerifyReport};
use reqwest::Method;
use tokio::io::AsyncWriteExt;

use crate::cli::ArtifactCmd;
use crate::client::{Client, segment};
use crate::output::{CliError, failed, print, print_json, table, usage};

/// Read size of the upload stream: big enough to keep syscalls and thread hand-offs few,
/// small enough that memory stays constant (at most `READ_AHEAD` + 1 chunks in flight).
const READ_CHUNK: usize = 1024 * 1024;
const READ_AHEAD: usize = 4;

pub async fn run(client: &Client, cmd: ArtifactCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        ArtifactCmd::Upload {
            version,
            platform,
            file,
            name,
            sha256,
            notarization_id,
            authenticode_signer,
            minimum_os,
            critical_fix,
            reason,
        } => {
            let name = match name {
                Some(n) => n,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        usage(format!(
                            "{} has no usable file name; pass --name",
                            file.display()
                        ))
                    })?,
            };
            let params = UploadParams {
                platform,
                sha256,
                notarization_id,
                authenticode_signer,
                minimum_os,
                critical_fix,
                reason,
                product: None,
                size: None,
            };
            let a = upload(client, &version, &name, &file, &params, !json).await?;
            if json {
                return print_json(&a);
            }
            print(&format!(
                "uploaded {} ({} bytes)\n  sha256:    {}\n  signature: {}… (key {}…)\n",
                a.name,
                a.size,
                a.sha256,
                &a.signature[..32],
                &a.key_id[..16]
            ))
        }
        ArtifactCmd::List { version } => {
            let list: ArtifactList = client
                .get(&format!("/releases/{}/artifacts", segment(&version)))
                .await?;
            if json {
                return print_json(&list);
            }
            print(&artifact_table(&list.artifacts))
        }
        ArtifactCmd::Download {
            version,
            name,
            sums,
            output,
            force,
        } => {
            let (path, out) = match (&name, sums) {
                (_, true) => (
                    format!("/releases/{}/SHA256SUMS", segment(&version)),
                    output.unwrap_or_else(|| PathBuf::from("SHA256SUMS")),
                ),
                (Some(n), false) => (
                    format!("/releases/{}/artifacts/{}", segment(&version), segment(n)),
                    output.unwrap_or_else(|| PathBuf::from(n)),
                ),
                (None, false) => return Err(usage("name an artifact or pass --sums")),
            };
            if !force && out.exists() {
                return Err(failed(format!(
                    "{} exists: pass --force to replace it, or --output FILE to write elsewhere",
                    out.display()
                )));
            }
            let resp = client.send(client.request(Method::GET, &path)?).await?;
            let tmp = out.with_extension("part");
            let mut f = tokio::fs::File::create(&tmp)
                .await
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            let mut stream = resp.bytes_stream();
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| failed(format!("download interrupted: {e}")))?;
                n += chunk.len() as u64;
                f.write_all(&chunk).await?;
            }
            f.sync_all().await?;
            tokio::fs::rename(&tmp, &out).await?;
            if json {
                return print_json(&serde_json::json!({ "file": out, "bytes": n }));
            }
            print(&format!("wrote {} ({n} bytes)\n", out.display()))
        }
        ArtifactCmd::Verify { version } => {
            let report: VerifyReport = client
                .post(&format!("/releases/{}/verify", segment(&version)), &())
                .await?;
            if json {
                print_json(&report)?;
            } else {
                let rows: Vec<Vec<String>> = report
                    .artifacts
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            if r.ok { "ok".into() } else { "BAD".into() },
                            r.problem.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                print(&table(&["ARTIFACT", "RESULT", "PROBLEM"], &rows))?;
            }
            if report.ok {
                Ok(())
            } else {
                let bad: Vec<_> = report
                    .artifacts
                    .iter()
                    .filter(|r| !r.ok)
                    .map(|r| r.name.as_str())
                    .collect();
                Err(failed(format!(
                    "release {}: {} artifact(s) failed verification: {}",
                    report.version,
                    bad.len(),
                    bad.join(", ")
                )))
            }
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

async fn upload(
    client: &Client,
    version: &str,
    name: &str,
    file: &PathBuf,
    params: &UploadParams,
    progress: bool,
) -> anyhow::Result<Artifact> {
    let mut f = std::fs::File::open(file)
        .map_err(|e| usage(format!("cannot open {}: {e}", file.display())))?;
    let len = f.metadata()?.len();
    let path = format!("/releases/{}/artifacts/{}", segment(version), segment(name));
    // Ask first: a server refuses a large body before reading it and closes the
    // connection, which a client still sending sees only as a broken request — so the
    // refusal (unknown release, role, freeze, size, evidence) is learnt without a body.
    let check = || async {
        let rb = client
            .request(Method::POST, &format!("{path}/check"))?
            .query(&UploadParams {
                size: Some(len),
                ..params.clone()
            });
        client
            .send(rb)
            .await?
            .json::<UploadCheck>()
            .await
            .map_err(anyhow::Error::from)
    };
    check().await?;
    let bar = if progress && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_message(name.to_owned());
        bar
    } else {
        ProgressBar::hidden()
    };
    // A plain thread reads the file (tokio::fs would hop to a blocking thread and copy
    // through its own buffer on every read); a bounded channel hands chunks to the body.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(READ_AHEAD);
    let tick = bar.clone();
    std::thread::spawn(move || {
        loop {
            let mut buf = vec![0u8; READ_CHUNK];
            let n = match read_full(&mut f, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            };
            buf.truncate(n);
            tick.inc(n as u64);
            if tx.blocking_send(Ok(bytes::Bytes::from(buf))).is_err() {
                break;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let rb = client
        .request(Method::PUT, &path)?
        .query(params)
        .header(reqwest::header::CONTENT_LENGTH, len)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream));
    let result = client.send(rb).await;
    bar.finish_and_clear();
    match result {
        Ok(resp) => Ok(resp.json().await?),
        // Refused mid-body (the state changed since the check): the check says why.
        Err(e) if !matches!(e.downcast_ref::<CliError>(), Some(CliError::Server { .. })) => {
            check().await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The artifacts as a table: digests shortened (`SHA256SUMS` and `--json` have them in
/// full), the platform signing evidence (notarization, Authenticode) beside relops' own.
pub fn artifact_table(artifacts: &[Artifact]) -> String {
    if artifacts.is_empty() {
        return "no artifacts yet: `relops artifact upload VERSION --platform P FILE`\n".into();
    }
    let rows: Vec<Vec<String>> = artifacts
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.platform.to_string(),
                a.kind.to_string(),
                a.size.to_string(),
                format!("{}…", a.sha256.get(..16).unwrap_or(&a.sha256)),
                format!("{}…", a.signature.get(..16).unwrap_or(&a.signature)),
                match (&a.notarization_id, &a.authenticode_signer) {
                    (Some(n), Some(c)) => format!("notarized {n}; Authenticode {c}"),
                    (Some(n), None) => format!("notarized {n}"),
                    (None, Some(c)) => format!("Authenticode {c}"),
                    (None, None) => "-".into(),
                },
                a.critical_fix_reason
                    .as_deref()
                    .map(|r| format!("critical fix: {r}"))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "PLATFORM",
            "KIND",
            "SIZE",
            "SHA256",
            "SIGNATURE",
            "PLATFORM SIGNING",
            "NOTE",
        ],
        &rows,
    )
}
