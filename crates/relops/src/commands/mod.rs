//! One function per command. Server commands wire `relops-server`; the others call the
//! HTTP API through [`Client`](crate::client::Client).

mod artifact;
mod checklist;
mod crash;
mod feed;
mod gate;
mod health;
mod kb;
mod keys;
mod logs;
mod release;
mod retention;
mod rollout;
mod server;
mod simulate;
mod support;
mod ticket;

use relops_api::{CreateToken, RollbackRequest, TokenCreated, WhoAmI};

use crate::cli::{AuditCmd, Cli, Command, KeysCmd, TokenCmd};
use crate::client::{Client, segment};
use crate::output::{print, print_json, usage};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.global.json;
    match cli.command {
        Command::Init(args) => server::init(&args, json).await,
        Command::Serve {
            server,
            listen,
            tls_cert,
            tls_key,
        } => server::serve(&server, listen, tls_cert.zip(tls_key)).await,
        Command::Backup { dir, server } => {
            let m = relops_ops::backup::backup(&server.data_dir, server.config.as_deref(), &dir)
                .await?;
            if json {
                return print_json(&m);
            }
            print(&format!(
                "backed up {} to {}: {} files, {} bytes{}; relops restore {} --data-dir NEW makes a data dir from it\n",
                m.source.display(),
                dir.display(),
                m.files.len(),
                m.bytes,
                if m.blobs_included {
                    ""
                } else {
                    " (not the blobs: they are in S3, kept by the bucket's versioning)"
                },
                dir.display()
            ))
        }
        Command::Restore { dir, data_dir } => {
            let r = relops_ops::backup::restore(&dir, &data_dir)?;
            if json {
                return print_json(&r);
            }
            print(&format!(
                "restored the backup of {} into {}: {} files, {} bytes checked and copied; start it with relops serve --data-dir {}\n",
                r.taken_at.format("%Y-%m-%d %H:%M:%S UTC"),
                r.data_dir.display(),
                r.files,
                r.bytes,
                r.data_dir.display()
            ))
        }
        Command::Release(cmd) => release::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Artifact(cmd) => artifact::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Token(TokenCmd::Confirm { id, local }) => {
            let confirmed: relops_api::TokenConfirmed = match local.data_dir {
                Some(dir) => {
                    relops_ops::init::confirm_token_locally(&dir, local.config.as_deref(), &id)
                        .await?
                }
                None => {
                    Client::new(&cli.global)?
                        .post(&format!("/tokens/{}/confirm", segment(&id)), &())
                        .await?
                }
            };
            if json {
                return print_json(&confirmed);
            }
            let roles: Vec<_> = confirmed.roles.iter().map(|r| r.as_str()).collect();
            print(&format!(
                "token {} ({}, role {}) made by {} is confirmed by {}: it works now\n",
                confirmed.id,
                confirmed.name,
                roles.join(", "),
                confirmed.created_by,
                confirmed.confirmed_by
            ))
        }
        Command::Token(TokenCmd::List) => {
            let list: relops_api::TokenList = Client::new(&cli.global)?.get("/tokens").await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .tokens
                .iter()
                .map(|t| {
                    let roles: Vec<_> = t.roles.iter().map(|r| r.as_str()).collect();
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        roles.join(","),
                        t.created_at.format("%Y-%m-%d").to_string(),
                        t.created_by.clone(),
                        if t.awaiting_confirmation {
                            "awaits confirmation".to_owned()
                        } else {
                            t.confirmed_by
                                .as_deref()
                                .map(|c| format!("confirmed by {c}"))
                                .unwrap_or_else(|| "works".to_owned())
                        },
                    ]
                })
                .collect();
            print(&crate::output::table(
                &["ID", "NAME", "ROLES", "MADE", "MADE BY", "STATE"],
                &rows,
            ))
        }
        Command::Token(TokenCmd::Revoke { id }) => {
            let r: relops_api::TokenRevoked = Client::new(&cli.global)?
                .post(&format!("/tokens/{}/revoke", segment(&id)), &())
                .await?;
            if json {
                return print_json(&r);
            }
            print(&format!(
                "token {} ({}) is revoked: it no longer works, nor do console sessions made with it\n",
                r.id, r.name
            ))
        }
        Command::Token(TokenCmd::Create { roles, name, quiet }) => {
            let client = Client::new(&cli.global)?;
            let created: TokenCreated =
                client.post("/tokens", &CreateToken { name, roles }).await?;
            // One sentence for both outputs: on stderr with --quiet (stdout holds only the
            // token), after the token otherwise.
            let awaits = if created.awaiting_confirmation {
                format!(
                    "token {} ({}) works once a second person confirms it (separation of duties): another admin or a security engineer runs `relops token confirm {}` (on the server's host, for the first one: `relops token confirm {} --data-dir DIR`).\n",
                    created.id, created.name, created.id, created.id
                )
            } else {
                String::new()
            };
            if quiet && !json {
                eprint!("{awaits}");
                return print(&format!("{}\n", created.token));
            }
            if json {
                print_json(&created)
            } else {
                let roles: Vec<_> = created.roles.iter().map(|r| r.as_str()).collect();
                print(&format!(
                    "token {} ({}) with role {}:\n\n    {}\n\nShown once; store it now (e.g. as RELOPS_TOKEN in your CI secrets).\n\n{awaits}",
                    created.id,
                    created.name,
                    roles.join(", "),
                    created.token
                ))
            }
        }
        Command::Keys(KeysCmd::List) => {
            let list: relops_api::KeyList = Client::new(&cli.global)?.get("/keys").await?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .keys
                .iter()
                .map(|k| {
                    vec![
                        k.role.clone(),
                        k.key_ids
                            .iter()
                            .map(|id| id[..16].to_owned())
                            .collect::<Vec<_>>()
                            .join(","),
                        format!("{}/{}", k.threshold, k.key_ids.len()),
                        k.version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        k.expires
                            .map(|e| e.format("%Y-%m-%d %H:%M UTC").to_string())
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            print(&crate::output::table(
                &["ROLE", "KEY IDS", "THRESHOLD", "VERSION", "EXPIRES"],
                &rows,
            ))?;
            if let Some(k) = list.keys.iter().find(|k| k.role == "release") {
                print(&format!(
                    "\nrelease key (the SDK's release_key): {}\nSparkle SUPublicEDKey (base64): {}\n",
                    k.public_keys.join(","),
                    k.public_keys_base64.join(",")
                ))?;
            }
            Ok(())
        }
        Command::Keys(KeysCmd::Rotate { role }) => {
            let r: relops_api::KeyRotated = Client::new(&cli.global)?
                .post("/keys/rotate", &relops_api::RotateKey { role })
                .await?;
            if json {
                return print_json(&r);
            }
            print(&format!(
                "rotated the {} key; new key {}; published {}\n",
                r.role,
                &r.key_id[..16],
                keys::root_versions(&r.root_versions)
            ))
        }
        Command::Keys(KeysCmd::Status) => {
            let list: relops_api::ExpiryList =
                Client::new(&cli.global)?.get("/keys/status").await?;
            if json {
                return print_json(&list.items);
            }
            print(&keys::status_table(&list))
        }
        Command::Keys(KeysCmd::Renew { what }) => {
            if what != "root" {
                return Err(usage(format!(
                    "`{what}` is not renewed by hand: `relops keys renew root` (the other roles are re-signed by the server)"
                )));
            }
            let r: relops_api::RootRenewed = Client::new(&cli.global)?
                .post("/keys/root/renew", &())
                .await?;
            if json {
                return print_json(&r);
            }
            print(&format!(
                "renewed the root: {}, expiring {}; installed apps follow on their next check\n",
                keys::root_versions(&r.root_versions),
                r.expires.format("%Y-%m-%d")
            ))
        }
        Command::Certs(cmd) => keys::certs(&Client::new(&cli.global)?, cmd, json).await,
        Command::Pilot(cmd) => keys::pilot(&Client::new(&cli.global)?, cmd, json).await,
        Command::Review(cmd) => keys::review(&Client::new(&cli.global)?, cmd, json).await,
        Command::Retention(cmd) => retention::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Gate(cmd) => gate::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Audit(AuditCmd::Verify { since_anchor }) => {
            let client = Client::new(&cli.global)?;
            let v: relops_api::AuditVerification = match since_anchor {
                None => client.get("/audit/verify").await?,
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        crate::output::usage(format!(
                            "cannot read the anchors {}: {e}",
                            path.display()
                        ))
                    })?;
                    let anchors = relops_api::parse_anchors(&text).map_err(|(n, e)| {
                        crate::output::usage(format!(
                            "line {n} of {} is not a checkpoint `relops audit anchor` printed: {e}",
                            path.display()
                        ))
                    })?;
                    client
                        .post("/audit/verify", &relops_api::AnchorCheck { anchors })
                        .await?
                }
            };
            if json {
                print_json(&v)?;
            }
            match (&v.first_bad, v.ok) {
                (_, true) => {
                    if !json {
                        let anchored = match v.anchored_through {
                            Some(n) => format!(
                                "; checked against {} anchor{} kept outside the database, through entry {n}",
                                v.anchors_checked,
                                if v.anchors_checked == 1 { "" } else { "s" }
                            ),
                            None => "; no anchor outside the database yet (the server writes one within [audit] checkpoint_interval_seconds of a change)".to_owned(),
                        };
                        print(&format!(
                            "audit trail intact: {} entries, hash chain verified{anchored}\n",
                            v.entries
                        ))?;
                    }
                    Ok(())
                }
                (Some((seq, why)), false) => Err(crate::output::failed(format!(
                    "audit trail broken at entry {seq}: {why}"
                ))),
                (None, false) => Err(crate::output::failed("audit trail broken".to_owned())),
            }
        }
        Command::Logs(cmd) => logs::run(&cli.global, cmd, json).await,
        Command::Audit(AuditCmd::Anchor) => {
            let cp: Option<relops_api::AuditCheckpoint> = Client::new(&cli.global)?
                .post("/audit/checkpoint", &())
                .await?;
            match cp {
                Some(cp) => {
                    eprintln!(
                        "the chain head (entry {}), signed: keep this line outside relops; `relops audit verify --since-anchor FILE` checks the chain still holds it",
                        cp.seq
                    );
                    print(&format!("{}\n", serde_json::to_string(&cp)?))
                }
                None => Err(crate::output::usage(
                    "the audit trail is empty: nothing to anchor".to_owned(),
                )),
            }
        }
        Command::Audit(AuditCmd::Export { since, output }) => {
            let client = Client::new(&cli.global)?;
            let mut rb = client.request(reqwest::Method::GET, "/audit/export")?;
            if let Some(s) = &since {
                rb = rb.query(&[("since", s)]);
            }
            let text = client.send(rb).await?.text().await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &text)?;
                    print(&format!(
                        "wrote {} entries to {}\n",
                        text.lines().count(),
                        path.display()
                    ))
                }
                None => print(&text),
            }
        }
        Command::Audit(AuditCmd::Checkpoint) => {
            let cp: Option<relops_api::AuditCheckpoint> = Client::new(&cli.global)?
                .post("/audit/checkpoint", &())
                .await?;
            if json {
                return print_json(&cp);
            }
            match cp {
                Some(cp) => print(&format!(
                    "signed checkpoint at entry {} ({})\n",
                    cp.seq, cp.hash
                )),
                None => print("the audit trail is empty: nothing to sign\n"),
            }
        }
        Command::Audit(AuditCmd::Prune { before }) => {
            let client = Client::new(&cli.global)?;
            let mut rb = client.request(reqwest::Method::POST, "/audit/prune")?;
            if let Some(b) = &before {
                rb = rb.query(&[("before", b)]);
            }
            let cp: Option<relops_api::AuditCheckpoint> = client.send(rb).await?.json().await?;
            if json {
                return print_json(&cp);
            }
            match cp {
                None => print("nothing old enough to prune\n"),
                Some(cp) => print(&format!(
                    "pruned entries up to {}; signed checkpoint kept\n",
                    cp.seq
                )),
            }
        }
        Command::Feed(cmd) => feed::run(&cli.global, cmd, json).await,
        Command::Rollout(cmd) => rollout::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Rollback {
            to,
            reason,
            severity,
            next_fix,
            force,
            confirm,
        } => {
            rollout::rollback(
                &Client::new(&cli.global)?,
                RollbackRequest {
                    to: to
                        .map(|v| v.parse().map_err(|e| usage(format!("--to {v}: {e}"))))
                        .transpose()?,
                    reason: reason.unwrap_or_default(),
                    severity: Some(severity),
                    next_fix: next_fix
                        .map(|d| {
                            d.parse()
                                .map_err(|_| usage(format!("--next-fix {d}: expected YYYY-MM-DD")))
                        })
                        .transpose()?,
                    force,
                    confirm,
                },
                json,
            )
            .await
        }
        Command::Ingest(crate::cli::IngestCmd::Dsn) => {
            let v: relops_api::Dsn = Client::new(&cli.global)?.get("/ingest/dsn").await?;
            if json {
                print_json(&v)
            } else {
                print(&format!("{}\n", v.dsn))
            }
        }
        Command::Health { version } => {
            health::health(&Client::new(&cli.global)?, &version, json).await
        }
        Command::Alert(cmd) => health::alert(&Client::new(&cli.global)?, cmd, json).await,
        Command::Crash(cmd) => crash::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Symbols(cmd) => crash::symbols(&Client::new(&cli.global)?, cmd, json).await,
        Command::Simulate(args) => simulate::run(&Client::new(&cli.global)?, args, json).await,
        Command::Notify(cmd) => rollout::notify(&Client::new(&cli.global)?, cmd, json).await,
        Command::Support(cmd) => support::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Kb(cmd) => kb::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Ticket(cmd) => ticket::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Incident(cmd) => health::incident(&Client::new(&cli.global)?, cmd, json).await,
        Command::Approve {
            version,
            no_go,
            waive,
            reason,
            confirm,
        } => {
            let req = relops_api::ApproveRequest {
                no_go,
                waive,
                reason,
            };
            checklist::approve(&Client::new(&cli.global)?, &version, &req, confirm, json).await
        }
        Command::Checklist(cmd) => checklist::run(&Client::new(&cli.global)?, cmd, json).await,
        Command::Whoami => {
            let me: WhoAmI = Client::new(&cli.global)?.get("/whoami").await?;
            if json {
                print_json(&me)
            } else {
                let roles: Vec<_> = me.roles.iter().map(|r| r.as_str()).collect();
                print(&format!(
                    "{} — roles: {} — products: {}\n",
                    me.name,
                    roles.join(", "),
                    me.products.join(", ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every command reads its answer as the `relops-api` type the server wrote; indexing
    /// untyped JSON (`v["sprt"]["llr"]`) is how the two sides drift unseen.
    #[test]
    fn commands_read_typed_answers() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/commands");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for untyped in ["serde_json::Value", "use serde_json::{Value", "Value = "] {
                assert!(
                    !code.contains(untyped),
                    "{} uses `{untyped}`: read and send relops-api types",
                    path.display()
                );
            }
            checked += 1;
        }
        assert!(checked >= 9, "{checked}");
    }
}
