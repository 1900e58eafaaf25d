//! Fuzzes the OCSP request parsers: DER (`POST /ocsp` bodies) and the GET path decoder
//! (`GET /ocsp/{url-encoded base64}`), which must return a request or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = ca::ocsp::parse_request(data, 8) {
        assert!(!req.certs.is_empty() && req.certs.len() <= 8);
        if let Some(n) = &req.nonce {
            assert!(!n.as_bytes().is_empty());
        }
        for c in &req.certs {
            let _ = c.serial_octets();
        }
    }
    if let Ok(path) = std::str::from_utf8(data) {
        if let Ok(der) = ca::ocsp::decode_get_path(path, 8192) {
            assert!(der.len() <= 8192);
            let _ = ca::ocsp::parse_request(&der, 8);
        }
    }
});
