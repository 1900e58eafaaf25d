//! OCSP benchmark: our responder (pre-signed responses, key in SoftHSM) against OpenSSL's
//! `openssl ocsp -port N -multi 2` (EC P-256 software key, same CA, same request), loaded by
//! the same generator.
//!
//! ```text
//! cargo run --release -p ca --example ocsp_bench [-- --duration 15 --threads 1 --connections 32 --skip-1m]
//! ```
//!
//! Runs, in one process and one go:
//! 1. maximum throughput with `wrk` (script `ocsp_bench.lua`, which avoids wrk's start-up
//!    connection probe that makes OpenSSL 3.0's responder spin): OpenSSL (a fresh responder
//!    for each run), then ours; requests/s, p50, p99, ratio;
//! 2. a fixed rate of 1,000 requests/s from a built-in open-loop generator over keep-alive
//!    connections (latency counted from each request's *scheduled* send time, as wrk2 does, so
//!    a stall is not hidden by the generator waiting for it): p50/p99 for the fixed request
//!    (pre-signed) and for distinct serials spread over the database (every request a cache
//!    miss: database read + HSM signature);
//! 3. the same with 10,000 and with 1,000,000 certificates in the database (SQLite), then with
//!    every one of the 1,000,000 responses pre-signed in memory (memory cost measured).
//!
//! Prints a markdown table. Needs `openssl`, `wrk` (apt-get install -y wrk) and SoftHSM2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/ocsp_support/pki.rs"]
mod pki;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ca::domain::Serial;
use ca::ocsp::{ocsp_router, OcspConfig, OcspResponder};
use ca::storage::Store;
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use p256::pkcs8::EncodePrivateKey;
use pkix::name::DnBuilder;
use pkix::profiles::{build_certificate, certificate_to_pem, InfraCertParams, InfraProfile};
use pkix::IssuerInfo;
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierOwned, EncodePublicKey, SubjectPublicKeyInfoOwned};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;
use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest};

const LUA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ocsp_bench.lua");

struct Args {
    duration: u64,
    threads: u32,
    connections: u32,
    rate: u32,
    skip_1m: bool,
}

fn args() -> Args {
    let mut a = Args {
        duration: 15,
        threads: 1,
        connections: 32,
        rate: 1000,
        skip_1m: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .expect("flag value")
                .parse::<u64>()
                .expect("number")
        };
        match flag.as_str() {
            "--duration" => a.duration = value(),
            "--threads" => a.threads = value() as u32,
            "--connections" => a.connections = value() as u32,
            "--rate" => a.rate = value() as u32,
            "--skip-1m" => a.skip_1m = true,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

// ------------------------------------------------------------------------------- requests

fn cert_id(ca: &Certificate, serial: &[u8]) -> CertId {
    let name = ca.tbs_certificate.subject.to_der().unwrap();
    let key = ca
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(&name).to_vec()).unwrap(),
        issuer_key_hash: OctetString::new(Sha1::digest(key).to_vec()).unwrap(),
        serial_number: SerialNumber::new(serial).unwrap(),
    }
}

/// DER OCSP request, SHA-1 CertID, no nonce (what OpenSSL sends with -no_nonce).
fn ocsp_request(ca: &Certificate, serial: &[u8]) -> Vec<u8> {
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![Request::new(cert_id(ca, serial))],
            ..Default::default()
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

fn http_post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Reads one response; returns (HTTP status, body, connection kept open).
async fn read_response(
    s: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, Vec<u8>, bool)> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let keep = !head.contains("connection: close") && !head.starts_with("http/1.0");
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return Ok((status, body, keep));
            }
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether a DER OCSPResponse is `successful` with a `good` status (a quick structural check:
/// responseStatus 0, then CertStatus good = [0] IMPLICIT NULL after the CertID).
fn successful(der: &[u8]) -> bool {
    x509_ocsp::OcspResponse::from_der(der)
        .map(|r| r.response_status == x509_ocsp::OcspResponseStatus::Successful)
        .unwrap_or(false)
}

async fn post_once(addr: SocketAddr, path: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(&http_post(path, body)).await?;
    let mut buf = Vec::new();
    let (_, body, _) = read_response(&mut s, &mut buf).await?;
    Ok(body)
}

// ------------------------------------------------------------------------------- fixed rate

/// Latency distribution of a run, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

/// One keep-alive connection of the fixed-rate generator: sends each job as soon as it
/// arrives; returns the latencies (µs from the scheduled time) and the error count.
async fn connection(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(Instant, usize)>,
) -> (Vec<u64>, u64) {
    let mut lat = Vec::new();
    let mut errors = 0u64;
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok();
    let mut buf = Vec::new();
    while let Some((scheduled, idx)) = rx.recv().await {
        let req = &requests[idx % requests.len()];
        let mut done = false;
        for _attempt in 0..3 {
            if stream.is_none() {
                stream = tokio::net::TcpStream::connect(addr).await.ok();
                buf.clear();
            }
            let Some(s) = stream.as_mut() else { continue };
            let _ = s.set_nodelay(true);
            if s.write_all(req).await.is_err() {
                stream = None;
                continue;
            }
            match read_response(s, &mut buf).await {
                Ok((status, body, keep)) => {
                    if status != 200 || !successful(&body) {
                        errors += 1;
                    }
                    if !keep {
                        stream = None;
                    }
                    done = true;
                    break;
                }
                Err(_) => stream = None,
            }
        }
        if !done {
            errors += 1;
        }
        lat.push(scheduled.elapsed().as_micros() as u64);
    }
    (lat, errors)
}

/// Open-loop generator: `rate` requests/s for `duration`, spread over `conns` keep-alive
/// connections; latency from each request's scheduled time to its complete response.
fn fixed_rate(
    addr: SocketAddr,
    path: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: u32,
    duration: Duration,
    conns: usize,
) -> Run {
    let total = (u64::from(rate) * duration.as_secs()) as usize;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(bodies.iter().map(|b| http_post(path, b)).collect());
    let (start, all, errors) = rt.block_on(async move {
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for _ in 0..conns {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, usize)>();
            senders.push(tx);
            workers.push(tokio::spawn(connection(addr, requests.clone(), rx)));
        }
        // The dispatcher sleeps on a blocking thread (sub-millisecond precision) while this
        // thread drives the connections.
        let dispatcher = tokio::task::spawn_blocking(move || {
            let start = Instant::now() + Duration::from_millis(50);
            for i in 0..total {
                let at = start + period * i as u32;
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                let _ = senders[i % senders.len()].send((at, i));
            }
            start
        });
        let start = dispatcher.await.unwrap();
        let mut all = Vec::with_capacity(total);
        let mut errors = 0;
        for w in workers {
            let (lat, e) = w.await.unwrap();
            all.extend(lat);
            errors += e;
        }
        (start, all, errors)
    });
    let mut all = all;
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * (all.len() - 1) as f64).round() as usize;
        all[i] as f64
    };
    Run {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50_us: pct(50.0),
        p99_us: pct(99.0),
        errors,
    }
}

// ------------------------------------------------------------------------------- wrk

fn wrk(url: &str, request_file: &Path, a: &Args) -> Run {
    let out = Command::new("wrk")
        .args([
            "-t",
            &a.threads.to_string(),
            "-c",
            &a.connections.to_string(),
            "-d",
            &format!("{}s", a.duration),
            "--timeout",
            "10s",
            "-s",
            LUA,
            url,
        ])
        .env("OCSP_REQUEST", request_file)
        .output()
        .expect("wrk is installed (apt-get install -y wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("OCSPBENCH "))
        .unwrap_or_else(|| {
            panic!(
                "no summary from wrk:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let errors = [
        "connect_errors",
        "read_errors",
        "write_errors",
        "timeouts",
        "non2xx",
    ]
    .iter()
    .map(|f| field(f) as u64)
    .sum();
    Run {
        rps: field("requests") / (field("duration_us") / 1e6),
        p50_us: field("p50_us"),
        p99_us: field("p99_us"),
        errors,
    }
}

// ------------------------------------------------------------------------------- OpenSSL

struct OpensslResponder {
    child: Child,
    addr: SocketAddr,
}

impl OpensslResponder {
    /// A fresh `openssl ocsp -multi 2` responder, ready (checked with a real request: a bare
    /// connection would make it spin).
    fn start(dir: &Path, request: &[u8], rt: &tokio::runtime::Runtime) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("openssl-ocsp.log")).unwrap();
        let mut cmd = Command::new("openssl");
        cmd.current_dir(dir)
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "ca.pem",
                "-rsigner",
                "ossl-ocsp.pem",
                "-rkey",
                "ossl-ocsp.key",
                "-port",
            ])
            .arg(port.to_string())
            .args(["-multi", "2", "-nmin", "60"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("openssl");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match rt.block_on(post_once(addr, "/", request)) {
                Ok(body) if successful(&body) => break,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                other => panic!("OpenSSL responder not ready: {other:?}"),
            }
        }
        OpensslResponder { child, addr }
    }
}

impl Drop for OpensslResponder {
    fn drop(&mut self) {
        // The responder and the workers it forked (-multi) share its process group. SIGKILL:
        // OpenSSL 3.0's -multi parent and workers do not exit on SIGTERM.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------------------- database

/// Adds `n` synthetic certificates of `issuer` (status good) with bulk inserts; returns their
/// serials.
async fn fill(url: &str, issuer: &str, n: usize) -> Vec<Serial> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut serials = Vec::with_capacity(n);
    let now = "2026-01-01T00:00:00.000000Z";
    let mut done = 0;
    while done < n {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..20 {
            let batch = 500.min(n - done);
            if batch == 0 {
                break;
            }
            let mut sql = String::from(
                "INSERT INTO certificates (serial, issuer, profile, subject, not_before, \
                 not_after, der, status, crl_partition, issued_at) VALUES ",
            );
            for i in 0..batch {
                let s = Serial::random();
                if i > 0 {
                    sql.push(',');
                }
                // Only generated hex and constants: nothing to inject.
                sql.push_str(&format!(
                    "('{s}', '{issuer}', 'ra-operator', 'CN=bench {s}', '{now}', \
                     '2036-01-01T00:00:00.000000Z', 'MAA=', 'good', 0, '{now}')"
                ));
                serials.push(s);
            }
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
            done += batch;
        }
        tx.commit().await.unwrap();
    }
    pool.close().await;
    serials
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

// ------------------------------------------------------------------------------- main

struct Row {
    scenario: String,
    server: &'static str,
    run: Run,
    /// 1-minute load average when the run ended (other processes share the machine).
    load: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

fn main() {
    let a = args();
    let dur = Duration::from_secs(a.duration);
    // Before any thread exists: SoftHSM reads SOFTHSM2_CONF from the environment.
    let hsm = pki::SoftHsm::new();
    // The server's runtime: 2 workers, like `igc serve` on this 2-core machine.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    eprintln!("setting up the hierarchy in SoftHSM…");
    let pki = pki::Pki::new(&hsm, "ocsp-bench");
    let ca = &pki.personnes;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_owned();
    let db_url = format!("sqlite://{}?mode=rwc", dir.join("ca.db").display());
    let store = server_rt.block_on(Store::connect(&db_url)).unwrap();
    let (leaf, leaf_serial, _) = server_rt.block_on(pki.issue(ca, Some(&store), "bench-clerk"));
    let mut serials = server_rt.block_on(fill(&db_url, ca.name.as_str(), 10_000 - 1));

    // OpenSSL's side: same CA, its own delegated responder with a software P-256 key.
    let ossl_key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let ossl_spki = SubjectPublicKeyInfoOwned::from_der(
        ossl_key
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let ossl_cert = build_certificate(
        &InfraCertParams {
            profile: InfraProfile::OcspSigner,
            subject: DnBuilder::new()
                .country("FR")
                .organization("IGC Santé TEST")
                .common_name("CA Personnes OCSP (OpenSSL)")
                .build()
                .unwrap(),
            subject_spki: ossl_spki,
            issuer: Some(IssuerInfo::from_certificate(&ca.cert).unwrap()),
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(30),
            serial: None,
            policy_oids: vec![pki::POLICY.parse().unwrap()],
            crl_url: None,
            ca_issuers_url: Some(format!("{}/ca/personnes.crt", pki::BASE)),
            ocsp_url: None,
        },
        &ca.signer,
    )
    .unwrap();
    std::fs::write(
        dir.join("ossl-ocsp.pem"),
        certificate_to_pem(&ossl_cert).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("ossl-ocsp.key"),
        ossl_key
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    std::fs::write(dir.join("ca.pem"), certificate_to_pem(&ca.cert).unwrap()).unwrap();
    let expiry = leaf.tbs_certificate.validity.not_after.to_date_time();
    std::fs::write(
        dir.join("index.txt"),
        format!(
            "V\t{:02}{:02}{:02}{:02}{:02}{:02}Z\t\t{}\tunknown\t/C=FR/O=Ordre des medecins/CN=bench-clerk\n",
            expiry.year() % 100,
            expiry.month(),
            expiry.day(),
            expiry.hour(),
            expiry.minutes(),
            expiry.seconds(),
            leaf_serial.as_str().to_ascii_uppercase()
        ),
    )
    .unwrap();
    let request = ocsp_request(&ca.cert, leaf.tbs_certificate.serial_number.as_bytes());
    let request_file = dir.join("request.der");
    std::fs::write(&request_file, &request).unwrap();

    // Our responder.
    let responder = server_rt
        .block_on(OcspResponder::new(
            store.clone(),
            // Room for every response of the 1M database (the default keeps 500k).
            OcspConfig {
                cache_capacity: 2_000_000,
                ..OcspConfig::default()
            },
            vec![ca.ocsp_ca()],
        ))
        .unwrap();
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let ours = listener.local_addr().unwrap();
    let router = ocsp_router(responder.clone());
    server_rt.spawn(async move { axum::serve(listener, router).await.unwrap() });

    // Both answer `good` for the same request, and OpenSSL verifies both.
    for (name, body) in [
        (
            "ours",
            client_rt
                .block_on(post_once(ours, "/ocsp", &request))
                .unwrap(),
        ),
        ("openssl", {
            let o = OpensslResponder::start(&dir, &request, &client_rt);
            client_rt
                .block_on(post_once(o.addr, "/", &request))
                .unwrap()
        }),
    ] {
        let path = dir.join(format!("resp-{name}.der"));
        std::fs::write(&path, &body).unwrap();
        let leaf_pem = dir.join("leaf.pem");
        std::fs::write(&leaf_pem, certificate_to_pem(&leaf).unwrap()).unwrap();
        let out = Command::new("openssl")
            .args(["ocsp", "-respin"])
            .arg(&path)
            .args(["-issuer"])
            .arg(&ca.pem_path)
            .args(["-cert"])
            .arg(&leaf_pem)
            .args(["-CAfile"])
            .arg(&pki.chain_pem)
            .arg("-no_nonce")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("Response verify OK") && text.contains(": good"),
            "{name}: {text}"
        );
        eprintln!("{name}: {} octets, verified by OpenSSL, good", body.len());
    }

    let mut rows = Vec::new();
    let wrk_desc = format!(
        "max throughput (wrk -t{} -c{} -d{}s), fixed request",
        a.threads, a.connections, a.duration
    );

    // 1. Maximum throughput, 10k certificates.
    eprintln!("wrk against OpenSSL…");
    let ossl = {
        let o = OpensslResponder::start(&dir, &request, &client_rt);
        wrk(&format!("http://{}/", o.addr), &request_file, &a)
    };
    eprintln!("  {ossl:?}");
    eprintln!("wrk against ours…");
    let igc = wrk(&format!("http://{ours}/ocsp"), &request_file, &a);
    eprintln!("  {igc:?}");
    rows.push(Row {
        scenario: format!("{wrk_desc}, 10k certs"),
        server: "openssl ocsp -multi 2",
        run: ossl,
        load: loadavg(),
    });
    rows.push(Row {
        scenario: format!("{wrk_desc}, 10k certs"),
        server: "igc (pre-signed, SoftHSM)",
        run: igc,
        load: loadavg(),
    });
    let ratio = igc.rps / ossl.rps;

    // 2. Fixed rate, 10k certificates.
    let fixed_desc = format!(
        "{} req/s fixed rate, 16 keep-alive conns, {}s",
        a.rate, a.duration
    );
    let one = Arc::new(vec![request.clone()]);
    eprintln!("fixed rate against OpenSSL…");
    let ossl_fixed = {
        let o = OpensslResponder::start(&dir, &request, &client_rt);
        fixed_rate(o.addr, "/", one.clone(), a.rate, dur, 16)
    };
    eprintln!("  {ossl_fixed:?}");
    rows.push(Row {
        scenario: format!("{fixed_desc}, fixed request, 10k certs"),
        server: "openssl ocsp -multi 2",
        run: ossl_fixed,
        load: loadavg(),
    });
    let mut miss_runs = Vec::new();
    let mut sizes = vec![10_000usize];
    if !a.skip_1m {
        sizes.push(1_000_000);
    }
    for &size in &sizes {
        if size > serials.len() + 1 {
            eprintln!("filling the database to {size} certificates…");
            let t = Instant::now();
            let more =
                server_rt.block_on(fill(&db_url, ca.name.as_str(), size - serials.len() - 1));
            serials.extend(more);
            eprintln!("  {:?}", t.elapsed());
            // Maximum throughput again with the larger database.
            let run = wrk(&format!("http://{ours}/ocsp"), &request_file, &a);
            rows.push(Row {
                scenario: format!("{wrk_desc}, {} certs", label(size)),
                server: "igc (pre-signed, SoftHSM)",
                run,
                load: loadavg(),
            });
        }
        eprintln!("fixed rate against ours, {} certificates…", label(size));
        let run = fixed_rate(ours, "/ocsp", one.clone(), a.rate, dur, 16);
        eprintln!("  {run:?}");
        rows.push(Row {
            scenario: format!("{fixed_desc}, fixed request, {} certs", label(size)),
            server: "igc (pre-signed, SoftHSM)",
            run,
            load: loadavg(),
        });
        // Distinct serials never asked before: each request is a miss (DB read + signature).
        let n = (a.rate as u64 * a.duration) as usize;
        let step = (serials.len() / n).max(1);
        let bodies: Vec<Vec<u8>> = serials
            .iter()
            .step_by(step)
            .take(n)
            .map(|s| ocsp_request(&ca.cert, &positive(&s.to_be_bytes())))
            .collect();
        eprintln!("fixed rate, cache misses, {} certificates…", label(size));
        let before = responder.cache_stats().responses;
        let run = fixed_rate(ours, "/ocsp", Arc::new(bodies), a.rate, dur, 16);
        eprintln!(
            "  {run:?} (signed {})",
            responder.cache_stats().responses - before
        );
        rows.push(Row {
            scenario: format!(
                "{fixed_desc}, every request a cache miss (DB read + HSM signature), {} certs",
                label(size)
            ),
            server: "igc (SoftHSM)",
            run,
            load: loadavg(),
        });
        miss_runs.push(run);
    }

    // 3. Every response of the 1M pre-signed: memory and p99 with a full cache.
    let mut memory = None;
    if !a.skip_1m {
        eprintln!("pre-signing every certificate…");
        let rss_before = rss_mib();
        let t = Instant::now();
        let signed = server_rt.block_on(responder.presign()).unwrap();
        let took = t.elapsed();
        let stats = responder.cache_stats();
        let rss_after = rss_mib();
        eprintln!(
            "  {signed} signed in {took:?}; {stats:?}; RSS {rss_before:.0} → {rss_after:.0} MiB"
        );
        memory = Some((signed, took, stats, rss_before, rss_after));
        let run = fixed_rate(ours, "/ocsp", one.clone(), a.rate, dur, 16);
        rows.push(Row {
            scenario: format!("{fixed_desc}, fixed request, 1M certs, all 1M responses cached"),
            server: "igc (pre-signed, SoftHSM)",
            run,
            load: loadavg(),
        });
        let run = wrk(&format!("http://{ours}/ocsp"), &request_file, &a);
        rows.push(Row {
            scenario: format!("{wrk_desc}, 1M certs, all 1M responses cached"),
            server: "igc (pre-signed, SoftHSM)",
            run,
            load: loadavg(),
        });
    }

    // Report.
    println!("\n## OCSP responder benchmark\n");
    println!(
        "Machine: {} cores; one run; our responder on a 2-worker Tokio runtime in this process, \
         OpenSSL `openssl ocsp -multi 2` (fresh process per run) with a software P-256 key; \
         same CA, same DER request (SHA-1 CertID, no nonce). Load: wrk with \
         `ca/examples/ocsp_bench.lua` (no start-up probe) for maximum throughput; the built-in \
         open-loop generator (latency from the scheduled send time) for fixed rates.\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!("| scenario | server | requests/s | p50 (ms) | p99 (ms) | errors | load |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} |",
            r.scenario,
            r.server,
            r.run.rps,
            ms(r.run.p50_us),
            ms(r.run.p99_us),
            r.run.errors,
            r.load
        );
    }
    println!("\n(load: 1-minute load average at the end of the run; the machine is shared.)");
    println!("\nThroughput ratio igc / OpenSSL (wrk, 10k certs): **{ratio:.1}×** (target ≥ 4×).");
    if let Some((signed, took, stats, before, after)) = memory {
        println!(
            "\nPre-signing all {signed} responses took {:.1} s ({:.0}/s); cache: {} serials, {} \
             responses, {:.0} MiB of signed cores; process RSS {before:.0} → {after:.0} MiB \
             (+{:.0} MiB, {:.0} bytes per cached response).",
            took.as_secs_f64(),
            signed as f64 / took.as_secs_f64(),
            stats.serials,
            stats.responses,
            stats.core_bytes as f64 / 1048576.0,
            after - before,
            (after - before) * 1048576.0 / signed.max(1) as f64
        );
    }
}

fn label(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    }
}

/// DER INTEGER content of a positive magnitude.
fn positive(magnitude: &[u8]) -> Vec<u8> {
    let mut v = magnitude.to_vec();
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    v
}
