//! `relops init` and `relops serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use relops_ops::config::{CONFIG_FILE, ServerConfig};
use relops_ops::init::InitReport;
use relops_server::AppState;
use serde_json::json;

use crate::cli::ServerArgs;
use crate::output::{print, print_json};

pub async fn init(args: &ServerArgs, json: bool) -> anyhow::Result<()> {
    let report = relops_ops::init::init(&args.data_dir, args.config.as_deref()).await?;
    if json {
        return print_json(&json!({
            "admin_token": report.admin_token,
            "admin_token_file": report.admin_token_file,
            "data_dir": report.data_dir,
            "config_file": report.config_file,
            "config_created": report.config_created,
            "keys": report.keys,
        }));
    }
    print(&describe(&report))
}

fn describe(r: &InitReport) -> String {
    let mut s = format!("data dir: {}\n", r.data_dir.display());
    s += &format!(
        "config:   {} ({})\n",
        r.config_file.display(),
        if r.config_created {
            "created"
        } else {
            "exists, kept"
        }
    );
    for k in &r.keys {
        s += &format!(
            "key:      {:<10} {} ({})\n",
            k.role,
            &k.keyid[..16],
            if k.created {
                "created"
            } else {
                "exists, kept — not overwritten"
            }
        );
    }
    match &r.admin_token {
        Some(t) => {
            s += &format!("\nFirst admin token (store it now):\n\n    export RELOPS_TOKEN={t}\n");
            if let Some(f) = &r.admin_token_file {
                s += &format!(
                    "\nIt is also in {} (readable by you only); delete that file once the token is stored.\n",
                    f.display()
                );
            }
        }
        None => s += "\nAn admin token already exists; make more with `relops token create`.\n",
    }
    s
}

pub async fn serve(
    args: &ServerArgs,
    listen: Option<SocketAddr>,
    tls: Option<(PathBuf, PathBuf)>,
) -> anyhow::Result<()> {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| args.data_dir.join(CONFIG_FILE));
    if !config_path.exists() {
        let report = relops_ops::init::init(&args.data_dir, args.config.as_deref()).await?;
        print(&describe(&report))?;
    }
    let data_dir = args
        .data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve data dir {}", args.data_dir.display()))?;
    let mut config = ServerConfig::load(&data_dir, Some(Path::new(&config_path)))?;
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some((cert, key)) = tls {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
    }
    // First: everything the server opens from here on counts against the limit.
    if let Some(files) = relops_server::raise_open_files_limit()
        && files < relops_server::FEW_OPEN_FILES
    {
        eprintln!(
            "warning: this process may open only {files} files, and every connection takes one: past that, new connections wait until others close. Raise the hard limit (systemd: LimitNOFILE=65536; a shell: ulimit -Hn) — see docs/server.md"
        );
    }
    let state = AppState::open(config.clone()).await?;
    let listener = relops_server::listen(config.listen).with_context(|| {
        format!(
            "cannot listen on {}; pick another with --listen",
            config.listen
        )
    })?;
    let addr = listener.local_addr()?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(relops_server::tls::load(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both tls_cert and tls_key (or --tls-cert and --tls-key)"),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    print(&format!(
        "relops listening on {scheme}://{addr}\n  export RELOPS_URL={scheme}://{addr}\n"
    ))?;
    if config.notify.webhooks.is_empty() {
        eprintln!(
            "warning: no [[notify.webhooks]] in {}: halts, rollbacks and alerts will reach nobody (no Slack, no pager); see docs/rollout.md, \"Notifications\"",
            config_path.display()
        );
    }
    tracing::info!(%addr, %scheme, database = %relops_ops::redact(&config.database_url), "serving");
    match tls {
        Some(t) => {
            let listener = relops_server::tls::TlsListener::new(listener, t)?;
            relops_server::serve(listener, state, shutdown()).await?;
        }
        #[cfg(target_os = "linux")]
        None => {
            let sources = state.targets.file_sources();
            let listener = relops_server::sendfile::SendfileListener::new(listener, sources);
            relops_server::serve(listener, state, shutdown()).await?;
        }
        #[cfg(not(target_os = "linux"))]
        None => relops_server::serve(listener, state, shutdown()).await?,
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
