//! A small HTTP/1.1 client on hyper's connection API: keep-alive pools of our own (plain TCP
//! or TLS), so that the load generator controls how many connections it opens and how long it
//! keeps them, like a population of real clients would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

/// An answer, body read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Where a pool connects.
#[derive(Clone)]
pub enum Target {
    Plain(SocketAddr),
    Tls(SocketAddr, Arc<rustls::ClientConfig>),
}

impl Target {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Plain(a) | Target::Tls(a, _) => *a,
        }
    }
}

/// The portal's certificate is self-signed, made at each start of `igc serve`: the harness
/// measures load on loopback, not PKIX, so it accepts whatever the server presents (the
/// handshake signature is still checked, so the TLS work on both sides is the real one).
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client configuration for the portal (HTTP/1.1 by ALPN).
pub fn tls_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// Where a client's connections come from (Linux routes all of 127/8 to loopback).
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// 127.0.0.1: the relying parties' traffic.
    Loopback,
    /// A random address of 127.1.0.0/16 for each connection: attackers come from many
    /// addresses, so per-address limits are put to the test rather than defeated or
    /// triggered by the harness itself.
    Spread,
    /// One address: a person at a desk of their own (portal logins).
    From(std::net::Ipv4Addr),
}

/// A TCP connection to `addr` from `source`.
pub async fn tcp(addr: SocketAddr, source: Source) -> std::io::Result<TcpStream> {
    let src = match source {
        Source::Loopback => return TcpStream::connect(addr).await,
        Source::Spread => {
            let [a, b]: [u8; 2] = rand::random();
            std::net::Ipv4Addr::new(127, 1, a, b.max(1))
        }
        Source::From(ip) => ip,
    };
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src.into(), 0))?;
    sock.connect(addr).await
}

/// A TLS stream to `addr`, for the raw users (slowloris).
pub async fn raw_tls(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    spread: bool,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = tcp(
        addr,
        if spread {
            Source::Spread
        } else {
            Source::Loopback
        },
    )
    .await?;
    tcp.set_nodelay(true)?;
    tokio_rustls::TlsConnector::from(cfg)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    uses: u32,
}

/// A keep-alive pool: idle connections are reused; a connection is retired after `max_uses`
/// requests (a new client arrives: the server's accept path stays exercised under attack).
pub struct Pool {
    target: Target,
    host: HeaderValue,
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    max_uses: u32,
    /// Where its connections come from (see [`tcp`]).
    source: Source,
    /// Connections opened so far.
    pub opened: AtomicU64,
}

impl Pool {
    pub fn new(target: Target, max_idle: usize, max_uses: u32) -> Arc<Pool> {
        Self::from_source(target, max_idle, max_uses, Source::Loopback)
    }

    /// A pool whose connections come from `address` (one person's desk).
    pub fn from_address(
        target: Target,
        max_idle: usize,
        max_uses: u32,
        address: std::net::Ipv4Addr,
    ) -> Arc<Pool> {
        Self::from_source(target, max_idle, max_uses, Source::From(address))
    }

    /// A pool whose connections come from many source addresses (attackers).
    pub fn attacker(target: Target, max_idle: usize) -> Arc<Pool> {
        Self::from_source(target, max_idle, u32::MAX, Source::Spread)
    }

    fn from_source(target: Target, max_idle: usize, max_uses: u32, source: Source) -> Arc<Pool> {
        let host = HeaderValue::from_str(&target.addr().to_string()).unwrap();
        Arc::new(Pool {
            target,
            host,
            idle: Mutex::new(Vec::new()),
            max_idle,
            max_uses,
            source,
            opened: AtomicU64::new(0),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let addr = self.target.addr();
        let tcp = tcp(addr, self.source)
            .await
            .map_err(|e| format!("connect: {}", e.kind()))?;
        let _ = tcp.set_nodelay(true);
        self.opened.fetch_add(1, Ordering::Relaxed);
        match &self.target {
            Target::Plain(_) => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(sender)
            }
            Target::Tls(_, cfg) => {
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await
                    .map_err(|e| format!("tls: {}", e.kind()))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(sender)
            }
        }
    }

    /// Sends one request on an idle connection, or a new one. Errors are short labels
    /// (counted by kind in the report).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Resp, String> {
        let reused = loop {
            let next = self.idle.lock().unwrap().pop();
            match next {
                Some(i) if !i.sender.is_closed() => break Some(i),
                Some(_) => continue,
                None => break None,
            }
        };
        let (mut sender, uses) = match reused {
            Some(i) => (i.sender, i.uses),
            None => (self.connect().await?, 0),
        };
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        sender.ready().await.map_err(|_| "closed".to_owned())?;
        let res = sender.send_request(req).await.map_err(|e| {
            if e.is_incomplete_message() {
                "reset".to_owned()
            } else {
                format!("send: {e}")
            }
        })?;
        let (parts, body) = res.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|_| "body".to_owned())?
            .to_bytes();
        let close = parts
            .headers
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if !close && uses + 1 < self.max_uses {
            let mut idle = self.idle.lock().unwrap();
            if idle.len() < self.max_idle {
                idle.push(Idle {
                    sender,
                    uses: uses + 1,
                });
            }
        }
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<Resp, String> {
        self.send(Method::GET, path, headers, Bytes::new()).await
    }

    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Resp, String> {
        let mut all = vec![(CONTENT_TYPE.as_str(), content_type)];
        all.extend_from_slice(headers);
        self.send(Method::POST, path, &all, body.into()).await
    }
}
