//! The accept loop of the main listener and the portal: a cap on open connections, a deadline
//! on the (TLS) handshake, hyper's header deadline and HTTP/2 limits, an idle timeout, and a
//! graceful drain at shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::Service;

use super::{count_refused, BodyDeadline, ListenerLimits};

/// How long connections in progress may take to finish once the listener stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (out of file descriptors, mostly) instead of spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// HTTP/2 pings on a connection idle this long, to find dead peers.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// What turns an accepted TCP stream into the stream HTTP is read from (plain TCP, or TLS),
/// and the request extensions it establishes (the TLS client certificate).
pub trait Handshake: Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    fn handshake(
        &self,
        tcp: TcpStream,
    ) -> impl Future<Output = std::io::Result<(Self::Io, Extensions)>> + Send;
}

/// Plain TCP: nothing to negotiate.
#[derive(Debug, Clone, Copy)]
pub struct PlainTcp;

impl Handshake for PlainTcp {
    type Io = TcpStream;

    async fn handshake(&self, tcp: TcpStream) -> std::io::Result<(TcpStream, Extensions)> {
        Ok((tcp, Extensions::new()))
    }
}

/// The cap on a listener's open connections: one permit per connection, returned when it ends.
#[derive(Debug, Clone)]
pub struct ConnectionGate {
    permits: Arc<Semaphore>,
    max: usize,
}

impl ConnectionGate {
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A permit for one more connection, or `None` at the cap.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }

    /// Resolves once every connection has ended.
    pub async fn all_closed(&self) {
        // Semaphore permits are u32; the configuration caps connections far below.
        let n = u32::try_from(self.max).unwrap_or(u32::MAX);
        let _ = self.permits.acquire_many(n).await;
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves, then lets the
/// connections in progress finish for at most [`SHUTDOWN_GRACE`]. Each request carries
/// [`ConnectInfo<SocketAddr>`] (the peer's address) and the extensions of its connection's
/// handshake. Refusals are counted under `name` (`connection_limit`, `handshake_timeout`,
/// `body_timeout`).
pub async fn serve<H: Handshake>(
    listener: TcpListener,
    name: &'static str,
    limits: ListenerLimits,
    router: Router,
    handshake: H,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let gate = ConnectionGate::new(limits.max_connections);
    let router = BodyDeadline {
        listener: name,
        limit: limits.body_read_timeout(),
    }
    .apply(router);
    let http = Arc::new(http_builder(&limits));
    let handshake = Arc::new(handshake);
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    count_refused(name, "accept_error");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(permit) = gate.admit() else {
            // Closed at once: the client sees it and may retry elsewhere, rather than wait in
            // a queue we would not serve.
            count_refused(name, "connection_limit");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let connection = Connection {
            name,
            limits,
            peer,
            router: router.clone(),
            http: http.clone(),
            stop: stopped.clone(),
            _permit: permit,
        };
        tokio::spawn(connection.run(tcp, handshake.clone()));
    }
    drop(listener);
    let _ = stop.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, gate.all_closed())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            open = gate.open(),
            "connections still open after the shutdown grace"
        );
    }
    Ok(())
}

/// hyper's HTTP/1 and HTTP/2 server under `limits`.
fn http_builder(limits: &ListenerLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout())
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .initial_stream_window_size(limits.http2_window_bytes)
        .initial_connection_window_size(limits.http2_window_bytes)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(HTTP2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(HTTP2_KEEP_ALIVE_INTERVAL);
    builder
}

/// One accepted connection, holding its permit until it ends.
struct Connection {
    name: &'static str,
    limits: ListenerLimits,
    peer: SocketAddr,
    router: Router,
    http: Arc<auto::Builder<TokioExecutor>>,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run<H: Handshake>(mut self, tcp: TcpStream, handshake: Arc<H>) {
        let (io, extensions) = match tokio::time::timeout(
            self.limits.tls_handshake_timeout(),
            handshake.handshake(tcp),
        )
        .await
        {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                tracing::debug!(listener = self.name, peer = %self.peer, error = %e, "handshake failed");
                return;
            }
            Err(_) => {
                count_refused(self.name, "handshake_timeout");
                return;
            }
        };
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(ActivityIo {
            inner: io,
            activity: activity.clone(),
        });
        let service = {
            let (router, peer, activity) = (self.router.clone(), self.peer, activity.clone());
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().extend(extensions.clone());
                request.extensions_mut().insert(ConnectInfo(peer));
                let in_progress = activity.request_started();
                let mut router = router.clone();
                async move {
                    let response = router.call(request.map(axum::body::Body::new)).await;
                    drop(in_progress);
                    response
                }
            })
        };
        let connection = self.http.serve_connection(io, service);
        tokio::pin!(connection);
        let idle_limit = self.limits.keep_alive_idle();
        let mut look = tokio::time::interval((idle_limit / 4).max(Duration::from_millis(250)));
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closing = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout) {
                            count_refused(self.name, "header_timeout");
                        }
                        tracing::debug!(listener = self.name, peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = self.stop.wait_for(|s| *s), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = look.tick(), if !closing => {
                    if activity.idle_for() >= idle_limit {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// When a connection last moved a byte, and how many of its requests are in progress: what the
/// idle timeout looks at.
#[derive(Debug)]
struct Activity {
    base: Instant,
    last_io_ms: AtomicU64,
    in_progress: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            in_progress: AtomicUsize::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long the connection has been idle: zero while a request is in progress.
    fn idle_for(&self) -> Duration {
        if self.in_progress.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_io_ms.load(Ordering::Relaxed)),
        )
    }

    fn request_started(self: &Arc<Self>) -> InProgress {
        self.in_progress.fetch_add(1, Ordering::AcqRel);
        InProgress(self.clone())
    }
}

/// One request in progress; ends when dropped.
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

/// A stream that records in [`Activity`] each time bytes move.
struct ActivityIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
