//! The TSA's dedicated listener: `POST /tsa` on a port of its own, served
//! by threads that each sign their own requests.
//!
//! `igc serve`'s main listener is one multi-threaded Tokio runtime shared
//! by every service; there a token costs a hand-off to a signing lane and
//! a wake-up back (see [`crate::lanes`]). Here each of N threads runs a
//! current-thread runtime with its own listening socket on the same port
//! (`SO_REUSEPORT`: the kernel spreads the connections over the threads),
//! hyper's HTTP/1 server over the same axum router, and a signer task that
//! signs the requests its thread has read, all together, inline. Measured on
//! two cores with EC P-256: 60–62 % of the raw HSM signing rate against
//! 55–57 % through the main listener (`docs/BENCHMARKS.md`).
//!
//! What stays the same: the router ([`crate::http`]: 415, 405, the size
//! limit, rejections as RFC 3161 replies), [`TimeStampAuthority::respond`]
//! (clock, recorder admission and reservation, queue timeout, metrics).
//! What differs:
//!
//! - signatures in flight through this listener are bounded by its thread
//!   count (each thread is one signing lane), not by
//!   `max_concurrent_signatures`; the shared lanes still serve `/tsa` on the
//!   main listener;
//! - a thread's connections wait while it signs: a signature that hangs
//!   stalls that thread's connections (the queue timeout then refuses what
//!   waited too long), as it stalls one lane's queue elsewhere;
//! - request headers must arrive within [`HEADER_READ_TIMEOUT`].
//!
//! `SO_REUSEPORT` lets another process of the same user bind the same port
//! and receive part of the connections (Linux refuses other users): run
//! the TSA under an account of its own, as every service here.
//!
//! [`TimeStampAuthority::respond`]: crate::TimeStampAuthority::respond

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;

use crate::authority::TimeStampAuthority;
use crate::error::{Error, Result};
use crate::lanes::LocalSigner;

/// Longest time a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Most threads a listener may run.
pub const MAX_THREADS: usize = 256;

/// Pending connections per socket (the kernel caps it at `somaxconn`).
const BACKLOG: i32 = 1024;

/// Threads for a TSA's listener when the configuration sets none: one per
/// core plus one (measured on two cores with EC P-256 and RSA-2048: three
/// threads give the best throughput with p99 under 10 ms; four lengthen the
/// tail), and no more than the TSA's signing lanes, which follow the HSM
/// sessions the TSA may use.
pub fn default_threads(tsa: &TimeStampAuthority) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores + 1).min(tsa.signing_lanes()).clamp(1, MAX_THREADS)
}

/// A running dedicated listener.
#[derive(Debug)]
pub struct TsaListener {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl TsaListener {
    /// Binds `addr` (port 0: a free port, the same for every thread) and
    /// serves `app` — [`crate::http::router`] or a router that includes
    /// it — from `threads` threads. Fails if the address cannot be bound or
    /// a thread cannot be started; nothing is left running then.
    pub fn start(addr: SocketAddr, threads: usize, app: Router) -> Result<TsaListener> {
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
        let (stop, stop_rx) = watch::channel(false);
        let mut listener = TsaListener {
            addr,
            stop,
            threads: Vec::with_capacity(threads),
        };
        for (i, socket) in sockets.into_iter().enumerate() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| Error::Listen { addr, source })?;
            let (app, stop) = (app.clone(), stop_rx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("tsa-listener-{i}"))
                .spawn(move || {
                    let signer = LocalSigner::install();
                    runtime.block_on(async move {
                        tokio::spawn(signer.run());
                        serve(socket, app, stop).await;
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
        Ok(listener)
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Threads serving.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Stops accepting connections, lets the requests in progress finish
    /// (at most [`SHUTDOWN_GRACE`]; idle connections are closed at once),
    /// and waits for the threads to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                if t.join().is_err() {
                    tracing::error!("a TSA listener thread panicked");
                }
            }
        });
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

/// One thread's accept loop, until `stop`; then a graceful drain of its
/// connections, at most `SHUTDOWN_GRACE`.
async fn serve(socket: std::net::TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::from_std(socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "TSA listener thread cannot use its socket");
            return;
        }
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Replies are small and written at once: no Nagle delay.
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(app.clone());
                    let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        // A client that goes away or sends garbage ends its
                        // connection; hyper has answered what it could.
                        let _ = connection.await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors, mostly: wait instead of spinning.
                    tracing::warn!(error = %e, "TSA listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("TSA listener: connections still open after the shutdown grace");
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

    fn app() -> Router {
        Router::new().route(
            "/who",
            axum::routing::get(|| async {
                std::thread::current().name().unwrap_or_default().to_owned()
            }),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn threads_share_the_port_and_stop_cleanly() {
        let listener = TsaListener::start("127.0.0.1:0".parse().unwrap(), 3, app()).unwrap();
        let addr = listener.local_addr();
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
        // A second listener cannot take a port bound without SO_REUSEPORT.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = TsaListener::start(taken.local_addr().unwrap(), 2, app()).unwrap_err();
        assert!(matches!(err, Error::Listen { .. }), "{err}");
        assert!(TsaListener::start("127.0.0.1:0".parse().unwrap(), 0, app()).is_err());
        assert!(TsaListener::start("127.0.0.1:0".parse().unwrap(), 257, app()).is_err());
        // Shut down: the threads end and the port is free again.
        let started = std::time::Instant::now();
        listener.shutdown().await;
        assert!(
            started.elapsed() < SHUTDOWN_GRACE,
            "idle connections held the shutdown"
        );
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "still accepting"
        );
        drop(std::net::TcpListener::bind(addr).unwrap());
    }
}
