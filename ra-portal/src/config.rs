//! `[portal]` section of igc.toml.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Settings of the RA portal. Every field has a default except the TLS files, which may be
/// left out in development (the binary then uses [`crate::tls::self_signed`]).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// Listening address of the portal's own TLS listener.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain of the portal's TLS server certificate.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) of the portal's TLS server certificate.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// A session unused for this long ends (seconds).
    #[serde(default = "default_idle")]
    pub session_idle_timeout_secs: u64,
    /// A session ends this long after login whatever its use (seconds).
    #[serde(default = "default_lifetime")]
    pub session_max_lifetime_secs: u64,
    /// Failed logins in a row before the account is locked.
    #[serde(default = "default_max_failures")]
    pub max_failed_logins: u32,
    /// How long a locked account stays locked (seconds).
    #[serde(default = "default_lockout")]
    pub lockout_secs: u64,
    /// Issuer name shown in authenticator apps (TOTP enrolment).
    #[serde(default = "default_totp_issuer")]
    pub totp_issuer: String,
    /// Largest request body accepted (CSR uploads, forms), in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How long a one-time password (new or reset account) may open its one enrolment
    /// session (seconds).
    #[serde(default = "default_otp_validity")]
    pub one_time_password_validity_secs: u64,
    /// What the portal's TLS listener grants each connection (`[portal.limits]`).
    #[serde(default)]
    pub limits: ca::limits::ListenerLimits,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn default_idle() -> u64 {
    15 * 60
}
fn default_lifetime() -> u64 {
    10 * 3600
}
fn default_max_failures() -> u32 {
    5
}
fn default_lockout() -> u64 {
    15 * 60
}
fn default_totp_issuer() -> String {
    "IGC Santé".to_owned()
}
fn default_max_body() -> usize {
    256 * 1024
}
fn default_otp_validity() -> u64 {
    72 * 3600
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            listen: default_listen(),
            tls_cert: None,
            tls_key: None,
            session_idle_timeout_secs: default_idle(),
            session_max_lifetime_secs: default_lifetime(),
            max_failed_logins: default_max_failures(),
            lockout_secs: default_lockout(),
            totp_issuer: default_totp_issuer(),
            max_body_bytes: default_max_body(),
            one_time_password_validity_secs: default_otp_validity(),
            limits: ca::limits::ListenerLimits::default(),
        }
    }
}

impl PortalConfig {
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
    fn unknown_field_refused() {
        let r: Result<Igc, _> = serde_json::from_str(r#"{"portal": {"lisen": "x"}}"#);
        assert!(r.is_err());
    }
}
