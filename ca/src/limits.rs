//! What the network may cost us, and the count of what these limits refused.
//!
//! Every listener (`main`, `portal`, `tsa`) and every service behind it counts each request or
//! connection it refuses or degrades because of a limit in one Prometheus counter,
//! [`REFUSED_METRIC`], labelled by listener and reason, so that an operator sees an attack
//! (and a limit set too low) on `/metrics`.

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
