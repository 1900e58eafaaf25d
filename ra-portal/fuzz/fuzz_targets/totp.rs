//! Fuzzes what the login form feeds the TOTP check: a base32 secret and a typed code. Never a
//! panic, and a code is accepted only when it is the one computed for an adjacent step.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (secret, code) = text.split_once('\n').unwrap_or((&text, ""));
    let now = 1_795_000_000;
    if let Some(step) = ra_portal::check_totp(secret, code, now) {
        let key = ra_portal::base32_decode(secret).expect("accepted secret decodes");
        assert!((ra_portal::current_step(now) - step).abs() <= 1);
        assert_eq!(
            ra_portal::totp_code(&key, step),
            code.trim().replace(' ', "")
        );
    }
});
