//! `[ocsp]` section of `igc.toml`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::OcspError;

/// Settings of the OCSP responder. Every field has a default, so an empty `[ocsp]` section
/// (or none) is valid; unknown keys are rejected.
///
/// ```toml
/// [ocsp]
/// response_validity_secs = 3600   # nextUpdate - thisUpdate
/// refresh_margin_secs = 900       # re-sign cached responses this long before nextUpdate
/// poll_interval_ms = 2000         # pick up changes made by other instances
/// max_certs_per_request = 8
/// max_request_bytes = 8192
/// cache_capacity = 500000         # serials whose signed responses are kept in memory
/// fresh_signatures_per_sec = 100  # HSM signatures the public may cause (nonces, unknown serials)
/// unknown_cache_capacity = 10000  # signed "unknown" answers kept, per serial
/// unknown_validity_secs = 300     # their nextUpdate - thisUpdate
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcspConfig {
    /// Validity of a response: nextUpdate = thisUpdate + this (clamped to the responder
    /// certificate's notAfter). Also the longest time a relying party may cache it.
    pub response_validity_secs: u64,
    /// A cached response is re-signed when less than this remains before its nextUpdate (if it
    /// was asked for since it was signed; otherwise it is dropped).
    pub refresh_margin_secs: u64,
    /// How often the journal is polled for certificate state changes made through other
    /// instances sharing the database.
    pub poll_interval_ms: u64,
    /// Most CertIDs accepted in one request (RFC 5019 clients send one).
    pub max_certs_per_request: usize,
    /// Largest request accepted, in octets (POST body, or decoded GET path).
    pub max_request_bytes: usize,
    /// Most serials (per responder instance) whose pre-signed responses are kept in memory;
    /// beyond it, random entries are evicted and signed again on demand.
    pub cache_capacity: usize,
    /// Most responses signed per second on the request path for answers that cannot come
    /// from the pre-signed cache: a nonce to echo, several CertIDs in one request, a serial no
    /// CA issued. Beyond it a nonce is dropped (the pre-signed response is served, RFC 9654
    /// lets a responder ignore the nonce), an unknown serial gets its cached signed answer or
    /// `tryLater`, a request with several CertIDs `tryLater`. Keeps the HSM sessions that
    /// issuance and time-stamping need out of the public's reach.
    pub fresh_signatures_per_sec: u32,
    /// Most serials whose signed `unknown` answers are kept in memory (apart from the cache of
    /// real certificates, which random serials therefore cannot evict).
    pub unknown_cache_capacity: usize,
    /// Validity (nextUpdate - thisUpdate) of an `unknown` answer, and so how long it is
    /// served from memory: short, as the serial may be issued (issuance here, or the journal
    /// for other instances, drops it at once). Never longer than `response_validity_secs`
    /// (clamped).
    pub unknown_validity_secs: u64,
}

impl Default for OcspConfig {
    fn default() -> Self {
        OcspConfig {
            response_validity_secs: 3600,
            refresh_margin_secs: 900,
            poll_interval_ms: 2000,
            max_certs_per_request: 8,
            max_request_bytes: 8192,
            cache_capacity: 500_000,
            fresh_signatures_per_sec: 100,
            unknown_cache_capacity: 10_000,
            unknown_validity_secs: 300,
        }
    }
}

impl OcspConfig {
    /// Checks the values against sane bounds.
    pub fn validate(&self) -> Result<(), OcspError> {
        within(
            "response_validity_secs",
            self.response_validity_secs,
            60..=7 * 24 * 3600,
            " (1 minute to 7 days)",
        )?;
        if self.refresh_margin_secs < 10
            || self.refresh_margin_secs * 2 > self.response_validity_secs
        {
            return Err(OcspError::Config {
                field: "refresh_margin_secs",
                reason: format!(
                    "{} must be at least 10 and at most half of response_validity_secs ({})",
                    self.refresh_margin_secs, self.response_validity_secs
                ),
            });
        }
        within("poll_interval_ms", self.poll_interval_ms, 50..=60_000, "")?;
        within(
            "max_certs_per_request",
            self.max_certs_per_request,
            1..=256,
            "",
        )?;
        within(
            "max_request_bytes",
            self.max_request_bytes,
            256..=1024 * 1024,
            "",
        )?;
        if self.cache_capacity < 64 {
            return Err(OcspError::Config {
                field: "cache_capacity",
                reason: format!("{} is below 64", self.cache_capacity),
            });
        }
        within(
            "fresh_signatures_per_sec",
            self.fresh_signatures_per_sec,
            1..=100_000,
            " (HSM signatures per second the public may cause)",
        )?;
        within(
            "unknown_cache_capacity",
            self.unknown_cache_capacity,
            64..=10_000_000,
            "",
        )?;
        within(
            "unknown_validity_secs",
            self.unknown_validity_secs,
            10..=7 * 24 * 3600,
            " (10 seconds to 7 days)",
        )
    }

    /// Validity of the signed answers for unknown serials.
    pub(crate) fn unknown_validity(&self) -> u64 {
        self.unknown_validity_secs.min(self.response_validity_secs)
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// How often cached responses are examined for refresh.
    pub(crate) fn refresh_tick(&self) -> Duration {
        Duration::from_secs((self.refresh_margin_secs / 8).clamp(1, 60))
    }
}

/// Refuses `value` of `field` when it lies outside `range`: "`{value} is outside
/// {start}..={end}`", followed by `note` (what the range means, or nothing).
fn within<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    note: &str,
) -> Result<(), OcspError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(OcspError::Config {
        field,
        reason: format!(
            "{value} is outside {}..={}{note}",
            range.start(),
            range.end()
        ),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_keys_rejected() {
        OcspConfig::default().validate().unwrap();
        let empty: OcspConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, OcspConfig::default());
        assert!(serde_json::from_str::<OcspConfig>(r#"{"validity": 10}"#).is_err());
        let c: OcspConfig = serde_json::from_str(r#"{"poll_interval_ms": 500}"#).unwrap();
        assert_eq!(c.poll_interval_ms, 500);
        assert!(c.poll_interval() <= Duration::from_secs(5));
    }

    #[test]
    fn bounds() {
        let mut c = OcspConfig {
            refresh_margin_secs: 1800,
            ..OcspConfig::default()
        };
        c.validate().unwrap();
        c.refresh_margin_secs = 1801;
        assert!(c.validate().is_err());
        let c = OcspConfig {
            max_certs_per_request: 0,
            ..OcspConfig::default()
        };
        assert!(c.validate().is_err());
        let c = OcspConfig {
            poll_interval_ms: 10,
            ..OcspConfig::default()
        };
        assert!(c.validate().is_err());
        for (rate, ok) in [(0, false), (1, true), (100_000, true), (100_001, false)] {
            let c = OcspConfig {
                fresh_signatures_per_sec: rate,
                ..OcspConfig::default()
            };
            assert_eq!(c.validate().is_ok(), ok, "{rate}");
        }
        let c = OcspConfig {
            unknown_cache_capacity: 63,
            ..OcspConfig::default()
        };
        assert!(c.validate().is_err());
        for (secs, ok) in [(9, false), (10, true), (604_800, true), (604_801, false)] {
            let c = OcspConfig {
                unknown_validity_secs: secs,
                ..OcspConfig::default()
            };
            let r = c.validate();
            assert_eq!(r.is_ok(), ok, "{secs}");
            if let Err(e) = r {
                assert!(e.to_string().contains("ocsp.unknown_validity_secs"), "{e}");
            }
        }
        let c = OcspConfig {
            response_validity_secs: 60,
            refresh_margin_secs: 30,
            ..OcspConfig::default()
        };
        c.validate().unwrap();
        assert_eq!(c.unknown_validity(), 60, "never longer than a real answer");
    }
}
