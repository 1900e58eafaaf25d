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
        }
    }
}

impl OcspConfig {
    /// Checks the values against sane bounds.
    pub fn validate(&self) -> Result<(), OcspError> {
        let bad = |field: &'static str, reason: String| OcspError::Config { field, reason };
        if !(60..=7 * 24 * 3600).contains(&self.response_validity_secs) {
            return Err(bad(
                "response_validity_secs",
                format!(
                    "{} is outside 60..=604800 (1 minute to 7 days)",
                    self.response_validity_secs
                ),
            ));
        }
        if self.refresh_margin_secs < 10
            || self.refresh_margin_secs * 2 > self.response_validity_secs
        {
            return Err(bad(
                "refresh_margin_secs",
                format!(
                    "{} must be at least 10 and at most half of response_validity_secs ({})",
                    self.refresh_margin_secs, self.response_validity_secs
                ),
            ));
        }
        if !(50..=60_000).contains(&self.poll_interval_ms) {
            return Err(bad(
                "poll_interval_ms",
                format!("{} is outside 50..=60000", self.poll_interval_ms),
            ));
        }
        if !(1..=256).contains(&self.max_certs_per_request) {
            return Err(bad(
                "max_certs_per_request",
                format!("{} is outside 1..=256", self.max_certs_per_request),
            ));
        }
        if !(256..=1024 * 1024).contains(&self.max_request_bytes) {
            return Err(bad(
                "max_request_bytes",
                format!("{} is outside 256..=1048576", self.max_request_bytes),
            ));
        }
        if self.cache_capacity < 64 {
            return Err(bad(
                "cache_capacity",
                format!("{} is below 64", self.cache_capacity),
            ));
        }
        Ok(())
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// How often cached responses are examined for refresh.
    pub(crate) fn refresh_tick(&self) -> Duration {
        Duration::from_secs((self.refresh_margin_secs / 8).clamp(1, 60))
    }
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
    }
}
