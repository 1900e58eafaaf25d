//! Any bytes POSTed to /tsa go through `parse_request`; it must never
//! panic, and every outcome must encode (a token request or a rejection).
//!
//! cargo +nightly fuzz run parse_request   (from tsa/)
#![no_main]

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use libfuzzer_sys::fuzz_target;

const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.1.7.3.1");

fuzz_target!(|data: &[u8]| {
    match tsa::parse_request(data, &POLICY) {
        Ok(req) => {
            // A valid request re-encodes to an imprint of the right size.
            let imprint = req.message_imprint.to_der().expect("imprint encodes");
            assert!(imprint.len() > req.algorithm.digest_len());
            if let Some(nonce) = &req.nonce {
                nonce.to_der().expect("nonce encodes");
            }
        }
        Err(rejection) => {
            let reply = tsa::asn1::rejection_der(rejection.failure, &rejection.text);
            let back = tsa::asn1::TimeStampResp::from_der(&reply).expect("rejection decodes");
            assert_eq!(
                back.status.fail_info.and_then(|f| f.single()),
                Some(rejection.failure)
            );
        }
    }
    // The other parsers of untrusted bytes must not panic either.
    let _ = tsa::asn1::GenTime::parse(data);
    let _ = tsa::asn1::TimeStampResp::from_der(data);
    let _ = tsa::asn1::TstInfo::from_der(data);
});
