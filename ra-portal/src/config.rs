//! `[portal]` section of igc.toml.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Settings of the RA portal. Every field has a default except the TLS files, which may be
/// left out in development (the binary then uses [`crate::tls::self_signed`]); a key left
/// out takes its value from [`PortalConfig::default`].
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Listening address of the portal's own TLS listener.
    pub listen: SocketAddr,
    /// PEM certificate chain of the portal's TLS server certificate.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) of the portal's TLS server certificate.
    pub tls_key: Option<PathBuf>,
    /// A session unused for this long ends (seconds).
    pub session_idle_timeout_secs: u64,
    /// A session ends this long after login whatever its use (seconds).
    pub session_max_lifetime_secs: u64,
    /// Failed logins in a row before the account is locked.
    pub max_failed_logins: u32,
    /// How long a locked account stays locked (seconds).
    pub lockout_secs: u64,
    /// Issuer name shown in authenticator apps (TOTP enrolment).
    pub totp_issuer: String,
    /// Largest request body accepted (CSR uploads, forms), in bytes.
    pub max_body_bytes: usize,
    /// How long a one-time password (new or reset account) may open its one enrolment
    /// session (seconds).
    pub one_time_password_validity_secs: u64,
    /// What the portal's TLS listener grants each connection (`[portal.limits]`).
    pub limits: ca::limits::ListenerLimits,
    /// Password logins from one source address (an IPv6 /64 counts as one): a burst of this
    /// many, then this many per minute; past it, 429 before any password check.
    pub login_attempts_per_address_per_minute: u32,
    /// Password logins naming one login, whether or not the account exists: a burst of this
    /// many, then this many per minute; past it, 429 before any password check.
    pub login_attempts_per_login_per_minute: u32,
    /// Source addresses, and logins, whose attempts are remembered (each); past it the
    /// least informative are forgotten, so memory stays bounded.
    pub login_tracked_keys: usize,
    /// Password hashes and verifications (argon2) running at once, on the blocking pool.
    pub login_max_concurrent_hashes: usize,
    /// Logins waiting for a hashing slot; one more is refused at once (503).
    pub login_max_waiting_hashes: usize,
    /// How long a login waits for a hashing slot before it is refused (503), milliseconds.
    pub login_hash_wait_ms: u64,
    /// Period of the aggregated journal entries of refused unknown logins and of attempts
    /// refused by these limits (seconds).
    pub login_refusals_journal_secs: u64,
    /// Wrong revocation codes in a row that lock a professional's online declarations of
    /// loss or theft.
    pub loss_max_failed_codes: u32,
    /// How long those declarations stay locked (seconds); the Order can still suspend.
    pub loss_lock_secs: u64,
}

/// Bounds of the login limits: beyond them a setting is a typo or disables the protection.
const PER_ADDRESS: std::ops::RangeInclusive<u32> = 1..=100_000;
const PER_LOGIN: std::ops::RangeInclusive<u32> = 1..=10_000;
const TRACKED_KEYS: std::ops::RangeInclusive<usize> = 100..=1_000_000;
const CONCURRENT_HASHES: std::ops::RangeInclusive<usize> = 1..=64;
const WAITING_HASHES: std::ops::RangeInclusive<usize> = 0..=10_000;
const HASH_WAIT_MS: std::ops::RangeInclusive<u64> = 1..=60_000;
const REFUSALS_JOURNAL_SECS: std::ops::RangeInclusive<u64> = 1..=3_600;
const LOSS_FAILED_CODES: std::ops::RangeInclusive<u32> = 1..=100;
const LOSS_LOCK_SECS: std::ops::RangeInclusive<u64> = 60..=30 * 86_400;

/// A `[portal]` setting out of its range.
#[derive(Debug, thiserror::Error)]
#[error("[portal] {key} = {value}: must be between {min} and {max}")]
pub struct PortalConfigError {
    pub key: &'static str,
    pub value: String,
    pub min: String,
    pub max: String,
}

fn check<T: PartialOrd + std::fmt::Display>(
    key: &'static str,
    value: T,
    range: &std::ops::RangeInclusive<T>,
) -> Result<(), PortalConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(PortalConfigError {
            key,
            value: value.to_string(),
            min: range.start().to_string(),
            max: range.end().to_string(),
        })
    }
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls_cert: None,
            tls_key: None,
            session_idle_timeout_secs: 15 * 60,
            session_max_lifetime_secs: 10 * 3600,
            max_failed_logins: 5,
            lockout_secs: 15 * 60,
            totp_issuer: "IGC Santé".to_owned(),
            max_body_bytes: 256 * 1024,
            one_time_password_validity_secs: 72 * 3600,
            limits: ca::limits::ListenerLimits::default(),
            login_attempts_per_address_per_minute: 30,
            login_attempts_per_login_per_minute: 10,
            login_tracked_keys: 10_000,
            login_max_concurrent_hashes: 2,
            login_max_waiting_hashes: 32,
            login_hash_wait_ms: 2_000,
            login_refusals_journal_secs: 60,
            loss_max_failed_codes: 10,
            loss_lock_secs: 24 * 3600,
        }
    }
}

impl PortalConfig {
    /// Refuses settings out of range (the login limits), naming the key and its bounds.
    pub fn validate(&self) -> Result<(), PortalConfigError> {
        check(
            "login_attempts_per_address_per_minute",
            self.login_attempts_per_address_per_minute,
            &PER_ADDRESS,
        )?;
        check(
            "login_attempts_per_login_per_minute",
            self.login_attempts_per_login_per_minute,
            &PER_LOGIN,
        )?;
        check("login_tracked_keys", self.login_tracked_keys, &TRACKED_KEYS)?;
        check(
            "login_max_concurrent_hashes",
            self.login_max_concurrent_hashes,
            &CONCURRENT_HASHES,
        )?;
        check(
            "login_max_waiting_hashes",
            self.login_max_waiting_hashes,
            &WAITING_HASHES,
        )?;
        check("login_hash_wait_ms", self.login_hash_wait_ms, &HASH_WAIT_MS)?;
        check(
            "login_refusals_journal_secs",
            self.login_refusals_journal_secs,
            &REFUSALS_JOURNAL_SECS,
        )?;
        check(
            "loss_max_failed_codes",
            self.loss_max_failed_codes,
            &LOSS_FAILED_CODES,
        )?;
        check("loss_lock_secs", self.loss_lock_secs, &LOSS_LOCK_SECS)?;
        Ok(())
    }

    /// What locks a professional's online declarations of loss.
    pub fn loss_policy(&self) -> ca::workflow::LossPolicy {
        ca::workflow::LossPolicy {
            max_failures: self.loss_max_failed_codes,
            lock: Duration::from_secs(self.loss_lock_secs),
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.session_idle_timeout_secs)
    }

    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.session_max_lifetime_secs)
    }

    pub fn one_time_password_validity(&self) -> Duration {
        Duration::from_secs(self.one_time_password_validity_secs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[derive(Deserialize)]
    struct Igc {
        portal: PortalConfig,
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let c: Igc = toml_like("[portal]\n");
        assert_eq!(c.portal, PortalConfig::default());
        assert_eq!(c.portal.listen.to_string(), "127.0.0.1:8443");
    }

    fn toml_like(s: &str) -> Igc {
        // serde_json stands in for TOML here (the crate does not depend on toml).
        let _ = s;
        serde_json::from_str(r#"{"portal": {}}"#).unwrap()
    }

    #[test]
    fn login_limits_out_of_range_are_refused_by_name() {
        assert!(PortalConfig::default().validate().is_ok());
        let c = PortalConfig {
            login_max_concurrent_hashes: 0,
            ..PortalConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("login_max_concurrent_hashes = 0"), "{e}");
        assert!(e.contains("between 1 and 64"), "{e}");
        let c = PortalConfig {
            login_attempts_per_login_per_minute: 0,
            ..PortalConfig::default()
        };
        assert!(c.validate().is_err());
        let c = PortalConfig {
            login_refusals_journal_secs: 3_601,
            ..PortalConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn unknown_field_refused() {
        let r: Result<Igc, _> = serde_json::from_str(r#"{"portal": {"lisen": "x"}}"#);
        assert!(r.is_err());
    }
}
