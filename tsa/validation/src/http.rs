//! HTTP front of the validation service (thin: decoding, limits, status codes).
//!
//! - `POST /api/v1/verify` — JSON `{"signature": base64 DER CMS, "content": base64
//!   (detached), "document_type": "prescription" | "medical-certificate" |
//!   "death-certificate" | "generic", "validation_time": RFC 3339 (optional)}` → `200` with
//!   the [`SignatureReport`](crate::SignatureReport) whatever the indication; `422` with the
//!   report when the signature cannot even be decoded (FORMAT_FAILURE of undecodable
//!   input); `400` for a malformed request (JSON, base64, document type, time); `413` over
//!   `validation.max_body_bytes`; `415` without a JSON content type.
//! - `POST /api/v1/verify/certificate` — JSON `{"certificate": base64 DER or PEM text,
//!   "validation_time"?}` → `200` with the [`CertificateReport`](crate::CertificateReport).
//!
//! Errors are JSON `{"error": "...", "detail": "..."}`, with `"limit"` (the configuration key
//! of the limit) when a limit refused the request and `"retry_after"` (seconds, also in the
//! `Retry-After` header) when trying again later may succeed:
//! - `413` `payload too large`, limit `max_body_bytes`;
//! - `422` `validation limit exceeded`: the input needs more than the limits allow —
//!   `max_certificates`, `max_certificate_bytes`, `der_set_elements`, `der_nesting`,
//!   `max_candidates_per_level`, `max_work`;
//! - `503` `validation service busy` (every slot of `max_concurrent` taken for
//!   `queue_wait_ms`) and `503` `validation deadline exceeded` (limit `deadline_ms`).
//!
//! Validations run on Tokio's blocking pool, at most
//! [`ValidationLimits::concurrency`](crate::ValidationLimits::concurrency) at once, so that
//! the async workers keep serving OCSP, CRLs and the other requests. Each refusal is counted
//! in `igc_http_refused_total{listener="main", reason}` ([`ca::limits`]).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use time::OffsetDateTime;

use der::Decode;

use crate::{
    limits, Budget, DocumentKind, LimitExceeded, SignatureInput, SubIndication, Validator,
};

/// The DER of the first certificate of PEM text (one or several blocks) or DER bytes.
fn first_certificate_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text_start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if text_start.is_some_and(|i| bytes[i..].starts_with(b"-----")) {
        let blocks = pem::parse_many(bytes).map_err(|e| format!("PEM certificate: {e}"))?;
        blocks
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .map(pem::Pem::into_contents)
            .ok_or_else(|| "no CERTIFICATE block in the PEM text".to_owned())
    } else if bytes.is_empty() {
        Err("no certificate".into())
    } else {
        Ok(bytes.to_vec())
    }
}

/// Seconds a refused client is asked to wait (`Retry-After`) when the service is busy or late:
/// a validation takes milliseconds, so a slot frees up quickly.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The routes, over a shared validator.
pub fn router(validator: Arc<Validator>) -> Router {
    Router::new()
        .route("/api/v1/verify", post(verify_signature))
        .route("/api/v1/verify/certificate", post(verify_certificate))
        .with_state(validator)
}

/// A refused request: status and JSON `{"error", "detail", "limit"?, "retry_after"?}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    error: &'static str,
    detail: String,
    limit: Option<&'static str>,
    retry_after: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"error": self.error, "detail": self.detail});
        if let Some(o) = body.as_object_mut() {
            if let Some(l) = self.limit {
                o.insert("limit".into(), l.into());
            }
            if let Some(r) = self.retry_after {
                o.insert("retry_after".into(), r.into());
            }
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(r) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(r));
        }
        response
    }
}

fn error(status: StatusCode, error: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError {
        status,
        error,
        detail: detail.into(),
        limit: None,
        retry_after: None,
    }
}

fn refused(reason: &'static str) {
    ca::limits::count_refused(ca::limits::LISTENER_MAIN, reason);
}

/// `422` for an input beyond a limit, `503` with `Retry-After` for the deadline; counted.
fn limit_error(e: &LimitExceeded) -> ApiError {
    refused(e.reason());
    if e.is_deadline() {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "validation deadline exceeded",
            detail: format!("{e}; the service is loaded, try again later"),
            limit: Some(e.limit()),
            retry_after: Some(RETRY_AFTER_SECS),
        }
    } else {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: "validation limit exceeded",
            detail: e.to_string(),
            limit: Some(e.limit()),
            retry_after: None,
        }
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
async fn read_body(
    max: usize,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        refused("validation_body_too_large");
        ApiError {
            limit: Some("max_body_bytes"),
            ..error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload too large",
                format!("the request body is limited to {max} bytes"),
            )
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large())
}

/// Runs `work` on the blocking pool in one of the validator's slots, within the request's
/// [`Budget`] and deadline (counted from now). Refuses with `503` when no slot frees up within
/// `queue_wait_ms` rather than queueing without bound.
async fn run<T, F, Fut>(v: &Arc<Validator>, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Arc<Validator>, Budget) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, LimitExceeded>>,
{
    let start = Instant::now();
    let limits = v.limits();
    let deadline = tokio::time::Instant::from_std(start + limits.deadline());
    let slot = tokio::time::timeout(limits.queue_wait(), v.slots().clone().acquire_owned()).await;
    let Ok(Ok(permit)) = slot else {
        refused("validation_busy");
        return Err(ApiError {
            retry_after: Some(RETRY_AFTER_SECS),
            ..error(
                StatusCode::SERVICE_UNAVAILABLE,
                "validation service busy",
                format!(
                    "all {} validation slots stayed busy for {} ms; try again later",
                    limits.concurrency(),
                    limits.queue_wait_ms
                ),
            )
        });
    };
    let runtime = tokio::runtime::Handle::current();
    let validator = v.clone();
    let deadline_ms = limits.deadline_ms;
    let task = tokio::task::spawn_blocking(move || {
        // The slot is held until the work really ends, even when the client was answered at
        // the deadline: the concurrency limit counts what runs, not what is awaited.
        let _permit = permit;
        let budget = Budget::new(validator.limits(), start);
        // The revocation and registry look-ups are awaited here; the timeout cancels one that
        // hangs, the budget stops the computation between them.
        runtime
            .block_on(tokio::time::timeout_at(deadline, work(validator, budget)))
            .unwrap_or(Err(LimitExceeded::Deadline { ms: deadline_ms }))
    });
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(Ok(done))) => Ok(done),
        Ok(Ok(Err(limit))) => Err(limit_error(&limit)),
        Ok(Err(join)) => {
            tracing::error!(error = %join, "validation task failed");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                "the validation failed unexpectedly",
            ))
        }
        // Still computing between two checks of its budget: answer now, it stops soon.
        Err(_) => Err(limit_error(&LimitExceeded::Deadline { ms: deadline_ms })),
    }
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

/// A request's JSON body, refused beyond `validation.max_body_bytes` or when it is not JSON.
struct JsonBody<T>(T);

impl<T: for<'de> Deserialize<'de> + Send> FromRequest<Arc<Validator>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, v: &Arc<Validator>) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let body = read_body(v.limits().max_body_bytes, &parts.headers, body).await?;
        parse_json(&parts.headers, &body).map(JsonBody)
    }
}

/// `POST /api/v1/verify`; a refused request is the error.
async fn verify_signature(
    State(v): State<Arc<Validator>>,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Response, ApiError> {
    let signature = b64("signature", &req.signature)?;
    if signature.is_empty() {
        return Err(bad_request("signature is empty"));
    }
    let content = req
        .content
        .as_deref()
        .map(|c| b64("content", c))
        .transpose()?;
    let document = req
        .document_type
        .as_deref()
        .unwrap_or("generic")
        .parse::<DocumentKind>()
        .map_err(bad_request)?;
    let validation_time = time_of(req.validation_time.as_deref())?;
    // A PDF is validated as PAdES: every signature and document time-stamp in it.
    let pdf = crate::pades::is_pdf(&signature);
    if pdf && content.is_some() {
        return Err(bad_request(
            "content: a PDF carries its own content; send the signed PDF alone",
        ));
    }
    let work = move |v: Arc<Validator>, budget: Budget| async move {
        if pdf {
            let at = validation_time.unwrap_or_else(OffsetDateTime::now_utc);
            return v
                .validate_pdf_within(&signature, document, at, &budget)
                .await;
        }
        let input = SignatureInput {
            content_ranges: None,
            pdf: None,
            signature: &signature,
            content: content.as_deref(),
            document,
            validation_time,
        };
        v.validate_signature_within(input, &budget).await
    };
    let report = run(&v, work).await?;
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
    Ok((status, Json(body)).into_response())
}

/// `POST /api/v1/verify/certificate`; a refused request is the error.
async fn verify_certificate(
    State(v): State<Arc<Validator>>,
    JsonBody(req): JsonBody<CertificateRequest>,
) -> Result<Response, ApiError> {
    let trimmed = req.certificate.trim();
    let bytes = if trimmed.starts_with("-----") {
        trimmed.as_bytes().to_vec()
    } else {
        b64("certificate", trimmed)?
    };
    let not_a_certificate = |detail: String| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a certificate",
            detail,
        )
    };
    // Measured and pre-scanned before it is decoded: decoding sorts the SETs of its names.
    let der = first_certificate_der(&bytes).map_err(not_a_certificate)?;
    limits::check_certificate_size(der.len(), v.limits())
        .and_then(|()| limits::prescan(&der, v.limits()))
        .map_err(|e| limit_error(&e))?;
    let cert = x509_cert::Certificate::from_der(&der)
        .map_err(|e| not_a_certificate(format!("DER certificate: {e}")))?;
    let validation_time = time_of(req.validation_time.as_deref())?;
    let work = move |v: Arc<Validator>, budget: Budget| async move {
        let question = crate::CertificateQuestion {
            at: validation_time,
            ..crate::CertificateQuestion::default()
        };
        v.validate_certificate_within(&cert, &question, &budget)
            .await
    };
    let report = run(&v, work).await?;
    Ok((StatusCode::OK, Json(report)).into_response())
}
