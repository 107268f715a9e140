//! The background work of a server, each a loop over operations: re-signing the feed before
//! it expires, signing audit checkpoints, delivering the notification outbox, acting on
//! the health engine's changes (the alert worker), the health maintenance loop, recording
//! release health for the charts, processing crashes and forgetting idle installs'
//! rate-limit buckets; counting the telemetry other replicas stored; and holding or seeking the lead, so that the deployment-wide jobs
//! (the maintenance loop's deadlines, reminders and retention, audit checkpoints) run on
//! one replica. The outbox needs no leader: each message is claimed by one replica. Every
//! replica follows the feed the others publish the moment they publish it.

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::Ops;
use crate::services::health_engine::Change;

/// The running background tasks; dropping it stops them.
#[derive(Debug)]
pub struct Workers(Vec<JoinHandle<()>>);

impl Drop for Workers {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

pub(crate) fn start(
    ops: Ops,
    changes: Option<mpsc::UnboundedReceiver<Change>>,
    fleet: Option<relops_store::FleetCursor>,
) -> Workers {
    let mut tasks = vec![
        tokio::spawn(lead(ops.clone())),
        tokio::spawn(refresh_feed(ops.clone())),
        tokio::spawn(follow_feed(ops.clone())),
        tokio::spawn(checkpoint_audit(ops.clone())),
        tokio::spawn(crate::services::notify::deliver(ops.clone())),
    ];
    if let Some(rx) = changes {
        tasks.push(tokio::spawn(crate::alerts::act_on_changes(ops.clone(), rx)));
    }
    if let Some(cursor) = fleet {
        tasks.push(tokio::spawn(follow_fleet(ops.clone(), cursor)));
    }
    // What held when the server stopped and was not alerted yet is judged now.
    ops.health.judge_all(Utc::now());
    tasks.push(tokio::spawn(crate::alerts::maintain(ops.clone())));
    tasks.push(tokio::spawn(record_health(ops.clone())));
    tasks.push(tokio::spawn(process_crashes(ops.clone())));
    tasks.push(tokio::spawn(prepare_files(ops.clone(), false)));
    tasks.push(tokio::spawn(prepare_files(ops.clone(), true)));
    tasks.push(tokio::spawn(
        crate::services::ratelimit::forget_idle_periodically(ops),
    ));
    Workers(tasks)
}

/// How often the lead is checked (held) or sought: a dead leader's work moves within this
/// and the database noticing its connection is gone.
const LEAD_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Holds or seeks the deployment's lead ([`relops_store::LeaderLock`]) every [`LEAD_CHECK`].
async fn lead(ops: Ops) {
    let mut lock = relops_store::LeaderLock::new(&ops.db);
    let mut tick = tokio::time::interval(LEAD_CHECK);
    loop {
        tick.tick().await;
        let leads = match lock.hold().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot reach the database to hold the lead");
                false
            }
        };
        let was = ops
            .leading
            .swap(leads, std::sync::atomic::Ordering::Relaxed);
        if leads != was {
            tracing::info!(
                leads,
                "this replica {} the background work",
                if leads { "leads" } else { "no longer leads" }
            );
        }
        metrics::gauge!("relops_leader").set(if leads { 1.0 } else { 0.0 });
    }
}

/// Records every release's health for the charts ([`Ops::record_health_history`]).
async fn record_health(ops: Ops) {
    let every = std::time::Duration::from_secs(ops.config.health.history_interval_seconds);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = ops.record_health_history(Utc::now()).await {
            tracing::error!(error = ?e, "recording release health for the charts failed; retrying next interval");
        }
    }
}

/// Processes crashes into stacks and groups ([`Ops::process_crashes`]): every second, at
/// once when symbols arrive, and without pause while a round finds work. Crashes are
/// looked for since the last round's start less ten minutes: the ingest writer commits a
/// crash a moment after it stamped its arrival.
async fn process_crashes(ops: Ops) {
    let mut since = chrono::DateTime::<Utc>::UNIX_EPOCH;
    // The backlog is counted after rounds that worked and until it is seen empty, not on
    // every idle second.
    let mut backlog = true;
    loop {
        let started = Utc::now();
        match ops.process_crashes(since).await {
            Ok(n) => {
                since = started - chrono::Duration::minutes(10);
                if n > 0 || backlog {
                    backlog = crate::metrics::crash_backlog(&ops).await != 0;
                }
                if n > 0 {
                    continue;
                }
            }
            Err(e) => {
                tracing::error!(error = ?e, "processing crashes failed; retrying in a second");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            () = ops.crash_work.notified() => {}
        }
    }
}

/// Prepares stored files for the feeds, on the lead, and publishes the feeds they change:
/// the file digests and signature of artifacts that lack them (each upload wakes it; at
/// start it finds those uploaded before relops made them), or the deltas the feed lacks
/// (each approval wakes it; [`crate::deltas`]) — two of these loops, so that a large delta
/// (minutes for a GiB) never holds up the digests an upload's Sparkle signature needs. A
/// round that fails (a blob that cannot be read) is tried again at the next wake-up or
/// after ten minutes — which is also how soon a lead on another replica than the one that
/// took the upload or approval gets to it.
async fn prepare_files(ops: Ops, deltas: bool) {
    loop {
        let mut wait = std::time::Duration::from_secs(600);
        if !ops.leads() {
            wait = LEAD_CHECK;
        } else if deltas {
            make_deltas(&ops).await;
        } else {
            fill_file_facts(&ops).await;
        }
        let work = if deltas {
            &ops.delta_work
        } else {
            &ops.file_work
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = work.notified() => {}
        }
    }
}

async fn publish_changed(ops: &Ops, product: &str) {
    if let Err(e) = ops.feed.publish(&ops.db, product).await {
        tracing::error!(product, error = ?e, "publishing the feed failed; the refresh retries");
    }
}

async fn fill_file_facts(ops: &Ops) {
    loop {
        match ops.fill_file_facts().await {
            Ok(products) if products.is_empty() => break,
            Ok(products) => {
                for product in products {
                    publish_changed(ops, &product).await;
                }
            }
            Err(e) => {
                tracing::error!(error = ?e, "making file digests failed: those artifacts stay out of the feeds for other updaters; retrying at the next upload or in ten minutes");
                break;
            }
        }
    }
}

async fn make_deltas(ops: &Ops) {
    loop {
        match ops.make_next_delta().await {
            Ok(None) => break,
            Ok(Some((product, kept))) => {
                if kept {
                    publish_changed(ops, &product).await;
                }
            }
            Err(e) => {
                tracing::error!(error = ?e, "making a delta failed: installs download the whole file meanwhile; retrying at the next approval or in ten minutes");
                break;
            }
        }
    }
}

/// Signs a checkpoint of the audit chain head periodically.
async fn checkpoint_audit(ops: Ops) {
    let every = std::time::Duration::from_secs(ops.config.audit.checkpoint_interval_seconds);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if !ops.leads() {
            continue;
        }
        if let Err(e) = ops.sign_audit_checkpoint().await {
            tracing::error!(error = ?e, "signing an audit checkpoint failed; retrying next interval");
        }
    }
}

/// Serves the feed other replicas publish as soon as they publish it: listens for the
/// database's announcements ([`relops_store::FeedListener`], PostgreSQL only) and, after a
/// lost connection, catches up on every product. Without a connection it retries every
/// few seconds; [`refresh_feed`] covers the gap.
async fn follow_feed(ops: Ops) {
    use relops_store::FeedChange;
    loop {
        let mut listener = match relops_store::FeedListener::connect(&ops.db).await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot listen for feed changes; retrying in 5 s (the feed is refreshed every [feed] refresh_interval_seconds meanwhile)");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
        };
        // Every product first: whatever changed before the listener was up, and again
        // whatever may have changed while its connection was down.
        let mut due: Vec<String> = ops.config.products.to_vec();
        loop {
            for product in due.drain(..) {
                if let Err(e) = ops.feed.follow(&ops.db, &product).await {
                    tracing::error!(product, error = ?e, "serving the feed another replica published failed");
                }
            }
            match listener.next().await {
                Ok(FeedChange::Product(p)) if ops.config.products.contains(&p) => due.push(p),
                Ok(FeedChange::Product(_)) => {}
                Ok(FeedChange::Missed) => due = ops.config.products.to_vec(),
                Err(e) => {
                    tracing::warn!(error = ?e, "lost the feed listener; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// How often the other replicas' tallies are looked for: about the delay before a
/// replica's figures include what another one received.
const FLEET_POLL: std::time::Duration = std::time::Duration::from_millis(500);
/// Rows of the log read at a time.
const FLEET_PAGE: u32 = 1000;

/// Counts what the other replicas stored ([`relops_store::Db::shared_tallies`], PostgreSQL
/// only), so that this replica's health engine judges the whole fleet: every
/// [`FLEET_POLL`], and without pause while pages come back full.
async fn follow_fleet(ops: Ops, mut cursor: relops_store::FleetCursor) {
    if ops.db.backend() != relops_store::Backend::Postgres {
        return;
    }
    loop {
        match ops.db.shared_tallies(&mut cursor, FLEET_PAGE).await {
            Ok((batches, full)) => {
                for b in &batches {
                    ops.health.observe_shared(&b.product, &b.tallies, b.at);
                }
                if full {
                    continue;
                }
            }
            Err(e) => {
                tracing::warn!(error = ?e, "cannot read the other replicas' telemetry; retrying (this replica's health figures lag meanwhile)");
            }
        }
        tokio::time::sleep(FLEET_POLL).await;
    }
}

/// Re-signs feed metadata before it expires (and picks up changes made elsewhere).
async fn refresh_feed(ops: Ops) {
    let every = std::time::Duration::from_secs(ops.config.feed.refresh_interval_seconds);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        for product in ops.config.products.iter() {
            if let Err(e) = ops.feed.publish(&ops.db, product).await {
                tracing::error!(product, error = ?e, "refreshing the feed failed; retrying next interval");
            }
        }
    }
}
