#![doc = include_str!("../README.md")]

pub mod auth;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod routes;
#[cfg(target_os = "linux")]
pub mod sendfile;
pub mod target_cache;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use relops_ops::{Ops, ServerConfig};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Everything a handler needs, built once by [`AppState::open`]; one `Arc`, so the clone
/// every request makes (router, guard, handler) is one counter increment.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The parts of [`AppState`]: the operations layer, and what only serving over HTTP needs.
#[derive(Debug)]
pub struct AppStateInner {
    /// Every action of relops, and the services they drive.
    pub ops: Ops,
    /// Hot update files in memory.
    pub targets: target_cache::TargetCache,
}

impl AppState {
    /// The one wiring point: opens the operations layer over the adapters `config` names
    /// ([`Ops::open`]) and the HTTP server's own parts.
    pub async fn open(config: ServerConfig) -> anyhow::Result<Self> {
        let targets = target_cache::TargetCache::new(
            config.feed.target_cache_mib,
            config.feed.target_cache_max_file_mib,
        );
        let ops = Ops::open(config).await?;
        if ops.config().http.metrics {
            metrics::handle();
        }
        Ok(Self(Arc::new(AppStateInner { ops, targets })))
    }
}

/// Serves [`router`] on `listener` until `shutdown` completes, with the background work
/// of the operations layer ([`Ops::start_workers`]). HTTP/1 and HTTP/2, as `axum::serve`
/// does, but a client must send a request's headers within `[http]
/// header_timeout_seconds` (a connection that trickles them, or idles between requests,
/// is closed). On `shutdown` no new connection is accepted, open ones finish the request
/// they are in, and this returns once all are closed.
pub async fn serve<L>(
    mut listener: L,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug + PeerAddress,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let workers = state.ops.start_workers();
    let header_timeout =
        std::time::Duration::from_secs(state.ops.config().http.header_timeout_seconds);
    let ops = state.ops.clone();
    let app = router(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    // Every connection task holds a receiver: the loop waits for all to be dropped.
    let (closing, _) = tokio::sync::watch::channel(());
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let peer = addr.peer_ip().map(Peer);
        let service = TowerToHyperService::new(app.clone().map_request(
            move |req: axum::http::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                if let Some(p) = peer {
                    req.extensions_mut().insert(p);
                }
                req
            },
        ));
        let builder = builder.clone();
        let mut closing = closing.subscribe();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let _open = open;
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = closing.changed() => conn.as_mut().graceful_shutdown(),
            }
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(open_rx);
    ops.begin_stopping();
    let _ = closing.send(());
    open_tx.closed().await;
    drop(workers);
    Ok(())
}

/// Connections the kernel completes and queues before the server accepts them (the kernel
/// caps it at `net.core.somaxconn`, 4096 on current Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with a backlog of [`LISTEN_BACKLOG`]. A load balancer opens many
/// connections at once when its pool refills, and a fleet reconnects at once after an
/// outage; with the standard library's backlog of 128 the handshakes beyond it are dropped
/// and the clients retry only after a second — past nginx's `proxy_connect_timeout 1s`
/// in `deploy/nginx/relops.conf`, which then answers 504.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As the standard library does on Unix: a restarted server can listen again while
    // the old one's connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Open files below which `relops serve` warns at start: every connection is one.
pub const FEW_OPEN_FILES: u64 = 4096;

/// Raises this process's soft limit of open files to its hard limit; returns the soft
/// limit now in force (`None` where it is unlimited or not known). Every connection, blob
/// and database file is a file descriptor, and services are often started with a soft
/// limit of 1,024 (systemd's default, under a hard limit of 524,288): past it the server
/// cannot accept, and new connections wait in the backlog until others close. Raising the
/// soft limit up to the hard one is what the split is for — the administrator's cap is the
/// hard limit.
#[cfg(target_os = "linux")]
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current?;
    // An unlimited hard limit: the kernel allows at most fs.nr_open.
    let target = limit.maximum.or_else(|| {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })?;
    if current >= target {
        return Some(current);
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(target),
        Err(e) => {
            tracing::debug!(error = %e, "the open-files limit stays at {current}");
            Some(current)
        }
    }
}

/// Elsewhere the limit is left as it is (and not known).
#[cfg(not(target_os = "linux"))]
pub fn raise_open_files_limit() -> Option<u64> {
    None
}

/// The address a connection came from, as a request extension (what
/// `routes::ingest::Sender` reads to bound one network's share of a release's installs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub std::net::IpAddr);

/// A listener's address type that names the peer's IP address.
pub trait PeerAddress {
    fn peer_ip(&self) -> Option<std::net::IpAddr>;
}

impl PeerAddress for std::net::SocketAddr {
    fn peer_ip(&self) -> Option<std::net::IpAddr> {
        Some(self.ip())
    }
}

/// Every route of the server over `state`: the route table (`routes::table`), each route
/// behind its permission guard, request id and trace span; and the web console's pages
/// (`relops_console::router`, which log in with a session cookie instead of a token).
pub fn router(state: AppState) -> Router {
    let console = relops_console::router(state.ops.clone());
    routes::table::build(&state)
        .with_state(state)
        .merge(console)
}

/// Request ids: a random prefix per process and a counter (`3f9a0c1e-000000000042`) —
/// unique across replicas and restarts, and free of a system call per request (a UUID v4
/// per request cost measurable throughput on the update-check path).
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        Self {
            prefix: Arc::from(&uuid[..8]),
            next: Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("{}-{n:012}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    /// A burst of connections the server has not accepted yet is queued by the kernel,
    /// not dropped: every connect completes at once (a dropped handshake is retried only
    /// after a second).
    #[tokio::test]
    async fn a_burst_of_connections_is_queued_not_dropped() {
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        if somaxconn < 600 {
            eprintln!(
                "skipped: net.core.somaxconn is {somaxconn}, below the 600 connections this test opens"
            );
            return;
        }
        let listener = super::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = (0..600).map(|_| {
            tokio::time::timeout(
                std::time::Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr),
            )
        });
        let results = futures::future::join_all(connects).await;
        let failed = results.iter().filter(|r| !matches!(r, Ok(Ok(_)))).count();
        assert_eq!(
            failed, 0,
            "{failed} of 600 connects did not complete in 500 ms"
        );
    }

    #[test]
    fn request_ids_are_unique_and_ordered() {
        use tower_http::request_id::MakeRequestId;
        let mut ids = super::RequestIds::new();
        let req = axum::http::Request::new(());
        let a = ids.make_request_id(&req).unwrap();
        let b = ids.clone().make_request_id(&req).unwrap();
        let (a, b) = (
            a.header_value().to_str().unwrap(),
            b.header_value().to_str().unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), 8 + 1 + 12);
        assert!(a < b, "{a} {b}");
        assert_ne!(&super::RequestIds::new().prefix, &ids.prefix);
    }
}
