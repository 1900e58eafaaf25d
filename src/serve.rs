//! `igc serve`: the public HTTP endpoints.
//!
//! At this stage: liveness (`/healthz`), readiness with the HSM state
//! (`/readyz`), CA certificates (`/ca/{name}.crt` DER, `.pem`) and the
//! root's ARL (`/crl/root.crl`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use der::{Decode, Encode};
use hsm_config::{HsmSigner, Token};
use x509_cert::Certificate;

use crate::config::IgcConfig;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// DER certificates by CA name (`root`, `personnes`, …).
    certificates: HashMap<String, Vec<u8>>,
    /// DER CRLs by name (`root`).
    crls: HashMap<String, Vec<u8>>,
    /// The online token, to report readiness.
    token: Token,
    /// Signers whose keys must be reachable for the service to be ready.
    signers: Vec<HsmSigner>,
}

fn read_pem_der(path: &Path, tag: &str) -> Result<Vec<u8>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let p = pem::parse(&text).with_context(|| format!("{} is not PEM", path.display()))?;
    if p.tag() != tag {
        bail!("{}: expected {tag}, found {}", path.display(), p.tag());
    }
    Ok(p.into_contents())
}

/// Loads the PKI material and opens the token; fails fast on mismatch.
pub fn load_state(cfg: &IgcConfig) -> Result<AppState> {
    let mut certificates = HashMap::new();
    certificates.insert(
        "root".to_owned(),
        read_pem_der(&cfg.pki.root_certificate, "CERTIFICATE")?,
    );
    let mut crls = HashMap::new();
    crls.insert(
        "root".to_owned(),
        read_pem_der(&cfg.pki.root_crl, "X509 CRL")?,
    );
    let token = Token::from_config(&cfg.hsm).context("opening the online token")?;
    let mut signers = Vec::new();
    for ca in &cfg.cas {
        let der = read_pem_der(&ca.certificate, "CERTIFICATE")?;
        let cert = Certificate::from_der(&der)?;
        for (label, cert) in [
            (&ca.key_label, cert),
            (
                &ca.ocsp_key_label,
                Certificate::from_der(&read_pem_der(&ca.ocsp_certificate, "CERTIFICATE")?)?,
            ),
        ] {
            let signer = HsmSigner::new(&token, label)
                .with_context(|| format!("key {label:?} of CA {}", ca.name))?;
            if signer.spki_der() != cert.tbs_certificate.subject_public_key_info.to_der()? {
                bail!(
                    "key {label:?} in the token does not match its certificate (CA {})",
                    ca.name
                );
            }
            signers.push(signer);
        }
        certificates.insert(ca.name.clone(), der);
    }
    Ok(AppState {
        certificates,
        crls,
        token,
        signers,
    })
}

/// The router: one function, so tests and `serve` share it.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/ca/{file}", get(ca_certificate))
        .route("/crl/{file}", get(crl))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let probe = tokio::task::spawn_blocking(move || {
        state
            .signers
            .first()
            .map(|s| s.sign(b"readiness probe"))
            .transpose()
            .map(|_| ())
            .and_then(|()| state.token.with_session(|_| Ok(())))
    })
    .await;
    match probe {
        Ok(Ok(())) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ready","hsm":"ok"}"#.to_owned(),
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"status": "not ready", "hsm": e.to_string()}).to_string(),
        )
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{what} not found\n"),
    )
        .into_response()
}

async fn ca_certificate(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
) -> Response {
    let (name, ext) = file.rsplit_once('.').unwrap_or((&file, ""));
    let Some(der) = state.certificates.get(name) else {
        return not_found("certificate");
    };
    match ext {
        "crt" | "der" | "cer" => der_response("application/pkix-cert", der.clone()),
        "pem" => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            )],
            pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())),
        )
            .into_response(),
        _ => not_found("certificate"),
    }
}

async fn crl(State(state): State<Arc<AppState>>, UrlPath(file): UrlPath<String>) -> Response {
    match file.strip_suffix(".crl").and_then(|n| state.crls.get(n)) {
        Some(der) => der_response("application/pkix-crl", der.clone()),
        None => not_found("CRL"),
    }
}

fn der_response(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Listen on this address instead of `server.listen` (port 0 picks a
    /// free port; the chosen address is printed).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

pub fn run(config: &Path, args: ServeArgs) -> Result<()> {
    let mut cfg = IgcConfig::load(config)?;
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    cfg.export_softhsm_conf();
    let state = Arc::new(load_state(&cfg)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.server.listen)
            .await
            .with_context(|| format!("binding {}", cfg.server.listen))?;
        let addr = listener.local_addr()?;
        // One line scripts and tests can wait for.
        println!("igc listening on http://{addr}");
        for name in ["root"]
            .into_iter()
            .chain(cfg.cas.iter().map(|c| c.name.as_str()))
        {
            println!("  CA certificate: http://{addr}/ca/{name}.crt (.pem)");
        }
        println!("  health: http://{addr}/healthz  readiness: http://{addr}/readyz");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}
