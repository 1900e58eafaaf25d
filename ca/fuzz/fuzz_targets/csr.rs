//! Fuzzes the PKCS#10 parser and key policy behind every CSR upload (`igc cert request`, the
//! RA portal): PEM or DER in, a checked request or an error out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((checked, _kind)) = ca::issuance::check_csr(data) {
        // Whatever was accepted carries a key whose possession was proven.
        assert!(!checked.subject_spki.subject_public_key.raw_bytes().is_empty());
    }
});
