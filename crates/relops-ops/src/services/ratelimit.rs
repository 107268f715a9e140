//! Ingest rate limits (`[ingest]`): per ingest key and per install, as token buckets
//! (`governor`), kept in memory per server process. A refused request is answered 429
//! with `Retry-After` and Sentry's `X-Sentry-Rate-Limits`, which Sentry SDKs obey.

use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU32;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::IngestConfig;
use crate::error::OpError;

/// The limiters are keyed by a 64-bit hash of the product (and install) under a key chosen
/// at random when the server starts: a check allocates nothing, an entry is a few words
/// whatever the length of an install id, and nobody outside can aim two installs at one
/// bucket (two installs sharing one by chance — for a million installs, odds of about 3 in
/// 10^8 — would only share their limit).
#[derive(Debug)]
pub struct IngestLimits {
    per_key: DefaultKeyedRateLimiter<u64>,
    per_install: DefaultKeyedRateLimiter<u64>,
    hasher: RandomState,
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
            hasher: RandomState::new(),
        }
    }

    /// Forgets the keys and installs whose bucket has refilled (they would start afresh
    /// anyway), so the tables stay as large as the fleet that is active now. It walks
    /// every entry, so it runs in the background ([`forget_idle_periodically`]), never on
    /// a request: on a busy server the walk over hundreds of thousands of installs held
    /// up the request that happened to trigger it, and every request waiting behind it.
    pub fn forget_idle(&self) {
        self.per_key.retain_recent();
        self.per_install.retain_recent();
        self.per_key.shrink_to_fit();
        self.per_install.shrink_to_fit();
    }

    /// Installs currently tracked (what forgetting idle ones keeps small).
    #[cfg(test)]
    pub fn installs_tracked(&self) -> usize {
        self.per_install.len()
    }

    /// One request of `product`'s key carrying `records` records from `installs`: the key
    /// pays a cell per record (a batch of many is not one request's worth), each distinct
    /// install a cell per request.
    pub fn check<'a>(
        &self,
        product: &str,
        records: usize,
        installs: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), OpError> {
        let refuse = |e: governor::NotUntil<_>, what: &str| {
            let wait = e.wait_time_from(self.per_key.clock().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            OpError::RateLimited {
                retry_after_secs: secs.max(1),
                message: format!("{what}: retry in {} s", secs.max(1)),
            }
        };
        let n =
            NonZeroU32::new(u32::try_from(records.max(1)).unwrap_or(u32::MAX)).expect("at least 1");
        match self.per_key.check_key_n(&self.hasher.hash_one(product), n) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(refuse(
                    e,
                    "this ingest key sends more records than [ingest] key_rate_per_second allows",
                ));
            }
            Err(_) => {
                return Err(OpError::TooLarge(format!(
                    "one request carries {records} records: more than [ingest] key_burst allows at once; send fewer per request"
                )));
            }
        }
        let mut seen: Vec<u64> = Vec::new();
        for i in installs {
            let h = self.hasher.hash_one((product, i));
            if seen.contains(&h) {
                continue;
            }
            seen.push(h);
            if let Err(e) = self.per_install.check_key(&h) {
                return Err(refuse(
                    e,
                    "this install sends more than [ingest] install_rate_per_minute allows",
                ));
            }
        }
        Ok(())
    }
}

/// How often [`forget_idle_periodically`] walks the tables: an install's bucket refills
/// within minutes at the default limits.
const FORGET_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs [`IngestLimits::forget_idle`] every [`FORGET_EVERY`] on a blocking thread, and
/// forgets the networks' installs that left the 24-hour window every tenth time.
pub async fn forget_idle_periodically(state: crate::Ops) {
    let mut tick = tokio::time::interval(FORGET_EVERY);
    tick.tick().await;
    let mut n = 0u32;
    loop {
        tick.tick().await;
        n = n.wrapping_add(1);
        let s = state.clone();
        let walk = tokio::task::spawn_blocking(move || {
            s.ingest_limits.forget_idle();
            if n.is_multiple_of(10) {
                s.networks.forget_old(chrono::Utc::now().timestamp());
            }
        });
        if let Err(e) = walk.await {
            tracing::error!(error = ?e, "forgetting idle rate-limit entries failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(install_burst: u32) -> IngestLimits {
        IngestLimits::new(&IngestConfig {
            install_rate_per_minute: 1,
            install_burst,
            ..IngestConfig::default()
        })
    }

    #[test]
    fn installs_and_products_have_buckets_of_their_own() {
        let l = limits(2);
        for _ in 0..2 {
            l.check("wizard", 1, Some("a")).unwrap();
        }
        assert!(
            l.check("wizard", 1, Some("a")).is_err(),
            "a third request within the burst"
        );
        // Another install, the same install id under another product, no install: allowed.
        l.check("wizard", 1, Some("b")).unwrap();
        l.check("other", 1, Some("a")).unwrap();
        l.check("wizard", 1, None).unwrap();
        assert_eq!(l.installs_tracked(), 3);
    }

    /// The attack (issue 15, 5): one request of many records cost the key one cell. Now
    /// each record costs one, a request larger than the burst is refused outright, and each
    /// distinct install of the request pays its own cell (once, however many records).
    #[test]
    fn records_not_requests_count_against_the_key() {
        let l = IngestLimits::new(&IngestConfig {
            key_rate_per_second: 1,
            key_burst: 100,
            install_rate_per_minute: 1,
            install_burst: 1,
            ..IngestConfig::default()
        });
        l.check("wizard", 60, ["a"; 60]).unwrap();
        match l.check("wizard", 60, ["b"]) {
            Err(OpError::RateLimited { .. }) => {}
            other => panic!("{other:?}"),
        }
        match l.check("wizard", 101, ["c"]) {
            Err(OpError::TooLarge(m)) => assert!(m.contains("key_burst"), "{m}"),
            other => panic!("{other:?}"),
        }
        // "a" paid once for its 60 records: a second request of it is over its burst of 1.
        assert!(matches!(
            l.check("wizard", 1, ["a"]),
            Err(OpError::RateLimited { .. })
        ));
    }

    #[test]
    fn forgetting_keeps_the_installs_still_limited() {
        let l = limits(2);
        l.check("wizard", 1, Some("busy")).unwrap();
        l.check("wizard", 1, Some("busy")).unwrap();
        l.forget_idle();
        assert!(
            l.check("wizard", 1, Some("busy")).is_err(),
            "forgotten while limited"
        );
        assert_eq!(l.installs_tracked(), 1);

        // 6,000 a minute: a bucket of one refills in 10 ms, and is forgotten then.
        let quick = IngestLimits::new(&IngestConfig {
            install_rate_per_minute: 6000,
            install_burst: 1,
            ..IngestConfig::default()
        });
        quick.check("wizard", 1, Some("idle")).unwrap();
        assert_eq!(quick.installs_tracked(), 1);
        std::thread::sleep(std::time::Duration::from_millis(50));
        quick.forget_idle();
        assert_eq!(quick.installs_tracked(), 0);
    }
}
