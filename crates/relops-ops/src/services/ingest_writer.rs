//! Group commit for ingest: requests hand their records to one writer task, which makes
//! everything that queued up meanwhile durable in one transaction (one fsync) and then
//! answers every request. A 2xx means "stored durably"; under load the cost of a commit is
//! shared by all the requests it carries. Records are idempotent, so when a batch fails
//! every request in it gets the error and its client retries.
//!
//! Where a batch goes depends on the database:
//! - SQLite (the default): the batch is appended to the ingest journal
//!   ([`relops_store::IngestJournal`]; a few hundred sequential bytes per record) and the
//!   request is answered. A fold thread applies everything journalled since its last run
//!   to the ingest tables in one transaction ([`Db::fold_journal`]) — once appends pause,
//!   and under load in runs of many batches ([`fold_loop`]) — and the health engine
//!   counts what each fold found new. Reads of ingest data call [`IngestWriter::flush`]
//!   first, so an answered record is always visible to the next read.
//! - PostgreSQL: the batch is written to the tables directly and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use relops_ingest::Record;
use relops_store::{Db, IngestJournal};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::services::health_engine::HealthEngine;

/// Most records one writer transaction carries.
const MAX_BATCH_RECORDS: usize = 2000;
/// Under load, a batch waits up to this long after its first request for others, until it
/// has as many records as the last batch (at most [`COMMIT_GATHER`]): fewer, larger
/// commits (each syncs the disk and costs CPU however little it carries) for at most this
/// much latency. PostgreSQL's `commit_delay`, for the same reason.
const COMMIT_DELAY: Duration = Duration::from_millis(2);
/// Not larger: clients that wait for their answer before sending again (an SDK's queue, a
/// load generator's connections) would otherwise travel as one convoy — every request in
/// one batch, the CPU idle while that batch's sync runs, the disk idle while the next
/// convoy is parsed. Not smaller: every commit costs CPU however little it carries. 64,
/// 32 and 8 are compared in bench/RESULTS.md.
const COMMIT_GATHER: usize = 32;
/// Most records one fold applies (a fold holds the database's writer turn; the rest
/// waits for the next, which starts at once).
const MAX_FOLD_RECORDS: usize = 100_000;
/// While requests keep arriving, the fold waits until this many records are journalled
/// (or [`FOLD_LAG`] has passed). The fold appends install marks and ended sessions instead
/// of upserting rows under random ids, so its cost per record hardly depends on the run
/// (`examples/ingest_batches`); runs of about a second's load keep the health figures
/// fresh, the fold's memory small and its disk writes in small bursts, which kept the
/// paced tail lower than longer runs did (bench/RESULTS.md).
const FOLD_RUN_RECORDS: usize = 40_000;
/// The longest an answered record waits to be folded while requests keep arriving (so
/// the longest the health engine's figures lag behind under load; reads fold first).
const FOLD_LAG: Duration = Duration::from_secs(1);
/// No append for this long: the load has eased (or was a trickle), fold what there is.
const FOLD_QUIET: Duration = Duration::from_millis(100);
/// When a fold starts under load (see [`fold_loop`]); the server's are the constants
/// above, tests use smaller ones.
#[derive(Debug, Clone, Copy)]
struct Pacing {
    run_records: usize,
    lag: Duration,
    quiet: Duration,
}

impl Pacing {
    const SERVER: Self = Self {
        run_records: FOLD_RUN_RECORDS,
        lag: FOLD_LAG,
        quiet: FOLD_QUIET,
    };
}

/// Journalled but unfolded records beyond which the writer waits for the fold (the
/// journal is durable, but reads flush it and should not wait long).
const MAX_BACKLOG_RECORDS: usize = 1_000_000;
/// The fold threads' nice value (0 is normal, 19 the lowest priority), for a kernel that
/// refuses `SCHED_IDLE` (see [`lower_priority`]).
const FOLD_NICE: i32 = 10;

type Job = (String, Vec<Record>, oneshot::Sender<Result<(), String>>);

/// The handle requests write through.
#[derive(Debug, Clone)]
pub struct IngestWriter {
    tx: mpsc::Sender<Job>,
    journal: Option<Arc<Journalled>>,
    /// Dropped with the last handle: the fold thread then ends.
    _stop: Arc<watch::Sender<()>>,
}

/// Where the journal and its fold stand.
#[derive(Debug)]
struct Journalled {
    journal: IngestJournal,
    /// Last sequence appended (every answered request's batch is at or before it).
    appended: AtomicI64,
    /// Records appended but not folded yet.
    backlog: AtomicUsize,
    /// The fold's progress: last sequence folded, or the error of the last attempt.
    folded: watch::Sender<FoldState>,
    /// Wakes the fold thread.
    wake: Notify,
    /// A reader waits: fold now rather than at the next run (see [`fold_loop`]).
    urgent: AtomicBool,
    /// An earlier run left entries unfolded: the first fold starts at once.
    left_over: bool,
    pacing: Pacing,
    /// Folds that applied something, since the start.
    folds: AtomicUsize,
    /// The server's runtime, whose blocking threads run at normal priority: removing
    /// folded entries holds the journal's writer connection, which every request's append
    /// needs — on the fold's low-priority threads, a busy CPU would leave the requests
    /// waiting for it (the fold's own reads use a connection of their own).
    main: tokio::runtime::Handle,
}

impl Journalled {
    /// Where a journal stands: `folded` its last folded sequence, `appended` its last.
    fn new(journal: IngestJournal, folded: i64, appended: i64, pacing: Pacing) -> Self {
        Self {
            journal,
            appended: AtomicI64::new(appended.max(folded)),
            // Unknown until the first fold; it only paces the writer.
            backlog: AtomicUsize::new(0),
            folded: watch::Sender::new(FoldState {
                seq: folded,
                error: None,
            }),
            wake: Notify::new(),
            urgent: AtomicBool::new(false),
            left_over: appended > folded,
            pacing,
            folds: AtomicUsize::new(0),
            main: tokio::runtime::Handle::current(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct FoldState {
    seq: i64,
    error: Option<String>,
}

impl IngestWriter {
    /// Starts the writer (and, on SQLite, the fold thread, which first folds whatever an
    /// earlier run journalled but did not fold) on the current runtime; what is stored is
    /// counted by `health`.
    pub async fn start(db: Db, health: Arc<HealthEngine>) -> anyhow::Result<Self> {
        Self::start_paced(db, health, Pacing::SERVER).await
    }

    async fn start_paced(
        db: Db,
        health: Arc<HealthEngine>,
        pacing: Pacing,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>(8192);
        let stop = watch::Sender::new(());
        let journal = match db.ingest_journal() {
            Some(journal) => {
                let folded = db.ingest_folded().await?;
                let j = journal.clone();
                let appended = tokio::task::spawn_blocking(move || {
                    let last = j.last_seq()?;
                    if last < folded {
                        // The journal's file was lost or replaced: its numbers would restart
                        // below the fold mark, and what it takes now would never be folded.
                        tracing::warn!(
                            journal = %j.path().display(),
                            last,
                            folded,
                            "the ingest journal numbers behind what was folded; continuing after it"
                        );
                        j.continue_after(folded)?;
                    }
                    Ok::<_, relops_store::DbError>(last)
                })
                .await??;
                let j = Arc::new(Journalled::new(journal, folded, appended, pacing));
                // Detached: it ends when the last handle drops `stop`.
                start_fold_thread(db.clone(), health.clone(), j.clone(), stop.subscribe()).await?;
                Some(j)
            }
            None => None,
        };
        tokio::spawn(run(db, health, journal.clone(), rx));
        Ok(Self {
            tx,
            journal,
            _stop: Arc::new(stop),
        })
    }

    /// Stores `records` of `product`; returns once they are durable.
    pub async fn write(&self, product: &str, records: Vec<Record>) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((product.to_owned(), records, done))
            .await
            .map_err(|_| "the ingest writer stopped".to_owned())?;
        wait.await
            .map_err(|_| "the ingest writer stopped".to_owned())?
    }

    /// Returns once everything answered so far is in the ingest tables and counted by the
    /// health engine (immediately on PostgreSQL, where that is so on answering).
    pub async fn flush(&self) -> Result<(), String> {
        let Some(j) = &self.journal else {
            return Ok(());
        };
        let target = j.appended.load(Ordering::Acquire);
        let mut rx = j.folded.subscribe();
        loop {
            {
                let s = rx.borrow_and_update();
                if s.seq >= target {
                    return Ok(());
                }
                if let Some(e) = &s.error {
                    return Err(e.clone());
                }
            }
            j.urgent.store(true, Ordering::Release);
            j.wake.notify_one();
            rx.changed()
                .await
                .map_err(|_| "the ingest fold stopped".to_owned())?;
        }
    }
}

async fn run(
    db: Db,
    health: Arc<HealthEngine>,
    journal: Option<Arc<Journalled>>,
    mut rx: mpsc::Receiver<Job>,
) {
    // Records the last batch carried: about as many are likely on their way now.
    let mut last = 0;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut n = jobs[0].1.len();
        let gather_until = tokio::time::Instant::now() + COMMIT_DELAY;
        while n < MAX_BATCH_RECORDS {
            let next = match rx.try_recv() {
                Ok(j) => Some(j),
                // Under load, wait a moment for about as many as the last batch had: each
                // commit costs a sync of the disk, whatever it carries. A lone request is
                // written at once.
                Err(_) if n < last.min(COMMIT_GATHER) => {
                    tokio::time::timeout_at(gather_until, rx.recv())
                        .await
                        .ok()
                        .flatten()
                }
                Err(_) => None,
            };
            match next {
                Some(j) => {
                    n += j.1.len();
                    jobs.push(j);
                }
                None => break,
            }
        }
        last = n;
        let result = match &journal {
            Some(j) => {
                let batch = jobs
                    .iter_mut()
                    .map(|(p, r, _)| (p.as_str(), std::mem::take(r)));
                append(j, batch, n).await
            }
            None => write_direct(&db, &health, &jobs).await,
        };
        for (_, _, done) in jobs {
            let _ = done.send(result.clone());
        }
    }
}

/// Appends one batch to the journal (a row per product) and wakes the fold.
async fn append<'a>(
    j: &Arc<Journalled>,
    jobs: impl Iterator<Item = (&'a str, Vec<Record>)>,
    n: usize,
) -> Result<(), String> {
    // Far behind: let the fold catch up before journalling more.
    let mut folded = j.folded.subscribe();
    while j.backlog.load(Ordering::Acquire) > MAX_BACKLOG_RECORDS {
        if let Some(e) = &folded.borrow_and_update().error {
            // The fold is failing: refuse rather than let clients wait without end.
            return Err(e.clone());
        }
        j.wake.notify_one();
        if folded.changed().await.is_err() {
            break;
        }
    }
    let mut by_product: Vec<(String, Vec<Record>)> = Vec::new();
    for (p, records) in jobs {
        match by_product.iter_mut().find(|(q, _)| q == p) {
            Some((_, all)) => all.extend(records),
            None => by_product.push((p.to_owned(), records)),
        }
    }
    let journal = j.journal.clone();
    let seq = tokio::task::spawn_blocking(move || {
        let batch: Vec<(&str, &[Record])> = by_product
            .iter()
            .map(|(p, r)| (p.as_str(), r.as_slice()))
            .collect();
        journal.append(&batch, Utc::now())
    })
    .await
    .map_err(|e| format!("the ingest journal failed: {e}"))?
    .map_err(|e| {
        tracing::error!(error = ?e, "journalling an ingest batch failed");
        format!("storing telemetry failed: {e}")
    })?;
    j.appended.fetch_max(seq, Ordering::AcqRel);
    j.backlog.fetch_add(n, Ordering::AcqRel);
    j.wake.notify_one();
    Ok(())
}

/// PostgreSQL: one transaction per product in the batch (almost always one), counted.
async fn write_direct(db: &Db, health: &HealthEngine, jobs: &[Job]) -> Result<(), String> {
    let mut products: Vec<&String> = jobs.iter().map(|j| &j.0).collect();
    products.sort();
    products.dedup();
    let mut failed = Ok(());
    for p in products {
        let records: Arc<[Record]> = jobs
            .iter()
            .filter(|j| &j.0 == p)
            .flat_map(|j| j.1.iter().cloned())
            .collect();
        let now = Utc::now();
        match db.record_ingest(p, records.clone(), now).await {
            Ok(fresh) => health.observe(p, &records, &fresh, now),
            Err(e) => {
                tracing::error!(error = ?e, product = %p, "storing an ingest batch failed");
                failed = Err(format!("storing telemetry failed: {e}"));
            }
        }
    }
    failed
}

/// Runs [`fold_loop`] on a thread of its own, with a single-threaded runtime; it and the
/// runtime's blocking threads run at the lowest CPU priority ([`lower_priority`]). The
/// fold is deferred work: answering requests comes first, and the fold takes the CPU they
/// leave (at the same priority, requests queued behind a fold that took a core for a
/// while). Ends when `stop`'s sender is dropped.
async fn start_fold_thread(
    db: Db,
    health: Arc<HealthEngine>,
    j: Arc<Journalled>,
    stop: watch::Receiver<()>,
) -> anyhow::Result<(std::thread::JoinHandle<()>, rustix::thread::Pid)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("relops-fold")
        .on_thread_start(lower_priority)
        .build()?;
    let (started, tid) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("relops-fold".to_owned())
        .spawn(move || {
            lower_priority();
            let _ = started.send(rustix::thread::gettid());
            runtime.block_on(fold_loop(db, health, j, stop));
        })?;
    Ok((thread, tid.await?))
}

/// Puts the calling thread on `SCHED_IDLE` (and at [`FOLD_NICE`], what counts if the
/// kernel refuses the policy). A nice value only weighs the fold's share of the CPU: under
/// Linux's EEVDF scheduler a request's thread that wakes while the fold runs could wait for
/// the fold's time slice, and under load the latency rose in a ramp at every
/// fold. A task leaving `SCHED_IDLE` preempts an idle-policy task at once.
pub(crate) fn lower_priority() {
    let me = rustix::thread::gettid();
    let idle = thread_priority::ThreadSchedulePolicy::Normal(
        thread_priority::NormalThreadSchedulePolicy::Idle,
    );
    if let Err(e) = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        thread_priority::ThreadPriority::Min,
        idle,
    ) {
        tracing::debug!(error = %e, "the ingest fold runs without SCHED_IDLE");
    }
    if let Err(e) = rustix::process::setpriority_process(Some(me), FOLD_NICE) {
        tracing::debug!(error = %e, "the ingest fold runs at normal priority");
    }
}

/// Folds the journal into the ingest tables until `stop`'s sender is dropped. A fold
/// starts when a reader waits for it, when appends pause for [`FOLD_QUIET`], when
/// [`FOLD_RUN_RECORDS`] wait, or [`FOLD_LAG`] after the oldest unfolded append —
/// whichever comes first: at once when idle, about once a second under load.
async fn fold_loop(
    db: Db,
    health: Arc<HealthEngine>,
    j: Arc<Journalled>,
    mut stop: watch::Receiver<()>,
) {
    let Pacing {
        run_records,
        lag,
        quiet,
    } = j.pacing;
    // When the oldest record not folded yet may have been appended (a fold reads the
    // journal up to its start); `lag` ago if an earlier run left some, so they are folded
    // at once. (Not taken from the first wait below: a request may append before the
    // fold thread first gets there.)
    let now = tokio::time::Instant::now();
    let mut since = if j.left_over {
        now.checked_sub(lag).unwrap_or(now)
    } else {
        now
    };
    loop {
        if j.folded.borrow().seq >= j.appended.load(Ordering::Acquire) {
            tokio::select! {
                () = j.wake.notified() => {}
                _ = stop.changed() => return,
            }
            since = tokio::time::Instant::now();
        }
        loop {
            if j.urgent.swap(false, Ordering::AcqRel)
                || j.backlog.load(Ordering::Acquire) >= run_records
            {
                break;
            }
            let paused = tokio::time::Instant::now() + quiet;
            tokio::select! {
                // Every append wakes the loop (a reader waiting too): look again.
                () = j.wake.notified() => {}
                () = tokio::time::sleep_until(paused.min(since + lag)) => break,
                _ = stop.changed() => return,
            }
        }
        since = tokio::time::Instant::now();
        match fold_once(&db, &health, &j).await {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, "folding the ingest journal failed; retrying in 1 s");
                j.folded.send_modify(|s| s.error = Some(e));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Folds what the journal holds after the last fold (up to [`MAX_FOLD_RECORDS`]).
async fn fold_once(db: &Db, health: &HealthEngine, j: &Journalled) -> Result<(), String> {
    let after = j.folded.borrow().seq;
    // Read before the journal: every entry up to here was committed before it was counted.
    let appended = j.appended.load(Ordering::Acquire);
    let journal = j.journal.clone();
    let started = std::time::Instant::now();
    let entries = tokio::task::spawn_blocking(move || journal.read_after(after, MAX_FOLD_RECORDS))
        .await
        .map_err(|e| format!("reading the ingest journal failed: {e}"))?
        .map_err(|e| format!("reading the ingest journal failed: {e}"))?;
    let Some(through) = entries.last().map(|e| e.seq) else {
        // Nothing after `after`: everything appended before the read is folded (entries
        // appended since have higher numbers and are read next time).
        j.folded.send_modify(|s| {
            s.seq = s.seq.max(appended);
            s.error = None;
        });
        return Ok(());
    };
    let read = started.elapsed();
    let folded = db
        .fold_journal(entries)
        .await
        .map_err(|e| format!("storing telemetry failed: {e}"))?;
    let stored = started.elapsed();
    let mut n = 0;
    for f in &folded {
        n += f.records.len();
        health.observe(&f.product, &f.records, &f.fresh, f.at);
    }
    // What `RELOPS_LOG=relops_ops::services::ingest_writer=debug` shows of each fold; the writer
    // turn is waited for and held between `read` and `stored`.
    tracing::debug!(
        records = n,
        read_ms = read.as_millis(),
        stored_ms = stored.as_millis(),
        counted_ms = started.elapsed().as_millis(),
        "folded"
    );
    // Saturating: the backlog of an earlier run was not counted in.
    let _ = j
        .backlog
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
            Some(b.saturating_sub(n))
        });
    j.folds.fetch_add(1, Ordering::Relaxed);
    j.folded.send_modify(|s| {
        s.seq = through;
        s.error = None;
    });
    let journal = j.journal.clone();
    match j
        .main
        .spawn_blocking(move || journal.forget_through(through))
        .await
    {
        Ok(Ok(())) => {}
        // Harmless: folded entries are skipped by sequence; the next fold removes them.
        Ok(Err(e)) => tracing::warn!(error = ?e, "removing folded ingest journal entries failed"),
        Err(e) => tracing::warn!(error = %e, "removing folded ingest journal entries failed"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::IngestWriter;
    use crate::services::health_engine::HealthEngine;
    use chrono::Utc;
    use relops_core::alert::Rules;
    use relops_ingest::{Record, Scope};
    use relops_store::Db;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    fn ended(i: usize, status: &str) -> Record {
        Record::Session {
            scope: Scope {
                release: "2.1.0".into(),
                channel: "stable".into(),
                platform: Some(relops_core::platform::Platform::WindowsX64),
            },
            session_id: format!("s{i}"),
            install_id: Some(format!("i{i}")),
            status: status.into(),
            crashed: status == "crashed",
        }
    }

    async fn db(dir: &std::path::Path) -> Db {
        Db::connect(&format!("sqlite://{}/relops.db", dir.display()))
            .await
            .unwrap()
    }

    fn engine() -> Arc<HealthEngine> {
        Arc::new(HealthEngine::new(Rules::default(), 90).0)
    }

    /// The database in `dir`, a health engine, and a writer started over both.
    async fn started(dir: &std::path::Path) -> (Db, Arc<HealthEngine>, IngestWriter) {
        let db = db(dir).await;
        let health = engine();
        let w = IngestWriter::start(db.clone(), health.clone())
            .await
            .unwrap();
        (db, health, w)
    }

    /// What the tables hold for 2.1.0 (ended sessions by status) and what the health
    /// engine counted (active and crashed installs).
    async fn assert_counted(
        db: &Db,
        health: &HealthEngine,
        sessions: &[(&str, u64)],
        installs: (u64, u64),
    ) {
        let h = db.health("wizard", "2.1.0", Utc::now()).await.unwrap();
        let expected: Vec<(String, u64)> = sessions
            .iter()
            .map(|(s, n)| ((*s).to_owned(), *n))
            .collect();
        assert_eq!(h.sessions, expected);
        let (f, _, _) = health.assess("wizard", "2.1.0", Utc::now());
        assert_eq!((f.active_installs, f.crashed_installs), installs);
    }

    /// What was answered is in the tables and counted once a reader flushes; a retried
    /// batch counts once.
    #[tokio::test]
    async fn answered_records_are_visible_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (db, health, w) = started(dir.path()).await;
        let batch: Vec<Record> = (0..5).map(|i| ended(i, "exited")).collect();
        let writes = (0..4).map(|_| w.write("wizard", batch.clone()));
        for r in futures::future::join_all(writes).await {
            r.unwrap();
        }
        w.write("wizard", vec![ended(9, "crashed")]).await.unwrap();
        w.flush().await.unwrap();
        assert_counted(&db, &health, &[("crashed", 1), ("exited", 5)], (6, 1)).await;
        // Folded entries leave the journal.
        let j = db.ingest_journal().unwrap();
        for _ in 0..100 {
            if j.read_after(0, 10).unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(j.read_after(0, 10).unwrap().is_empty());
        assert_eq!(db.ingest_folded().await.unwrap(), j.last_seq().unwrap());
    }

    /// Writers and readers at once: every answered record is folded once, none is skipped
    /// by a fold that found the journal empty while a batch was being appended.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_and_flushes_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path()).await;
        let w = IngestWriter::start(db.clone(), engine()).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    w.write("wizard", vec![ended(t * 100 + i, "exited")])
                        .await
                        .unwrap();
                    if i % 5 == 0 {
                        w.flush().await.unwrap();
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        w.flush().await.unwrap();
        let h = db.health("wizard", "2.1.0", Utc::now()).await.unwrap();
        assert_eq!(h.sessions, [("exited".to_owned(), 200)]);
        let (active, _) = db
            .installs_24h("wizard", "2.1.0", Utc::now())
            .await
            .unwrap();
        assert_eq!(active, 200);
    }

    /// The fold runs on a thread of its own at a lower CPU priority (answers first), and
    /// the thread ends once the writer's handles are gone.
    #[tokio::test]
    async fn the_fold_thread_yields_the_cpu_and_ends_with_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path()).await;
        let j = Arc::new(super::Journalled::new(
            db.ingest_journal().unwrap(),
            0,
            0,
            super::Pacing::SERVER,
        ));
        let (stop, stopped) = tokio::sync::watch::channel(());
        let (thread, tid) = super::start_fold_thread(db, engine(), j.clone(), stopped)
            .await
            .unwrap();
        // Field 19 of /proc/…/stat is the nice value (after the parenthesised name).
        let stat =
            std::fs::read_to_string(format!("/proc/self/task/{}/stat", tid.as_raw_nonzero()))
                .unwrap();
        let nice: i32 = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(16)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(nice, super::FOLD_NICE);
        // Field 41, the scheduling policy: 5 is SCHED_IDLE.
        let policy = stat.rsplit(')').next().unwrap().split_whitespace().nth(38);
        assert_eq!(policy, Some("5"), "{stat}");
        assert!(stat.contains("(relops-fold)"), "{stat}");
        assert!(!thread.is_finished());
        drop(stop);
        j.wake.notify_one();
        for _ in 0..250 {
            if thread.is_finished() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(thread.is_finished(), "the fold thread outlived its writer");
    }

    /// A writer over a fresh database in `dir` whose fold starts by `pacing`.
    async fn paced(
        dir: &std::path::Path,
        run_records: usize,
        lag_ms: u64,
        quiet_ms: u64,
    ) -> (Db, IngestWriter) {
        let db = db(dir).await;
        let pacing = super::Pacing {
            run_records,
            lag: Duration::from_millis(lag_ms),
            quiet: Duration::from_millis(quiet_ms),
        };
        let w = IngestWriter::start_paced(db.clone(), engine(), pacing)
            .await
            .unwrap();
        (db, w)
    }

    /// Folds so far, and whether everything answered is folded.
    fn fold_state(w: &IngestWriter) -> (usize, bool) {
        let j = w.journal.as_ref().unwrap();
        let folded = j.folded.borrow().seq >= j.appended.load(Ordering::Acquire);
        (j.folds.load(Ordering::Relaxed), folded)
    }

    /// Waits up to 5 s for `done` to hold.
    async fn eventually(w: &IngestWriter, done: impl Fn((usize, bool)) -> bool) -> (usize, bool) {
        for _ in 0..250 {
            if done(fold_state(w)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        fold_state(w)
    }

    /// Idle: what is answered is folded once appends pause, without a reader asking.
    #[tokio::test]
    async fn a_pause_folds_without_a_reader() {
        let dir = tempfile::tempdir().unwrap();
        // Neither the run size nor the lag can start this fold.
        let (db, w) = paced(dir.path(), 1_000_000, 600_000, 50).await;
        w.write("wizard", vec![ended(1, "exited")]).await.unwrap();
        assert_eq!(eventually(&w, |(_, folded)| folded).await, (1, true));
        assert_eq!(db.ingest_folded().await.unwrap(), 1);
    }

    /// Steady appends: the fold waits for a run, and the lag bounds how long; a reader
    /// still gets everything at once.
    #[tokio::test]
    async fn steady_appends_fold_in_runs() {
        let dir = tempfile::tempdir().unwrap();
        // A run of 40 records starts a fold; no pause or lag can.
        let (_, w) = paced(dir.path(), 40, 600_000, 600_000).await;
        for i in 0..39 {
            w.write("wizard", vec![ended(i, "exited")]).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            fold_state(&w),
            (0, false),
            "folded before a run was complete"
        );
        w.write("wizard", vec![ended(39, "exited")]).await.unwrap();
        assert_eq!(eventually(&w, |(_, folded)| folded).await, (1, true));
        // Less than a run, then a reader: folded at once.
        w.write("wizard", vec![ended(40, "exited")]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(fold_state(&w), (1, false));
        w.flush().await.unwrap();
        assert_eq!(fold_state(&w), (2, true));

        // Appends every 20 ms, never pausing for the 100 ms that would fold, and never a
        // run: the 400 ms lag starts a fold about every 400 ms.
        let dir = tempfile::tempdir().unwrap();
        let (_, w) = paced(dir.path(), 1_000_000, 400, 100).await;
        let t0 = tokio::time::Instant::now();
        let mut i = 0;
        while t0.elapsed() < Duration::from_millis(1300) {
            w.write("wizard", vec![ended(i, "exited")]).await.unwrap();
            i += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (folds, _) = fold_state(&w);
        // 3 by the lag; a slow machine may see a pause or two.
        assert!((2..=6).contains(&folds), "{folds} folds of {i} appends");
    }

    /// Batches an earlier run journalled (answered) but did not fold are folded when the
    /// next run starts, and counted by its health engine once.
    #[tokio::test]
    async fn a_restart_folds_what_the_last_run_left() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = db(dir.path()).await;
            let j = db.ingest_journal().unwrap();
            let a: Vec<Record> = (0..3).map(|i| ended(i, "exited")).collect();
            j.append(&[("wizard", &a)], Utc::now()).unwrap();
            j.append(&[("wizard", &[ended(7, "crashed")])], Utc::now())
                .unwrap();
        }
        let (db, health, w) = started(dir.path()).await;
        w.flush().await.unwrap();
        assert_counted(&db, &health, &[("crashed", 1), ("exited", 3)], (4, 1)).await;
        // Nothing new: a flush returns at once and counts nothing again.
        w.flush().await.unwrap();
        assert_counted(&db, &health, &[("crashed", 1), ("exited", 3)], (4, 1)).await;
    }

    /// The journal's file lost while the database kept its fold mark: what is answered
    /// next is still folded (a journal numbering from 1 again would have its entries taken
    /// as folded already, and they would never reach the tables).
    #[tokio::test]
    async fn a_lost_journal_file_loses_nothing_written_after() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (db, _, w) = started(dir.path()).await;
            for i in 0..3 {
                w.write("wizard", vec![ended(i, "exited")]).await.unwrap();
            }
            w.flush().await.unwrap();
            assert_eq!(db.ingest_folded().await.unwrap(), 3);
            db.close().await;
        }
        let journal = dir.path().join("relops.ingest-journal.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", journal.display()));
        }
        let (db, _, w) = started(dir.path()).await;
        w.write("wizard", vec![ended(7, "crashed")]).await.unwrap();
        w.flush().await.unwrap();
        let h = db.health("wizard", "2.1.0", Utc::now()).await.unwrap();
        assert_eq!(
            h.sessions,
            [("crashed".to_owned(), 1), ("exited".to_owned(), 3)]
        );
        assert_eq!(db.ingest_folded().await.unwrap(), 4);
    }
}
