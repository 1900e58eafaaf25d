//! What the network may cost us, and the count of what these limits refused.
//!
//! Every listener (`main`, `portal`, `tsa`) and every service behind it counts each request or
//! connection it refuses or degrades because of a limit in one Prometheus counter,
//! [`REFUSED_METRIC`], labelled by listener and reason, so that an operator sees an attack
//! (and a limit set too low) on `/metrics`.
//!
//! [`ListenerLimits`] are what each listener grants one connection (`[server.limits]`,
//! `[portal.limits]`, `[tsa.limits]` in `igc.toml`); [`serve`] is the accept loop that applies
//! them to the main listener and the portal, [`body_deadline`] the layer that bounds the time a
//! request body may take on every listener.

mod body;
mod server;

use std::time::Duration;

use serde::Deserialize;

pub use body::{body_deadline, BodyDeadline};
pub use server::{serve, ConnectionGate, Handshake, PlainTcp, SHUTDOWN_GRACE};

/// Counter of requests and connections refused or degraded by a limit.
pub const REFUSED_METRIC: &str = "igc_http_refused_total";

/// The main listener (`server.listen`: OCSP, CRLs, validation, directory, `/tsa`).
pub const LISTENER_MAIN: &str = "main";
/// The RA portal's TLS listener (`portal.listen`).
pub const LISTENER_PORTAL: &str = "portal";
/// The TSA's dedicated listener (`tsa.listen`).
pub const LISTENER_TSA: &str = "tsa";

/// Counts one refusal: `listener` is one of the `LISTENER_*` names, `reason` a short
/// snake_case word naming the limit (`connection_limit`, `login_rate`, `validation_busy`, …).
pub fn count_refused(listener: &'static str, reason: &'static str) {
    metrics::counter!(REFUSED_METRIC, "listener" => listener, "reason" => reason).increment(1);
}

/// What one listener grants its clients. Every field has a default; out-of-range values are
/// refused by [`ListenerLimits::validate`] when the configuration is read.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerLimits {
    /// Connections open at once; one more is closed as soon as it is accepted (counted as
    /// `connection_limit`). It must cover the slow clients an attacker can hold open while the
    /// other limits below cut them off, plus the legitimate ones.
    pub max_connections: usize,
    /// Time to receive a request's headers. On HTTP/1 it also bounds the wait for the next
    /// request on a kept-alive connection (hyper counts that wait as header reading).
    pub header_read_timeout_secs: u64,
    /// Time to receive a request's whole body, from the moment its headers arrived; beyond it
    /// the answer is `408 Request Timeout` and the connection is closed.
    pub body_read_timeout_secs: u64,
    /// A connection with no request in progress and no byte exchanged for this long is closed
    /// (HTTP/2 and HTTP/1 alike; see `header_read_timeout_secs` for HTTP/1).
    pub keep_alive_idle_secs: u64,
    /// Time a client has to complete the TLS handshake (TLS listeners only: the portal).
    pub tls_handshake_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// HTTP/2: streams one connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2: flow-control window of a stream and of a connection, in bytes: what a client
    /// may send before we read it.
    pub http2_window_bytes: u32,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            keep_alive_idle_secs: 10,
            tls_handshake_timeout_secs: 10,
            max_header_bytes: 64 * 1024,
            http2_max_concurrent_streams: 100,
            http2_window_bytes: 1024 * 1024,
        }
    }
}

/// The ranges [`ListenerLimits::validate`] accepts.
const MAX_CONNECTIONS: std::ops::RangeInclusive<usize> = 16..=1_000_000;
const TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 1..=3600;
const HEADER_BYTES: std::ops::RangeInclusive<usize> = 8 * 1024..=1024 * 1024;
const HTTP2_STREAMS: std::ops::RangeInclusive<u32> = 1..=1000;
// h2 refuses windows above 2^31 - 1; below 64 KiB is the protocol's default, which a client
// may use before our settings reach it.
const HTTP2_WINDOW: std::ops::RangeInclusive<u32> = 65_535..=(1 << 30);

impl ListenerLimits {
    /// Refuses values out of range, naming the key; `section` is where they were read
    /// (`server.limits`, …).
    pub fn validate(&self, section: &str) -> Result<(), String> {
        fn check<T: PartialOrd + std::fmt::Display>(
            section: &str,
            key: &str,
            value: T,
            range: std::ops::RangeInclusive<T>,
        ) -> Result<(), String> {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "[{section}] {key} = {value} is out of range: give {}..={}",
                    range.start(),
                    range.end()
                ))
            }
        }
        check(
            section,
            "max_connections",
            self.max_connections,
            MAX_CONNECTIONS,
        )?;
        for (key, value) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("body_read_timeout_secs", self.body_read_timeout_secs),
            ("keep_alive_idle_secs", self.keep_alive_idle_secs),
            (
                "tls_handshake_timeout_secs",
                self.tls_handshake_timeout_secs,
            ),
        ] {
            check(section, key, value, TIMEOUT_SECS)?;
        }
        check(
            section,
            "max_header_bytes",
            self.max_header_bytes,
            HEADER_BYTES,
        )?;
        check(
            section,
            "http2_max_concurrent_streams",
            self.http2_max_concurrent_streams,
            HTTP2_STREAMS,
        )?;
        check(
            section,
            "http2_window_bytes",
            self.http2_window_bytes,
            HTTP2_WINDOW,
        )
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    pub fn keep_alive_idle(&self) -> Duration {
        Duration::from_secs(self.keep_alive_idle_secs)
    }

    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.tls_handshake_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_are_refused_by_name() {
        ListenerLimits::default().validate("server.limits").unwrap();
        let zero_timeout = ListenerLimits {
            header_read_timeout_secs: 0,
            ..ListenerLimits::default()
        };
        let e = zero_timeout.validate("portal.limits").unwrap_err();
        assert!(
            e.contains("[portal.limits] header_read_timeout_secs = 0"),
            "{e}"
        );
        let few = ListenerLimits {
            max_connections: 15,
            ..ListenerLimits::default()
        };
        assert!(few.validate("tsa.limits").is_err());
        let at_floor = ListenerLimits {
            max_connections: 16,
            http2_window_bytes: 65_535,
            ..ListenerLimits::default()
        };
        at_floor.validate("tsa.limits").unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let parsed: Result<ListenerLimits, _> = toml::from_str("max_conections = 10");
        assert!(parsed.is_err());
        let parsed: ListenerLimits = toml::from_str("max_connections = 100").unwrap();
        assert_eq!(parsed.max_connections, 100);
        assert_eq!(parsed.header_read_timeout_secs, 10);
    }
}
