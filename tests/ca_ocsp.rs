//! OCSP responder end to end: a SoftHSM hierarchy (root → CA Personnes / CA Organisations →
//! delegated OCSP responders), the axum router on a free port, OpenSSL's `openssl ocsp` as
//! the client and verifier, pkilint as the linter. Storage-touching scenarios run on SQLite
//! and on PostgreSQL (a private cluster; missing PostgreSQL fails unless IGC_SKIP_PG=1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../ca/tests/ocsp_support/mod.rs"]
mod ocsp_support;

use std::net::SocketAddr;
use std::time::Duration;

use ca::domain::{Actor, RevocationReason, Serial};
use ca::ocsp::{OcspConfig, OcspResponseStatus};
use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_384};
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use ocsp_support::pki::TestCa;
use ocsp_support::*;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, Request, SingleResponse,
    TbsRequest,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn actor() -> Actor {
    Actor::new("clerk-revoker", "tls-client-cert").unwrap()
}

/// A CertID for `serial` of `ca`, built here (not by OpenSSL) to control its form.
fn cert_id(ca: &Certificate, serial: &[u8], sha256: bool, null_params: bool) -> CertId {
    let name = ca.tbs_certificate.subject.to_der().unwrap();
    let key = ca
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let (oid, n, k) = if sha256 {
        (
            ID_SHA_256,
            Sha256::digest(&name).to_vec(),
            Sha256::digest(key).to_vec(),
        )
    } else {
        (
            ID_SHA_1,
            Sha1::digest(&name).to_vec(),
            Sha1::digest(key).to_vec(),
        )
    };
    CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid,
            parameters: null_params.then(|| Null.into()),
        },
        issuer_name_hash: OctetString::new(n).unwrap(),
        issuer_key_hash: OctetString::new(k).unwrap(),
        serial_number: SerialNumber::new(serial).unwrap(),
    }
}

fn nonce_extension(inner: &[u8]) -> Extension {
    Extension {
        extn_id: const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: OctetString::new(OctetString::new(inner).unwrap().to_der().unwrap()).unwrap(),
    }
}

fn request_der(ids: Vec<CertId>, extensions: Option<Vec<Extension>>) -> Vec<u8> {
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: ids.into_iter().map(Request::new).collect(),
            request_extensions: extensions,
            ..Default::default()
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

fn response_status(der: &[u8]) -> OcspResponseStatus {
    OcspResponse::from_der(der)
        .unwrap_or_else(|e| panic!("not an OCSPResponse ({e}): {der:02x?}"))
        .response_status
}

fn basic(der: &[u8]) -> BasicOcspResponse {
    let r = OcspResponse::from_der(der).unwrap();
    assert_eq!(r.response_status, OcspResponseStatus::Successful);
    BasicOcspResponse::from_der(r.response_bytes.unwrap().response.as_bytes()).unwrap()
}

fn single(der: &[u8]) -> SingleResponse {
    let b = basic(der);
    assert_eq!(b.tbs_response_data.responses.len(), 1);
    b.tbs_response_data.responses.into_iter().next().unwrap()
}

fn serial_bytes(cert: &Certificate) -> Vec<u8> {
    cert.tbs_certificate.serial_number.as_bytes().to_vec()
}

/// Responds with an OCSP error status, as an OCSP body.
fn assert_ocsp_error(r: &HttpResponse, expected: OcspResponseStatus) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
    assert_eq!(response_status(&r.body), expected);
}

/// GET of a request; returns the response (asserting HTTP 200 and the media type).
async fn get_ocsp(addr: SocketAddr, der: &[u8]) -> HttpResponse {
    let r = get(addr, &get_path(der), &[]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
    r
}

async fn status_via_get(addr: SocketAddr, ca: &TestCa, cert: &Certificate) -> CertStatus {
    let der = request_der(
        vec![cert_id(&ca.cert, &serial_bytes(cert), false, true)],
        None,
    );
    single(&get_ocsp(addr, &der).await.body).cert_status
}

async fn wait_status(
    addr: SocketAddr,
    ca: &TestCa,
    cert: &Certificate,
    within: Duration,
    want: impl Fn(&CertStatus) -> bool,
) -> Option<Duration> {
    wait_for(within, || async {
        let s = status_via_get(addr, ca, cert).await;
        want(&s).then_some(())
    })
    .await
    .map(|((), took)| took)
}

fn is_good(s: &CertStatus) -> bool {
    matches!(s, CertStatus::Good(_))
}

fn is_revoked(reason: CrlReason) -> impl Fn(&CertStatus) -> bool {
    move |s| matches!(s, CertStatus::Revoked(info) if info.revocation_reason == Some(reason))
}

fn unix(t: &x509_ocsp::OcspGeneralizedTime) -> u64 {
    t.0.to_unix_duration().as_secs()
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::ocsp_support::sqlite().await;
                    super::scenarios::$name(&db).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::ocsp_support::postgres().await else { return };
                    super::scenarios::$name(&db).await;
                }
            )*
        }
    };
}

on_both_backends!(
    statuses_through_openssl,
    try_later_without_database,
    instances_share_status_changes,
    change_feed,
);

// ---------------------------------------------------------------------------------------------
// Scenarios on both backends
// ---------------------------------------------------------------------------------------------

mod scenarios {
    use super::*;

    /// good / revoked (reason, time) / unknown / certificateHold → good, over POST (OpenSSL,
    /// with and without nonce, SHA-1 and SHA-256 CertIDs) and GET (OpenSSL's request, checked
    /// by OpenSSL), with the HTTP caching headers, and pkilint on every kind of response.
    pub async fn statuses_through_openssl(db: &Db) {
        let p = pki();
        let r = responder(&db.store, OcspConfig::default()).await;
        let (base, addr) = serve(r.clone()).await;
        let url = format!("{base}/ocsp");
        let ca = &p.personnes;
        let (_, serial, leaf) = p.issue(ca, Some(&db.store), "clerk-good").await;
        // The issuance is in the journal: read it now, as the poller would within
        // poll_interval_ms, so that the poller does not drop the answers cached below while
        // this test compares them (on a loaded machine it ran between the two GETs).
        r.poll_changes().await.unwrap();

        // POST, OpenSSL's default nonce: signed fresh, nonce checked by OpenSSL.
        let s = openssl_query(&url, &ca.pem_path, &leaf, &[]).await;
        assert_eq!(s.status, "good", "{}", s.text);
        assert!(s.verified, "{}", s.text);
        assert!(!s.text.contains("WARNING"), "{}", s.text);
        // POST without nonce (pre-signed path), SHA-1 then SHA-256 CertIDs.
        for extra in [&["-no_nonce"][..], &["-no_nonce", "-sha256"][..]] {
            let s = openssl_query(&url, &ca.pem_path, &leaf, extra).await;
            assert_eq!(s.status, "good", "{extra:?}: {}", s.text);
            assert!(s.verified, "{}", s.text);
        }

        // GET with OpenSSL's request.
        let req = openssl_request(
            &ca.pem_path,
            &leaf,
            &unique(&p.dir, "req", "der"),
            &["-no_nonce"],
        )
        .await;
        let g = get_ocsp(addr, &req).await;
        let cc = g.header("cache-control").unwrap();
        assert!(cc.starts_with("max-age="), "{cc}");
        assert!(
            cc.ends_with(", public, no-transform, must-revalidate"),
            "{cc}"
        );
        let max_age: u64 = cc["max-age=".len()..]
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age > 3000 && max_age <= 3600, "{cc}");
        let sr = single(&g.body);
        let last_modified = httpdate::parse_http_date(g.header("last-modified").unwrap()).unwrap();
        let expires = httpdate::parse_http_date(g.header("expires").unwrap()).unwrap();
        assert_eq!(
            last_modified
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            unix(&sr.this_update)
        );
        assert_eq!(
            expires
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            unix(sr.next_update.as_ref().unwrap())
        );
        let etag = g.header("etag").unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        let s = openssl_check_response(&g.body, &ca.pem_path, &leaf, &p.dir, &[]).await;
        assert_eq!(s.status, "good", "{}", s.text);
        assert!(s.verified, "{}", s.text);
        assert_eq!(pkilint_errors(&g.body, &p.dir).await, Vec::<String>::new());
        // (The lint does report errors: an error status with a response body is one.)
        let mut broken = g.body.clone();
        let status_at = broken
            .windows(3)
            .position(|w| w == [0x0a, 0x01, 0x00])
            .unwrap();
        broken[status_at + 2] = 0x01;
        assert!(!pkilint_errors(&broken, &p.dir).await.is_empty());
        // Same request again: the same pre-signed response; conditional GET → 304.
        let again = get_ocsp(addr, &req).await;
        assert_eq!(again.body, g.body);
        let nm = get(addr, &get_path(&req), &[("If-None-Match", &etag)]).await;
        assert_eq!(nm.status, 304);
        assert!(nm.body.is_empty());
        // The responder certificate is in the response.
        let b = basic(&g.body);
        assert_eq!(b.certs.as_ref().unwrap()[0], ca.responder_cert);

        // unknown: issued by the CA key but not in the database.
        let (_, _, stranger) = p.issue(ca, None, "clerk-unknown").await;
        let s = openssl_query(&url, &ca.pem_path, &stranger, &[]).await;
        assert_eq!(s.status, "unknown", "{}", s.text);
        assert!(s.verified, "{}", s.text);
        let req_u = openssl_request(
            &ca.pem_path,
            &stranger,
            &unique(&p.dir, "req", "der"),
            &["-no_nonce"],
        )
        .await;
        let u = get_ocsp(addr, &req_u).await;
        assert!(matches!(
            single(&u.body).cert_status,
            CertStatus::Unknown(_)
        ));
        assert_eq!(pkilint_errors(&u.body, &p.dir).await, Vec::<String>::new());
        // A serial issued by the *other* CA, asked of this one: unknown too.
        let (other, _, _) = p
            .issue(&p.organisations, Some(&db.store), "clerk-orga")
            .await;
        let der = request_der(
            vec![cert_id(&ca.cert, &serial_bytes(&other), false, true)],
            None,
        );
        assert!(matches!(
            single(&get_ocsp(addr, &der).await.body).cert_status,
            CertStatus::Unknown(_)
        ));

        // Revoked, keyCompromise: served at once on this instance (the GET response above was
        // cached as good).
        let revoked_at = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        db.store
            .revoke(
                &serial,
                RevocationReason::KeyCompromise,
                revoked_at,
                &actor(),
            )
            .await
            .unwrap();
        r.notify_status_change(&serial);
        let g = get_ocsp(addr, &req).await;
        match single(&g.body).cert_status {
            CertStatus::Revoked(info) => {
                assert_eq!(info.revocation_reason, Some(CrlReason::KeyCompromise));
                assert_eq!(
                    unix(&info.revocation_time),
                    revoked_at.unix_timestamp() as u64
                );
            }
            other => panic!("expected revoked, got {other:?}"),
        }
        assert_ne!(g.header("etag").unwrap(), etag);
        let s = openssl_check_response(&g.body, &ca.pem_path, &leaf, &p.dir, &[]).await;
        assert_eq!(s.status, "revoked", "{}", s.text);
        assert_eq!(s.reason.as_deref(), Some("keyCompromise"), "{}", s.text);
        assert!(s.verified, "{}", s.text);
        assert_eq!(pkilint_errors(&g.body, &p.dir).await, Vec::<String>::new());
        for extra in [&[][..], &["-no_nonce", "-sha256"][..]] {
            let s = openssl_query(&url, &ca.pem_path, &leaf, extra).await;
            assert_eq!(s.status, "revoked", "{}", s.text);
            assert_eq!(s.reason.as_deref(), Some("keyCompromise"), "{}", s.text);
            assert!(s.verified, "{}", s.text);
        }

        // certificateHold → revoked (certificateHold) → reinstated → good, each visible at once.
        let (held, held_serial, held_pem) = p.issue(ca, Some(&db.store), "clerk-held").await;
        assert!(is_good(&status_via_get(addr, ca, &held).await));
        db.store
            .revoke(
                &held_serial,
                RevocationReason::CertificateHold,
                OffsetDateTime::now_utc(),
                &actor(),
            )
            .await
            .unwrap();
        r.notify_status_change(&held_serial);
        assert!(is_revoked(CrlReason::CertificateHold)(
            &status_via_get(addr, ca, &held).await
        ));
        let s = openssl_query(&url, &ca.pem_path, &held_pem, &[]).await;
        assert_eq!(s.status, "revoked", "{}", s.text);
        assert_eq!(s.reason.as_deref(), Some("certificateHold"), "{}", s.text);
        assert!(s.verified, "{}", s.text);
        db.store.reinstate(&held_serial, &actor()).await.unwrap();
        r.notify_status_change(&held_serial);
        assert!(is_good(&status_via_get(addr, ca, &held).await));
        let s = openssl_query(&url, &ca.pem_path, &held_pem, &["-no_nonce"]).await;
        assert_eq!(s.status, "good", "{}", s.text);
        assert!(s.verified, "{}", s.text);
    }

    /// Database unreachable: pre-signed responses are still served; anything that needs the
    /// database is answered `tryLater` (an OCSP body, HTTP 200).
    pub async fn try_later_without_database(db: &Db) {
        let p = pki();
        let r = responder(&db.store, OcspConfig::default()).await;
        let (_, addr) = serve(r.clone()).await;
        let ca = &p.personnes;
        let (warm, _, _) = p.issue(ca, Some(&db.store), "clerk-warm").await;
        let (cold, _, _) = p.issue(ca, Some(&db.store), "clerk-cold").await;
        assert!(is_good(&status_via_get(addr, ca, &warm).await));

        db.store.close().await;

        assert!(
            is_good(&status_via_get(addr, ca, &warm).await),
            "served from the cache"
        );
        let der = request_der(
            vec![cert_id(&ca.cert, &serial_bytes(&cold), false, true)],
            None,
        );
        let g = get(addr, &get_path(&der), &[]).await;
        assert_ocsp_error(&g, OcspResponseStatus::TryLater);
        assert_eq!(g.header("cache-control"), Some("no-store"));
        let nonce = request_der(
            vec![cert_id(&ca.cert, &serial_bytes(&warm), false, true)],
            Some(vec![nonce_extension(&[7; 16])]),
        );
        assert_ocsp_error(
            &post(addr, "/ocsp", &nonce).await,
            OcspResponseStatus::TryLater,
        );
    }

    /// Two responders on one database (two pools: two instances): a revocation made through A
    /// is served by B within B's poll interval; so are hold and reinstatement.
    pub async fn instances_share_status_changes(db: &Db) {
        let p = pki();
        let config = OcspConfig {
            poll_interval_ms: 500,
            ..OcspConfig::default()
        };
        let interval = Duration::from_millis(config.poll_interval_ms);
        let a = responder(&db.store, config.clone()).await;
        let store_b = db.second_store().await;
        let b = responder(&store_b, config).await;
        let (_, addr_a) = serve(a.clone()).await;
        let (_, addr_b) = serve(b.clone()).await;
        let ca = &p.personnes;
        let (cert, serial, _) = p.issue(ca, Some(&db.store), "clerk-shared").await;
        let (held, held_serial, _) = p.issue(ca, Some(&db.store), "clerk-shared-held").await;
        for addr in [addr_a, addr_b] {
            assert!(is_good(&status_via_get(addr, ca, &cert).await));
            assert!(is_good(&status_via_get(addr, ca, &held).await));
        }
        // Bound on B: one poll interval, plus a read and a signature.
        let bound = interval + Duration::from_millis(1500);

        db.store
            .revoke(
                &serial,
                RevocationReason::AffiliationChanged,
                OffsetDateTime::now_utc(),
                &actor(),
            )
            .await
            .unwrap();
        a.notify_status_change(&serial);
        let on_a = wait_status(
            addr_a,
            ca,
            &cert,
            Duration::from_secs(1),
            is_revoked(CrlReason::AffiliationChanged),
        )
        .await;
        assert!(on_a.is_some(), "A must serve the revocation within 1 s");
        let on_b = wait_status(
            addr_b,
            ca,
            &cert,
            Duration::from_secs(10),
            is_revoked(CrlReason::AffiliationChanged),
        )
        .await;
        let took = on_b.expect("B never served the revocation");
        assert!(
            took <= bound,
            "B took {took:?} (poll interval {interval:?})"
        );
        eprintln!("revocation through A served by B after {took:?}");

        db.store
            .revoke(
                &held_serial,
                RevocationReason::CertificateHold,
                OffsetDateTime::now_utc(),
                &actor(),
            )
            .await
            .unwrap();
        a.notify_status_change(&held_serial);
        let took = wait_status(
            addr_b,
            ca,
            &held,
            Duration::from_secs(10),
            is_revoked(CrlReason::CertificateHold),
        )
        .await
        .expect("B never served the hold");
        assert!(took <= bound, "hold: {took:?}");
        store_b.reinstate(&held_serial, &actor()).await.unwrap();
        b.notify_status_change(&held_serial);
        let took = wait_status(addr_a, ca, &held, Duration::from_secs(10), is_good)
            .await
            .expect("A never served the reinstatement made through B");
        assert!(took <= bound, "reinstatement: {took:?}");
    }

    /// The storage side of the change feed: what the poller reads.
    pub async fn change_feed(db: &Db) {
        let p = pki();
        let store = &db.store;
        let c0 = store.status_change_cursor().await.unwrap();
        let (_, s1, _) = p.issue(&p.personnes, Some(store), "clerk-feed-1").await;
        let (_, s2, _) = p.issue(&p.personnes, Some(store), "clerk-feed-2").await;
        let head = store.status_change_cursor().await.unwrap();
        // Each issuance journals request.file, request.approve, certificate.issue.
        assert_eq!(head, c0 + 6);
        let all = store.status_changes_since(c0, 100).await.unwrap();
        assert_eq!(all.serials, vec![s1.clone(), s2.clone()]);
        assert_eq!(all.cursor, head);
        assert!(!all.more);
        // Paging: 4 entries at a time.
        let first = store.status_changes_since(c0, 4).await.unwrap();
        assert!(first.more);
        assert_eq!(first.cursor, c0 + 4);
        assert_eq!(first.serials, vec![s1.clone()]);
        let rest = store.status_changes_since(first.cursor, 4).await.unwrap();
        assert_eq!(rest.serials, vec![s2.clone()]);
        assert!(!rest.more);
        // Revocation, hold, reinstatement.
        store
            .revoke(
                &s1,
                RevocationReason::Superseded,
                OffsetDateTime::now_utc(),
                &actor(),
            )
            .await
            .unwrap();
        store
            .revoke(
                &s2,
                RevocationReason::CertificateHold,
                OffsetDateTime::now_utc(),
                &actor(),
            )
            .await
            .unwrap();
        store.reinstate(&s2, &actor()).await.unwrap();
        let changes = store.status_changes_since(head, 100).await.unwrap();
        assert_eq!(changes.serials, vec![s1.clone(), s2.clone()]);
        assert_eq!(changes.cursor, head + 3);
        let none = store
            .status_changes_since(changes.cursor, 100)
            .await
            .unwrap();
        assert!(none.serials.is_empty());
        assert_eq!(none.cursor, changes.cursor);
        // The OCSP view of a serial.
        let st = store.ocsp_state(&s1).await.unwrap().unwrap();
        assert_eq!(st.issuer.as_str(), ocsp_support::pki::PERSONNES);
        assert!(matches!(
            st.status,
            ca::storage::CertificateStatus::Revoked { .. }
        ));
        assert!(store.ocsp_state(&Serial::random()).await.unwrap().is_none());
        let page = store
            .ocsp_states_page(&p.personnes.name, None, 1000)
            .await
            .unwrap();
        assert!(page.iter().any(|(s, _)| *s == s1));
        assert!(page.windows(2).all(|w| w[0].0 < w[1].0));
    }
}

// ---------------------------------------------------------------------------------------------
// Protocol details (SQLite)
// ---------------------------------------------------------------------------------------------

/// A responder with one recorded certificate of CA Personnes.
async fn setup(
    config: OcspConfig,
) -> (
    Db,
    ca::ocsp::OcspResponder,
    String,
    SocketAddr,
    Certificate,
    std::path::PathBuf,
) {
    let db = sqlite().await;
    // Issued before the responder starts: its journal entries are behind the responder's
    // cursor, so the poller leaves its responses alone.
    let (cert, _, pem) = pki()
        .issue(&pki().personnes, Some(&db.store), "clerk-proto")
        .await;
    let r = responder(&db.store, config).await;
    let (base, addr) = serve(r.clone()).await;
    (db, r, format!("{base}/ocsp"), addr, cert, pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_truncated_oversized_and_foreign() {
    let p = pki();
    let (_db, _r, url, addr, cert, _pem) = setup(OcspConfig::default()).await;
    let ca = &p.personnes;
    let good = request_der(
        vec![cert_id(&ca.cert, &serial_bytes(&cert), false, true)],
        None,
    );
    assert_eq!(
        response_status(&post(addr, "/ocsp", &good).await.body),
        OcspResponseStatus::Successful
    );

    // Garbage, empty, truncated, trailing data.
    assert_ocsp_error(
        &post(addr, "/ocsp", b"hello, OCSP").await,
        OcspResponseStatus::MalformedRequest,
    );
    assert_ocsp_error(
        &post(addr, "/ocsp", b"").await,
        OcspResponseStatus::MalformedRequest,
    );
    assert_ocsp_error(
        &post(addr, "/ocsp", &good[..good.len() - 3]).await,
        OcspResponseStatus::MalformedRequest,
    );
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0, 0]);
    assert_ocsp_error(
        &post(addr, "/ocsp", &trailing).await,
        OcspResponseStatus::MalformedRequest,
    );
    // GET: bad escape, not base64, nothing, truncated.
    for path in ["/ocsp/%zz", "/ocsp/!!!!", "/ocsp", "/ocsp/", "/ocsp/MEow"] {
        assert_ocsp_error(
            &get(addr, path, &[]).await,
            OcspResponseStatus::MalformedRequest,
        );
    }
    // Nine CertIDs, above the limit of eight.
    let many = request_der(
        vec![cert_id(&ca.cert, &serial_bytes(&cert), false, true); 9],
        None,
    );
    assert_ocsp_error(
        &post(addr, "/ocsp", &many).await,
        OcspResponseStatus::MalformedRequest,
    );

    // Oversized, declared: answered without the body being sent at all.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n\
          Content-Length: 100000000\r\n\r\n",
    )
    .await
    .unwrap();
    // The server may answer and close before this arrives: a broken pipe here is fine.
    let _ = s.write_all(&[0x30; 1000]).await;
    assert_ocsp_error(
        &read_response(&mut s).await,
        OcspResponseStatus::MalformedRequest,
    );
    // Oversized, chunked: refused once the limit is passed, the rest never read.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    // Ten 1 KiB chunks (the limit is 8 KiB) in one write, so that the server has them all
    // when it refuses: it then closes without unread data (no reset that could drop its
    // answer), and a broken pipe, if it closed first, is fine.
    let mut chunks = Vec::new();
    for _ in 0..10 {
        chunks.extend_from_slice(b"400\r\n");
        chunks.extend_from_slice(&[0x30; 0x400]);
        chunks.extend_from_slice(b"\r\n");
    }
    let _ = s.write_all(&chunks).await;
    assert_ocsp_error(
        &read_response(&mut s).await,
        OcspResponseStatus::MalformedRequest,
    );

    // Foreign issuer (OpenSSL): unauthorized.
    let (_, text) = openssl(&[
        "ocsp",
        "-issuer",
        p.foreign_ca_pem.to_str().unwrap(),
        "-cert",
        p.foreign_leaf_pem.to_str().unwrap(),
        "-url",
        &url,
        "-CAfile",
        p.chain_pem.to_str().unwrap(),
    ])
    .await;
    assert!(text.contains("unauthorized (6)"), "{text}");
    // Right issuer name, wrong key (hash mismatch): unauthorized.
    let mut id = cert_id(&ca.cert, &serial_bytes(&cert), false, true);
    id.issuer_key_hash = OctetString::new(vec![0u8; 20]).unwrap();
    assert_ocsp_error(
        &post(addr, "/ocsp", &request_der(vec![id], None)).await,
        OcspResponseStatus::Unauthorized,
    );
    // CertID hashed with SHA-384: we cannot tell the issuer.
    let mut id = cert_id(&ca.cert, &serial_bytes(&cert), true, true);
    id.hash_algorithm.oid = ID_SHA_384;
    id.issuer_name_hash = OctetString::new(
        Sha384::digest(ca.cert.tbs_certificate.subject.to_der().unwrap()).to_vec(),
    )
    .unwrap();
    id.issuer_key_hash = OctetString::new(
        Sha384::digest(
            ca.cert
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes(),
        )
        .to_vec(),
    )
    .unwrap();
    assert_ocsp_error(
        &post(addr, "/ocsp", &request_der(vec![id], None)).await,
        OcspResponseStatus::Unauthorized,
    );
    // Two CAs in one request: no single responder may sign for both.
    let (orga_leaf, _, _) = p.issue(&p.organisations, None, "clerk-mixed").await;
    let mixed = request_der(
        vec![
            cert_id(&ca.cert, &serial_bytes(&cert), false, true),
            cert_id(
                &p.organisations.cert,
                &serial_bytes(&orga_leaf),
                false,
                true,
            ),
        ],
        None,
    );
    assert_ocsp_error(
        &post(addr, "/ocsp", &mixed).await,
        OcspResponseStatus::Unauthorized,
    );
    // Unsupported critical request extension.
    let critical = Extension {
        extn_id: const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.9"),
        critical: true,
        extn_value: OctetString::new(vec![5, 0]).unwrap(),
    };
    let der = request_der(
        vec![cert_id(&ca.cert, &serial_bytes(&cert), false, true)],
        Some(vec![critical]),
    );
    assert_ocsp_error(
        &post(addr, "/ocsp", &der).await,
        OcspResponseStatus::MalformedRequest,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_handling() {
    let p = pki();
    let (_db, _r, url, addr, cert, pem) = setup(OcspConfig::default()).await;
    let ca = &p.personnes;
    let id = || cert_id(&ca.cert, &serial_bytes(&cert), false, true);

    // OpenSSL checks that its nonce comes back (it warns otherwise).
    for extra in [&[][..], &["-nonce"][..]] {
        let s = openssl_query(&url, &ca.pem_path, &pem, extra).await;
        assert_eq!(s.status, "good", "{}", s.text);
        assert!(s.verified && !s.text.contains("WARNING"), "{}", s.text);
    }
    // Echoed exactly, signed fresh each time.
    let nonce = [0x42u8; 32];
    let der = request_der(vec![id()], Some(vec![nonce_extension(&nonce)]));
    let r1 = post(addr, "/ocsp", &der).await;
    let r2 = post(addr, "/ocsp", &der).await;
    let b1 = basic(&r1.body);
    assert_eq!(b1.nonce().unwrap().0.as_bytes(), &nonce);
    assert_eq!(basic(&r2.body).nonce().unwrap().0.as_bytes(), &nonce);
    assert_ne!(
        r1.body, r2.body,
        "a nonce response is signed for its request"
    );
    assert!(is_good(&b1.tbs_response_data.responses[0].cert_status));
    assert_eq!(pkilint_errors(&r1.body, &p.dir).await, Vec::<String>::new());
    // Without nonce: no nonce in the response, the same pre-signed bytes every time.
    let plain = request_der(vec![id()], None);
    let p1 = post(addr, "/ocsp", &plain).await;
    assert!(basic(&p1.body).nonce().is_none());
    assert_eq!(post(addr, "/ocsp", &plain).await.body, p1.body);
    // RFC 9654 limits (RFC 8954's 32 octets lifted): 1..=128 octets.
    for len in [1usize, 33, 128] {
        let nonce = vec![0x5a; len];
        let der = request_der(vec![id()], Some(vec![nonce_extension(&nonce)]));
        assert_eq!(
            basic(&post(addr, "/ocsp", &der).await.body)
                .nonce()
                .unwrap()
                .0
                .as_bytes(),
            &nonce[..]
        );
    }
    for bad in [&[0u8; 129][..], &[][..]] {
        let der = request_der(vec![id()], Some(vec![nonce_extension(bad)]));
        assert_ocsp_error(
            &post(addr, "/ocsp", &der).await,
            OcspResponseStatus::MalformedRequest,
        );
    }
    // Not wrapped in an OCTET STRING.
    let raw = Extension {
        extn_id: const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: OctetString::new(vec![0xa5; 16]).unwrap(),
    };
    let der = request_der(vec![id()], Some(vec![raw]));
    assert_ocsp_error(
        &post(addr, "/ocsp", &der).await,
        OcspResponseStatus::MalformedRequest,
    );
}

/// GET as clients really send it, and CertID forms echoed exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_tolerance_and_certid_forms() {
    use base64::Engine as _;
    let p = pki();
    let (_db, _r, _url, addr, cert, pem) = setup(OcspConfig::default()).await;
    let ca = &p.personnes;
    // Find a request whose base64 has '+' and '/' (the serial varies the encoding).
    let mut der = Vec::new();
    let mut b64 = String::new();
    for (sha256, null) in [(false, true), (true, true), (false, false), (true, false)] {
        der = request_der(
            vec![cert_id(&ca.cert, &serial_bytes(&cert), sha256, null)],
            None,
        );
        b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let r = get_ocsp(addr, &der).await;
        let sr = single(&r.body);
        let sent = OcspRequest::from_der(&der)
            .unwrap()
            .tbs_request
            .request_list[0]
            .req_cert
            .clone();
        assert_eq!(
            sr.cert_id, sent,
            "CertID echoed exactly (sha256={sha256}, NULL={null})"
        );
        assert!(is_good(&sr.cert_status));
    }
    let reference = get_ocsp(addr, &der).await.body;
    let forms = vec![
        format!("/ocsp/{b64}"),
        format!("/ocsp/{}", b64.trim_end_matches('=')),
        format!(
            "/ocsp/{}",
            b64.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        ),
        format!("/ocsp/{}", b64.replace('+', "%20")),
        format!("/ocsp/{}", b64.replace('+', "-").replace('/', "_")),
        format!("/ocsp//{b64}"),
        format!("/ocsp///{}", b64.replace('/', "%2f")),
    ];
    for path in &forms {
        let r = get(addr, path, &[]).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.body, reference, "{path}");
    }
    // OpenSSL verifies one of them.
    let req = openssl_request(
        &ca.pem_path,
        &pem,
        &unique(&p.dir, "req", "der"),
        &["-no_nonce"],
    )
    .await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&req);
    let r = get(
        addr,
        &format!("/ocsp//{}", b64.trim_end_matches('=').replace('+', "%20")),
        &[],
    )
    .await;
    let s = openssl_check_response(&r.body, &ca.pem_path, &pem, &p.dir, &[]).await;
    assert_eq!(s.status, "good", "{}", s.text);
    assert!(s.verified, "{}", s.text);
    // HEAD works too (no body).
    let head = raw_http(
        addr,
        format!(
            "HEAD {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            get_path(&req)
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("application/ocsp-response")
    );
}

/// Several certificates in one request (bounded), checked by OpenSSL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_certificates_in_one_request() {
    let p = pki();
    let (db, r, url, _addr, _cert, good_pem) = setup(OcspConfig::default()).await;
    let ca = &p.personnes;
    let (_, bad_serial, bad_pem) = p.issue(ca, Some(&db.store), "clerk-multi-bad").await;
    let (_, _, unknown_pem) = p.issue(ca, None, "clerk-multi-unknown").await;
    db.store
        .revoke(
            &bad_serial,
            RevocationReason::CessationOfOperation,
            OffsetDateTime::now_utc(),
            &actor(),
        )
        .await
        .unwrap();
    r.notify_status_change(&bad_serial);
    let (_, text) = openssl(&[
        "ocsp",
        "-issuer",
        ca.pem_path.to_str().unwrap(),
        "-cert",
        good_pem.to_str().unwrap(),
        "-cert",
        bad_pem.to_str().unwrap(),
        "-cert",
        unknown_pem.to_str().unwrap(),
        "-url",
        &url,
        "-CAfile",
        p.chain_pem.to_str().unwrap(),
    ])
    .await;
    assert!(text.contains("Response verify OK"), "{text}");
    assert_eq!(parse_openssl_status(&text, &good_pem).status, "good");
    let bad = parse_openssl_status(&text, &bad_pem);
    assert_eq!(bad.status, "revoked", "{text}");
    assert_eq!(bad.reason.as_deref(), Some("cessationOfOperation"));
    assert_eq!(parse_openssl_status(&text, &unknown_pem).status, "unknown");
}

/// Pre-signed responses are re-signed before nextUpdate when they are in use, and dropped
/// when not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_before_next_update() {
    let p = pki();
    let config = OcspConfig {
        response_validity_secs: 60,
        refresh_margin_secs: 30,
        ..OcspConfig::default()
    };
    let ca = &p.personnes;
    let db = sqlite().await;
    let (hot, _, _) = p.issue(ca, Some(&db.store), "clerk-hot-refresh").await;
    let (cold, _, _) = p.issue(ca, Some(&db.store), "clerk-cold-refresh").await;
    let r = responder(&db.store, config).await;
    let (_, addr) = serve(r.clone()).await;
    let hot_req = request_der(
        vec![cert_id(&ca.cert, &serial_bytes(&hot), false, true)],
        None,
    );
    let cold_req = request_der(
        vec![cert_id(&ca.cert, &serial_bytes(&cold), false, true)],
        None,
    );
    let first = get_ocsp(addr, &hot_req).await;
    let first_single = single(&first.body);
    get_ocsp(addr, &cold_req).await;
    assert_eq!(r.cache_stats().responses, 2);
    // Keep asking for the hot one; its response must change (re-signed) before it expires,
    // i.e. between refresh_at (≥ 15 s) and nextUpdate (60 s).
    let refreshed = wait_for(Duration::from_secs(50), || async {
        let g = get_ocsp(addr, &hot_req).await;
        (g.body != first.body).then_some(g)
    })
    .await;
    let (g, took) = refreshed.expect("the hot response was never re-signed");
    let s = single(&g.body);
    assert!(unix(&s.this_update) > unix(&first_single.this_update));
    assert!(took < Duration::from_secs(45), "{took:?}");
    assert!(is_good(&s.cert_status));
    // The cold one was dropped at its refresh time (it is due no later than the hot one plus
    // the jitter and a tick).
    let dropped = wait_for(Duration::from_secs(25), || async {
        (r.cache_stats().responses == 1).then_some(())
    })
    .await;
    assert!(
        dropped.is_some(),
        "cold response kept: {:?}",
        r.cache_stats()
    );
}

/// `presign` warms the cache with every certificate; requests are then served from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presign_warms_the_cache() {
    let p = pki();
    let db = sqlite().await;
    let mut certs = Vec::new();
    for i in 0..5 {
        certs.push(
            p.issue(&p.personnes, Some(&db.store), &format!("clerk-pre-{i}"))
                .await
                .0,
        );
    }
    p.issue(&p.organisations, Some(&db.store), "clerk-pre-orga")
        .await;
    let r = responder(&db.store, OcspConfig::default()).await;
    assert_eq!(r.presign().await.unwrap(), 6);
    let stats = r.cache_stats();
    assert_eq!((stats.serials, stats.responses), (6, 6));
    assert!(
        stats.core_bytes > 6 * 150 && stats.core_bytes < 6 * 400,
        "{stats:?}"
    );
    let (_, addr) = serve(r.clone()).await;
    for c in &certs {
        assert!(is_good(&status_via_get(addr, &p.personnes, c).await));
    }
    assert_eq!(
        r.cache_stats(),
        stats,
        "served from the pre-signed responses"
    );
}

/// Concurrent misses for one response share a signature, and all get it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses() {
    let p = pki();
    let (_db, r, _url, addr, cert, _) = setup(OcspConfig::default()).await;
    let der = request_der(
        vec![cert_id(
            &p.personnes.cert,
            &serial_bytes(&cert),
            false,
            true,
        )],
        None,
    );
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let der = der.clone();
            tokio::spawn(async move { post(addr, "/ocsp", &der).await.body })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(t.await.unwrap());
    }
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "one signature for all"
    );
    assert!(is_good(&single(&bodies[0]).cert_status));
    assert_eq!(r.cache_stats().responses, 1);
}

/// Set-up refusals: a responder certificate from another CA, a signer that is not the
/// responder's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responder_set_up_is_checked() {
    let p = pki();
    let wrong_ca = ca::ocsp::OcspCa::new(
        p.organisations.name.clone(),
        &p.organisations.cert,
        &p.personnes.responder_cert,
        p.personnes.responder_signer.clone(),
    );
    assert!(wrong_ca.is_err());
    let wrong_key = ca::ocsp::OcspCa::new(
        p.personnes.name.clone(),
        &p.personnes.cert,
        &p.personnes.responder_cert,
        p.organisations.responder_signer.clone(),
    );
    assert!(wrong_key.is_err());
    let not_ocsp = ca::ocsp::OcspCa::new(
        p.personnes.name.clone(),
        &p.root,
        &p.personnes.cert,
        p.personnes.signer.clone(),
    );
    assert!(not_ocsp.is_err(), "a CA certificate has no OCSPSigning");
    let db = sqlite().await;
    let empty = ca::ocsp::OcspResponder::new(db.store.clone(), OcspConfig::default(), vec![]).await;
    assert!(empty.is_err());
    let bad_config = OcspConfig {
        refresh_margin_secs: 5000,
        ..OcspConfig::default()
    };
    assert!(ca::ocsp::OcspResponder::new(
        db.store.clone(),
        bad_config,
        vec![p.personnes.ocsp_ca()]
    )
    .await
    .is_err());
    // The igc.toml form.
    let c: OcspConfig =
        toml::from_str("response_validity_secs = 7200\npoll_interval_ms = 1000\n").unwrap();
    assert_eq!(c.response_validity_secs, 7200);
    assert!(toml::from_str::<OcspConfig>("validity = 3\n").is_err());
    assert!(OcspConfig::default().poll_interval_ms <= 5000);
}
