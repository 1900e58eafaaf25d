//! Any bytes given as a long-term CAdES signature (LT / LTA, issue 22) go through the
//! unsigned-attribute decoders, the archive-time-stamp-v3 checks and the gathering of the
//! embedded validation data; none may panic, whatever the input.
//!
//! cargo +nightly fuzz run parse_ltv   (from tsa/validation/)
#![no_main]

use der::Decode;
use libfuzzer_sys::fuzz_target;
use validation::evidence::check_ocsp_response;
use validation::longterm::Embedded;
use validation::{cades, ltv};

fuzz_target!(|data: &[u8]| {
    // The attribute values decoded straight from the input: what a hostile certificate-values,
    // revocation-values or ats-hash-index-v3 value holds.
    let _ = ltv::CertificateValues::from_der(data);
    let _ = ltv::RevocationValues::from_der(data);
    let _ = ltv::AtsHashIndexV3::from_der(data);

    let Ok(parsed) = cades::parse_cms_all(data) else {
        return;
    };
    let sd = &parsed.signed_data;
    // Bounded: a hostile input may claim many SignerInfos and tokens.
    for si in parsed.signers.iter().take(4) {
        let tokens = cades::timestamp_tokens(si);
        let tokens = &tokens[..tokens.len().min(4)];

        // The ats-hash-index-v3 of every token (signature time-stamps included, where it is
        // absent), checked and imprinted against this SignerInfo.
        let mut indexes = Vec::new();
        for token in tokens {
            let Ok(ci) = token.decode_as::<cms::content_info::ContentInfo>() else {
                continue;
            };
            if let Ok(tp) = cades::parse_signed_data(&ci.content) {
                if let Ok(index) = ltv::ats_hash_index_of(&tp.signer) {
                    indexes.push(index);
                }
            }
        }
        let archives = ltv::archive_timestamps(si).unwrap_or_default();
        let mut archive_tokens = Vec::new();
        for a in archives.iter().take(4) {
            let _ = ltv::check_ats_hash_index(sd, si, &a.index);
            let _ = ltv::ats_v3_imprint(sd, si, Some(data), a.hash, &a.index);
            let _ = ltv::ats_v3_imprint(sd, si, None, a.hash, &a.index);
            if let Ok(any) = der::asn1::Any::encode_from(&a.token) {
                archive_tokens.push(any);
            }
        }
        for index in indexes.iter().take(4) {
            let _ = ltv::check_ats_hash_index(sd, si, index);
            let _ = ltv::ats_v3_imprint(sd, si, None, index.hash_algorithm(), index);
            let _ = ltv::index_covers(
                index,
                pkix::oid::ID_AA_ETS_ARCHIVE_TIMESTAMP_V3,
                &der::asn1::Any::null(),
            );
        }

        // The validation data of the signature and of its time-stamp tokens; every OCSP
        // response found is checked against the certificates found (bounded pairs).
        let mut all: Vec<&der::asn1::Any> = tokens.to_vec();
        all.extend(archive_tokens.iter());
        let embedded = Embedded::gather(sd, si, &all);
        let _ = embedded.has_revocation_values();
        let certs = &embedded.certificates[..embedded.certificates.len().min(3)];
        let pool: Vec<_> = certs.iter().collect();
        for der in embedded.ocsp.iter().take(2) {
            for cert in certs {
                for issuer in certs {
                    let _ = check_ocsp_response(der, cert, issuer, &pool);
                }
            }
        }
    }
});
