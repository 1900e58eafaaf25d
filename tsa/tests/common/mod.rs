//! Test harness of the TSA: a private SoftHSM2 token directory per test
//! binary, a small hierarchy made in the token (root → CA Organisations →
//! TSA unit), SNTP responders on loopback, the router on a free port, an
//! HTTP client, and reply parsing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use hsm_config::cryptoki::types::AuthPin;
use hsm_config::keys::generate_key;
use hsm_config::{HsmSignature, HsmSigner, KeySpec, Module, PoolOptions, Token};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use pkix::name::parse_dn;
use pkix::profiles::{
    build_certificate, certificate_to_pem, subject_key_identifier, InfraCertParams, InfraProfile,
};
use pkix::IssuerInfo;
use spki::SubjectPublicKeyInfoOwned;
use tokio::net::UdpSocket;
use tsa::asn1::{PkiStatus, TimeStampResp, TstInfo};
use tsa::{ClockConfig, FailureInfo, MemoryRecorder, TimeStampAuthority, TokenRecorder, TsaConfig};
use x509_cert::Certificate;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const USER_PIN: &str = "tsa-test-user-pin";
pub const SO_PIN: &str = "tsa-test-so-pin";
/// Example arc (PEN 32473, reserved for documentation), never the ANS arc.
pub const POLICY: &str = "1.3.6.1.4.1.32473.1.7.3.1";
pub const TSA_SUBJECT: &str =
    "C=FR, O=IGC Santé TEST, OU=0002 000000000, CN=IGC Santé TEST TSA unit";

pub fn policy() -> ObjectIdentifier {
    ObjectIdentifier::new(POLICY).unwrap()
}

pub struct SoftHsm {
    pub dir: PathBuf,
    pub token_dir: PathBuf,
    _keep: tempfile::TempDir,
}

/// One SoftHSM configuration per test process (SOFTHSM2_CONF is read at
/// C_Initialize and the module is process-wide).
pub fn softhsm() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        assert!(
            Path::new(MODULE).exists(),
            "SoftHSM2 is not installed ({MODULE} missing): run `make test`, which installs it"
        );
        let keep = tempfile::tempdir().unwrap();
        let token_dir = keep.path().join("tokens");
        std::fs::create_dir_all(&token_dir).unwrap();
        let conf = keep.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                token_dir.display()
            ),
        )
        .unwrap();
        std::env::set_var("SOFTHSM2_CONF", &conf);
        SoftHsm {
            dir: keep.path().to_owned(),
            token_dir,
            _keep: keep,
        }
    })
}

pub fn pool_options() -> PoolOptions {
    PoolOptions {
        max_sessions: 4,
        session_wait: Duration::from_secs(2),
        retry: Duration::from_millis(50),
    }
}

/// Creates (once per label) and opens a token with the test PINs.
pub fn token(label: &str) -> Token {
    softhsm();
    let m = Module::load(Path::new(MODULE)).unwrap();
    match m.init_token(
        label,
        &AuthPin::from(SO_PIN.to_owned()),
        &AuthPin::from(USER_PIN.to_owned()),
    ) {
        Ok(()) | Err(hsm_config::Error::TokenExists(_)) => {}
        Err(e) => panic!("init_token: {e}"),
    }
    Token::open(m, label, AuthPin::from(USER_PIN.to_owned()), pool_options()).unwrap()
}

/// A hierarchy whose keys live in one SoftHSM token, and its PEM files.
pub struct Pki {
    pub token: Token,
    pub tsa_signer: HsmSigner,
    pub tsa_cert: Certificate,
    pub dir: tempfile::TempDir,
    /// TSA unit certificate.
    pub tsa_pem: PathBuf,
    /// CA Organisations certificate.
    pub ca_pem: PathBuf,
    /// Root certificate.
    pub root_pem: PathBuf,
    /// Root + CA Organisations: the `-CAfile` of `openssl ts -verify`.
    pub trust_pem: PathBuf,
}

fn spki(s: &HsmSigner) -> SubjectPublicKeyInfoOwned {
    s.spki().clone()
}

impl Pki {
    /// Root (P-256) → CA Organisations (P-256) → TSA unit (`tsa_key`), all
    /// keys generated in the token `label`.
    pub fn new(label: &str, tsa_key: KeySpec) -> Pki {
        let token = token(label);
        for (spec, l) in [
            (KeySpec::EcP256, "root"),
            (KeySpec::EcP256, "ca-organisations"),
            (tsa_key, "tsa-unit"),
        ] {
            match generate_key(&token, spec, l) {
                Ok(_) | Err(hsm_config::Error::KeyExists(_)) => {}
                Err(e) => panic!("generate_key {l}: {e}"),
            }
        }
        let root_key = HsmSigner::new(&token, "root").unwrap();
        let ca_key = HsmSigner::new(&token, "ca-organisations").unwrap();
        let tsa_signer = HsmSigner::new(&token, "tsa-unit").unwrap();
        let now = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let url = |p: &str| Some(format!("http://pki.igc-sante.example/{p}"));
        let oid = |s: &str| ObjectIdentifier::new(s).unwrap();
        let root = build_certificate::<_, HsmSignature>(
            &InfraCertParams {
                profile: InfraProfile::Root,
                subject: parse_dn("C=FR, O=IGC Santé TEST, CN=IGC Santé TEST Root").unwrap(),
                subject_spki: spki(&root_key),
                issuer: None,
                not_before: now,
                not_after: now + time::Duration::days(3650),
                serial: None,
                policy_oids: vec![],
                crl_url: None,
                ca_issuers_url: None,
                ocsp_url: None,
            },
            &root_key,
        )
        .unwrap();
        let ca = build_certificate::<_, HsmSignature>(
            &InfraCertParams {
                profile: InfraProfile::SubCa,
                subject: parse_dn("C=FR, O=IGC Santé TEST, CN=IGC Santé TEST CA Organisations")
                    .unwrap(),
                subject_spki: spki(&ca_key),
                issuer: Some(IssuerInfo::from_certificate(&root).unwrap()),
                not_before: now,
                not_after: now + time::Duration::days(1825),
                serial: None,
                policy_oids: vec![oid("1.3.6.1.4.1.32473.1.7.1.2")],
                crl_url: url("crl/root.crl"),
                ca_issuers_url: url("ca/root.crt"),
                ocsp_url: None,
            },
            &root_key,
        )
        .unwrap();
        let issuer = IssuerInfo::from_certificate(&ca).unwrap();
        assert_eq!(issuer.ski, subject_key_identifier(&spki(&ca_key)));
        let tsa_cert = build_certificate::<_, HsmSignature>(
            &InfraCertParams {
                profile: InfraProfile::TsaUnit,
                subject: parse_dn(TSA_SUBJECT).unwrap(),
                subject_spki: spki(&tsa_signer),
                issuer: Some(issuer),
                not_before: now,
                not_after: now + time::Duration::days(1095),
                serial: None,
                policy_oids: vec![oid(POLICY)],
                crl_url: url("crl/organisations.crl"),
                ca_issuers_url: url("ca/organisations.crt"),
                ocsp_url: url("ocsp"),
            },
            &ca_key,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, certs: &[&Certificate]| {
            let p = dir.path().join(name);
            let text: String = certs
                .iter()
                .map(|c| certificate_to_pem(c).unwrap())
                .collect();
            std::fs::write(&p, text).unwrap();
            p
        };
        let tsa_pem = write("tsa.pem", &[&tsa_cert]);
        let ca_pem = write("organisations.pem", &[&ca]);
        let root_pem = write("root.pem", &[&root]);
        let trust_pem = write("trust.pem", &[&root, &ca]);
        Pki {
            token,
            tsa_signer,
            tsa_cert,
            dir,
            tsa_pem,
            ca_pem,
            root_pem,
            trust_pem,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

// ------------------------------------------------------------------ SNTP

/// An SNTP server on loopback answering with the system time plus a
/// settable offset (or not at all). Written independently of the crate's
/// client: the packet is laid out by hand from RFC 4330 §4.
pub struct SntpServer {
    pub addr: SocketAddr,
    offset_ms: Arc<AtomicI64>,
    silent: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn ntp_now(offset_ms: i64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let nanos = now.as_nanos() as i128 + i128::from(offset_ms) * 1_000_000;
    let secs = nanos.div_euclid(1_000_000_000) + 2_208_988_800;
    let frac = (nanos.rem_euclid(1_000_000_000) << 32) / 1_000_000_000;
    ((secs as u64) << 32) | frac as u64
}

impl SntpServer {
    pub async fn start(offset_ms: i64) -> SntpServer {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let offset = Arc::new(AtomicI64::new(offset_ms));
        let silent = Arc::new(AtomicBool::new(false));
        let (o, s) = (offset.clone(), silent.clone());
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 256];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                if n < 48 || s.load(Ordering::Relaxed) {
                    continue;
                }
                let off = o.load(Ordering::Relaxed);
                let receive = ntp_now(off);
                let mut r = [0u8; 48];
                r[0] = (4 << 3) | 4; // LI 0, VN 4, mode 4 (server)
                r[1] = 1; // stratum 1
                r[2] = buf[2]; // poll
                r[3] = 0xec; // precision ~ 2^-20 s
                r[12..16].copy_from_slice(b"LOCL");
                r[16..24].copy_from_slice(&receive.to_be_bytes()); // reference
                r[24..32].copy_from_slice(&buf[40..48]); // originate = client's transmit
                r[32..40].copy_from_slice(&receive.to_be_bytes());
                r[40..48].copy_from_slice(&ntp_now(off).to_be_bytes());
                let _ = sock.send_to(&r, peer).await;
            }
        });
        SntpServer {
            addr,
            offset_ms: offset,
            silent,
            task,
        }
    }

    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::Relaxed);
    }

    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Relaxed);
    }
}

impl Drop for SntpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A clock configuration polling `servers` fast (tests).
pub fn fast_clock(servers: &[&SntpServer]) -> ClockConfig {
    let mut c = ClockConfig::new(servers.iter().map(|s| s.addr.to_string()).collect());
    c.poll_interval_ms = 200;
    c.retry_interval_ms = 100;
    c.query_timeout_ms = 150;
    c
}

// ------------------------------------------------------------------ TSA

/// A running TSA: router on 127.0.0.1, its SNTP sources and recorder.
pub struct Running<R = MemoryRecorder> {
    pub tsa: TimeStampAuthority,
    /// `POST /tsa` on the standalone router, served by `axum::serve` (the shared lanes).
    pub url: String,
    /// `POST /tsa` on the TSA's dedicated listener (threads that sign their own requests).
    pub listener_url: String,
    /// Both.
    pub urls: [String; 2],
    pub listener: tsa::TsaListener,
    pub base: String,
    pub recorder: R,
    pub sntp: Vec<SntpServer>,
    server: tokio::task::JoinHandle<()>,
}

impl<R> Drop for Running<R> {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn config(pki: &Pki, instance_id: u16, clock: ClockConfig) -> TsaConfig {
    let mut cfg = TsaConfig::new(policy(), instance_id, "tsa-unit", &pki.tsa_pem, clock);
    cfg.chain = vec![pki.ca_pem.clone(), pki.root_pem.clone()];
    cfg.accuracy_ms = 500;
    cfg
}

/// Starts two in-sync SNTP servers, the TSA (with `adjust` applied to its
/// configuration) and its router; waits until the clock is trusted.
pub async fn start_tsa(
    pki: &Pki,
    instance_id: u16,
    adjust: impl FnOnce(&mut TsaConfig),
) -> Running {
    start_tsa_with(pki, instance_id, MemoryRecorder::new(), adjust).await
}

/// [`start_tsa`] with the given token recorder.
pub async fn start_tsa_with<R: TokenRecorder + Clone>(
    pki: &Pki,
    instance_id: u16,
    recorder: R,
    adjust: impl FnOnce(&mut TsaConfig),
) -> Running<R> {
    let sntp = vec![SntpServer::start(0).await, SntpServer::start(0).await];
    let mut cfg = config(pki, instance_id, fast_clock(&[&sntp[0], &sntp[1]]));
    adjust(&mut cfg);
    let tsa =
        tsa::start::<_, HsmSignature, _>(&cfg, pki.tsa_signer.clone(), recorder.clone()).unwrap();
    let (base, server) = serve(tsa::http::standalone_router(tsa.clone())).await;
    // As `igc serve` starts it: threads configured or chosen for the TSA.
    let listener = tsa::TsaListener::start(
        cfg.listen.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()),
        cfg.listen_threads
            .unwrap_or_else(|| tsa::listener::default_threads(&tsa)),
        tsa::listener::stall_limit(&tsa, pool_options().session_wait),
        cfg.limits,
        tsa::http::listener_router(tsa.clone()),
    )
    .unwrap();
    let listener_url = format!("http://{}/tsa", listener.local_addr());
    assert!(
        tsa.clock().wait_until(true, Duration::from_secs(10)).await,
        "clock never trusted: {:?}",
        tsa.clock().status()
    );
    Running {
        tsa,
        url: format!("{base}/tsa"),
        urls: [format!("{base}/tsa"), listener_url.clone()],
        listener_url,
        listener,
        base,
        recorder,
        sntp,
        server,
    }
}

/// Serves `app` on 127.0.0.1 on a free port.
pub async fn serve(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), task)
}

// ------------------------------------------------------------------ HTTP

pub type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

pub struct HttpReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

pub async fn request(
    client: &Client,
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> HttpReply {
    let mut b = hyper::Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    let req = b.body(Full::new(Bytes::from(body))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
        .await
        .expect("HTTP request timed out")
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    HttpReply {
        status,
        content_type,
        headers,
        body,
    }
}

/// POSTs a query with the right content type; checks the HTTP layer.
pub async fn post_query(client: &Client, url: &str, query: Vec<u8>) -> Vec<u8> {
    let r = request(
        client,
        "POST",
        url,
        Some("application/timestamp-query"),
        query,
    )
    .await;
    assert_eq!(r.status, 200, "HTTP status");
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/timestamp-reply")
    );
    r.body
}

// ------------------------------------------------------------------ replies

pub fn parse_reply(der: &[u8]) -> TimeStampResp {
    TimeStampResp::from_der(der).unwrap_or_else(|e| panic!("reply is not a TimeStampResp: {e}"))
}

/// Status and the single failInfo of a rejection.
pub fn rejection(der: &[u8]) -> (PkiStatus, FailureInfo, String) {
    let r = parse_reply(der);
    assert!(r.time_stamp_token.is_none(), "rejection with a token");
    let bits = r.status.fail_info.expect("rejection without failInfo");
    let f = bits
        .single()
        .unwrap_or_else(|| panic!("not exactly one failInfo bit: {:#x}", bits.raw()));
    let text = r.status.status_string.unwrap_or_default().join(" ");
    (r.status.status, f, text)
}

/// The TSTInfo of a granted reply.
pub fn tst_info(der: &[u8]) -> TstInfo {
    let r = parse_reply(der);
    assert_eq!(r.status.status, PkiStatus::Granted, "{:?}", r.status);
    let token = r.time_stamp_token.expect("granted without a token");
    let sd = cms::signed_data::SignedData::from_der(&token.content.to_der().unwrap()).unwrap();
    let econtent = sd.encap_content_info.econtent.expect("no eContent");
    TstInfo::from_der(econtent.value()).unwrap()
}

/// A DER TimeStampReq built by hand (for the cases `openssl ts -query`
/// cannot produce).
pub fn make_query(
    alg: &str,
    with_null: bool,
    imprint: &[u8],
    policy: Option<&str>,
    nonce: Option<&[u8]>,
    cert_req: bool,
    extensions: bool,
) -> Vec<u8> {
    use der::asn1::{Any, Int, OctetString};
    use spki::AlgorithmIdentifier;
    use x509_cert::ext::Extension;
    let req = x509_tsp::TimeStampReq {
        version: x509_tsp::TspVersion::V1,
        message_imprint: x509_tsp::MessageImprint {
            hash_algorithm: AlgorithmIdentifier::<Any> {
                oid: ObjectIdentifier::new(alg).unwrap(),
                parameters: with_null.then(|| Any::from(der::asn1::Null)),
            },
            hashed_message: OctetString::new(imprint.to_vec()).unwrap(),
        },
        req_policy: policy.map(|p| ObjectIdentifier::new(p).unwrap()),
        nonce: nonce.map(|n| Int::new(n).unwrap()),
        cert_req,
        extensions: extensions.then(|| {
            vec![Extension {
                extn_id: ObjectIdentifier::new("1.3.6.1.4.1.32473.99").unwrap(),
                critical: false,
                extn_value: OctetString::new(vec![5, 0]).unwrap(),
            }]
        }),
    };
    req.to_der().unwrap()
}

// ------------------------------------------------------------------ tools

pub async fn openssl(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new("openssl")
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run openssl: {e} (make test installs it)"))
}

pub fn ok(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
