//! HTTP front of the responder (RFC 6960 Appendix A, RFC 5019 §5–6).
//!
//! Every OCSP-level outcome, errors included, is HTTP 200 with an `application/ocsp-response`
//! body: that is what OCSP clients parse (an HTML error page, or a bare 4xx/5xx, only makes
//! them report a transport failure).

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, EXPIRES, IF_NONE_MATCH, LAST_MODIFIED,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use x509_ocsp::OcspResponseStatus;

use super::request::decode_get_path;
use super::responder::{OcspReply, OcspResponder};
use super::response::unix_now;

/// Media type of OCSP requests.
pub const CONTENT_TYPE_REQUEST: &str = "application/ocsp-request";
/// Media type of OCSP responses.
pub const CONTENT_TYPE_RESPONSE: &str = "application/ocsp-response";

/// Routes `POST /ocsp` (also `/ocsp/`) and `GET /ocsp/{url-encoded base64 request}` (HEAD
/// too). Merge it into the service's router.
pub fn ocsp_router(responder: OcspResponder) -> Router {
    Router::new()
        .route("/ocsp", post(post_request).get(get_without_request))
        .route("/ocsp/", post(post_request).get(get_without_request))
        .route("/ocsp/{*request}", get(get_request).post(post_request))
        .with_state(responder)
}

async fn post_request(State(responder): State<OcspResponder>, request: Request) -> Response {
    let max = responder.config().max_request_bytes;
    // Refuse a declared oversized body before reading any of it.
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return http_response(OcspReply::error(OcspResponseStatus::MalformedRequest), None);
    }
    // Otherwise (chunked, or lying), stop reading as soon as the limit is passed.
    let body = match axum::body::to_bytes(request.into_body(), max).await {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(error = %e, "OCSP request body refused");
            return http_response(OcspReply::error(OcspResponseStatus::MalformedRequest), None);
        }
    };
    http_response(responder.respond(&body).await, None)
}

async fn get_request(State(responder): State<OcspResponder>, request: Request) -> Response {
    let max = responder.config().max_request_bytes;
    // The raw (still percent-encoded) path: the extractor's decoding would refuse non-UTF-8
    // and turn a bad escape into a plain-text 400.
    let path = request.uri().path();
    let encoded = path
        .trim_start_matches('/')
        .strip_prefix("ocsp")
        .unwrap_or(path);
    let reply = match decode_get_path(encoded, max) {
        Ok(der) => responder.respond(&der).await,
        Err(e) => {
            tracing::debug!(error = %e, "OCSP GET path refused");
            OcspReply::error(OcspResponseStatus::MalformedRequest)
        }
    };
    http_response(reply, request.headers().get(IF_NONE_MATCH))
}

async fn get_without_request() -> Response {
    http_response(OcspReply::error(OcspResponseStatus::MalformedRequest), None)
}

fn http_date(unix: u64) -> Option<HeaderValue> {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(unix);
    HeaderValue::try_from(httpdate::fmt_http_date(t)).ok()
}

/// Does an `If-None-Match` header match `etag` (weak comparison, RFC 9110 §13.1.2)?
fn none_match(header: &HeaderValue, etag: &str) -> bool {
    let Ok(h) = header.to_str() else { return false };
    h.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// The HTTP response for an OCSP reply: the caching headers of RFC 5019 §6.2 for successful
/// responses (`Last-Modified` = thisUpdate, `Expires` = nextUpdate, `max-age` up to nextUpdate,
/// `ETag`), `no-store` for errors; `304 Not Modified` when a GET's `If-None-Match` matches.
pub(crate) fn http_response(reply: OcspReply, if_none_match: Option<&HeaderValue>) -> Response {
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_RESPONSE),
    );
    let mut status = StatusCode::OK;
    match (reply.validity_secs(), reply.etag()) {
        (Some((this_update, next_update)), Some(etag)) => {
            let max_age = next_update.saturating_sub(unix_now());
            if let Ok(v) = HeaderValue::try_from(format!(
                "max-age={max_age}, public, no-transform, must-revalidate"
            )) {
                headers.insert(CACHE_CONTROL, v);
            }
            if let Some(v) = http_date(this_update) {
                headers.insert(LAST_MODIFIED, v);
            }
            if let Some(v) = http_date(next_update) {
                headers.insert(EXPIRES, v);
            }
            if if_none_match.is_some_and(|h| none_match(h, &etag)) {
                status = StatusCode::NOT_MODIFIED;
            }
            if let Ok(v) = HeaderValue::try_from(etag) {
                headers.insert(ETAG, v);
            }
        }
        _ => {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    if status == StatusCode::NOT_MODIFIED {
        headers.remove(CONTENT_TYPE);
        return (status, headers, Body::empty()).into_response();
    }
    (status, headers, Body::from(reply.body())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert!(none_match(&h("\"ab\""), "\"ab\""));
        assert!(none_match(&h("\"x\", W/\"ab\""), "\"ab\""));
        assert!(none_match(&h("*"), "\"ab\""));
        assert!(!none_match(&h("\"abc\""), "\"ab\""));
    }

    #[test]
    fn error_replies_are_not_cached() {
        let r = http_response(OcspReply::error(OcspResponseStatus::TryLater), None);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], CONTENT_TYPE_RESPONSE);
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
        assert!(r.headers().get(ETAG).is_none());
    }
}
