//! Group commit for ingest: requests hand their records to one writer task, which writes
//! everything that queued up meanwhile in one transaction (one fsync) and then answers
//! every request. A 2xx still means "stored durably"; under load the cost of a commit is
//! shared by all the requests it carries. What was committed is then counted by the
//! health engine, which judges the releases it touched. Records are idempotent, so when a batch fails
//! every request in it gets the error and its client retries.

use std::sync::Arc;

use chrono::Utc;
use relops_store::{Db, Record};

use crate::health_engine::HealthEngine;
use tokio::sync::{mpsc, oneshot};

/// Most records one transaction carries.
const MAX_BATCH_RECORDS: usize = 2000;

type Job = (String, Vec<Record>, oneshot::Sender<Result<(), String>>);

/// The handle requests write through.
#[derive(Debug, Clone)]
pub struct IngestWriter {
    tx: mpsc::Sender<Job>,
}

impl IngestWriter {
    /// Starts the writer task on the current runtime; what it commits is counted by
    /// `health`.
    pub fn start(db: Db, health: Arc<HealthEngine>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(8192);
        tokio::spawn(run(db, health, rx));
        Self { tx }
    }

    /// Stores `records` of `product`; returns once they are committed.
    pub async fn write(&self, product: &str, records: Vec<Record>) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((product.to_owned(), records, done))
            .await
            .map_err(|_| "the ingest writer stopped".to_owned())?;
        wait.await
            .map_err(|_| "the ingest writer stopped".to_owned())?
    }
}

async fn run(db: Db, health: Arc<HealthEngine>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut n = jobs[0].1.len();
        while n < MAX_BATCH_RECORDS {
            match rx.try_recv() {
                Ok(j) => {
                    n += j.1.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        // One transaction per product in the batch (almost always one).
        let mut products: Vec<String> = jobs.iter().map(|j| j.0.clone()).collect();
        products.sort();
        products.dedup();
        let mut failed: Option<String> = None;
        for p in &products {
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
                    failed = Some(format!("storing telemetry failed: {e}"));
                }
            }
        }
        for (_, _, done) in jobs {
            let _ = done.send(match &failed {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            });
        }
    }
}
