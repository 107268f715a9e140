//! Ingest rate limits (`[ingest]`): per ingest key and per install, as token buckets
//! (`governor`), kept in memory per server process. A refused request is answered 429
//! with `Retry-After` and Sentry's `X-Sentry-Rate-Limits`, which Sentry SDKs obey.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::IngestConfig;
use crate::error::ApiError;

#[derive(Debug)]
pub struct IngestLimits {
    per_key: DefaultKeyedRateLimiter<String>,
    per_install: DefaultKeyedRateLimiter<(String, String)>,
    checks: AtomicU64,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least 1")
}

impl IngestLimits {
    pub fn new(cfg: &IngestConfig) -> Self {
        Self {
            per_key: RateLimiter::keyed(
                Quota::per_second(nz(cfg.key_rate_per_second)).allow_burst(nz(cfg.key_burst)),
            ),
            per_install: RateLimiter::keyed(
                Quota::per_minute(nz(cfg.install_rate_per_minute))
                    .allow_burst(nz(cfg.install_burst)),
            ),
            checks: AtomicU64::new(0),
        }
    }

    /// One request of `product`'s key, from `install` when known.
    pub fn check(&self, product: &str, install: Option<&str>) -> Result<(), ApiError> {
        // Forget idle installs now and then, so the table stays as large as the active fleet.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            self.per_install.retain_recent();
        }
        let refuse = |e: governor::NotUntil<_>, what: &str| {
            let wait = e.wait_time_from(self.per_key.clock().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::RateLimited {
                retry_after_secs: secs.max(1),
                message: format!("{what}: retry in {} s", secs.max(1)),
            }
        };
        if let Err(e) = self.per_key.check_key(&product.to_owned()) {
            return Err(refuse(
                e,
                "this ingest key sends more than [ingest] key_rate_per_second allows",
            ));
        }
        if let Some(i) = install
            && let Err(e) = self
                .per_install
                .check_key(&(product.to_owned(), i.to_owned()))
        {
            return Err(refuse(
                e,
                "this install sends more than [ingest] install_rate_per_minute allows",
            ));
        }
        Ok(())
    }
}
