//! The threads crash dumps are processed on: `[crashes] workers` of them, each at the
//! lowest priority (`SCHED_IDLE`, as the ingest fold runs), so that a burst of dumps takes
//! only CPU that requests leave over — processing is off the ingest path in time and in
//! CPU. The backlog waits in the queue (`relops_crash_backlog`). A job that panics is
//! caught: its caller sees the result channel close, and the thread takes the next job.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
pub(crate) struct CrashPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl CrashPool {
    pub(crate) fn new(workers: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("crash-{i}"))
                .spawn(move || {
                    super::ingest_writer::lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(p) => p.into_inner().recv(),
                        };
                        let Ok(job) = job else { return };
                        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                            tracing::error!("the minidump processor failed on a dump");
                        }
                    }
                })
                .expect("a thread for crash processing");
        }
        Self {
            jobs: Mutex::new(tx),
        }
    }

    /// Runs `job` on a pool thread; its answer comes back through the returned channel
    /// (closed without an answer if the job panicked).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let boxed: Job = Box::new(move || {
            let _ = tx.send(job());
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(boxed);
        if sent.is_err() {
            tracing::error!("the crash processing threads are gone");
        }
        rx
    }
}
