//! The TSA's dedicated listener: `POST /tsa` on a port of its own, served
//! by threads that each sign their own requests.
//!
//! `igc serve`'s main listener is one multi-threaded Tokio runtime shared
//! by every service; there a token costs a hand-off to a signing lane and
//! a wake-up back (see [`crate::lanes`]). Here each of N threads runs a
//! current-thread runtime with its own listening socket on the same port
//! (`SO_REUSEPORT`: the kernel spreads the connections over the threads),
//! hyper's HTTP/1 server over the same axum router, and a signer task that
//! signs the requests its thread has read, all together, inline: no hand-off
//! between threads, which gets closer to the raw HSM signing rate than the
//! main listener does (`docs/BENCHMARKS.md`, the TSA listener).
//!
//! What stays the same: the router ([`crate::http`]: 415, 405, the size
//! limit, rejections as RFC 3161 replies), [`TimeStampAuthority::respond`]
//! (clock, recorder admission and reservation, queue timeout, metrics).
//! What differs:
//!
//! - signatures in flight through this listener are bounded by its thread
//!   count (each thread is one signing lane), not by
//!   `max_concurrent_signatures`; the shared lanes still serve `/tsa` on the
//!   main listener, so the HSM sessions must cover both;
//! - a thread's connections wait while it signs: a signature that hangs (an
//!   HSM that stops answering, a session pool exhausted for its wait time)
//!   stalls every connection that thread has accepted — where on the main
//!   listener a hung lane holds only its own job. A watchdog keeps the
//!   stall from spreading: a thread that has not run for [`stall_limit`]
//!   has its socket taken out of the port's group (connections waiting in
//!   its accept queue are reset; new ones go to the other threads, or are
//!   refused if every thread is stalled, which a load balancer sees at
//!   once), and the thread binds a new socket when it runs again;
//! - the limits of `[tsa.limits]` ([`ListenerLimits`]): a cap on open
//!   connections shared by the threads (one over it is closed at once), a
//!   deadline on a request's headers, which also closes keep-alive
//!   connections idle that long (a load balancer in front must close its
//!   idle connections sooner), and a deadline on its body (408);
//! - `/readyz` ([`crate::http::listener_readyz`]) also makes a probe
//!   signature, at most one a second, so that a load balancer in front of
//!   this port sees an HSM outage.
//!
//! `SO_REUSEPORT` lets another process of the same user bind the same port
//! and receive part of the connections (Linux refuses other users): run
//! the TSA under an account of its own, as every service here.
//!
//! [`TimeStampAuthority::respond`]: crate::TimeStampAuthority::respond

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;

use ca::limits::{count_refused, BodyDeadline, ConnectionGate, ListenerLimits, LISTENER_TSA};

use crate::authority::TimeStampAuthority;
use crate::error::{Error, Result};
use crate::lanes::LocalSigner;

/// Most threads a listener may run (kept under this name for callers).
pub use crate::config::MAX_LISTEN_THREADS as MAX_THREADS;

/// Pending connections per socket (the kernel caps it at `somaxconn`).
const BACKLOG: i32 = 1024;

/// How much longer than a batch can last a thread may go without running
/// before the watchdog takes it out of the port's group ([`stall_limit`]).
pub const STALL_MARGIN: Duration = Duration::from_secs(1);

/// How long a thread of `tsa`'s listener may go without running before it
/// is taken out of the port's group until it runs again: the queue timeout,
/// plus the HSM's `session_wait` (how long a signature may wait for a
/// session), plus [`STALL_MARGIN`] — 8 s with the defaults. A batch of
/// signatures ends within the queue timeout plus one signature (the jobs
/// that waited longer are refused, not signed), and a signature within the
/// session wait plus its own time, so only a thread stuck in a call (a hung
/// HSM) goes past it.
pub fn stall_limit(tsa: &TimeStampAuthority, session_wait: Duration) -> Duration {
    tsa.queue_timeout() + session_wait + STALL_MARGIN
}

/// How often each thread shows it runs.
const HEARTBEAT: Duration = Duration::from_millis(100);

/// How often the watchdog looks.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// What the watchdog knows of one thread.
#[derive(Debug, Default)]
struct ThreadWatch {
    /// Milliseconds since [`Watch::base`] at the thread's last heartbeat.
    beat_ms: AtomicU64,
    /// The watchdog took the thread's socket out of the group.
    detached: AtomicBool,
    /// A duplicate of the thread's listening socket: shutting it down takes
    /// the socket out of the group without the thread's help.
    socket: Mutex<Option<socket2::Socket>>,
    /// Wakes the thread's accept loop to bind a new socket.
    rejoin: tokio::sync::Notify,
}

#[derive(Debug)]
struct Watch {
    base: Instant,
    stall_limit: Duration,
    threads: Vec<ThreadWatch>,
}

impl Watch {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn stalled(&self) -> usize {
        self.threads
            .iter()
            .filter(|t| t.detached.load(Ordering::Acquire))
            .count()
    }

    /// Hands the watchdog a duplicate of thread `i`'s socket.
    fn register(&self, i: usize, socket: &impl std::os::fd::AsFd) {
        match socket2::SockRef::from(socket).try_clone() {
            Ok(dup) => {
                *self.threads[i]
                    .socket
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(dup);
            }
            // Without it the watchdog cannot detach this thread; it still serves.
            Err(e) => tracing::warn!(error = %e, "TSA listener: no socket for the watchdog"),
        }
    }

    /// Closes thread `i`'s duplicate (the thread no longer listens on it).
    fn forget(&self, i: usize) {
        drop(
            self.threads[i]
                .socket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
    }

    /// At shutdown: takes every socket out of the group at once, so that
    /// new connections are refused even while a thread is stuck (its own
    /// socket would otherwise stay in the group, alone, until it returns).
    /// The threads have been told to stop first: they leave their accept
    /// loops rather than see an error.
    fn close_all(&self) {
        for t in &self.threads {
            if let Some(socket) = t.socket.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = socket.shutdown(std::net::Shutdown::Read);
            }
        }
    }

    /// One look: takes stalled threads out of the group. `overslept`: the
    /// watchdog itself did not run for a while (the whole process was
    /// paused or starved), so the beats it sees are no evidence.
    fn check(&self, addr: SocketAddr, overslept: bool) {
        let limit = u64::try_from(self.stall_limit.as_millis()).unwrap_or(u64::MAX);
        for (i, t) in self.threads.iter().enumerate() {
            // `detached` before the beat: a thread back from a stall stores a
            // fresh beat before it clears `detached`.
            if overslept || t.detached.load(Ordering::Acquire) {
                continue;
            }
            let silent_ms = || {
                self.now_ms()
                    .saturating_sub(t.beat_ms.load(Ordering::Acquire))
            };
            if silent_ms() < limit {
                continue;
            }
            let mut slot = t.socket.lock().unwrap_or_else(|p| p.into_inner());
            // Looked at again under the lock: the thread may have beaten since.
            let stalled_ms = silent_ms();
            if stalled_ms < limit {
                continue;
            }
            let Some(socket) = slot.take() else { continue };
            match socket.shutdown(std::net::Shutdown::Read) {
                Ok(()) => {
                    t.detached.store(true, Ordering::Release);
                    tracing::warn!(
                        thread = i,
                        %addr,
                        stalled_ms,
                        "TSA listener thread stalled (HSM not answering?): its share of new connections goes to the other threads until it runs again"
                    );
                }
                Err(e) => {
                    // Still listening: keep it, and try again next time.
                    *slot = Some(socket);
                    tracing::error!(thread = i, error = %e, "TSA listener: cannot detach a stalled thread");
                }
            }
        }
        metrics::gauge!("tsa_listener_stalled_threads").set(self.stalled() as f64);
    }
}

/// Threads for a TSA's listener when the configuration sets none: one per
/// core (more threads than cores contend for SoftHSM's object lock and add
/// context switches: `docs/BENCHMARKS.md`, the TSA listener), and no more
/// than the TSA's signing lanes, so that a TSA configured for a single HSM
/// session signs one request at a time here too.
pub fn default_threads(tsa: &TimeStampAuthority) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(tsa.signing_lanes()).clamp(1, MAX_THREADS)
}

/// A running dedicated listener.
#[derive(Debug)]
pub struct TsaListener {
    addr: SocketAddr,
    stop: std::sync::Arc<watch::Sender<bool>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    watch: Arc<Watch>,
}

impl TsaListener {
    /// Binds `addr` (port 0: a free port, the same for every thread) and
    /// serves `app` — [`crate::http::router`] or a router that includes
    /// it — from `threads` threads. Fails if the address cannot be bound or
    /// a thread cannot be started; the threads already started are told to
    /// stop then.
    /// A thread that does not run for `stall_limit` ([`stall_limit`]) is
    /// taken out of the port's group until it runs again.
    pub fn start(
        addr: SocketAddr,
        threads: usize,
        stall_limit: Duration,
        limits: ListenerLimits,
        app: Router,
    ) -> Result<TsaListener> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(Error::config(format!(
                "the TSA listener needs 1..={MAX_THREADS} threads, not {threads}"
            )));
        }
        let first = bind(addr)?;
        let listen_error = |source| Error::Listen { addr, source };
        let addr = first.local_addr().map_err(listen_error)?;
        let mut sockets = vec![first];
        for _ in 1..threads {
            sockets.push(bind(addr)?);
        }
        let app = BodyDeadline {
            listener: LISTENER_TSA,
            limit: limits.body_read_timeout(),
        }
        .apply(app);
        let gate = ConnectionGate::new(limits.max_connections);
        let (stop, stop_rx) = watch::channel(false);
        let watch = Arc::new(Watch {
            base: Instant::now(),
            stall_limit,
            threads: (0..threads).map(|_| ThreadWatch::default()).collect(),
        });
        let mut listener = TsaListener {
            addr,
            stop: std::sync::Arc::new(stop),
            threads: Vec::with_capacity(threads + 1),
            watch: watch.clone(),
        };
        for (i, socket) in sockets.into_iter().enumerate() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| Error::Listen { addr, source })?;
            watch.register(i, &socket);
            let (app, stop, watch) = (app.clone(), stop_rx.clone(), watch.clone());
            let gate = gate.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tsa-listener-{i}"))
                .spawn(move || {
                    let signer = LocalSigner::install();
                    runtime.block_on(async move {
                        tokio::spawn(signer.run());
                        tokio::spawn(heartbeat(watch.clone(), i));
                        serve(
                            socket,
                            app,
                            stop,
                            Thread {
                                watch,
                                index: i,
                                addr,
                            },
                            Admission { limits, gate },
                        )
                        .await;
                    });
                });
            match spawned {
                Ok(t) => listener.threads.push(t),
                Err(source) => {
                    // Dropping `listener` stops the threads already started.
                    return Err(Error::Listen { addr, source });
                }
            }
        }
        let stop = stop_rx.clone();
        let watchdog = std::thread::Builder::new()
            .name("tsa-listener-watchdog".into())
            .spawn(move || {
                let mut last = Instant::now();
                while !*stop.borrow() {
                    std::thread::sleep(WATCH_INTERVAL);
                    let overslept = last.elapsed() > WATCH_INTERVAL + watch.stall_limit / 2;
                    last = Instant::now();
                    watch.check(addr, overslept);
                }
            });
        match watchdog {
            Ok(t) => listener.threads.push(t),
            Err(source) => return Err(Error::Listen { addr, source }),
        }
        Ok(listener)
    }

    /// Threads the watchdog has taken out of the port's group because
    /// they stopped running, and that have not rejoined it yet.
    pub fn stalled_threads(&self) -> usize {
        self.watch.stalled()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Threads serving.
    pub fn threads(&self) -> usize {
        self.watch.threads.len()
    }

    /// Stops accepting connections without waiting (the threads then let
    /// their requests in progress finish). For the moment the shutdown
    /// signal arrives, while other listeners drain too; [`Self::shutdown`]
    /// then waits.
    pub fn begin_shutdown(&self) -> impl Fn() + Send + Sync + 'static {
        let (stop, watch) = (self.stop.clone(), self.watch.clone());
        move || {
            let _ = stop.send(true);
            watch.close_all();
        }
    }

    /// Stops accepting connections, lets the requests in progress finish
    /// (at most [`SHUTDOWN_GRACE`]; idle connections are closed at once),
    /// and waits for the threads to end — at most the grace plus five
    /// seconds: a thread stuck in the HSM is left behind (and logged) rather
    /// than holding the process up.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.watch.close_all();
        let threads = std::mem::take(&mut self.threads);
        let (done, joined) = tokio::sync::oneshot::channel();
        // A detached thread rather than `spawn_blocking`: the runtime, when
        // dropped, waits for its blocking tasks, and a stuck join would hold
        // the process up.
        let joiner = std::thread::Builder::new()
            .name("tsa-listener-join".into())
            .spawn(move || {
                for t in threads {
                    if t.join().is_err() {
                        tracing::error!("a TSA listener thread panicked");
                    }
                }
                let _ = done.send(());
            });
        if joiner.is_err() {
            tracing::error!("cannot wait for the TSA listener threads");
            return;
        }
        // Each thread waits at most the grace for its connections; the
        // margin covers a batch of signatures in progress.
        if tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(5), joined)
            .await
            .is_err()
        {
            tracing::error!("TSA listener threads still running after the shutdown grace");
        }
    }
}

impl Drop for TsaListener {
    fn drop(&mut self) {
        // Without `shutdown`: the threads stop on their own, unjoined.
        let _ = self.stop.send(true);
        self.watch.close_all();
    }
}

/// A listening socket that shares its port with the listener's other threads.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let listen_error = |source| Error::Listen { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(listen_error)?;
    socket.set_reuse_address(true).map_err(listen_error)?;
    socket.set_reuse_port(true).map_err(listen_error)?;
    socket.set_nonblocking(true).map_err(listen_error)?;
    socket.bind(&addr.into()).map_err(listen_error)?;
    socket.listen(BACKLOG).map_err(listen_error)?;
    Ok(socket.into())
}

/// Shows the watchdog that thread `i` runs.
async fn heartbeat(watch: Arc<Watch>, i: usize) {
    let me = &watch.threads[i];
    loop {
        me.beat_ms.store(watch.now_ms(), Ordering::Release);
        if me.detached.load(Ordering::Acquire) {
            // Running again after a stall: the accept loop binds anew.
            me.rejoin.notify_one();
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// Which thread of which listener an accept loop serves.
struct Thread {
    watch: Arc<Watch>,
    index: usize,
    addr: SocketAddr,
}

impl Thread {
    fn me(&self) -> &ThreadWatch {
        &self.watch.threads[self.index]
    }

    /// [`Thread::rejoin`], or a pause of a second before the next try.
    async fn rejoin_or_pause(
        &self,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<tokio::net::TcpListener> {
        let listener = self.rejoin();
        if listener.is_none() {
            pause(stop, Duration::from_secs(1)).await;
        }
        listener
    }

    /// After the watchdog took this thread's socket out of the group: a new
    /// socket in the group, or `None` (logged) to try again later.
    fn rejoin(&self) -> Option<tokio::net::TcpListener> {
        let socket = match bind(self.addr) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(thread = self.index, error = %e, "TSA listener: a thread back from a stall cannot bind again; retrying");
                return None;
            }
        };
        match tokio::net::TcpListener::from_std(socket) {
            Ok(l) => {
                self.watch.register(self.index, &l);
                // A fresh beat first: the watchdog must not see an old one
                // on a thread it no longer counts as detached.
                self.me()
                    .beat_ms
                    .store(self.watch.now_ms(), Ordering::Release);
                self.me().detached.store(false, Ordering::Release);
                tracing::info!(
                    thread = self.index,
                    "TSA listener thread runs again and takes connections"
                );
                Some(l)
            }
            Err(e) => {
                tracing::error!(thread = self.index, error = %e, "TSA listener: a thread back from a stall cannot use its new socket; retrying");
                None
            }
        }
    }
}

/// What a thread grants the connections it accepts.
struct Admission {
    limits: ListenerLimits,
    /// Shared by the threads: the cap is the listener's, not each thread's.
    gate: ConnectionGate,
}

/// One thread's accept loop, until `stop`; then a graceful drain of its
/// connections, at most `SHUTDOWN_GRACE`.
async fn serve(
    socket: std::net::TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
    thread: Thread,
    admission: Admission,
) {
    let mut listener = match tokio::net::TcpListener::from_std(socket) {
        Ok(l) => l,
        Err(e) => {
            // Its duplicate would keep the socket in the group for nobody.
            thread.watch.forget(thread.index);
            tracing::error!(thread = thread.index, error = %e, "TSA listener thread cannot use its socket; it serves nothing");
            return;
        }
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(admission.limits.header_read_timeout())
        .max_buf_size(admission.limits.max_header_bytes)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    // For the branches' bodies: `select!` holds `stop` while they run.
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            _ = thread.me().rejoin.notified(), if thread.me().detached.load(Ordering::Acquire) => {
                if let Some(l) = thread.rejoin_or_pause(&mut stopping).await {
                    listener = l;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Some(permit) = admission.gate.admit() else {
                        // Closed at once rather than queued: see `ca::limits::serve`.
                        count_refused(LISTENER_TSA, "connection_limit");
                        continue;
                    };
                    // Replies are small and written at once: no Nagle delay.
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(app.clone());
                    let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        // A client that goes away or sends garbage ends its
                        // connection; hyper has answered what it could.
                        if let Err(e) = connection.await {
                            if e.is_timeout() {
                                count_refused(LISTENER_TSA, "header_timeout");
                            }
                        }
                        drop(permit);
                    });
                }
                // Shut down by `close_all`: the loop ends.
                Err(_) if *stopping.borrow() => {}
                Err(_) if thread.me().detached.load(Ordering::Acquire) => {
                    // The socket the watchdog shut down, and this thread
                    // runs again: bind anew.
                    if let Some(l) = thread.rejoin_or_pause(&mut stopping).await {
                        listener = l;
                    }
                }
                Err(e) => {
                    // Out of file descriptors, mostly: wait instead of spinning.
                    tracing::warn!(error = %e, "TSA listener: accept failed");
                    pause(&mut stopping, Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    // The watchdog's duplicate too: while it is open the socket keeps
    // listening, and new connections would wait in its queue for nobody
    // instead of being refused.
    thread.watch.forget(thread.index);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("TSA listener: connections still open after the shutdown grace");
    }
}

/// Waits `period`, or less if the listener is told to stop meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>, period: Duration) {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        _ = tokio::time::sleep(period) => {}
    }
}

/// How long a thread waits for its connections to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::io::{Read, Write};

    /// One HTTP/1.1 exchange on a fresh connection; the whole reply.
    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    const TEST_STALL_LIMIT: Duration = Duration::from_secs(1);

    /// Lets the test decide when `/block` and `/hold` answer.
    fn gate() -> (watch::Sender<bool>, watch::Receiver<bool>) {
        watch::channel(false)
    }

    fn app() -> Router {
        app_with(gate().1)
    }

    fn app_with(release: watch::Receiver<bool>) -> Router {
        let (block, hold) = (release.clone(), release);
        Router::new()
            .route(
                "/who",
                axum::routing::get(|| async {
                    std::thread::current().name().unwrap_or_default().to_owned()
                }),
            )
            .route(
                // What a hung HSM call does: the thread does not run until
                // the test releases it (10 s at most).
                "/block",
                axum::routing::get(move || async move {
                    let until = std::time::Instant::now() + Duration::from_secs(10);
                    while !*block.borrow() && std::time::Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    "unblocked"
                }),
            )
            .route(
                // A request in progress that leaves its thread free.
                "/hold",
                axum::routing::get(move || {
                    let mut hold = hold.clone();
                    async move {
                        let _ =
                            tokio::time::timeout(Duration::from_secs(10), hold.wait_for(|r| *r))
                                .await;
                        "done"
                    }
                }),
            )
    }

    /// A listener of `threads` threads on a free port over [`app_with`];
    /// the sender releases its `/block` and `/hold` requests.
    fn gated(
        threads: usize,
        stall_limit: Duration,
    ) -> (watch::Sender<bool>, TsaListener, SocketAddr) {
        let (release, gate) = gate();
        let listener = TsaListener::start(
            "127.0.0.1:0".parse().unwrap(),
            threads,
            stall_limit,
            ListenerLimits::default(),
            app_with(gate),
        )
        .unwrap();
        let addr = listener.local_addr();
        (release, listener, addr)
    }

    /// Everything `s` still receives until the server closes it (10 s at most).
    fn rest_of(mut s: std::net::TcpStream) -> String {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// Polls `ok` every 20 ms for at most `within`.
    async fn eventually(within: Duration, mut ok: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ok()
    }

    /// Whether a connection to `addr` is refused (rather than accepted or
    /// queued by the kernel).
    fn refused(addr: SocketAddr) -> bool {
        std::net::TcpStream::connect(addr).is_err()
    }

    /// `GET /who` on a fresh connection, given `within` to answer: the
    /// serving thread's name, or why not.
    fn who(addr: SocketAddr, within: Duration) -> std::result::Result<String, String> {
        let mut s = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(within)).unwrap();
        write!(
            s,
            "GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out)
            .map_err(|e| format!("read: {e}"))?;
        out.rsplit("\r\n")
            .next()
            .filter(|name| name.starts_with("tsa-listener-"))
            .map(str::to_owned)
            .ok_or_else(|| format!("reply: {out:?}"))
    }

    /// Sends a keep-alive GET and reads its reply (`Content-Length`), leaving
    /// the connection open.
    fn keep_alive(addr: SocketAddr, path: &str) -> (std::net::TcpStream, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let mut tmp = [0u8; 1024];
        loop {
            let n = s.read(&mut tmp).unwrap();
            assert!(n > 0, "closed before the reply");
            buf.extend_from_slice(&tmp[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .to_ascii_lowercase()
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .unwrap()
                    .parse()
                    .unwrap();
                if body.len() >= len {
                    return (s, text);
                }
            }
        }
    }

    /// A thread that stops running (a hung HSM call) is taken out of the
    /// port's group: new connections go to the other thread meanwhile, and
    /// it takes its share again once it runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_thread_leaves_the_port_to_the_others() {
        let (release, listener, addr) = gated(2, TEST_STALL_LIMIT);
        assert_eq!(listener.stalled_threads(), 0);
        // Block one thread through a connection it serves.
        let (stalled, blocked) = tokio::task::spawn_blocking(move || {
            let (mut s, reply) = keep_alive(addr, "/who");
            let name = reply.rsplit("\r\n").next().unwrap().to_owned();
            write!(
                s,
                "GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            (name, s)
        })
        .await
        .unwrap();
        assert!(stalled.starts_with("tsa-listener-"), "{stalled}");
        assert!(
            eventually(TEST_STALL_LIMIT * 5, || listener.stalled_threads() == 1).await,
            "the stalled thread was not detached"
        );
        // While it is stalled, every new connection is served, promptly, by
        // the other thread (without the watchdog, about half would wait).
        let stalled_name = stalled.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..30 {
                let name = who(addr, Duration::from_millis(700))
                    .unwrap_or_else(|e| panic!("connection {i} during the stall: {e}"));
                assert_ne!(name, stalled_name, "connection {i}");
            }
        })
        .await
        .unwrap();
        // The blocked request is answered once the thread runs again, and
        // the thread takes connections again.
        release.send(true).unwrap();
        let unblocked = tokio::task::spawn_blocking(move || rest_of(blocked))
            .await
            .unwrap();
        assert!(unblocked.ends_with("unblocked"), "{unblocked}");
        assert!(
            eventually(Duration::from_secs(3), || listener.stalled_threads() == 0).await,
            "never rejoined"
        );
        let back = tokio::task::spawn_blocking(move || {
            (0..100).any(|_| who(addr, Duration::from_secs(2)).unwrap() == stalled)
        })
        .await
        .unwrap();
        assert!(back, "the thread back from its stall took no connection");
        let started = std::time::Instant::now();
        listener.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    /// At shutdown a thread stuck in a call (not yet detached) does not
    /// keep the port: new connections are refused at once, not queued on
    /// its socket for nobody.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stuck_thread_does_not_keep_the_port_at_shutdown() {
        // A limit the test never reaches: the watchdog detaches nothing.
        let (release, listener, addr) = gated(2, Duration::from_secs(60));
        let blocked = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(
                s,
                "GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            s
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        (listener.begin_shutdown())();
        assert!(
            eventually(Duration::from_secs(2), || refused(addr)).await,
            "a stuck thread's socket still takes connections"
        );
        release.send(true).unwrap();
        let reply = tokio::task::spawn_blocking(move || rest_of(blocked))
            .await
            .unwrap();
        assert!(reply.ends_with("unblocked"), "{reply}");
        listener.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn threads_share_the_port_and_stop_cleanly() {
        let (release, listener, addr) = gated(3, TEST_STALL_LIMIT);
        assert_ne!(addr.port(), 0);
        assert_eq!(listener.threads(), 3);
        // Served by the listener's threads (connections spread by the kernel).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..60 {
            let reply = tokio::task::spawn_blocking(move || get(addr, "/who"))
                .await
                .unwrap();
            assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
            let name = reply.rsplit("\r\n").next().unwrap().to_owned();
            assert!(name.starts_with("tsa-listener-"), "{name}");
            seen.insert(name);
        }
        assert!(seen.len() >= 2, "one thread served everything: {seen:?}");
        // Bytes that are not HTTP: hyper answers 400 and closes; the
        // thread keeps serving.
        let garbage = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"\x16\x03\x01\x02\x00 not http\r\n\r\n")
                .unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
        .await
        .unwrap();
        assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage:?}");
        let again = tokio::task::spawn_blocking(move || get(addr, "/who"))
            .await
            .unwrap();
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
        // A second listener cannot take a port bound without SO_REUSEPORT.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = TsaListener::start(
            taken.local_addr().unwrap(),
            2,
            TEST_STALL_LIMIT,
            ListenerLimits::default(),
            app(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Listen { .. }), "{err}");
        assert!(TsaListener::start(
            "127.0.0.1:0".parse().unwrap(),
            0,
            TEST_STALL_LIMIT,
            ListenerLimits::default(),
            app()
        )
        .is_err());
        assert!(TsaListener::start(
            "127.0.0.1:0".parse().unwrap(),
            257,
            TEST_STALL_LIMIT,
            ListenerLimits::default(),
            app()
        )
        .is_err());
        // Shut down with an idle keep-alive connection and a request in
        // progress: the request is answered, the idle connection closed,
        // the threads end at once, and the port is free again.
        let (mut idle, reply) = tokio::task::spawn_blocking(move || keep_alive(addr, "/who"))
            .await
            .unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        let slow = tokio::task::spawn_blocking(move || get(addr, "/hold"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        // Once told to stop, new connections are refused at once, while the
        // request in progress is still being answered.
        (listener.begin_shutdown())();
        assert!(
            eventually(Duration::from_secs(2), || refused(addr)).await,
            "still accepting while draining"
        );
        assert!(!slow.is_finished());
        release.send(true).unwrap();
        listener.shutdown().await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "the shutdown took {took:?}");
        let slow = slow.await.unwrap();
        assert!(
            slow.starts_with("HTTP/1.1 200") && slow.ends_with("done"),
            "{slow}"
        );
        let closed = tokio::task::spawn_blocking(move || idle.read(&mut [0u8; 64]).unwrap())
            .await
            .unwrap();
        assert_eq!(closed, 0, "the idle connection was left open");
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "still accepting"
        );
        drop(std::net::TcpListener::bind(addr).unwrap());
    }
}
