//! One network's share of a release's installs. The DSN ships inside every copy of the
//! app, so anybody can send sessions of made-up installs: 130,000 healthy ones from one
//! machine diluted a 5 % crash rate until a bad release passed the health gate. Each
//! network (an IPv4 /24, an IPv6 /48: `[ingest] network_prefix_v4/v6`) therefore adds at
//! most `[ingest] installs_per_network` distinct installs of a release to its figures in
//! 24 h. Records of its further installs are stored (a crash event is evidence) but count
//! nowhere ([`relops_ingest::Record::without_install`]), and the release manager is told
//! once a day per release ([`Capped`], the health report's `capped_networks`).
//!
//! Bounding a network, not refusing it: an office or a carrier NAT is legitimate, and the
//! gate needs a sample, not every install. What this does not bound: many networks
//! (a botnet) — each adds its share; the per-key rate limit and the notice are what
//! remain. The shares are kept in memory per server: a restart, or another replica, starts
//! each network's count afresh (documented in docs/ingest.md).
//!
//! A request from this machine (a loopback peer, not forwarded by a proxy) has no network:
//! it is the operator's own tooling (`relops simulate`, a local relay) and is not bounded.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use ipnet::IpNet;

use crate::config::{HttpConfig, IngestConfig};

/// The window a network's installs are counted in, as the health figures' (24 h).
const WINDOW_SECONDS: i64 = 24 * 3600;

/// The networks the health report names per release (the most uncounted records first).
const REPORTED_NETWORKS: usize = 10;

/// Locks the shares are split under (by share key), so that telemetry requests on
/// different cores rarely wait for one another, and forgetting old installs holds one
/// shard at a time instead of stopping every request for a walk over all of them.
const SHARDS: usize = 16;

/// Where a request comes from, as far as bounding its share goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    network: Option<IpNet>,
}

static WARNED_UNTRUSTED_FORWARD: AtomicBool = AtomicBool::new(false);

impl Origin {
    /// This machine's own tooling: not bounded.
    pub fn this_machine() -> Self {
        Self { network: None }
    }

    /// The origin of a request from `peer` carrying `forwarded_for` (the
    /// `X-Forwarded-For` values, comma-separated). Only a peer in `[http]
    /// trusted_proxies` is believed: the client is then the last address of the header
    /// that is not itself a trusted proxy (what a client writes into the header comes
    /// before what the proxies append, so it cannot pass for the client).
    pub fn of(
        peer: IpAddr,
        forwarded_for: Option<&str>,
        http: &HttpConfig,
        ingest: &IngestConfig,
    ) -> Self {
        let peer = peer.to_canonical();
        let trusted = |a: &IpAddr| http.trusted_proxies.iter().any(|n| n.contains(a));
        let mut client = peer;
        if trusted(&peer) {
            for hop in forwarded_for.unwrap_or_default().rsplit(',') {
                let Ok(a) = hop.trim().parse::<IpAddr>() else {
                    break;
                };
                client = a.to_canonical();
                if !trusted(&client) {
                    break;
                }
            }
        } else if forwarded_for.is_some() && !WARNED_UNTRUSTED_FORWARD.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                %peer,
                "a request carries X-Forwarded-For from an address [http] trusted_proxies does not name: \
                 if relops runs behind that proxy, name it there, or every install counts as the proxy's network"
            );
        }
        if client == peer && client.is_loopback() {
            return Self::this_machine();
        }
        let prefix = match client {
            IpAddr::V4(_) => ingest.network_prefix_v4,
            IpAddr::V6(_) => ingest.network_prefix_v6,
        };
        Self {
            network: IpNet::new(client, prefix).ok().map(|n| n.trunc()),
        }
    }

    /// The sender's network; `None` for this machine.
    pub fn network(&self) -> Option<IpNet> {
        self.network
    }
}

/// A release one network has sent more installs of than it may count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    pub product: String,
    pub release: String,
    pub network: IpNet,
}

/// One network's installs of one release in the window.
#[derive(Debug, Default)]
struct Share {
    /// Install (hashed) → when last seen (Unix seconds).
    installs: HashMap<u64, i64>,
}

/// What the health report says of a release's bounded networks.
#[derive(Debug, Default)]
struct Bounded {
    /// Network → records not counted, and when the last one was.
    networks: HashMap<IpNet, (u64, i64)>,
    /// When the release manager was last told (once a day per release).
    told: Option<i64>,
}

/// The shares of every (product, release, network) seen in the window, per server.
#[derive(Debug)]
pub struct NetworkShares {
    cap: usize,
    hasher: RandomState,
    /// Share key → share; a key lives in shard `key % SHARDS`.
    shards: Box<[Mutex<HashMap<u64, Share>>]>,
    /// (product, release) → its bounded networks; written only when a network is over
    /// its cap, so one lock is enough.
    bounded: Mutex<HashMap<(String, String), Bounded>>,
}

/// A poisoned lock still holds consistent maps (every update is a single insert or
/// counter change), so it is used as it is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A network's records that were not counted, for the health report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedNetwork {
    pub network: IpNet,
    pub uncounted_records: u64,
}

impl NetworkShares {
    pub fn new(cfg: &IngestConfig) -> Self {
        Self {
            cap: cfg.installs_per_network as usize,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            bounded: Mutex::default(),
        }
    }

    /// Whether `install`'s records of `release` from `origin` count in the release's
    /// figures at `now`; `capped` gets the (product, release, network) the first time in
    /// a day that a network is bounded for the release (to tell the release manager).
    pub fn counts(
        &self,
        origin: &Origin,
        product: &str,
        release: &str,
        install: &str,
        now: i64,
        capped: &mut Vec<Capped>,
    ) -> bool {
        let Some(network) = origin.network else {
            return true;
        };
        if self.cap == 0 {
            return true;
        }
        let share_key = self.hasher.hash_one((product, release, network));
        let install_key = self.hasher.hash_one(install);
        {
            let mut shard = lock(&self.shards[(share_key % SHARDS as u64) as usize]);
            let share = shard.entry(share_key).or_default();
            if let Some(seen) = share.installs.get_mut(&install_key) {
                *seen = now;
                return true;
            }
            if share.installs.len() >= self.cap {
                share
                    .installs
                    .retain(|_, seen| *seen > now - WINDOW_SECONDS);
            }
            if share.installs.len() < self.cap {
                share.installs.insert(install_key, now);
                return true;
            }
        }
        let mut bounded = lock(&self.bounded);
        let b = bounded
            .entry((product.to_owned(), release.to_owned()))
            .or_default();
        let n = b.networks.entry(network).or_insert((0, now));
        *n = (n.0.saturating_add(1), now);
        if b.told.is_none_or(|t| t <= now - WINDOW_SECONDS) {
            b.told = Some(now);
            capped.push(Capped {
                product: product.to_owned(),
                release: release.to_owned(),
                network,
            });
        }
        false
    }

    /// The networks bounded for a release in the window, the most uncounted first (at most
    /// ten), and the records not counted in all.
    pub fn bounded(&self, product: &str, release: &str, now: i64) -> (Vec<BoundedNetwork>, u64) {
        let bounded = lock(&self.bounded);
        let Some(b) = bounded.get(&(product.to_owned(), release.to_owned())) else {
            return (Vec::new(), 0);
        };
        let mut list: Vec<BoundedNetwork> = b
            .networks
            .iter()
            .filter(|(_, (_, last))| *last > now - WINDOW_SECONDS)
            .map(|(n, (count, _))| BoundedNetwork {
                network: *n,
                uncounted_records: *count,
            })
            .collect();
        let total = list
            .iter()
            .fold(0u64, |t, n| t.saturating_add(n.uncounted_records));
        list.sort_by(|a, b| {
            b.uncounted_records
                .cmp(&a.uncounted_records)
                .then(a.network.cmp(&b.network))
        });
        list.truncate(REPORTED_NETWORKS);
        (list, total)
    }

    /// Forgets installs and bounded networks not seen in the window (run in the
    /// background: it walks every entry).
    pub fn forget_old(&self, now: i64) {
        let oldest = now - WINDOW_SECONDS;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.retain(|_, s| {
                s.installs.retain(|_, seen| *seen > oldest);
                !s.installs.is_empty()
            });
            shard.shrink_to_fit();
        }
        lock(&self.bounded).retain(|_, b| {
            b.networks.retain(|_, (_, last)| *last > oldest);
            !b.networks.is_empty()
        });
    }

    /// Installs tracked in all (what forgetting keeps to the window).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| lock(s).values().map(|s| s.installs.len()).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(trusted: &[&str]) -> HttpConfig {
        HttpConfig {
            trusted_proxies: trusted
                .iter()
                .map(|t| {
                    t.parse::<IpNet>()
                        .unwrap_or_else(|_| IpNet::from(t.parse::<IpAddr>().unwrap()))
                })
                .collect(),
            ..HttpConfig::default()
        }
    }

    fn origin(peer: &str, xff: Option<&str>, trusted: &[&str]) -> Option<String> {
        Origin::of(
            peer.parse().unwrap(),
            xff,
            &http(trusted),
            &IngestConfig::default(),
        )
        .network()
        .map(|n| n.to_string())
    }

    #[test]
    fn the_network_of_a_request() {
        assert_eq!(
            origin("198.51.100.7", None, &[]).unwrap(),
            "198.51.100.0/24"
        );
        assert_eq!(
            origin("2001:db8:1:2::9", None, &[]).unwrap(),
            "2001:db8:1::/48"
        );
        // An IPv4 client on a dual-stack socket.
        assert_eq!(
            origin("::ffff:198.51.100.7", None, &[]).unwrap(),
            "198.51.100.0/24"
        );
        // This machine, not forwarded: the operator's tooling, unbounded.
        assert_eq!(origin("127.0.0.1", None, &[]), None);
        assert_eq!(origin("::1", None, &[]), None);
        // X-Forwarded-For from a peer nobody trusts is ignored: the peer is the client.
        assert_eq!(
            origin("203.0.113.5", Some("10.1.2.3"), &[]).unwrap(),
            "203.0.113.0/24"
        );
        assert_eq!(origin("127.0.0.1", Some("10.1.2.3"), &[]), None);
    }

    #[test]
    fn forwarded_by_a_trusted_proxy() {
        let t = &["127.0.0.1", "10.0.0.0/8"];
        assert_eq!(
            origin("127.0.0.1", Some("198.51.100.7"), t).unwrap(),
            "198.51.100.0/24"
        );
        // The client wrote an address of its own in front; the proxies appended the real
        // one and their own: the last untrusted address is the client.
        assert_eq!(
            origin("127.0.0.1", Some("1.2.3.4, 198.51.100.7, 10.9.9.9"), t).unwrap(),
            "198.51.100.0/24"
        );
        // A client cannot pass for this machine through the proxy.
        assert_eq!(
            origin("127.0.0.1", Some("127.0.0.1, 198.51.100.7"), t).unwrap(),
            "198.51.100.0/24"
        );
        // Only proxies in the header: the first of them is the client.
        assert_eq!(
            origin("127.0.0.1", Some("10.1.2.3"), t).unwrap(),
            "10.1.2.0/24"
        );
        // A trusted proxy's own request (no header) from this machine: unbounded.
        assert_eq!(origin("127.0.0.1", None, t), None);
        // Garbage stops the walk at the hop that wrote it.
        assert_eq!(
            origin("10.0.0.1", Some("198.51.100.7, junk"), t).unwrap(),
            "10.0.0.0/24"
        );
    }

    #[test]
    fn a_network_counts_at_most_its_share_of_a_release() {
        let shares = NetworkShares::new(&IngestConfig {
            installs_per_network: 3,
            ..IngestConfig::default()
        });
        let ingest = IngestConfig::default();
        let from = |peer: &str| Origin::of(peer.parse().unwrap(), None, &http(&[]), &ingest);
        let (a, b) = (from("198.51.100.7"), from("198.51.100.200"));
        let mut capped = Vec::new();
        let t = 1_000_000;
        for i in ["i1", "i2", "i3"] {
            assert!(shares.counts(&a, "wizard", "2.1.0", i, t, &mut capped));
        }
        // The same /24 is the same network; an install already counted still counts.
        assert!(!shares.counts(&b, "wizard", "2.1.0", "i4", t, &mut capped));
        assert!(shares.counts(&b, "wizard", "2.1.0", "i2", t, &mut capped));
        assert!(!shares.counts(&a, "wizard", "2.1.0", "i5", t, &mut capped));
        assert_eq!(
            capped,
            vec![Capped {
                product: "wizard".into(),
                release: "2.1.0".into(),
                network: "198.51.100.0/24".parse().unwrap(),
            }],
            "told once"
        );
        // Another release, another product, another network, this machine: their own.
        assert!(shares.counts(&a, "wizard", "2.2.0", "i4", t, &mut capped));
        assert!(shares.counts(&a, "other", "2.1.0", "i4", t, &mut capped));
        assert!(shares.counts(
            &from("198.51.101.1"),
            "wizard",
            "2.1.0",
            "i4",
            t,
            &mut capped
        ));
        assert!(shares.counts(
            &Origin::this_machine(),
            "wizard",
            "2.1.0",
            "x",
            t,
            &mut capped
        ));
        let (list, total) = shares.bounded("wizard", "2.1.0", t);
        assert_eq!(total, 2);
        assert_eq!(list[0].network.to_string(), "198.51.100.0/24");
        assert_eq!(shares.bounded("wizard", "2.2.0", t).1, 0);

        // A day later the old installs have left the window: room again, told again.
        let later = t + WINDOW_SECONDS + 1;
        assert!(shares.counts(&a, "wizard", "2.1.0", "i4", later, &mut capped));
        shares.forget_old(later);
        assert_eq!(shares.tracked(), 1, "only the install seen a day later");
        assert_eq!(shares.bounded("wizard", "2.1.0", later).1, 0);
        for i in ["i6", "i7", "i8"] {
            shares.counts(&a, "wizard", "2.1.0", i, later, &mut capped);
        }
        assert_eq!(capped.len(), 2);
    }

    #[test]
    fn no_bound_when_configured_off() {
        let shares = NetworkShares::new(&IngestConfig {
            installs_per_network: 0,
            ..IngestConfig::default()
        });
        let a = Origin::of(
            "198.51.100.7".parse().unwrap(),
            None,
            &http(&[]),
            &IngestConfig::default(),
        );
        let mut capped = Vec::new();
        for i in 0..100 {
            assert!(shares.counts(&a, "wizard", "2.1.0", &i.to_string(), 0, &mut capped));
        }
        assert_eq!(shares.tracked(), 0);
    }
}
