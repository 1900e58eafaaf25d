//! Any certificates, as a relying party receives them (a chain in a signature, a pool of
//! intermediates, a foreign trust anchor), go through RFC 5280 path building and validation:
//! extensions, name constraints, policies, the backtracking search. None may panic, and the
//! work stays within the budget.
//!
//! Input: concatenated DER certificates; the first is the end entity, the last the trust
//! anchor, those between the pool (in arrival order).
//!
//! cargo +nightly fuzz run validate_path   (from tsa/validation/)
#![no_main]

use der::{Decode, Reader, SliceReader};
use libfuzzer_sys::fuzz_target;
use validation::path::{validate_path_within, LinkCache, PathOptions, PolicyInputs};
use validation::{Budget, ValidationLimits};
use x509_cert::Certificate;

fuzz_target!(|data: &[u8]| {
    let mut certs = Vec::new();
    let Ok(mut reader) = SliceReader::new(data) else {
        return;
    };
    while !reader.is_finished() && certs.len() < 8 {
        match Certificate::decode(&mut reader) {
            Ok(c) => certs.push(c),
            Err(_) => break,
        }
    }
    let Some((ee, rest)) = certs.split_first() else {
        return;
    };
    let anchors: Vec<Certificate> = rest.last().cloned().into_iter().collect();
    let pool: Vec<&Certificate> = rest.iter().collect();
    let budget = Budget::new(&ValidationLimits::default(), std::time::Instant::now());
    for explicit in [false, true] {
        let options = PathOptions {
            at: Some(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)),
            policy: PolicyInputs {
                initial_explicit_policy: explicit,
                ..PolicyInputs::default()
            },
        };
        let _ = validate_path_within(ee, &pool, &anchors, &LinkCache::default(), &budget, &options);
    }
});
