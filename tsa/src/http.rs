//! HTTP transport (RFC 3161 §3.4): `POST /tsa`.
//!
//! - `Content-Type: application/timestamp-query` → `200` with
//!   `application/timestamp-reply`, whether a token was granted or not:
//!   every refusal is an RFC 3161 rejection with its failInfo, never an
//!   HTTP error (clients parse the reply; a 5xx would hide why).
//! - A body larger than the configured limit is refused with a
//!   `badDataFormat` reply, decided on `Content-Length` before reading
//!   anything, or after reading at most the limit for chunked bodies.
//! - Wrong or missing `Content-Type` → `415` with `Accept-Post`, and still
//!   an RFC 3161 rejection (`badRequest`) as body with the reply content
//!   type: a client that checks the HTTP status sees the protocol error
//!   at once, a client that only parses the body still gets a reply it
//!   understands.
//! - Other methods → `405` with `Allow: POST` (not a time-stamp exchange:
//!   browsers, probes).
//!
//! [`router`] serves `POST /tsa` only; [`listener_router`] adds `/healthz`
//! and `/readyz` (the TSA's dedicated listener serves it; `igc serve` gives
//! it, through [`listener_router_with_probe`], the HSM probe its main
//! listener uses, so that every `/readyz` shares one probe signature a
//! second);
//! [`standalone_router`] adds `GET /tsa/status` too (JSON
//! [`crate::TsaStatus`]: clock offsets, recorder errors — operator
//! information, best not exposed to the Internet), for running the TSA on
//! its own (tests, benchmarks). In `igc serve`, the main `/readyz` should
//! AND in [`TimeStampAuthority::is_ready`].

use std::sync::Arc;

use axum::extract::Request;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;

use crate::asn1::{rejection_der, FailureInfo};
use crate::authority::TimeStampAuthority;
use crate::probe::{ProbeReport, SignerProbe};

/// Request media type (RFC 3161 §3.4).
pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
/// Reply media type (RFC 3161 §3.4).
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

/// `POST /tsa`.
pub fn router(tsa: TimeStampAuthority) -> Router {
    Router::new()
        .route("/tsa", post(time_stamp).fallback(any(method_not_allowed)))
        .with_state(tsa)
}

/// [`router`] plus `/healthz` and `/readyz` with a probe signature
/// ([`listener_readyz`]): what the TSA's dedicated listener
/// ([`crate::listener`]) serves, for the load balancer in front of it (no
/// status page: operator information stays on the main listener).
pub fn listener_router(tsa: TimeStampAuthority) -> Router {
    let probe = tsa.signer_probe();
    listener_router_with_probe(tsa, probe)
}

/// [`listener_router`] whose `/readyz` reports `probe`: the HSM probe shared
/// with the other listeners of the process.
pub fn listener_router_with_probe(tsa: TimeStampAuthority, probe: Arc<SignerProbe>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(listener_readyz))
        .with_state(ListenerState {
            tsa: tsa.clone(),
            probe,
        })
        .merge(router(tsa))
}

/// What the dedicated listener's `/readyz` reads.
#[derive(Clone, Debug)]
pub struct ListenerState {
    tsa: TimeStampAuthority,
    probe: Arc<SignerProbe>,
}

/// [`listener_router`] plus `GET /tsa/status`.
pub fn standalone_router(tsa: TimeStampAuthority) -> Router {
    Router::new()
        .route("/tsa/status", get(status))
        .with_state(tsa.clone())
        .merge(listener_router(tsa))
}

fn reply(status: StatusCode, der: Vec<u8>) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(REPLY_CONTENT_TYPE),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        der,
    )
        .into_response()
}

fn is_query(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(QUERY_CONTENT_TYPE))
}

async fn time_stamp(State(tsa): State<TimeStampAuthority>, request: Request) -> Response {
    // The whole request rather than a `HeaderMap` extractor, which clones
    // the headers.
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    if !is_query(headers) {
        let mut r = reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            rejection_der(
                FailureInfo::BadRequest,
                "Content-Type must be application/timestamp-query",
            ),
        );
        r.headers_mut()
            .insert("accept-post", HeaderValue::from_static(QUERY_CONTENT_TYPE));
        metrics::counter!("tsa_requests_total", "outcome" => "rejected", "failure" => "badRequest")
            .increment(1);
        return r;
    }
    let limit = tsa.max_request_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        metrics::counter!("tsa_requests_total", "outcome" => "rejected", "failure" => "badDataFormat")
            .increment(1);
        reply(
            StatusCode::OK,
            rejection_der(
                FailureInfo::BadDataFormat,
                &format!("the request is larger than {limit} bytes"),
            ),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    let r = tsa.respond(&bytes).await;
    reply(StatusCode::OK, r.der)
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [
            (header::ALLOW, "POST"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "POST an application/timestamp-query (RFC 3161) to this URL\n",
    )
        .into_response()
}

/// `GET /tsa/status`: the [`crate::TsaStatus`] as JSON.
pub async fn status(State(tsa): State<TimeStampAuthority>) -> Response {
    axum::Json(tsa.status()).into_response()
}

async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// `/readyz`: 200 when tokens can be issued as far as the clock and the
/// recorder go, 503 with the reasons otherwise (the HSM is `igc serve`'s
/// own readiness probe on the main listener).
pub async fn readyz(State(tsa): State<TimeStampAuthority>) -> Response {
    readiness(&tsa, None)
}

/// `/readyz` of the dedicated listener: [`readyz`] and the HSM probe
/// ([`crate::probe::SignerProbe`]: at most one signature a second, shared by
/// every caller and, in `igc serve`, every listener), so that a load
/// balancer in front of the TSA port also sees an HSM outage. The probe
/// signs on a blocking thread: a listener thread's connections do not wait
/// for it.
pub async fn listener_readyz(State(state): State<ListenerState>) -> Response {
    let hsm = state.probe.check().await;
    readiness(&state.tsa, Some(hsm))
}

fn readiness(tsa: &TimeStampAuthority, hsm: Option<ProbeReport>) -> Response {
    let st = tsa.status();
    let ready = st.ready && hsm.as_ref().is_none_or(|h| h.outcome.is_ok());
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "clock_trusted": st.clock.trusted,
        "clock_reasons": st.clock.reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "recorder_healthy": st.recorder.healthy,
    });
    if let Some(h) = hsm {
        body["hsm"] = serde_json::Value::String(match h.outcome {
            Ok(()) => "ok".to_owned(),
            Err(e) => e,
        });
        if let Some(at) = h.checked_unix_ms {
            body["hsm_checked_unix_ms"] = at.into();
        }
    }
    (code, axum::Json(body)).into_response()
}
