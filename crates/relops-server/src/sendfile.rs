//! Plain-HTTP connections that send cached update files with `sendfile`.
//!
//! Installs download the same few targets again and again. The target cache
//! ([`crate::target_cache`]) keeps them in memory, and hyper writes a response body by
//! handing its slices to the connection. [`SendfileStream`] is that connection: when a
//! slice it is asked to write lies inside a cached file's bytes (looked up by address in
//! [`FileSources`]), it asks the kernel to send that range of the file the bytes were read
//! from instead of copying the bytes into the socket. The bytes on the wire are the same
//! — the file is a blob, never changed in place, and held open — but the kernel hands
//! page-cache pages to the socket (what nginx's `sendfile on` does), sparing a copy per
//! byte and the cache misses of writing into fresh socket buffers.
//!
//! Everything else (headers, JSON, small or uncached bodies, files from S3) is written the
//! ordinary way. Linux only; elsewhere, and behind TLS, connections are plain.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::target_cache::{FileRange, FileSources};

/// Slices shorter than this are written, not looked up: headers and small bodies gain
/// nothing from `sendfile`.
const MIN_SENDFILE: usize = 16 * 1024;

/// Most bytes one `sendfile` call queues. Whole 1 MiB bodies at once left more of each
/// body queued behind the window, pushed out by the client's ACKs in its own context, and
/// served fewer requests per second (`bench/feed.sh`, bench/RESULTS.md).
const SENDFILE_CHUNK: usize = 256 * 1024;

/// A TCP listener whose connections send cached files with `sendfile`.
#[derive(Debug)]
pub struct SendfileListener {
    inner: TcpListener,
    sources: Arc<FileSources>,
    sent: Arc<AtomicU64>,
}

impl SendfileListener {
    pub fn new(inner: TcpListener, sources: Arc<FileSources>) -> Self {
        Self {
            inner,
            sources,
            sent: Arc::default(),
        }
    }

    /// Bytes sent with `sendfile` so far, over all connections.
    pub fn sent_counter(&self) -> Arc<AtomicU64> {
        self.sent.clone()
    }
}

impl axum::serve::Listener for SendfileListener {
    type Io = SendfileStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop for TCP (it retries what a busy server sees).
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        // Responses are written whole; Nagle would hold a body's last short segment
        // back until the client's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let io = SendfileStream {
            tcp,
            sources: self.sources.clone(),
            sent: self.sent.clone(),
            corked: false,
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A TCP connection that writes slices of cached files from the file.
#[derive(Debug)]
pub struct SendfileStream {
    tcp: TcpStream,
    sources: Arc<FileSources>,
    sent: Arc<AtomicU64>,
    corked: bool,
}

impl SendfileStream {
    fn source_of(&self, buf: &[u8]) -> Option<FileRange> {
        if buf.len() < MIN_SENDFILE {
            return None;
        }
        self.sources.find(buf)
    }

    /// Holds back partial segments until [`Self::uncork`]: the headers written before a
    /// body sent from a file then share its first segment (nginx's `tcp_nopush`). Without
    /// it, the lone header segment made the client's ACKs push the body out in the
    /// client's own context, costing the client more per byte (0.62× nginx vs 0.95×).
    fn cork(&mut self) {
        if !self.corked {
            self.corked = rustix::net::sockopt::set_tcp_cork(&self.tcp, true).is_ok();
        }
    }

    fn uncork(&mut self) {
        if self.corked {
            self.corked = false;
            if let Err(e) = rustix::net::sockopt::set_tcp_cork(&self.tcp, false) {
                tracing::debug!(error = %e, "TCP_CORK not cleared");
            }
        }
    }

    /// Sends `len` bytes of `range`'s file from its offset; how many went, as a write does.
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        range: &FileRange,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let mut offset = range.offset;
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(
                    &self.tcp,
                    &*range.file,
                    Some(&mut offset),
                    len.min(SENDFILE_CHUNK),
                )
                .map_err(io::Error::from)
            });
            match sent {
                Ok(n) => {
                    self.sent.fetch_add(n as u64, Ordering::Relaxed);
                    if n == len {
                        self.uncork();
                    }
                    return Poll::Ready(Ok(n));
                }
                // Readiness was cleared by `try_io`: wait for it again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// An ordinary write; it ends a corked stretch.
    fn poll_plain(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs))?;
        if n == bufs.iter().map(|b| b.len()).sum::<usize>() {
            self.uncork();
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Slices before the first one in a cached file go out the ordinary way, corked
        // (hyper comes back with the rest); a slice in a cached file goes from the file.
        let found = bufs
            .iter()
            .enumerate()
            .find_map(|(i, b)| self.source_of(b).map(|r| (i, r)));
        match found {
            None => self.poll_plain(cx, bufs),
            Some((0, range)) => self.poll_sendfile(cx, &range, bufs[0].len()),
            Some((i, _)) => {
                self.cork();
                Pin::new(&mut self.tcp).poll_write_vectored(cx, &bufs[..i])
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target_cache::TargetCache;
    use crate::target_cache::tests::{digest, local_store};
    use bytes::Bytes;

    /// Serves `/big` (a cached 3 MiB file), `/part` (a range of it) and `/copy` (the same
    /// bytes, not from the cache) through a [`SendfileListener`]; returns its URL.
    async fn serve(cache: Arc<TargetCache>, key: &'static str) -> (String, Arc<AtomicU64>) {
        use axum::routing::get;
        let cached = move |c: Arc<TargetCache>| c.cached(key).expect("file is cached");
        let (c1, c2, c3) = (cache.clone(), cache.clone(), cache.clone());
        let app = axum::Router::new()
            .route("/big", get(move || async move { cached(c1) }))
            .route(
                "/part",
                get(move || async move { cached(c2).slice(1000..2_000_001) }),
            )
            .route(
                "/copy",
                get(move || async move { Bytes::from(cached(c3).to_vec()) }),
            );
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", tcp.local_addr().unwrap());
        let listener = SendfileListener::new(tcp, cache.file_sources());
        let sent = listener.sent_counter();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, sent)
    }

    #[tokio::test]
    async fn cached_files_go_out_with_sendfile_byte_exact() {
        let (_dir, blobs) = local_store();
        let content: Vec<u8> = (0..3 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let key = "blobs/sha256/abc";
        blobs
            .put_raw(key, Bytes::from(content.clone()))
            .await
            .unwrap();
        let cache = Arc::new(TargetCache::new(16, 8));
        cache
            .get(&blobs, key, content.len() as u64, &digest(&content))
            .await
            .unwrap()
            .unwrap();
        let (url, sent) = serve(cache.clone(), key).await;
        let http = reqwest::Client::new();
        let fetch = |path: &str| {
            let req = http.get(format!("{url}{path}"));
            async move { req.send().await.unwrap().bytes().await.unwrap() }
        };

        // The whole file: the body went out of the file, all but at most a short tail
        // of a partial send (short slices are written).
        assert_eq!(fetch("/big").await, content);
        let after_big = sent.load(Ordering::Relaxed);
        let big = content.len() as u64;
        assert!(
            after_big <= big && after_big > big - MIN_SENDFILE as u64,
            "{after_big} of {big} bytes by sendfile"
        );

        // A range of it is sent from its offset in the file.
        assert_eq!(fetch("/part").await, &content[1000..2_000_001]);
        let part = sent.load(Ordering::Relaxed) - after_big;
        assert!(part <= 2_000_000 && part > 2_000_000 - MIN_SENDFILE as u64);

        // The same bytes in other memory are written, not looked up in the file.
        let before = sent.load(Ordering::Relaxed);
        assert_eq!(fetch("/copy").await, content);
        assert_eq!(sent.load(Ordering::Relaxed), before);

        // The stored blob replaced by other bytes (a new file renamed over it): the
        // cache's bytes and the file they were read from still agree on the wire.
        blobs
            .put_raw(key, Bytes::from(vec![0u8; content.len()]))
            .await
            .unwrap();
        let before = sent.load(Ordering::Relaxed);
        assert_eq!(fetch("/big").await, content);
        assert!(sent.load(Ordering::Relaxed) > before);
    }

    #[tokio::test]
    async fn only_slices_inside_a_cached_file_are_found() {
        let (_dir, blobs) = local_store();
        blobs
            .put_raw("k", Bytes::from(vec![7u8; 100_000]))
            .await
            .unwrap();
        let cache = TargetCache::new(1, 1);
        let bytes = cache
            .get(&blobs, "k", 100_000, &digest(&[7u8; 100_000]))
            .await
            .unwrap()
            .unwrap();
        let sources = cache.file_sources();
        assert_eq!(sources.find(&bytes).unwrap().offset, 0);
        assert_eq!(sources.find(&bytes[500..600]).unwrap().offset, 500);
        assert_eq!(sources.find(&bytes[99_990..]).unwrap().offset, 99_990);
        // The same bytes in other memory: not from the file.
        assert!(sources.find(&vec![7u8; 100_000]).is_none());
        // Dropped from the cache: the entry no longer matches.
        drop(cache);
        assert!(sources.find(&bytes).is_none());
    }

    #[tokio::test]
    async fn headers_before_a_file_body_are_corked_until_the_body_is_sent() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (_dir, blobs) = local_store();
        let body = vec![5u8; 1024 * 1024];
        blobs.put_raw("k", Bytes::from(body.clone())).await.unwrap();
        let cache = TargetCache::new(4, 4);
        let cached = cache
            .get(&blobs, "k", 1024 * 1024, &digest(&body))
            .await
            .unwrap()
            .unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(tcp.local_addr().unwrap()).await.unwrap();
        let mut server = SendfileListener::new(tcp, cache.file_sources());
        let (mut io, _) = axum::serve::Listener::accept(&mut server).await;
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut client = client;
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        let cork = |io: &SendfileStream| rustix::net::sockopt::tcp_cork(&io.tcp).unwrap();

        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\n\r\n";
        let n = io
            .write_vectored(&[IoSlice::new(head), IoSlice::new(&cached)])
            .await
            .unwrap();
        assert_eq!(n, head.len(), "the headers go first, on their own");
        assert!(cork(&io), "corked while the body is still to come");
        let mut rest: &[u8] = &cached;
        while !rest.is_empty() {
            let n = io.write(rest).await.unwrap();
            rest = &rest[n..];
        }
        assert!(!cork(&io), "uncorked once the body is out");
        // A short reply after it is not held back.
        io.write_all(b"tail").await.unwrap();
        assert!(!cork(&io));
        io.shutdown().await.unwrap();
        drop(io);

        let got = reader.await.unwrap();
        assert_eq!(&got[..head.len()], head);
        assert_eq!(&got[head.len()..head.len() + body.len()], &body[..]);
        assert_eq!(&got[head.len() + body.len()..], b"tail");
    }

    #[tokio::test]
    async fn small_files_and_files_beyond_the_open_limit_are_written_from_memory() {
        use crate::target_cache::{MAX_OPEN_FILES, MIN_SENDFILE_FILE};
        let (_dir, blobs) = local_store();
        let cache = TargetCache::new(64, 1);
        let sources = cache.file_sources();
        let small = MIN_SENDFILE_FILE - 1;
        blobs
            .put_raw("small", Bytes::from(vec![1u8; small]))
            .await
            .unwrap();
        let bytes = cache
            .get(&blobs, "small", small as u64, &digest(&vec![1u8; small]))
            .await
            .unwrap()
            .unwrap();
        assert!(
            sources.find(&bytes).is_none(),
            "a small file is not kept open"
        );

        let mut held = Vec::new();
        for i in 0..=MAX_OPEN_FILES {
            let key = format!("f{i}");
            let body = Bytes::from(vec![i as u8; MIN_SENDFILE_FILE]);
            let sha = digest(&body);
            blobs.put_raw(&key, body).await.unwrap();
            let got = cache
                .get(&blobs, &key, MIN_SENDFILE_FILE as u64, &sha)
                .await;
            held.push(got.unwrap().unwrap());
        }
        let open = held.iter().filter(|b| sources.find(b).is_some()).count();
        assert_eq!(open, MAX_OPEN_FILES);
        assert!(sources.find(&held[MAX_OPEN_FILES]).is_none());
    }
}
