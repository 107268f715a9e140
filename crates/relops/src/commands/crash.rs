//! `relops crash …` (crash reports, their stacks, crash groups) and `relops symbols …`.

use std::path::{Path, PathBuf};

use relops_api::{
    AnalysisStatus, CrashAnalysis, CrashFrame, CrashGroupHistory, CrashGroupList, CrashList,
    CrashReport, MarkFixed, SymbolFileInfo, SymbolList,
};
use reqwest::Method;

use crate::cli::{CrashCmd, SymbolsCmd};
use crate::client::{Client, segment};
use crate::output::{print, print_json, table, usage};

pub async fn run(client: &Client, cmd: CrashCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        CrashCmd::List {
            version,
            release,
            limit,
        } => {
            let release = version.or(release);
            let mut path = format!("/crashes?limit={limit}");
            if let Some(r) = &release {
                path.push_str(&format!("&release={}", segment(r)));
            }
            let list: CrashList = client.get(&path).await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .crashes
                .iter()
                .map(|c| {
                    vec![
                        c.id.clone(),
                        c.release.clone(),
                        c.platform.clone(),
                        c.kind.clone(),
                        match &c.dump {
                            Some(d) if d.sealed => "sealed".into(),
                            Some(_) => "plain".into(),
                            None => "-".into(),
                        },
                        c.critical.clone().unwrap_or_default(),
                        where_crashed(&c.analysis),
                        c.received_at.to_rfc3339(),
                    ]
                })
                .collect();
            print(&table(
                &[
                    "ID", "RELEASE", "PLATFORM", "KIND", "DUMP", "CRITICAL", "WHERE", "RECEIVED",
                ],
                &rows,
            ))
        }
        CrashCmd::Show {
            id,
            decrypt,
            output,
        } => {
            let c: CrashReport = client.get(&format!("/crashes/{}", segment(&id))).await?;
            if !decrypt {
                return if json {
                    print_json(&c)
                } else {
                    print(&show_crash(&c))
                };
            }
            let rb = client.request(Method::GET, &format!("/crashes/{}/dump", segment(&id)))?;
            let bytes = client.send(rb).await?.bytes().await?;
            let out =
                output.unwrap_or_else(|| std::path::PathBuf::from(format!("crash-{}.dmp", c.id)));
            std::fs::write(&out, &bytes)
                .map_err(|e| usage(format!("cannot write {}: {e}", out.display())))?;
            if json {
                return print_json(&DumpWritten {
                    id: c.id,
                    written: out,
                    bytes: bytes.len() as u64,
                });
            }
            print(&format!(
                "crash {}: dump opened, {} bytes written to {}\n",
                c.id,
                bytes.len(),
                out.display()
            ))
        }
        CrashCmd::Attachment { id, n, output } => {
            let (name, bytes) = client
                .download(
                    &format!("/crashes/{}/attachments/{n}", segment(&id)),
                    format!("attachment-{n}"),
                )
                .await?;
            let out = output.unwrap_or_else(|| PathBuf::from(name));
            std::fs::write(&out, &bytes)
                .map_err(|e| usage(format!("cannot write {}: {e}", out.display())))?;
            if json {
                return print_json(&DumpWritten {
                    id,
                    written: out,
                    bytes: bytes.len() as u64,
                });
            }
            print(&format!(
                "crash {id}: attachment {n} opened, {} bytes written to {}\n",
                bytes.len(),
                out.display()
            ))
        }
        CrashCmd::Groups { version } => {
            let list: CrashGroupList = client
                .get(&format!("/releases/{}/crash-groups", segment(&version)))
                .await?;
            if json {
                return print_json(&list);
            }
            print(&show_groups(&list))
        }
        CrashCmd::Group { id } => {
            let h: CrashGroupHistory = client
                .get(&format!("/crash-groups/{}", segment(&id)))
                .await?;
            if json {
                return print_json(&h);
            }
            print(&show_group(&h))
        }
        CrashCmd::Fixed { id, version, clear } => {
            let body = MarkFixed {
                fixed_in: if clear { None } else { version },
            };
            let rb = client
                .request(
                    Method::PUT,
                    &format!("/crash-groups/{}/fixed", segment(&id)),
                )?
                .json(&body);
            let h: CrashGroupHistory = client.send(rb).await?.json().await?;
            if json {
                return print_json(&h);
            }
            print(&match &h.group.fixed_in {
                Some(v) => format!(
                    "crash group {} ({}) marked fixed in {v}{}\n",
                    h.group.id,
                    h.group.signature,
                    if h.group.regressed {
                        " — and it is seen in that release or later: regressed"
                    } else {
                        ""
                    }
                ),
                None => format!("crash group {}: no longer marked fixed\n", h.group.id),
            })
        }
    }
}

/// What `relops crash show --decrypt --json` prints.
#[derive(serde::Serialize)]
struct DumpWritten {
    id: String,
    written: std::path::PathBuf,
    bytes: u64,
}

fn show_crash(c: &CrashReport) -> String {
    let mut s = format!(
        "crash {} — {} on {} ({}), {}\n  received {}{}\n",
        c.id,
        c.release,
        c.platform,
        c.channel,
        c.kind,
        c.received_at.format("%Y-%m-%d %H:%M:%S UTC"),
        c.created_at
            .map(|t| format!("; happened {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_default(),
    );
    if let Some(i) = &c.install_id {
        s.push_str(&format!("  install: {i}\n"));
    }
    match &c.dump {
        Some(d) => s.push_str(&format!(
            "  dump: {} bytes, {}, SHA-256 {} (`relops crash show {} --decrypt` writes it)\n",
            d.size,
            if d.sealed { "sealed" } else { "plain" },
            d.sha256,
            c.id
        )),
        None => s.push_str("  dump: none (reported as an event only)\n"),
    }
    for b in &c.log_bundles {
        s.push_str(&super::logs::bundle_line(b));
        s.push('\n');
    }
    if let Some(r) = &c.critical {
        s.push_str(&format!("  critical: {r}\n"));
    }
    if let Some(n) = c.dropped_before.filter(|n| *n > 0) {
        s.push_str(&format!(
            "  the app's queue dropped {n} reports before this one\n"
        ));
    }
    for (k, v) in &c.tags {
        s.push_str(&format!("  tag {k}: {v}\n"));
    }
    for (n, a) in c.attachments.iter().enumerate() {
        s.push_str(&format!(
            "  attachment {n}: {} ({} bytes, sealed; `relops crash attachment {} {n}` opens it)\n",
            a.filename.as_deref().unwrap_or("(no name)"),
            a.size,
            c.id
        ));
    }
    s.push_str(&show_analysis(&c.analysis));
    s
}

/// Where a crash happened, in one cell: its signature, or why there is none yet.
fn where_crashed(a: &CrashAnalysis) -> String {
    match a.status {
        AnalysisStatus::Processed => a.signature.clone().unwrap_or_else(|| "-".into()),
        AnalysisStatus::Pending => "(not processed yet)".into(),
        AnalysisStatus::Unprocessable => "(unprocessable dump)".into(),
        AnalysisStatus::NoStack => "(no stack)".into(),
    }
}

/// One frame as a line: `ProjectLoader::open  src/loader.rs:42  (wizard)`.
pub fn frame_line(i: usize, f: &CrashFrame) -> String {
    let place = match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("  {file}:{line}"),
        (Some(file), None) => format!("  {file}"),
        _ => String::new(),
    };
    let what = match (&f.function, &f.module, &f.module_offset) {
        (Some(func), _, _) => func.clone(),
        (None, Some(m), Some(off)) => format!("{m} + {off}"),
        (None, Some(m), None) => m.clone(),
        (None, None, _) => "?".into(),
    };
    let module = match (&f.function, &f.module) {
        (Some(_), Some(m)) => format!("  ({m})"),
        _ => String::new(),
    };
    format!("  #{i:<2} {what}{place}{module}\n")
}

fn show_analysis(a: &CrashAnalysis) -> String {
    let mut s = String::new();
    match a.status {
        AnalysisStatus::Pending => {
            s.push_str("  stack: not processed yet (the crash worker is on it)\n");
            return s;
        }
        AnalysisStatus::NoStack => {
            s.push_str("  stack: none (an event without a stack trace or dump)\n");
            return s;
        }
        AnalysisStatus::Unprocessable => {
            s.push_str(&format!(
                "  stack: the dump is unprocessable: {}\n",
                a.reason.as_deref().unwrap_or("no reason recorded")
            ));
            return s;
        }
        AnalysisStatus::Processed => {}
    }
    if let Some(e) = &a.exception {
        s.push_str(&format!(
            "  exception: {e}{}\n",
            a.crash_address
                .as_ref()
                .map(|x| format!(" at {x}"))
                .unwrap_or_default()
        ));
    }
    let sys: Vec<&str> = [a.os.as_deref(), a.cpu.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !sys.is_empty() {
        s.push_str(&format!("  system: {}\n", sys.join(", ")));
    }
    if let Some(g) = &a.group {
        s.push_str(&format!(
            "  group: {g}{} (`relops crash group {g}`)\n",
            a.signature
                .as_ref()
                .map(|x| format!(" — {x}"))
                .unwrap_or_default()
        ));
    }
    if let Some(t) = a.crashing_thread {
        s.push_str(&format!(
            "  crashing thread {t}{}:\n",
            a.thread_name
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ));
    }
    for (i, f) in a.frames.iter().enumerate() {
        s.push_str(&frame_line(i, f));
    }
    for m in &a.missing_symbols {
        s.push_str(&format!(
            "  no symbols for {} (debug id {}): upload them with `relops symbols upload`\n",
            m.module, m.debug_id
        ));
    }
    s
}

fn show_groups(list: &CrashGroupList) -> String {
    if list.groups.is_empty() {
        let mut s = format!("no crash groups in {} yet\n", list.release);
        if list.pending > 0 {
            s.push_str(&format!(
                "{} crashes are waiting to be processed\n",
                list.pending
            ));
        }
        return s;
    }
    let rows: Vec<Vec<String>> = list
        .groups
        .iter()
        .map(|g| {
            let mut flags = Vec::new();
            if g.new_in_release {
                flags.push("new".to_owned());
            }
            if g.regressed {
                flags.push(format!(
                    "regressed (fixed in {})",
                    g.fixed_in.as_deref().unwrap_or("?")
                ));
            } else if let Some(f) = &g.fixed_in {
                flags.push(format!("fixed in {f}"));
            }
            vec![
                g.id.clone(),
                g.count.to_string(),
                g.installs.to_string(),
                g.signature.clone(),
                g.exception.clone().unwrap_or_default(),
                flags.join(", "),
            ]
        })
        .collect();
    let mut s = table(
        &["GROUP", "CRASHES", "INSTALLS", "WHERE", "EXCEPTION", ""],
        &rows,
    );
    if list.pending > 0 {
        s.push_str(&format!(
            "{} crashes of {} are not processed yet\n",
            list.pending, list.release
        ));
    }
    s
}

fn show_group(h: &CrashGroupHistory) -> String {
    let g = &h.group;
    let mut s = format!(
        "crash group {} — {}\n  {}  first seen {} in {}, last seen {}\n",
        g.id,
        g.signature,
        g.exception.as_deref().unwrap_or("(no exception)"),
        g.first_seen.format("%Y-%m-%d %H:%M UTC"),
        g.first_release,
        g.last_seen.format("%Y-%m-%d %H:%M UTC"),
    );
    s.push_str(&format!("  platforms: {}\n", g.platforms.join(", ")));
    if let Some(f) = &g.fixed_in {
        s.push_str(&format!(
            "  marked fixed in {f}{}\n",
            if g.regressed {
                "; seen again since: regressed"
            } else {
                ""
            }
        ));
    }
    let rows: Vec<Vec<String>> = h
        .per_release
        .iter()
        .map(|r| {
            vec![
                r.release.clone(),
                r.count.to_string(),
                r.installs.to_string(),
                r.first_seen.format("%Y-%m-%d %H:%M").to_string(),
                r.last_seen.format("%Y-%m-%d %H:%M").to_string(),
            ]
        })
        .collect();
    s.push_str(&table(
        &["RELEASE", "CRASHES", "INSTALLS", "FIRST", "LAST"],
        &rows,
    ));
    if !h.frames.is_empty() {
        s.push_str("  stack of its newest crash:\n");
        for (i, f) in h.frames.iter().enumerate() {
            s.push_str(&frame_line(i, f));
        }
    }
    s.push_str(&format!("  newest crashes: {}\n", h.crashes.join(", ")));
    s
}

/// `relops symbols …`
pub async fn symbols(client: &Client, cmd: SymbolsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        SymbolsCmd::List { release } => {
            let mut path = "/symbols".to_owned();
            if let Some(r) = &release {
                path.push_str(&format!("?release={}", segment(r)));
            }
            let list: SymbolList = client.get(&path).await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .symbols
                .iter()
                .map(|s| {
                    vec![
                        s.module.clone(),
                        s.debug_id.clone(),
                        format!("{} {}", s.os, s.arch),
                        s.release.clone().unwrap_or_default(),
                        s.size.to_string(),
                        s.uploaded_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect();
            print(&table(
                &["MODULE", "DEBUG ID", "FOR", "RELEASE", "BYTES", "UPLOADED"],
                &rows,
            ))
        }
        SymbolsCmd::Convert { file, output } => {
            let sym = breakpad_symbols_of(&file)?;
            match output {
                Some(out) => std::fs::write(&out, &sym)
                    .map_err(|e| usage(format!("cannot write {}: {e}", out.display())))?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&sym)?;
                }
            }
            Ok(())
        }
        SymbolsCmd::Upload { files, release } => {
            let mut done = Vec::new();
            for file in &files {
                let sym = breakpad_symbols_of(file)?;
                let mut path = "/symbols".to_owned();
                if let Some(r) = &release {
                    path.push_str(&format!("?release={}", segment(r)));
                }
                let rb = client.request(Method::POST, &path)?.body(sym);
                let info: SymbolFileInfo = client
                    .send(rb)
                    .await
                    .map_err(|e| e.context(format!("uploading {}", file.display())))?
                    .json()
                    .await?;
                if !json {
                    print(&format!(
                        "{}: symbols for {} ({}, {} {}) stored{}\n",
                        file.display(),
                        info.module,
                        info.debug_id,
                        info.os,
                        info.arch,
                        if info.reprocessing > 0 {
                            format!("; {} crashes are processed again", info.reprocessing)
                        } else {
                            String::new()
                        }
                    ))?;
                }
                done.push(info);
            }
            if json {
                return print_json(&SymbolList { symbols: done });
            }
            Ok(())
        }
    }
}

/// A file's Breakpad symbols: a `.sym` file as it is, a native debug file converted with
/// dump_syms (the library the `dump_syms` tool is).
fn breakpad_symbols_of(file: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
    if bytes.starts_with(b"MODULE ") {
        return Ok(bytes);
    }
    drop(bytes);
    let out = tempfile::NamedTempFile::new()?;
    let config = dump_syms::dumper::Config::with_output(dump_syms::dumper::Output::File(
        dump_syms::dumper::FileOutput::Path(PathBuf::from(out.path())),
    ));
    let name = file
        .to_str()
        .ok_or_else(|| usage(format!("{}: the path is not UTF-8", file.display())))?;
    dump_syms::dumper::single_file(&config, name).map_err(|e| {
        usage(format!(
            "{} is neither a Breakpad .sym file nor a debug file dump_syms can read (ELF with DWARF, PDB, Mach-O/dSYM): {e}",
            file.display()
        ))
    })?;
    Ok(std::fs::read(out.path())?)
}
