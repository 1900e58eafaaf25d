//! HTTP front of the validation service (thin: decoding, limits, status codes).
//!
//! - `POST /api/v1/verify` — JSON `{"signature": base64 DER CMS, "content": base64
//!   (detached), "document_type": "prescription" | "medical-certificate" |
//!   "death-certificate" | "generic", "validation_time": RFC 3339 (optional)}` → `200` with
//!   the [`SignatureReport`](super::SignatureReport) whatever the indication; `422` with the
//!   report when the signature cannot even be decoded (FORMAT_FAILURE of undecodable
//!   input); `400` for a malformed request (JSON, base64, document type, time); `413` over
//!   the size limit; `415` without a JSON content type.
//! - `POST /api/v1/verify/certificate` — JSON `{"certificate": base64 DER or PEM text,
//!   "validation_time"?}` → `200` with the [`CertificateReport`](super::CertificateReport).
//!
//! Errors are JSON `{"error": "...", "detail": "..."}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{parse_certificates, DocumentKind, SignatureInput, SubIndication, Validator};

/// Largest request body accepted (base64 of a signature plus its content).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The routes, over a shared validator.
pub fn router(validator: Arc<Validator>) -> Router {
    Router::new()
        .route("/api/v1/verify", post(verify_signature))
        .route("/api/v1/verify/certificate", post(verify_certificate))
        .with_state(validator)
}

/// A refused request: status and JSON `{"error", "detail"}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    error: &'static str,
    detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({"error": self.error, "detail": self.detail})),
        )
            .into_response()
    }
}

fn error(status: StatusCode, error: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError {
        status,
        error,
        detail: detail.into(),
    }
}

fn bad_request(detail: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, "bad request", detail)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    signature: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    document_type: Option<String>,
    #[serde(default)]
    validation_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateRequest {
    certificate: String,
    #[serde(default)]
    validation_time: Option<String>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn parse_json<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if !is_json(headers) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            "Content-Type must be application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON request: {e}")))
}

/// The body, refused with `413` as soon as its declared length exceeds the limit (a client
/// announcing a huge body gets its answer at once), or once more than the limit was read.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload too large",
            format!("the request body is limited to {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

fn b64(field: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| bad_request(format!("{field} is not valid base64: {e}")))
}

fn time_of(s: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    s.map(|t| {
        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| bad_request(format!("validation_time is not RFC 3339: {e}")))
    })
    .transpose()
}

async fn verify_signature(
    State(v): State<Arc<Validator>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let req: VerifyRequest = match parse_json(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let signature = match b64("signature", &req.signature) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if signature.is_empty() {
        return bad_request("signature is empty").into_response();
    }
    let content = match req
        .content
        .as_deref()
        .map(|c| b64("content", c))
        .transpose()
    {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let document = match req
        .document_type
        .as_deref()
        .unwrap_or("generic")
        .parse::<DocumentKind>()
    {
        Ok(d) => d,
        Err(e) => return bad_request(e).into_response(),
    };
    let validation_time = match time_of(req.validation_time.as_deref()) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let report = v
        .validate_signature(SignatureInput {
            signature: &signature,
            content: content.as_deref(),
            document,
            validation_time,
        })
        .await;
    let undecodable = report.sub_indication == Some(SubIndication::FormatFailure)
        && report.checks.failed("format");
    let status = if undecodable {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut body = serde_json::to_value(&report).unwrap_or_default();
    if undecodable {
        if let Some(o) = body.as_object_mut() {
            o.insert(
                "error".into(),
                serde_json::Value::String("the signature is not a decodable CMS SignedData".into()),
            );
        }
    }
    (status, Json(body)).into_response()
}

async fn verify_certificate(
    State(v): State<Arc<Validator>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let req: CertificateRequest = match parse_json(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let trimmed = req.certificate.trim();
    let bytes = if trimmed.starts_with("-----") {
        trimmed.as_bytes().to_vec()
    } else {
        match b64("certificate", trimmed) {
            Ok(b) => b,
            Err(r) => return r.into_response(),
        }
    };
    let cert = match parse_certificates(&bytes) {
        Ok(mut c) if !c.is_empty() => c.swap_remove(0),
        Ok(_) => return bad_request("no certificate").into_response(),
        Err(e) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "not a certificate", e).into_response()
        }
    };
    let validation_time = match time_of(req.validation_time.as_deref()) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let report = v.validate_certificate(&cert, validation_time).await;
    (StatusCode::OK, Json(report)).into_response()
}
