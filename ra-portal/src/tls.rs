//! TLS listener of the portal (rustls 0.23 with the ring provider, hyper 1).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Installs ring as the process-wide rustls provider (idempotent).
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The client certificate (DER of the end-entity certificate) a TLS connection presented,
/// already verified by rustls against the configured client roots; [`serve_tls`] inserts it
/// into every request of the connection (absent: no certificate presented).
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Arc<Vec<u8>>);

/// Server configuration from PEM files (certificate chain, private key), without client
/// authentication.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    load_server_config_with_clients(cert, key, &[])
}

/// Server configuration from PEM files; when `client_roots` (DER CA certificates, e.g. CA
/// Personnes, which issues RA operator certificates) is not empty, the server *requests* a
/// client certificate, accepts connections without one, and refuses the handshake when the
/// certificate presented does not chain to one of these roots (or lacks EKU clientAuth, or
/// is expired).
pub fn load_server_config_with_clients(
    cert: &Path,
    key: &Path,
    client_roots: &[Vec<u8>],
) -> Result<Arc<ServerConfig>, TlsError> {
    install_crypto_provider();
    let file_err = |p: &Path, e: String| TlsError::File {
        path: p.display().to_string(),
        reason: e,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| file_err(cert, e.to_string()))?;
    let key_pem = std::fs::read(key).map_err(|e| file_err(key, e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(file_err(cert, "no certificate".into()));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| file_err(key, e.to_string()))?
        .ok_or_else(|| file_err(key, "no private key".into()))?;
    server_config(chain, key, client_roots)
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: &[Vec<u8>],
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder();
    let builder = if client_roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for der in client_roots {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| TlsError::Config(format!("client root: {e}")))?;
        }
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed server certificate for development and tests (`localhost`, 127.0.0.1);
/// returns the configuration and the certificate PEM.
pub fn self_signed(names: &[&str]) -> Result<(Arc<ServerConfig>, String), TlsError> {
    self_signed_with_clients(names, &[])
}

/// [`self_signed`], requesting client certificates chaining to `client_roots` (see
/// [`load_server_config_with_clients`]).
pub fn self_signed_with_clients(
    names: &[&str],
    client_roots: &[Vec<u8>],
) -> Result<(Arc<ServerConfig>, String), TlsError> {
    install_crypto_provider();
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let ck =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Config(e.to_string()))?;
    let pem = ck.cert.pem();
    let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = server_config(vec![ck.cert.der().clone()], key, client_roots)?;
    Ok((config, pem))
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    install_crypto_provider();
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(
                std::time::Duration::from_secs(10),
                acceptor.accept(tcp),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let peer_cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| PeerCertificate(Arc::new(c.as_ref().to_vec())));
            let router = match peer_cert {
                Some(p) => router.layer(axum::Extension(p)),
                None => router,
            };
            // The source address, for the login limits (`axum::extract::ConnectInfo`).
            let router = router.layer(axum::Extension(axum::extract::ConnectInfo(peer)));
            let service = TowerToHyperService::new(router);
            if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "portal connection ended with an error");
            }
        });
    }
}
