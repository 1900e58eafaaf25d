//! Any datagram that reaches the clock guard's SNTP socket goes through
//! `sntp::read_reply`; it must never panic, and a sample it accepts must be
//! one the clock guard can reason about.
//!
//! cargo +nightly fuzz run sntp_reply   (from tsa/)
#![no_main]

use libfuzzer_sys::fuzz_target;

/// 2026-12-05T00:00:00Z in Unix nanoseconds: when the request left.
const T1: i128 = 1_796_428_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    // As sent by an attacker who does not know the cookie, and by one who
    // does (the cookie echoed at octets 24..32, so the checks after it run).
    let mut cookies = vec![0x0123_4567_89ab_cdef_u64];
    if let Some(echo) = data.get(24..32) {
        let mut c = [0u8; 8];
        c.copy_from_slice(echo);
        cookies.push(u64::from_be_bytes(c));
    }
    for cookie in cookies {
        for rtt in [0, 1_000_000, 3_000_000_000] {
            match tsa::sntp::read_reply(data, cookie, T1, T1 + rtt) {
                Ok(Some(s)) => {
                    assert!((1..=15).contains(&s.stratum), "stratum {}", s.stratum);
                    assert!(s.delay_ns >= 0 && s.delay_ns <= rtt, "delay {}", s.delay_ns);
                    assert!(s.root_dispersion_ns >= 0);
                    assert!(s.error_bound_ns() >= s.offset_ns.abs());
                }
                Ok(None) => {
                    assert!(data.len() < 48 || data.get(24..32) != Some(&cookie.to_be_bytes()[..]))
                }
                Err(why) => assert!(!why.is_empty()),
            }
        }
    }
});
