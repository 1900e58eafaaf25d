//! JSON API for the Orders' software, under `/api/v1/…`, documented as OpenAPI 3.0 at
//! `/api/docs` (public). Same route table, same authorization middleware and same rules as the
//! HTML pages (role, Order scope of the object, four eyes, journal); the differences are the
//! transport: a bearer token (`Authorization: Bearer <token>`, from `POST /api/v1/sessions`)
//! instead of the session cookie, hence no form CSRF token, and JSON bodies. Every error is a
//! JSON object `{ "error": <machine code>, "message": <French text>, "fields"?: {…} }`.
//!
//! One file per subject, as for the pages: [`sessions`], [`professionals`], [`requests`],
//! [`certificates`]; the JSON representations are in [`json`]. Each handler is a thin adapter:
//! it reads the body, calls the workflow and answers JSON.

pub mod certificates;
mod json;
pub mod loss;
pub mod professionals;
pub mod requests;
pub mod sessions;

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::error::PortalError;
use crate::views::FieldErrors;

/// The OpenAPI 3.0 document served at `/api/docs`.
pub fn openapi_document() -> &'static str {
    include_str!("../../static/openapi.json")
}

// ----- errors ------------------------------------------------------------------------------------

/// An error of the API: HTTP status, machine code, French message, per-field messages.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: BTreeMap<String, String>,
    /// Seconds for a `Retry-After` header (429, 503).
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after: None,
        }
    }

    /// 422: input refused, nothing written; one French message per wrong field.
    pub(crate) fn invalid(errors: &FieldErrors) -> Self {
        let mut fields = BTreeMap::new();
        for (f, _) in &errors.0 {
            fields.insert(f.clone(), errors.get(f));
        }
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation",
            message: "Données refusées : corrigez les champs indiqués ; rien n'a été enregistré."
                .into(),
            fields,
            retry_after: None,
        }
    }

    pub(crate) fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        ApiError::invalid(&errors)
    }
}

impl From<PortalError> for ApiError {
    fn from(e: PortalError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match e {
            PortalError::Unauthenticated => ApiError::new(
                S::UNAUTHORIZED,
                "unauthenticated",
                "Authentification requise : présentez un jeton de session valide \
                 (en-tête Authorization: Bearer …), obtenu par POST /api/v1/sessions.",
            ),
            PortalError::EnrolmentPending => ApiError::new(
                S::FORBIDDEN,
                "enrolment_required",
                "Terminez d'abord l'enrôlement TOTP dans le portail web.",
            ),
            PortalError::GoHome => ApiError::new(S::CONFLICT, "conflict", "Déjà connecté."),
            PortalError::Forbidden(_) => ApiError::new(S::FORBIDDEN, "forbidden", msg),
            PortalError::FourEyes(_) => ApiError::new(S::FORBIDDEN, "four_eyes", msg),
            PortalError::Csrf => ApiError::new(S::FORBIDDEN, "csrf", msg),
            PortalError::NotFound(_) => ApiError::new(S::NOT_FOUND, "not_found", msg),
            PortalError::Conflict(_) => ApiError::new(S::CONFLICT, "conflict", msg),
            PortalError::MethodNotAllowed(_) => {
                ApiError::new(S::METHOD_NOT_ALLOWED, "method_not_allowed", msg)
            }
            PortalError::BadRequest(_) => ApiError::new(S::BAD_REQUEST, "bad_request", msg),
            PortalError::PayloadTooLarge(_) => {
                ApiError::new(S::PAYLOAD_TOO_LARGE, "unreadable_body", msg)
            }
            PortalError::Unavailable(_) => {
                ApiError::new(S::SERVICE_UNAVAILABLE, "unavailable", msg)
            }
            PortalError::TooManyRequests(_) => {
                ApiError::new(S::TOO_MANY_REQUESTS, "too_many_requests", msg)
            }
            PortalError::Internal(detail) => {
                tracing::error!(detail = %detail, "RA portal API internal error");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Une erreur interne est survenue ; l'opération n'a pas été effectuée.",
                )
            }
        }
    }
}

impl From<ca::Error> for ApiError {
    fn from(e: ca::Error) -> Self {
        PortalError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if !self.fields.is_empty() {
            body["fields"] = json!(self.fields);
        }
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"igc-ra\""),
            );
        }
        res
    }
}

/// A portal error as a JSON response (authorization middleware, fallback).
pub(crate) fn error_response(e: PortalError) -> Response {
    ApiError::from(e).into_response()
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn ok(status: StatusCode, body: Value) -> ApiResult {
    Ok((status, Json(body)).into_response())
}

/// A request body, or why it could not be read (too large: 413), as JSON.
pub(crate) type Body = Result<Bytes, BytesRejection>;

fn read(body: &Body) -> Result<&Bytes, ApiError> {
    body.as_ref().map_err(|e| {
        ApiError::new(
            e.status(),
            "unreadable_body",
            format!(
                "Corps de la requête illisible ou trop volumineux ({}).",
                e.status()
            ),
        )
    })
}

/// Parses a JSON body; the content type must be `application/json`.
pub(crate) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Body,
) -> Result<T, ApiError> {
    let body = read(body)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Le corps de la requête doit être du JSON (Content-Type: application/json).",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("Corps JSON illisible : {e}."),
        )
    })
}

/// Like [`json_body`], but an empty body is `{}`.
pub(crate) fn optional_json_body<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Body,
) -> Result<T, ApiError> {
    if read(body)?.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_body(headers, body)
}

// ----- documentation -----------------------------------------------------------------------------

/// GET /api/docs: the OpenAPI document (public: it describes, it grants nothing).
pub async fn docs() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}
