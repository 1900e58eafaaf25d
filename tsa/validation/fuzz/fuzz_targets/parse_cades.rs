//! Any bytes given to `POST /api/v1/verify` (or `igc verify --in`) go through the CMS /
//! CAdES parser and the SignerInfo checks; none may panic, whatever the input.
//!
//! cargo +nightly fuzz run parse_cades   (from tsa/validation/)
#![no_main]

use libfuzzer_sys::fuzz_target;
use validation::{cades, sign, CrlRevocationSource};

fuzz_target!(|data: &[u8]| {
    // The linear pass that refuses hostile input before decoding (issue 20): never a panic,
    // whatever the nesting or the lengths claimed.
    let _ = validation::limits::prescan(data, &validation::ValidationLimits::default());
    if let Ok(parsed) = cades::parse_cms(data) {
        let si = &parsed.signer;
        let _ = cades::check_content_type(si, parsed.econtent_type);
        let content = parsed.attached.as_deref().unwrap_or(data);
        let _ = cades::check_message_digest(si, content);
        let _ = cades::signing_time(si);
        for cert in &parsed.certificates {
            let _ = cades::check_signing_certificate_v2(si, cert);
            let _ = cades::check_signature(si, cert);
            let _ = validation::path::check_sign_key_usage(cert);
            let _ = validation::timestamp::check_tsa_eku(cert);
        }
        for token in cades::timestamp_tokens(si) {
            if let Ok(ci) = token.decode_as::<cms::content_info::ContentInfo>() {
                let _ = cades::parse_signed_data(&ci.content);
            }
        }
        // A reply that is the input itself: refused, never a panic.
        let _ = sign::attach_timestamp(data, data, &[1]);
        let _ = sign::timestamp_request(data);
    }
    let _ = validation::parse_certificates(data);
    let _ = CrlRevocationSource::from_bytes(&[data.to_vec()]);
});
