//! The HSM goes away under a running responder, then comes back. Its own test binary: it
//! breaks the process-wide SoftHSM token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../ca/tests/ocsp_support/mod.rs"]
mod ocsp_support;

use std::net::SocketAddr;
use std::time::Duration;

use ca::ocsp::{OcspConfig, OcspResponseStatus};
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use ocsp_support::*;
use sha1::{Digest, Sha1};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;
use x509_ocsp::{CertId, CertStatus, OcspRequest, OcspResponse, Request, TbsRequest};

fn request(ca: &Certificate, cert: &Certificate, nonce: Option<u8>) -> Vec<u8> {
    let name = ca.tbs_certificate.subject.to_der().unwrap();
    let key = ca
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(&name).to_vec()).unwrap(),
        issuer_key_hash: OctetString::new(Sha1::digest(key).to_vec()).unwrap(),
        serial_number: SerialNumber::new(cert.tbs_certificate.serial_number.as_bytes()).unwrap(),
    };
    let ext = nonce.map(|n| {
        vec![Extension {
            extn_id: const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(vec![n; 16]).unwrap().to_der().unwrap())
                .unwrap(),
        }]
    });
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![Request::new(id)],
            request_extensions: ext,
            ..Default::default()
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

/// OCSP status and, when successful, whether the certificate is good.
async fn ask(addr: SocketAddr, der: &[u8]) -> (OcspResponseStatus, Option<bool>) {
    let r = post(addr, "/ocsp", der).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
    let resp = OcspResponse::from_der(&r.body).unwrap();
    let good = resp.response_bytes.map(|b| {
        let basic = x509_ocsp::BasicOcspResponse::from_der(b.response.as_bytes()).unwrap();
        matches!(
            basic.tbs_response_data.responses[0].cert_status,
            CertStatus::Good(_)
        )
    });
    (resp.response_status, good)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_later_while_the_hsm_is_away() {
    let p = pki();
    let hsm = softhsm();
    let db = sqlite().await;
    let ca = &p.personnes;
    let (warm, _, _) = p.issue(ca, Some(&db.store), "clerk-hsm-warm").await;
    let mut cold = Vec::new();
    for i in 0..8 {
        cold.push(
            p.issue(ca, Some(&db.store), &format!("clerk-hsm-cold-{i}"))
                .await
                .0,
        );
    }
    let r = responder(&db.store, OcspConfig::default()).await;
    let (_, addr) = serve(r.clone()).await;
    let warm_req = request(&ca.cert, &warm, None);
    assert_eq!(
        ask(addr, &warm_req).await,
        (OcspResponseStatus::Successful, Some(true))
    );

    // The token directory disappears.
    let dirs: Vec<_> = std::fs::read_dir(&hsm.token_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let away = hsm.dir.join("away");
    std::fs::create_dir_all(&away).unwrap();
    for d in &dirs {
        std::fs::rename(d, away.join(d.file_name().unwrap())).unwrap();
    }

    // Requests that need a signature (nonce) are soon answered tryLater…
    let mut n = 0u8;
    let outage = wait_for(Duration::from_secs(10), || {
        n = n.wrapping_add(1);
        let der = request(&ca.cert, &warm, Some(n));
        async move {
            let (status, _) = ask(addr, &der).await;
            (status == OcspResponseStatus::TryLater).then_some(())
        }
    })
    .await;
    assert!(outage.is_some(), "signing kept working without the token");
    // …so are pre-signed responses not yet signed…
    let mut try_later = 0;
    for c in &cold[..4] {
        let (status, _) = ask(addr, &request(&ca.cert, c, None)).await;
        assert!(
            matches!(
                status,
                OcspResponseStatus::TryLater | OcspResponseStatus::Successful
            ),
            "{status:?}"
        );
        try_later += usize::from(status == OcspResponseStatus::TryLater);
    }
    assert!(
        try_later >= 3,
        "only {try_later} of 4 misses answered tryLater"
    );
    // …while the responses already signed are still served.
    for _ in 0..5 {
        assert_eq!(
            ask(addr, &warm_req).await,
            (OcspResponseStatus::Successful, Some(true))
        );
    }

    // The token comes back: signing resumes.
    for d in &dirs {
        std::fs::rename(away.join(d.file_name().unwrap()), d).unwrap();
    }
    let back = wait_for(Duration::from_secs(15), || {
        let der = request(&ca.cert, &cold[4], None);
        async move {
            let (status, good) = ask(addr, &der).await;
            (status == OcspResponseStatus::Successful && good == Some(true)).then_some(())
        }
    })
    .await;
    let ((), took) = back.expect("signing did not resume after the token came back");
    eprintln!("signing resumed {took:?} after the token came back");
    assert_eq!(
        ask(addr, &request(&ca.cert, &cold[5], Some(9))).await,
        (OcspResponseStatus::Successful, Some(true))
    );
}
