//! `relops feed export|verify`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use relops_api::WhoAmI;
use relops_tuf::{Signed, Snapshot, Targets, Timestamp};
use serde_json::json;
use tough::{IntoVec, RepositoryLoader, TargetName};
use url::Url;

use crate::cli::{FeedCmd, Global};
use crate::client::{Client, segment};
use crate::output::{failed, print, print_json, usage};

pub async fn run(g: &Global, cmd: FeedCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        FeedCmd::Export { dir } => export(&Client::new(g)?, &dir, json).await,
        FeedCmd::Verify { source, root } => {
            let source = source.unwrap_or_else(|| g.url.clone());
            verify(g, &source, root.as_deref(), json).await
        }
    }
}

/// The product to act on: --product, or the server's only product.
async fn product(client: &Client) -> anyhow::Result<String> {
    if let Some(p) = client.product() {
        return Ok(p.to_owned());
    }
    let me: WhoAmI = client.get("/whoami").await.map_err(|e| {
        usage(format!(
            "name the product with --product (or set RELOPS_TOKEN so it can be looked up): {e}"
        ))
    })?;
    match me.products.as_slice() {
        [only] => Ok(only.clone()),
        several => Err(usage(format!(
            "several products ({}): name one with --product",
            several.join(", ")
        ))),
    }
}

async fn fetch(client: &Client, path: &str) -> anyhow::Result<Vec<u8>> {
    Ok(client.get_public(path).await?.bytes().await?.to_vec())
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("part");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

async fn export(client: &Client, dir: &Path, json: bool) -> anyhow::Result<()> {
    let product = product(client).await?;
    let base = format!("/tuf/{}", segment(&product));
    let meta_dir = dir.join("metadata");
    let targets_dir = dir.join("targets");
    std::fs::create_dir_all(&meta_dir)
        .and_then(|()| std::fs::create_dir_all(&targets_dir))
        .with_context(|| format!("cannot create {}", dir.display()))?;

    let timestamp = fetch(client, &format!("{base}/metadata/timestamp.json")).await?;
    let ts: Signed<Timestamp> = Signed::from_bytes(&timestamp)?;
    let sv = ts
        .signed
        .snapshot_version()
        .ok_or_else(|| failed("timestamp.json names no snapshot"))?;
    let snapshot = fetch(client, &format!("{base}/metadata/{sv}.snapshot.json")).await?;
    let snap: Signed<Snapshot> = Signed::from_bytes(&snapshot)?;
    let tv = snap
        .signed
        .meta
        .get("targets.json")
        .map(|m| m.version)
        .ok_or_else(|| failed("snapshot names no targets.json"))?;
    let targets = fetch(client, &format!("{base}/metadata/{tv}.targets.json")).await?;
    let tgt: Signed<Targets> = Signed::from_bytes(&targets)?;

    // Targets first, then roots, targets, snapshot, and the timestamp last.
    let mut written = 0usize;
    for (name, file) in &tgt.signed.targets {
        let sha = file
            .hashes
            .get("sha256")
            .ok_or_else(|| failed(format!("target {name} has no sha256")))?;
        let file_name = format!("{sha}.{name}");
        let path = targets_dir.join(&file_name);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == file.length) {
            continue;
        }
        let bytes = fetch(client, &format!("{base}/targets/{}", segment(&file_name))).await?;
        write_atomic(&path, &bytes)?;
        written += 1;
    }
    let mut roots = 0u64;
    loop {
        let n = roots + 1;
        match client
            .get_public_opt(&format!("{base}/metadata/{n}.root.json"))
            .await?
        {
            Some(resp) => write_atomic(
                &meta_dir.join(format!("{n}.root.json")),
                &resp.bytes().await?,
            )?,
            None => break,
        }
        roots = n;
    }
    let updater_docs = export_updater_feeds(client, &product, dir, &tgt.signed).await?;
    write_atomic(&meta_dir.join(format!("{tv}.targets.json")), &targets)?;
    write_atomic(&meta_dir.join(format!("{sv}.snapshot.json")), &snapshot)?;
    write_atomic(&meta_dir.join("timestamp.json"), &timestamp)?;
    if json {
        return print_json(&json!({
            "dir": dir, "product": product, "roots": roots, "snapshot": sv, "targets": tv,
            "target_files": tgt.signed.targets.len(), "target_files_written": written,
            "updater_documents": updater_docs,
        }));
    }
    print(&format!(
        "exported {product}'s feed to {}: {roots} root(s), snapshot {sv}, targets {tv}, {} target file(s) ({written} new), {} document(s) for other updaters in feeds/\n",
        dir.display(),
        tgt.signed.targets.len(),
        updater_docs.len()
    ))
}

/// Platforms a per-platform document is exported for (`feeds/{channel}/{platform}/`).
const PLATFORMS: [&str; 6] = [
    "macos-universal",
    "macos-arm64",
    "macos-x64",
    "windows-x64",
    "windows-arm64",
    "linux-x64",
];

/// The other updaters' channel-wide documents, the files they name and the release notes
/// their links reach, laid out as the server serves them when DIR is served at
/// `/tuf/{product}/` and DIR/feeds at `/feeds/{product}/`: `feeds/{channel}/appcast.xml`,
/// `latest*.yml`, `releases.{channel}.json`, the same per platform in
/// `feeds/{channel}/{platform}/`, each file hard-linked from `targets/` next to the
/// documents naming it; `notes/{version}.md`. Returns the documents written, relative to DIR.
async fn export_updater_feeds(
    client: &Client,
    product: &str,
    dir: &Path,
    targets: &Targets,
) -> anyhow::Result<Vec<String>> {
    let mut channels: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for file in targets.targets.values() {
        let Some(custom) = &file.custom else { continue };
        for c in custom["channels"].as_array().into_iter().flatten() {
            if let Some(c) = c.as_str().filter(|c| !channels.iter().any(|x| x == c)) {
                channels.push(c.to_owned());
            }
        }
        if let Some(n) = custom["notes"]
            .as_str()
            .filter(|n| !notes.iter().any(|x| x == n))
        {
            notes.push(n.to_owned());
        }
    }
    for n in &notes {
        let Some(resp) = client
            .get_public_opt(&format!("/tuf/{}/{n}", segment(product)))
            .await?
        else {
            continue;
        };
        let path = dir.join(n);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_atomic(&path, &resp.bytes().await?)?;
    }
    let mut written = Vec::new();
    for channel in &channels {
        let velopack = format!("releases.{channel}.json");
        let mut places: Vec<(PathBuf, Option<&str>)> =
            vec![(dir.join("feeds").join(channel), None)];
        places.extend(
            PLATFORMS
                .iter()
                .map(|p| (dir.join("feeds").join(channel).join(p), Some(*p))),
        );
        for (place, platform) in places {
            std::fs::create_dir_all(&place)
                .with_context(|| format!("cannot create {}", place.display()))?;
            let docs: Vec<&str> = match platform {
                None => vec![
                    "appcast.xml",
                    "latest.yml",
                    "latest-mac.yml",
                    "latest-linux.yml",
                    &velopack,
                ],
                Some(_) => vec!["appcast.xml", &velopack],
            };
            for doc in docs {
                let query = platform
                    .map(|p| format!("?platform={p}"))
                    .unwrap_or_default();
                let path = format!(
                    "/feeds/{}/{}/{doc}{query}",
                    segment(product),
                    segment(channel)
                );
                // No release reaches the channel for that OS yet: nothing to write.
                let Some(resp) = client.get_public_opt(&path).await? else {
                    continue;
                };
                write_atomic(&place.join(doc), &resp.bytes().await?)?;
                written.push(
                    place
                        .join(doc)
                        .strip_prefix(dir)
                        .unwrap_or(Path::new(doc))
                        .display()
                        .to_string(),
                );
            }
            for (name, file) in &targets.targets {
                // Release files only: a delta target (`custom.delta`) is the SDK's alone.
                let in_place = file.custom.as_ref().is_some_and(|c| {
                    c.get("delta").is_none()
                        && platform.is_none_or(|p| c["platform"].as_str() == Some(p))
                });
                let Some(sha) = file.hashes.get("sha256").filter(|_| in_place) else {
                    continue;
                };
                link_or_copy(
                    &dir.join("targets").join(format!("{sha}.{name}")),
                    &place.join(name),
                )?;
            }
        }
    }
    Ok(written)
}

/// Hard-links `from` to `to` (the export's target file under the name the updaters use),
/// copying where links are not possible; an existing `to` is replaced.
fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::metadata(to)
        .is_ok_and(|m| std::fs::metadata(from).is_ok_and(|f| f.len() == m.len()))
    {
        return Ok(());
    }
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Metadata and targets base URLs of a source.
async fn urls(g: &Global, source: &str) -> anyhow::Result<(Url, Url)> {
    let dir_urls = |dir: &Path| -> anyhow::Result<(Url, Url)> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot read {}", dir.display()))?;
        let u = |sub: &str| {
            Url::from_directory_path(dir.join(sub))
                .map_err(|()| failed(format!("{} is not an absolute path", dir.display())))
        };
        Ok((u("metadata")?, u("targets")?))
    };
    if source.starts_with("http://") || source.starts_with("https://") {
        let base = source.trim_end_matches('/');
        let repo = if base.contains("/tuf/") {
            base.to_owned()
        } else {
            let client = Client::new(&Global {
                url: base.to_owned(),
                ..g.clone()
            })?;
            format!("{base}/tuf/{}", segment(&product(&client).await?))
        };
        let parse = |s: String| Url::parse(&s).map_err(|e| usage(format!("bad URL {s}: {e}")));
        return Ok((
            parse(format!("{repo}/metadata/"))?,
            parse(format!("{repo}/targets/"))?,
        ));
    }
    dir_urls(&PathBuf::from(source))
}

async fn verify(g: &Global, source: &str, root: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let (meta, targets) = urls(g, source).await?;
    let (root_bytes, pinned) = match root {
        Some(p) => (
            std::fs::read(p)
                .map_err(|e| usage(format!("cannot read --root {}: {e}", p.display())))?,
            true,
        ),
        None => {
            let url = meta.join("1.root.json")?;
            let bytes = if url.scheme() == "file" {
                std::fs::read(url.to_file_path().map_err(|()| failed("bad file URL"))?)?
            } else {
                reqwest::get(url.clone())
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?
                    .to_vec()
            };
            (bytes, false)
        }
    };
    let repo = RepositoryLoader::new(&root_bytes, meta.clone(), targets)
        .load()
        .await
        .map_err(|e| failed(format!("the feed at {meta} does not verify: {e}")))?;
    let mut checked = Vec::new();
    let mut bad = Vec::new();
    let names: Vec<TargetName> = repo.all_targets().map(|(n, _)| n.clone()).collect();
    for name in names {
        let result = match repo.read_target(&name).await {
            Ok(Some(stream)) => stream
                .into_vec()
                .await
                .map(|b| b.len())
                .map_err(|e| e.to_string()),
            Ok(None) => Err("listed but not found".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(len) => checked.push((name.raw().to_owned(), len)),
            Err(e) => bad.push(format!("{}: {e}", name.raw())),
        }
    }
    let versions = json!({
        "root": repo.root().signed.version,
        "timestamp": repo.timestamp().signed.version,
        "snapshot": repo.snapshot().signed.version,
        "targets": repo.targets().signed.version,
    });
    if json {
        print_json(&json!({
            "ok": bad.is_empty(), "root_pinned": pinned, "versions": versions,
            "targets": checked.iter().map(|(n, l)| json!({"name": n, "length": l})).collect::<Vec<_>>(),
            "problems": bad,
        }))?;
    } else {
        let mut s = String::new();
        if !pinned {
            s += "note: trusting the source's own 1.root.json; pass --root FILE to pin the root your app ships\n";
        }
        s += &format!("metadata verified: {versions}\n");
        for (n, l) in &checked {
            s += &format!("ok   {n} ({l} bytes)\n");
        }
        for b in &bad {
            s += &format!("BAD  {b}\n");
        }
        print(&s)?;
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "{} target(s) failed verification",
            bad.len()
        )))
    }
}
