//! Support of the OCSP tests: the SoftHSM hierarchy (`pki`), databases on both backends, a
//! responder served on a free port, a raw HTTP/1.1 client, and the OpenSSL / pkilint peers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/pg.rs"]
pub mod pg;
pub mod pki;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use ca::ocsp::{ocsp_router, OcspConfig, OcspResponder};
use ca::storage::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use pg::PgCluster;
use pki::{Pki, SoftHsm};

/// The process-wide SoftHSM configuration (read once, at C_Initialize).
pub fn softhsm() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(SoftHsm::new)
}

/// The process-wide token and hierarchy.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| Pki::new(softhsm(), "ocsp-test"))
}

/// A store under test, with what keeps its database alive.
pub struct Db {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgCluster>,
}

impl Db {
    /// Another pool on the same database: another `igc serve` instance.
    pub async fn second_store(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }
}

pub async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ca.db").display());
    let store = Store::connect(&url).await.unwrap();
    Db {
        store,
        url,
        _dir: Some(dir),
        _pg: None,
    }
}

/// `None` only when IGC_SKIP_PG=1; a missing or broken PostgreSQL fails the test.
pub async fn postgres() -> Option<Db> {
    let pg = match tokio::task::spawn_blocking(PgCluster::start).await.unwrap() {
        Ok(Some(pg)) => pg,
        Ok(None) => {
            eprintln!("IGC_SKIP_PG=1: PostgreSQL test skipped");
            return None;
        }
        Err(e) => panic!("PostgreSQL test cluster: {e}"),
    };
    let url = pg.create_database("igc_ocsp").unwrap();
    let store = Store::connect(&url).await.unwrap();
    Some(Db {
        store,
        url,
        _dir: None,
        _pg: Some(pg),
    })
}

/// A responder for both CAs of the hierarchy.
pub async fn responder(store: &Store, config: OcspConfig) -> OcspResponder {
    let p = pki();
    OcspResponder::new(
        store.clone(),
        config,
        vec![p.personnes.ocsp_ca(), p.organisations.ocsp_ca()],
    )
    .await
    .unwrap()
}

/// Serves the OCSP router on 127.0.0.1, a free port; returns the base URL (`http://…`).
pub async fn serve(responder: OcspResponder) -> (String, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, ocsp_router(responder)).await.unwrap();
    });
    (format!("http://{addr}"), addr)
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Sends raw bytes (a complete request) and reads one response, with a bound on the wait.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    read_response(&mut s).await
}

/// Reads one HTTP/1.1 response (headers, then Content-Length octets, or up to EOF).
pub async fn read_response(s: &mut TcpStream) -> HttpResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = parse_http(&buf[..end + 4]);
            let want = head
                .header("content-length")
                .map(|l| l.parse::<usize>().unwrap());
            let no_body = head.status == 304 || head.status == 204;
            if no_body || want.is_some_and(|n| buf.len() >= end + 4 + n) {
                return parse_http(&buf);
            }
        }
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .expect("HTTP response within 20 s")
            .unwrap();
        if n == 0 {
            return parse_http(&buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub fn parse_http(buf: &[u8]) -> HttpResponse {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(buf)));
    let head = std::str::from_utf8(&buf[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if let Some(len) = headers.get("content-length") {
        body.truncate(len.parse().unwrap());
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

pub async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> HttpResponse {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw_http(addr, &req).await
}

pub async fn get(addr: SocketAddr, path: &str, extra_headers: &[(&str, &str)]) -> HttpResponse {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    raw_http(addr, req.as_bytes()).await
}

/// Runs `openssl` with `args`; returns its output (stdout and stderr together).
pub async fn openssl(args: &[&str]) -> (Output, String) {
    let out = tokio::process::Command::new("openssl")
        .args(args)
        .output()
        .await
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// What `openssl ocsp` reported for one certificate file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpensslStatus {
    pub status: String,
    pub reason: Option<String>,
    pub verified: bool,
    pub text: String,
}

/// Parses the `openssl ocsp` report for `cert` (`FILE: good|revoked|unknown`, `Reason: …`).
pub fn parse_openssl_status(text: &str, cert: &Path) -> OpensslStatus {
    let prefix = format!("{}: ", cert.display());
    let mut lines = text.lines().skip_while(|l| !l.starts_with(&prefix));
    let status = lines
        .next()
        .map(|l| l[prefix.len()..].trim().to_owned())
        .unwrap_or_else(|| panic!("no status for {} in:\n{text}", cert.display()));
    let reason = lines
        .take_while(|l| l.starts_with('\t') || l.starts_with(' '))
        .find_map(|l| l.trim().strip_prefix("Reason: ").map(str::to_owned));
    OpensslStatus {
        status,
        reason,
        verified: text.contains("Response verify OK"),
        text: text.to_owned(),
    }
}

/// `openssl ocsp -issuer CA -cert CERT -url URL -CAfile CHAIN [extra]`.
pub async fn openssl_query(url: &str, issuer: &Path, cert: &Path, extra: &[&str]) -> OpensslStatus {
    let p = pki();
    // Options first: OpenSSL wants the CertID digest before -cert.
    let mut args = vec!["ocsp"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "-issuer",
        issuer.to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-url",
        url,
        "-CAfile",
        p.chain_pem.to_str().unwrap(),
        "-timeout",
        "20",
    ]);
    let (_, text) = openssl(&args).await;
    parse_openssl_status(&text, cert)
}

/// Writes a DER OCSP request for `cert` with `openssl ocsp -reqout` (no network).
pub async fn openssl_request(issuer: &Path, cert: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["ocsp"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "-issuer",
        issuer.to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-reqout",
        out.to_str().unwrap(),
    ]);
    let (o, text) = openssl(&args).await;
    assert!(o.status.success(), "openssl -reqout failed: {text}");
    std::fs::read(out).unwrap()
}

/// Checks a DER response with `openssl ocsp -respin` against `cert` (signature, chain, the
/// CertID of the request) and returns the reported status.
pub async fn openssl_check_response(
    response: &[u8],
    issuer: &Path,
    cert: &Path,
    dir: &Path,
    extra: &[&str],
) -> OpensslStatus {
    let path = unique(dir, "resp", "der");
    std::fs::write(&path, response).unwrap();
    let p = pki();
    let mut args = vec!["ocsp"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "-respin",
        path.to_str().unwrap(),
        "-issuer",
        issuer.to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-CAfile",
        p.chain_pem.to_str().unwrap(),
        "-no_nonce",
    ]);
    let (_, text) = openssl(&args).await;
    parse_openssl_status(&text, cert)
}

/// A fresh file name in `dir`.
pub fn unique(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    dir.join(format!(
        "{stem}-{}.{ext}",
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// pkilint's `lint_ocsp_response` on a DER response: the findings of severity ERROR or
/// FATAL (the JSON report parsed).
pub async fn pkilint_errors(response: &[u8], dir: &Path) -> Vec<String> {
    let path = unique(dir, "lint", "der");
    std::fs::write(&path, response).unwrap();
    let mut exe = PathBuf::from("lint_ocsp_response");
    // The project's virtualenv (make test installs pkilint there), from the root package's
    // tests or from hsm-config's examples.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for candidate in [
        manifest.join(".venv/bin/lint_ocsp_response"),
        manifest.join("../.venv/bin/lint_ocsp_response"),
    ] {
        if candidate.exists() {
            exe = candidate;
            break;
        }
    }
    let out = tokio::process::Command::new(&exe)
        .args(["lint", "-f", "JSON", path.to_str().unwrap()])
        .output()
        .await
        .unwrap_or_else(|e| panic!("pkilint ({}) must be installed: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "pkilint output is not JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut errors = Vec::new();
    collect_findings(&report, &mut errors);
    errors
}

fn collect_findings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(sev) = map.get("severity").and_then(|s| s.as_str()) {
                if sev.eq_ignore_ascii_case("ERROR") || sev.eq_ignore_ascii_case("FATAL") {
                    out.push(v.to_string());
                }
            }
            for child in map.values() {
                collect_findings(child, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_findings(i, out)),
        _ => {}
    }
}

/// Polls `f` until it returns `Some`, at most `within`; returns the value and the time taken.
pub async fn wait_for<T, F, Fut>(within: Duration, mut f: F) -> Option<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some((v, start.elapsed()));
        }
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Percent-encoding of base64 for a GET path (`+`, `/`, `=` escaped).
pub fn get_path(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!(
        "/ocsp/{}",
        b64.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    )
}
