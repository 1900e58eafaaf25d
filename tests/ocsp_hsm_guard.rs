//! The OCSP responder as the public sees it: whatever a client sends, it cannot make the HSM
//! sign more than the configured budget of fresh responses per second (issue 20, finding 4),
//! and nonces are accepted up to the 128 octets of RFC 9654 (finding 5).
//!
//! HSM signatures are counted from outside: an ECDSA signature is randomised, so every fresh
//! signature the responder makes shows as a distinct `signature` value in the responses,
//! while an answer served from the pre-signed cache repeats bytes already seen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../ca/tests/ocsp_support/mod.rs"]
mod ocsp_support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use ca::ocsp::{OcspConfig, OcspResponseStatus};
use const_oid::db::rfc5912::ID_SHA_1;
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use ocsp_support::*;
use sha1::{Digest, Sha1};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, Request, TbsRequest,
};

/// The documented default of `ocsp.fresh_signatures_per_sec`.
const DEFAULT_FRESH_PER_SEC: f64 = 100.0;

fn cert_id(ca: &Certificate, serial: &[u8]) -> CertId {
    let name = ca.tbs_certificate.subject.to_der().unwrap();
    let key = ca
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ID_SHA_1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(&name).to_vec()).unwrap(),
        issuer_key_hash: OctetString::new(Sha1::digest(key).to_vec()).unwrap(),
        serial_number: SerialNumber::new(serial).unwrap(),
    }
}

fn request(ids: Vec<CertId>, nonce: Option<&[u8]>) -> Vec<u8> {
    let ext = nonce.map(|n| {
        vec![Extension {
            extn_id: const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n).unwrap().to_der().unwrap()).unwrap(),
        }]
    });
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: ids.into_iter().map(Request::new).collect(),
            request_extensions: ext,
            ..Default::default()
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

/// A serial no CA issued: 16 random octets, positive.
fn random_serial() -> Vec<u8> {
    let mut s: [u8; 16] = rand::random();
    s[0] = (s[0] & 0x7f) | 0x01;
    s.to_vec()
}

fn status_of(der: &[u8]) -> OcspResponseStatus {
    OcspResponse::from_der(der).unwrap().response_status
}

fn basic(der: &[u8]) -> BasicOcspResponse {
    let r = OcspResponse::from_der(der).unwrap();
    assert_eq!(r.response_status, OcspResponseStatus::Successful);
    BasicOcspResponse::from_der(r.response_bytes.unwrap().response.as_bytes()).unwrap()
}

fn nonce_of(b: &BasicOcspResponse) -> Option<Vec<u8>> {
    b.nonce().map(|n| n.0.as_bytes().to_vec())
}

async fn ask(addr: SocketAddr, der: &[u8]) -> Vec<u8> {
    let r = post(addr, "/ocsp", der).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
    r.body
}

/// `openssl ocsp -respin` on a response for `serial` (hex) of `issuer`: what it reports.
async fn openssl_verdict(response: &[u8], issuer: &Path, serial_hex: &str, dir: &Path) -> String {
    let path = unique(dir, "guard", "der");
    std::fs::write(&path, response).unwrap();
    let serial = format!("0x{serial_hex}");
    let (_, text) = openssl(&[
        "ocsp",
        "-respin",
        path.to_str().unwrap(),
        "-issuer",
        issuer.to_str().unwrap(),
        "-serial",
        &serial,
        "-CAfile",
        pki().chain_pem.to_str().unwrap(),
        "-no_nonce",
    ])
    .await;
    text
}

async fn setup(config: OcspConfig) -> (Db, ca::ocsp::OcspResponder, SocketAddr, Certificate) {
    let db = sqlite().await;
    let (cert, _, _) = pki()
        .issue(&pki().personnes, Some(&db.store), "clerk-guard")
        .await;
    let r = responder(&db.store, config).await;
    let (_, addr) = serve(r.clone()).await;
    (db, r, addr, cert)
}

/// The attack: a burst of requests carrying fresh nonces, for a real certificate and for
/// random serials, with and without nonce. Each used to cost a fresh HSM signature. Now the
/// responder signs at most its budget per second; beyond it the real certificate still gets
/// its correct status (pre-signed, without the nonce), unknown serials a cached signed
/// answer or an unsigned `tryLater`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_fresh_nonces_and_random_serials_is_capped() {
    let p = pki();
    let ca = &p.personnes;
    let (_db, _r, addr, cert) = setup(OcspConfig::default()).await;
    let known = cert.tbs_certificate.serial_number.as_bytes().to_vec();

    const N: usize = 600;
    const WORKERS: usize = 8;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let ca_cert = ca.cert.clone();
        let known = known.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for i in (w..N).step_by(WORKERS) {
                let nonce: [u8; 32] = rand::random();
                let (kind, serial, with_nonce) = match i % 3 {
                    0 => ("known", known.clone(), true),
                    1 => ("random+nonce", random_serial(), true),
                    _ => ("random", random_serial(), false),
                };
                let der = request(
                    vec![cert_id(&ca_cert, &serial)],
                    with_nonce.then_some(&nonce[..]),
                );
                let body = ask(addr, &der).await;
                out.push((kind, nonce, with_nonce, serial, body));
            }
            out
        });
    }
    let mut answers = Vec::new();
    while let Some(part) = tasks.join_next().await {
        answers.extend(part.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();

    let mut signatures = HashSet::new();
    let (mut dropped, mut try_later) = (0, 0);
    let mut samples = (None, None);
    for (kind, nonce, with_nonce, serial, body) in &answers {
        let status = status_of(body);
        if status == OcspResponseStatus::TryLater {
            assert_ne!(
                *kind, "known",
                "a real certificate must always get its status"
            );
            try_later += 1;
            samples.1.get_or_insert((body.clone(), serial.clone()));
            continue;
        }
        assert_eq!(status, OcspResponseStatus::Successful, "{kind}");
        let b = basic(body);
        signatures.insert(b.signature.raw_bytes().to_vec());
        let cert_status = &b.tbs_response_data.responses[0].cert_status;
        match *kind {
            "known" => {
                assert!(
                    matches!(cert_status, CertStatus::Good(_)),
                    "{cert_status:?}"
                );
                match nonce_of(&b) {
                    Some(n) => assert_eq!(&n[..], &nonce[..]),
                    None => {
                        dropped += 1;
                        samples.0.get_or_insert(body.clone());
                    }
                }
            }
            _ => {
                assert!(
                    matches!(cert_status, CertStatus::Unknown(_)),
                    "{cert_status:?}"
                );
                if let Some(n) = nonce_of(&b) {
                    assert!(*with_nonce && n[..] == nonce[..]);
                }
            }
        }
    }
    // The budget for the time the burst took, plus the pre-signed answer of the real
    // certificate.
    let allowed = (DEFAULT_FRESH_PER_SEC * (1.0 + elapsed)).ceil() as usize + 1;
    eprintln!(
        "{N} requests in {elapsed:.2} s: {} HSM signatures (allowed {allowed}), {dropped} nonces \
         dropped, {try_later} tryLater",
        signatures.len()
    );
    assert!(
        signatures.len() <= allowed,
        "{N} requests in {elapsed:.2} s cost {} HSM signatures: more than the {allowed} the \
         budget of {DEFAULT_FRESH_PER_SEC}/s allows",
        signatures.len()
    );
    assert!(dropped > 0 && try_later > 0, "{dropped} {try_later}");

    // An independent verifier accepts the degraded answers: the real certificate's pre-signed
    // response (good, signature verified), the unsigned tryLater.
    let (good, (later, later_serial)) = (samples.0.unwrap(), samples.1.unwrap());
    let text = openssl_verdict(&good, &ca.pem_path, &hex::encode(&known), &p.dir).await;
    assert!(
        text.contains("Response verify OK") && text.contains(": good"),
        "{text}"
    );
    let text = openssl_verdict(&later, &ca.pem_path, &hex::encode(&later_serial), &p.dir).await;
    assert!(text.to_lowercase().contains("trylater"), "{text}");
}

/// RFC 9654 (which obsoletes RFC 8954 and its 32-octet cap): nonces of 1 to 128 octets are
/// echoed; an empty one, or one longer than 128 octets, is a malformed request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_of_up_to_128_octets_are_echoed() {
    let p = pki();
    let ca = &p.personnes;
    let (_db, _r, addr, cert) = setup(OcspConfig::default()).await;
    let serial = cert.tbs_certificate.serial_number.as_bytes().to_vec();
    for len in [128usize, 1, 16, 32, 33, 64] {
        let nonce: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        let der = request(vec![cert_id(&ca.cert, &serial)], Some(&nonce));
        let body = ask(addr, &der).await;
        assert_eq!(
            status_of(&body),
            OcspResponseStatus::Successful,
            "a {len}-octet nonce is refused"
        );
        let b = basic(&body);
        assert_eq!(nonce_of(&b).as_deref(), Some(&nonce[..]), "{len} octets");
        if len == 128 {
            let text = openssl_verdict(&body, &ca.pem_path, &hex::encode(&serial), &p.dir).await;
            assert!(
                text.contains("Response verify OK") && text.contains(": good"),
                "{text}"
            );
        }
    }
    for len in [0usize, 129, 1000] {
        let der = request(vec![cert_id(&ca.cert, &serial)], Some(&vec![7u8; len]));
        assert_eq!(
            status_of(&ask(addr, &der).await),
            OcspResponseStatus::MalformedRequest,
            "{len} octets"
        );
    }
}

/// The process's Prometheus recorder (installed once; tests of this binary share it).
fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap()
    })
}

/// `igc_http_refused_total{listener="main",reason=…}` now.
fn refused(reason: &str) -> u64 {
    let needle = format!("reason=\"{reason}\"");
    metrics()
        .render()
        .lines()
        .filter(|l| l.starts_with(ca::limits::REFUSED_METRIC) && l.contains(&needle))
        .filter(|l| l.contains("listener=\"main\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Per limit: a burst of exactly the budget gets its nonces; beyond it, the real
/// certificate's pre-signed response (good, verified by OpenSSL) without the nonce, and a
/// request with several CertIDs `tryLater`; each degraded answer counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_budget_nonces_are_echoed_beyond_it_dropped() {
    let p = pki();
    let ca = &p.personnes;
    metrics();
    let config = OcspConfig {
        fresh_signatures_per_sec: 2,
        ..OcspConfig::default()
    };
    let (_db, _r, addr, cert) = setup(config).await;
    let serial = cert.tbs_certificate.serial_number.as_bytes().to_vec();
    let dropped_before = refused("ocsp_nonce_dropped");
    let multi_before = refused("ocsp_multi_try_later");

    let started = Instant::now();
    // At the budget: both nonces echoed.
    for _ in 0..2 {
        let nonce: [u8; 32] = rand::random();
        let body = ask(
            addr,
            &request(vec![cert_id(&ca.cert, &serial)], Some(&nonce)),
        )
        .await;
        assert_eq!(nonce_of(&basic(&body)).as_deref(), Some(&nonce[..]));
    }
    // Beyond it.
    let mut echoed = 0;
    let mut dropped = HashSet::new();
    for _ in 0..8 {
        let nonce: [u8; 32] = rand::random();
        let body = ask(
            addr,
            &request(vec![cert_id(&ca.cert, &serial)], Some(&nonce)),
        )
        .await;
        let b = basic(&body);
        assert!(matches!(
            b.tbs_response_data.responses[0].cert_status,
            CertStatus::Good(_)
        ));
        match nonce_of(&b) {
            Some(n) => {
                assert_eq!(&n[..], &nonce[..]);
                echoed += 1;
            }
            None => {
                dropped.insert(body);
            }
        }
    }
    let multi = request(
        vec![
            cert_id(&ca.cert, &serial),
            cert_id(&ca.cert, &random_serial()),
        ],
        None,
    );
    let multi_status = status_of(&ask(addr, &multi).await);
    let elapsed = started.elapsed().as_secs_f64();
    let refilled = (2.0 * elapsed).floor() as usize;
    assert!(
        echoed <= refilled,
        "{echoed} nonces echoed beyond the budget in {elapsed:.2} s"
    );
    if refilled == 0 {
        assert_eq!(multi_status, OcspResponseStatus::TryLater);
        assert!(refused("ocsp_multi_try_later") > multi_before);
    }
    assert_eq!(
        dropped.len(),
        1,
        "one pre-signed response, served every time"
    );
    assert!(refused("ocsp_nonce_dropped") >= dropped_before + (8 - echoed) as u64);
    let body = dropped.into_iter().next().unwrap();
    let text = openssl_verdict(&body, &ca.pem_path, &hex::encode(&serial), &p.dir).await;
    assert!(
        text.contains("Response verify OK") && text.contains(": good"),
        "{text}"
    );
}

/// Unknown serials: a signed answer is cached per serial (short validity) and served again
/// without signing; beyond the budget a new serial gets `tryLater`; a status change of the
/// serial (its issuance) drops the cached answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_serials_beyond_the_budget_get_a_cached_answer_or_try_later() {
    let p = pki();
    let ca = &p.personnes;
    metrics();
    let config = OcspConfig {
        fresh_signatures_per_sec: 1,
        unknown_validity_secs: 60,
        ..OcspConfig::default()
    };
    let (_db, r, addr, _cert) = setup(config).await;
    let later_before = refused("ocsp_unknown_try_later");

    let started = Instant::now();
    let x = random_serial();
    let first = ask(addr, &request(vec![cert_id(&ca.cert, &x)], None)).await;
    let b = basic(&first);
    let single = &b.tbs_response_data.responses[0];
    assert!(matches!(single.cert_status, CertStatus::Unknown(_)));
    let validity = single.next_update.unwrap().0.to_unix_duration().as_secs()
        - single.this_update.0.to_unix_duration().as_secs();
    assert_eq!(validity, 60, "a short validity for unknown answers");
    // Asked again: the same signed answer, from the cache.
    let again = ask(addr, &request(vec![cert_id(&ca.cert, &x)], None)).await;
    assert_eq!(again, first);
    // New serials beyond the budget.
    let mut try_later = 0;
    for _ in 0..5 {
        let body = ask(
            addr,
            &request(vec![cert_id(&ca.cert, &random_serial())], None),
        )
        .await;
        match status_of(&body) {
            OcspResponseStatus::TryLater => try_later += 1,
            OcspResponseStatus::Successful => {}
            s => panic!("{s:?}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        5 - try_later <= elapsed.floor() as usize,
        "{} unknown serials signed beyond the budget in {elapsed:.2} s",
        5 - try_later
    );
    assert!(refused("ocsp_unknown_try_later") >= later_before + try_later as u64);
    let text = openssl_verdict(&first, &ca.pem_path, &hex::encode(&x), &p.dir).await;
    assert!(
        text.contains("Response verify OK") && text.contains(": unknown"),
        "{text}"
    );
    // Bounded, per serial, and dropped when the serial's status changes.
    assert!(r.unknown_cache_stats().serials >= 1);
    assert_eq!(
        r.cache_stats().serials,
        0,
        "random serials stay out of the main cache"
    );
    let before = r.unknown_cache_stats().serials;
    r.notify_status_change(&ca::domain::Serial::from_be_bytes(&x).unwrap());
    assert_eq!(r.unknown_cache_stats().serials, before - 1);
}
