//! Revocation evidence (issue 22): OCSP responses of the project's responder checked as a
//! relying party, the bounded HTTP fetcher, the embedded-evidence source and its freshness
//! rule, and the online source with its cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../ca/tests/ocsp_support/mod.rs"]
mod ocsp_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ca::domain::{Actor, RevocationReason, Serial};
use ca::ocsp::{OcspConfig, OcspResponder};
use der::{Decode, Encode};
use ocsp_support::pki::TestCa;
use ocsp_support::{pki, responder, sqlite, Db};
use pkix::profiles::{build_certificate, InfraCertParams};
use pkix::IssuerInfo;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use validation::evidence::{
    check_ocsp_response, collect_evidence, ocsp_request, Evidence, EvidenceRevocationSource,
    FetchError, FetchPolicy, Fetcher, OcspStatus, OnlineRevocationSource,
};
use validation::{RevocationSource, RevocationStatus};
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, OcspResponse};

/// A certificate of `ca` recorded in `db`, and its twin: same serial and issuer, signed by the
/// same CA key, whose AIA and CDP name `base` (the responder answers by serial, so both have
/// the recorded status).
async fn leaf(db: &Db, ca: &TestCa, login: &str, base: &str) -> (Certificate, Certificate, Serial) {
    let (cert, serial, _) = pki().issue(ca, Some(&db.store), login).await;
    let tbs = &cert.tbs_certificate;
    let params = InfraCertParams {
        profile: pkix::profiles::InfraProfile::RaOperator,
        subject: tbs.subject.clone(),
        subject_spki: tbs.subject_public_key_info.clone(),
        issuer: Some(IssuerInfo::from_certificate(&ca.cert).unwrap()),
        not_before: OffsetDateTime::now_utc() - time::Duration::hours(1),
        not_after: OffsetDateTime::now_utc() + time::Duration::days(30),
        serial: Some(tbs.serial_number.clone()),
        policy_oids: vec![ocsp_support::pki::POLICY.parse().unwrap()],
        crl_url: Some(format!("{base}/crl/personnes.crl")),
        ca_issuers_url: Some(format!("{base}/ca/personnes.crt")),
        ocsp_url: Some(format!("{base}/ocsp")),
    };
    let signer = ca.signer.clone();
    let twin = tokio::task::spawn_blocking(move || build_certificate(&params, &signer))
        .await
        .unwrap()
        .unwrap();
    (cert, twin, serial)
}

/// The responder's answer to our request for `cert`.
async fn ask(r: &OcspResponder, cert: &Certificate, issuer: &Certificate) -> Vec<u8> {
    r.respond(&ocsp_request(cert, issuer).unwrap())
        .await
        .der()
        .to_vec()
}

/// Serves `r` at `POST /ocsp`, counting the requests.
async fn serve_counting(r: OcspResponder) -> (SocketAddr, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = axum::Router::new().route(
        "/ocsp",
        axum::routing::post(move |body: axum::body::Bytes| {
            let r = r.clone();
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                let reply = r.respond(&body).await;
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/ocsp-response",
                    )],
                    reply.der().to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, count)
}

fn actor() -> Actor {
    Actor::new("clerk-revoker", "tls-client-cert").unwrap()
}

fn fetcher(hosts: &[&str]) -> Fetcher {
    Fetcher::new(FetchPolicy {
        allow_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        timeout: Duration::from_secs(5),
        max_bytes: 64 * 1024,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_of_our_responder_are_checked() {
    let db = sqlite().await;
    let r = responder(&db.store, OcspConfig::default()).await;
    let p = pki();
    let ca = &p.personnes;
    let (cert, _, serial) = leaf(&db, ca, "ev-good", "http://127.0.0.1:9").await;

    // Good, signed by the delegated responder (carried in the response).
    let der = ask(&r, &cert, &ca.cert).await;
    let e = check_ocsp_response(&der, &cert, &ca.cert, &[]).unwrap();
    assert_eq!(e.status, OcspStatus::Good);
    assert_eq!(
        e.responder,
        pkix::name_to_string(&ca.responder_cert.tbs_certificate.subject)
    );
    assert!(e.next_update.is_some_and(|n| n > e.this_update));
    // The embedded form is the BasicOCSPResponse, accepted bare too.
    BasicOcspResponse::from_der(&e.basic_der).unwrap();
    assert_eq!(
        check_ocsp_response(&e.basic_der, &cert, &ca.cert, &[]).unwrap(),
        e
    );

    // Revoked, keyCompromise.
    let revoked_at =
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::minutes(5);
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
    let der = ask(&r, &cert, &ca.cert).await;
    let e = check_ocsp_response(&der, &cert, &ca.cert, &[]).unwrap();
    assert_eq!(
        e.status,
        OcspStatus::Revoked {
            at: revoked_at,
            reason: Some("keyCompromise".into())
        }
    );

    // The same answer about another certificate, or with another issuer: refused.
    let (other, _, _) = leaf(&db, ca, "ev-other", "http://127.0.0.1:9").await;
    let err = check_ocsp_response(&der, &other, &ca.cert, &[]).unwrap_err();
    assert!(err.contains("CertID"), "{err}");
    let err = check_ocsp_response(&der, &cert, &p.organisations.cert, &[]).unwrap_err();
    assert!(err.contains("did not issue"), "{err}");

    // Garbage, truncations, and every single-byte corruption of the signed part: refused
    // with a reason, never a panic.
    for bad in [
        &b""[..],
        b"\x30",
        b"\x30\x03\x0a\x01\x00",
        b"not der at all",
    ] {
        assert!(check_ocsp_response(bad, &cert, &ca.cert, &[]).is_err());
    }
    for n in (0..der.len()).step_by(7) {
        assert!(
            check_ocsp_response(&der[..n], &cert, &ca.cert, &[]).is_err(),
            "truncated at {n}"
        );
    }
    let mut refused = 0;
    for i in (0..der.len()).step_by(3) {
        let mut d = der.clone();
        d[i] ^= 0x01;
        if check_ocsp_response(&d, &cert, &ca.cert, &[]).is_err() {
            refused += 1;
        }
    }
    assert!(refused > der.len() / 3 / 2, "{refused} corruptions refused");

    // tryLater (unsigned status) is refused.
    let try_later = ca::ocsp::error_response(ca::ocsp::OcspResponseStatus::TryLater);
    let err = check_ocsp_response(&try_later, &cert, &ca.cert, &[]).unwrap_err();
    assert!(err.contains("TryLater"), "{err}");
}

/// A response whose signature is by the responder of another CA (a CA key that did not issue
/// the certificate) — an unauthorized signer — is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_signed_by_an_unauthorized_key_is_refused() {
    let db = sqlite().await;
    let p = pki();
    let (cert, _, _) = leaf(&db, &p.personnes, "ev-unauth", "http://127.0.0.1:9").await;
    // The Organisations responder answers about our certificate's serial when asked with the
    // Organisations CertID: a valid signature, by a responder the Personnes CA never certified.
    let r = responder(&db.store, OcspConfig::default()).await;
    let req = ocsp_request(&cert, &p.organisations.cert).unwrap();
    let der = r.respond(&req).await.der().to_vec();
    let err = check_ocsp_response(&der, &cert, &p.personnes.cert, &[]).unwrap_err();
    assert!(err.contains("CertID") || err.contains("signed"), "{err}");

    // Re-labelled to the Personnes CertID, the Organisations responder's signature no longer
    // covers it, and its certificate is not from the Personnes CA: refused either way.
    let resp = OcspResponse::from_der(&der).unwrap();
    let mut basic =
        BasicOcspResponse::from_der(resp.response_bytes.unwrap().response.as_bytes()).unwrap();
    basic.tbs_response_data.responses[0].cert_id =
        validation::evidence::ocsp::cert_id(&cert, &p.personnes.cert).unwrap();
    let forged = basic.to_der().unwrap();
    let err = check_ocsp_response(&forged, &cert, &p.personnes.cert, &[]).unwrap_err();
    assert!(
        err.contains("not issued by the certificate's issuer"),
        "{err}"
    );
    // Even with the Personnes responder named in the pool, the signature does not verify.
    let err = check_ocsp_response(
        &forged,
        &cert,
        &p.personnes.cert,
        &[&p.personnes.responder_cert],
    )
    .unwrap_err();
    assert!(
        err.contains("not issued") || err.contains("neither"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_evidence_answers_offline_within_its_freshness() {
    let db = sqlite().await;
    let r = responder(&db.store, OcspConfig::default()).await;
    let p = pki();
    let ca = &p.personnes;
    let (cert, _, _) = leaf(&db, ca, "ev-embedded", "http://127.0.0.1:9").await;
    let der = ask(&r, &cert, &ca.cert).await;
    let e = check_ocsp_response(&der, &cert, &ca.cert, &[]).unwrap();
    let period = e.next_update.unwrap() - e.this_update;

    let src = EvidenceRevocationSource::new(
        vec![b"garbage".to_vec(), e.basic_der.clone()],
        vec![],
        vec![],
    );
    let now = OffsetDateTime::now_utc();
    match src.status(&cert, &ca.cert, now, now).await {
        RevocationStatus::Good { source, .. } => assert_eq!(source, "embedded-ocsp"),
        other => panic!("{other:?}"),
    }
    // Fresh up to thisUpdate + period; beyond, unknown with the reason.
    let edge = e.this_update + period;
    assert!(matches!(
        src.status(&cert, &ca.cert, edge, now).await,
        RevocationStatus::Good { .. }
    ));
    match src
        .status(&cert, &ca.cert, edge + time::Duration::seconds(1), now)
        .await
    {
        RevocationStatus::Unknown { reason } => {
            assert!(reason.contains("not fresh"), "{reason}");
            assert!(reason.contains("OCSP response #1"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Another issuer: nothing usable.
    assert!(matches!(
        src.status(&cert, &p.organisations.cert, now, now).await,
        RevocationStatus::Unknown { .. }
    ));
    // No evidence at all.
    let empty = EvidenceRevocationSource::new(vec![], vec![], vec![]);
    assert!(matches!(
        empty.status(&cert, &ca.cert, now, now).await,
        RevocationStatus::Unknown { .. }
    ));

    // Verified once: later lookups are memoised (1000 lookups well within a second even in a
    // debug build; a signature verification each would take several).
    let t = std::time::Instant::now();
    for _ in 0..1000 {
        assert!(matches!(
            src.status(&cert, &ca.cert, now, now).await,
            RevocationStatus::Good { .. }
        ));
    }
    let spent = t.elapsed();
    eprintln!("1000 embedded-evidence lookups: {spent:?}");
    assert!(spent < Duration::from_secs(3), "{spent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_online_source_fetches_allowed_hosts_and_caches_until_next_update() {
    let db = sqlite().await;
    let r = responder(&db.store, OcspConfig::default()).await;
    let (addr, count) = serve_counting(r.clone()).await;
    let p = pki();
    let ca = &p.personnes;
    let base = format!("http://{addr}");
    let (_, twin, serial) = leaf(&db, ca, "ev-online", &base).await;
    let now = OffsetDateTime::now_utc();

    // Not on the allow-list: nothing fetched, unknown with the reason.
    let denied = OnlineRevocationSource::new(fetcher(&["pki.example.fr"]));
    match denied.status(&twin, &ca.cert, now, now).await {
        RevocationStatus::Unknown { reason } => {
            assert!(reason.contains("not on the allow-list"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(count.load(Ordering::SeqCst), 0);

    let online = OnlineRevocationSource::new(fetcher(&[&addr.to_string()]));
    match online.status(&twin, &ca.cert, now, now).await {
        RevocationStatus::Good { source, .. } => {
            assert_eq!(source, format!("online-ocsp {base}/ocsp"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Second query: from the cache, no request.
    assert!(matches!(
        online.status(&twin, &ca.cert, now, now).await,
        RevocationStatus::Good { .. }
    ));
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // collect_evidence gives the verified response for embedding; it verifies offline.
    match collect_evidence(online.fetcher(), &twin, &ca.cert)
        .await
        .unwrap()
    {
        Evidence::Ocsp(e) => {
            assert_eq!(e.status, OcspStatus::Good);
            let src = EvidenceRevocationSource::new(vec![e.basic_der], vec![], vec![]);
            assert!(matches!(
                src.status(&twin, &ca.cert, now, now).await,
                RevocationStatus::Good { .. }
            ));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(count.load(Ordering::SeqCst), 2);

    // Revoked: a new source (empty cache) sees it.
    let at = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::minutes(1);
    db.store
        .revoke(&serial, RevocationReason::KeyCompromise, at, &actor())
        .await
        .unwrap();
    r.notify_status_change(&serial);
    let fresh = OnlineRevocationSource::new(fetcher(&[&addr.to_string()]));
    let now = OffsetDateTime::now_utc();
    match fresh.status(&twin, &ca.cert, now, now).await {
        RevocationStatus::Revoked { at: t, source, .. } => {
            assert_eq!(t, at);
            assert!(source.starts_with("online-ocsp"), "{source}");
        }
        other => panic!("{other:?}"),
    }
}

/// A local server that answers every connection with `reply` after `delay`, `repeat` times.
async fn raw_server(reply: Vec<u8>, delay: Duration, repeat: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                for _ in 0..repeat {
                    if s.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fetcher_is_bounded_in_hosts_size_and_time() {
    // Host not allowed, and no network at all by default.
    let err = fetcher(&["127.0.0.2"])
        .get("http://127.0.0.1:9/x")
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::HostNotAllowed { .. }), "{err}");
    let err = Fetcher::default()
        .get("http://127.0.0.1:9/x")
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::HostNotAllowed { .. }), "{err}");
    let err = fetcher(&["127.0.0.1"])
        .get("https://127.0.0.1/x")
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::BadUrl { .. }), "{err}");

    // A body beyond max_bytes: a lying Content-Length, and no length at all.
    let big = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec(),
        Duration::ZERO,
        1,
    )
    .await;
    let small = Fetcher::new(FetchPolicy {
        allow_hosts: vec!["127.0.0.1".into()],
        timeout: Duration::from_secs(5),
        max_bytes: 1024,
    });
    // Content-Length says 10 but the server then closes: malformed, not hung.
    let err = small.get(&format!("http://{big}/")).await.unwrap_err();
    assert!(matches!(err, FetchError::Malformed { .. }), "{err}");
    let mut endless = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    endless.extend(
        std::iter::repeat_n(
            b"100\r\n"
                .iter()
                .copied()
                .chain([b'x'; 256])
                .chain(*b"\r\n"),
            64,
        )
        .flatten(),
    );
    let chunked = raw_server(endless, Duration::ZERO, 1).await;
    let err = small.get(&format!("http://{chunked}/")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { max: 1024, .. }),
        "{err}"
    );
    let mut lying = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
    lying.extend([b'y'; 100]);
    let mut unbounded = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    unbounded.extend([b'z'; 4096]);
    let until_close = raw_server(unbounded, Duration::ZERO, 1).await;
    let err = small
        .get(&format!("http://{until_close}/"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    let ok = raw_server(lying, Duration::ZERO, 1).await;
    assert_eq!(
        small.get(&format!("http://{ok}/")).await.unwrap(),
        vec![b'y'; 100]
    );

    // Slow: the whole exchange is bounded.
    let slow = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx".to_vec(),
        Duration::from_secs(30),
        1,
    )
    .await;
    let quick = Fetcher::new(FetchPolicy {
        allow_hosts: vec!["127.0.0.1".into()],
        timeout: Duration::from_millis(300),
        max_bytes: 1024,
    });
    let t = std::time::Instant::now();
    let err = quick.get(&format!("http://{slow}/")).await.unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // Redirects are not followed.
    let redirect = raw_server(
        b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere.example/\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
        Duration::ZERO,
        1,
    )
    .await;
    let err = small.get(&format!("http://{redirect}/")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 302, .. }),
        "{err}"
    );
}
