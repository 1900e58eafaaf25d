//! Any bytes given as an OCSP response (fetched from a responder, or embedded in a long-term
//! signature) go through the OCSP checks and the embedded-evidence source; none may panic.
//!
//! cargo +nightly fuzz run parse_ocsp   (from tsa/validation/)
#![no_main]

use libfuzzer_sys::fuzz_target;
use validation::evidence::{check_ocsp_response, ocsp, EvidenceRevocationSource};
use validation::RevocationSource;

fuzz_target!(|data: &[u8]| {
    // The certificates carried by the response stand for the certificate asked about and
    // its issuer: every pair, so that the CertID and signer checks are reached.
    let certs = match ocsp::parse_basic(data) {
        Ok((basic, _)) => basic.certs.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let certs = &certs[..certs.len().min(4)];
    let pool: Vec<_> = certs.iter().collect();
    let source = EvidenceRevocationSource::new(vec![data.to_vec()], vec![], certs.to_vec());
    let now = time::OffsetDateTime::UNIX_EPOCH;
    for cert in certs {
        for issuer in certs {
            let _ = check_ocsp_response(data, cert, issuer, &pool);
            let _ = ocsp::ocsp_request(cert, issuer);
            // A ready future: polled once without a runtime.
            let mut fut = source.status(cert, issuer, now, now);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let _ = fut.as_mut().poll(&mut cx);
        }
    }
    let _ = validation::evidence::fetch::parse_fetched_certificate(data);
});
