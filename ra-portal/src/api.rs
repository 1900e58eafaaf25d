//! JSON API for the Orders' software, under `/api/v1/…`, documented as OpenAPI 3.0 at
//! `/api/docs` (public). Same route table, same authorization middleware and same rules as the
//! HTML pages (role, Order scope of the object, four eyes, journal); the differences are the
//! transport: a bearer token (`Authorization: Bearer <token>`, from `POST /api/v1/sessions`)
//! instead of the session cookie, hence no form CSRF token, and JSON bodies. Every error is a
//! JSON object `{ "error": <machine code>, "message": <French text>, "fields"?: {…} }`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use ca::domain::{Professional, RegistrationAuthority};
use ca::storage::{CertificateRecord, CertificateRequest, NewRequest, RequestSubject};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::error::PortalError;
use crate::handlers::{self as h, LoginRefusal, RegisterFields, StatusChange};
use crate::login_guard::Throttle;
use crate::views::FieldErrors;
use crate::{Ctx, PortalState};

/// The OpenAPI 3.0 document served at `/api/docs`.
pub fn openapi_document() -> &'static str {
    include_str!("../static/openapi.json")
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
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after: None,
        }
    }

    /// 422: input refused, nothing written; one French message per wrong field.
    fn invalid(errors: &FieldErrors) -> Self {
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

    fn invalid_field(field: &str, message: impl Into<String>) -> Self {
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

type ApiResult = Result<Response, ApiError>;

fn ok(status: StatusCode, body: Value) -> ApiResult {
    Ok((status, Json(body)).into_response())
}

/// A request body, or why it could not be read (too large: 413), as JSON.
type Body = Result<Bytes, BytesRejection>;

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
fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Body) -> Result<T, ApiError> {
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
fn optional_json_body<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Body,
) -> Result<T, ApiError> {
    if read(body)?.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_body(headers, body)
}

// ----- representations ---------------------------------------------------------------------------

fn ts(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn professional_json(state: &PortalState, p: &Professional) -> Value {
    let profession = state.professions().lookup(&p.profession);
    let order = match state.professions().registration_authority(&p.profession) {
        Ok(RegistrationAuthority::Order(o)) => Some(o.slug()),
        _ => None,
    };
    json!({
        "idnat": p.idnat.to_string(),
        "surname": p.surname.to_string(),
        "given_names": p.given_names.to_string(),
        "profession": {
            "code": p.profession.to_string(),
            "label": profession.map(|x| x.label.clone()),
        },
        "order": order,
        "status": p.status.as_str(),
    })
}

fn request_json(r: &CertificateRequest) -> Value {
    let subject = match &r.subject {
        RequestSubject::Professional(p) => p.to_string(),
        RequestSubject::Structure(s) => s.to_string(),
        RequestSubject::Operator(o) => o.to_string(),
    };
    json!({
        "id": r.id.0,
        "profile": r.profile.as_str(),
        "professional": subject,
        "status": r.status.as_str(),
        "filed_by": r.filed_by.to_string(),
        "filed_at": ts(r.filed_at),
        "decided_by": r.decided_by.as_ref().map(ToString::to_string),
        "decided_at": r.decided_at.map(ts),
        "decision_note": r.decision_note,
        "issued_at": r.issued_at.map(ts),
    })
}

fn certificate_json(c: &CertificateRecord, with_pem: bool) -> Value {
    let mut v = json!({
        "serial": c.serial.to_string(),
        "issuer": c.issuer.to_string(),
        "profile": c.profile.as_str(),
        "professional": c.professional.as_ref().map(ToString::to_string),
        "request": c.request.map(|r| r.0),
        "subject": c.subject,
        "not_before": ts(c.not_before),
        "not_after": ts(c.not_after),
        "status": c.status,
        "superseded_by": c.superseded_by.as_ref().map(ToString::to_string),
    });
    if with_pem {
        v["pem"] = json!(pem::encode(&pem::Pem::new("CERTIFICATE", c.der.clone())));
    }
    v
}

fn target(ctx: &Ctx) -> Result<&Professional, ApiError> {
    ctx.target
        .as_ref()
        .ok_or_else(|| PortalError::Internal("route without its object".into()).into())
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

// ----- sessions ----------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct SessionBody {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
}

fn session_json(state: &PortalState, o: &h::OpenedSession) -> Value {
    json!({
        "token": o.token,
        "token_type": "Bearer",
        "expires_at": ts(o.expires_at),
        "idle_timeout_seconds": state.config().idle_timeout().as_secs(),
    })
}

/// POST /api/v1/sessions: password + TOTP, with the throttling and journal of the HTML login;
/// an operator who has not enrolled TOTP yet is refused (enrol in the web portal first).
pub async fn create_session(
    State(state): State<PortalState>,
    peer: h::Peer,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let b: SessionBody = json_body(&headers, &body)?;
    let peer = h::peer_address(peer);
    match h::password_login(&state, peer, &b.login, &b.password, &b.totp, false).await? {
        Ok(o) => ok(StatusCode::CREATED, session_json(&state, &o)),
        Err(LoginRefusal::Throttled { why, retry_after }) => {
            let secs = h::retry_after_secs(retry_after);
            let mut e = match why {
                Throttle::Busy => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "login_busy",
                    h::login_busy_message(secs),
                ),
                Throttle::Address | Throttle::Login => ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    h::login_throttled_message(secs),
                ),
            };
            e.retry_after = Some(secs);
            Err(e)
        }
        Err(LoginRefusal::Refused) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            h::LOGIN_REFUSED,
        )),
        Err(LoginRefusal::NotEnrolled) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "enrolment_required",
            "Terminez d'abord l'enrôlement TOTP dans le portail web (première connexion).",
        )),
    }
}

/// POST /api/v1/sessions/certificate: a session for the operator bound to the TLS client
/// certificate of the connection; every later request must present the same certificate.
pub async fn create_certificate_session(
    State(state): State<PortalState>,
    req: axum::extract::Request,
) -> ApiResult {
    let peer = req
        .extensions()
        .get::<crate::tls::PeerCertificate>()
        .cloned();
    match h::certificate_login(&state, peer).await? {
        Ok(o) => ok(StatusCode::CREATED, session_json(&state, &o)),
        Err(message) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "certificate_refused",
            message,
        )),
    }
}

/// POST /api/v1/logout: ends the session of the bearer token.
pub async fn logout(State(state): State<PortalState>, Extension(ctx): Extension<Ctx>) -> ApiResult {
    state
        .store()
        .close_session(&ctx.token_hash, false, &ctx.actor)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- professionals -----------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct SearchParams {
    #[serde(default)]
    name: String,
    #[serde(default)]
    idnat: String,
}

/// GET /api/v1/professionals?name=…|idnat=…: professionals of the operator's scope only.
pub async fn search(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let q: SearchParams = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "Requête illisible."))?;
    let (name, idnat) = (q.name.trim(), q.idnat.trim());
    let found = if !idnat.is_empty() {
        let id = h::parse_idnat(idnat)
            .map_err(|e| ApiError::invalid_field("idnat", crate::messages::french(&e)))?;
        state
            .store()
            .find_professional(&id)
            .await?
            .into_iter()
            .collect()
    } else if !name.is_empty() {
        state.store().find_professionals_by_name(name, 100).await?
    } else {
        return Err(ApiError::invalid_field(
            "name",
            "Indiquez un nom (name) ou un identifiant (idnat).",
        ));
    };
    let list: Vec<Value> = found
        .iter()
        .filter(|p| h::in_scope(&state, ctx.scope, p))
        .map(|p| professional_json(&state, p))
        .collect();
    ok(StatusCode::OK, json!({ "professionals": list }))
}

/// GET /api/v1/professionals/{idnat}: identity, proofings, requests and certificates.
pub async fn professional(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult {
    let p = target(&ctx)?;
    let store = state.store();
    let proofings: Vec<Value> = store
        .identity_proofings_of(&p.idnat)
        .await?
        .iter()
        .map(|v| {
            json!({
                "document_type": v.document_type.as_str(),
                "mode": v.mode.as_str(),
                "checked_by": v.checked_by.to_string(),
                "checked_at": ts(v.checked_at),
            })
        })
        .collect();
    let requests: Vec<Value> = store
        .requests_of(&p.idnat)
        .await?
        .iter()
        .map(request_json)
        .collect();
    let certificates: Vec<Value> = store
        .certificates_of(&p.idnat)
        .await?
        .iter()
        .map(|c| certificate_json(c, false))
        .collect();
    let mut v = professional_json(&state, p);
    v["identity_proofings"] = json!(proofings);
    v["requests"] = json!(requests);
    v["certificates"] = json!(certificates);
    ok(StatusCode::OK, v)
}

/// POST /api/v1/professionals: registration with identity proofing (the checks of the form).
pub async fn register(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let f: RegisterFields = json_body(&headers, &body)?;
    let (professional, proofing) = h::validate_registration(&state, ctx.scope, &ctx.actor, &f)
        .map_err(|e| ApiError::invalid(&e))?;
    match state
        .store()
        .register_professional(&professional, &proofing, &ctx.actor)
        .await
    {
        Ok(()) => ok(
            StatusCode::CREATED,
            professional_json(&state, &professional),
        ),
        Err(e @ ca::Error::AlreadyRegistered { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_registered",
            crate::messages::french(&e),
        )),
        Err(e) => Err(e.into()),
    }
}

// ----- requests ----------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct RequestBody {
    #[serde(default)]
    profile: Option<String>,
    /// PEM text, or base64 of the DER.
    #[serde(default)]
    csr: String,
}

/// The CSR of a JSON body: PEM text, or the DER in base64 (whitespace ignored).
fn csr_bytes(csr: &str) -> Result<Vec<u8>, String> {
    let t = csr.trim();
    if t.is_empty() || t.starts_with("-----BEGIN") {
        return Ok(t.as_bytes().to_vec());
    }
    let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "La CSR doit être donnée en PEM ou en DER encodé en base64 (csr).".to_owned())
}

/// POST /api/v1/professionals/{idnat}/requests: files a request (AUTH, SIGN or CONF).
pub async fn file_request(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let p = target(&ctx)?.clone();
    let b: RequestBody = json_body(&headers, &body)?;
    let mut errors = FieldErrors::default();
    let profile = h::request_profile(
        b.profile
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref(),
    )
    .map_err(|m| errors.add("profile", m))
    .ok();
    let der = csr_bytes(&b.csr)
        .and_then(|bytes| h::checked_csr_der(&bytes))
        .map_err(|m| errors.add("csr", m))
        .ok();
    let (Some(profile), Some(der)) = (profile, der) else {
        return Err(ApiError::invalid(&errors));
    };
    let id = h::file_with_workflow(
        &state,
        &ctx,
        &NewRequest {
            profile,
            subject: RequestSubject::Professional(p.idnat.clone()),
            csr_der: der,
        },
    )
    .await?;
    let r = h::request_of(&state, &id.to_string()).await?;
    ok(StatusCode::CREATED, request_json(&r))
}

/// GET /api/v1/requests/{id}
pub async fn request(
    State(state): State<PortalState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult {
    let r = h::request_of(&state, &id).await?;
    let mut v = request_json(&r);
    // What the approver approves: what the CA would sign, and the identity proofing.
    if r.status != ca::domain::RequestStatus::Issued {
        v["issuance"] = match h::issuance_preview(&state, &r).await? {
            Ok(p) => json!(p),
            Err(why) => json!({ "refused": why }),
        };
    }
    if let RequestSubject::Professional(idnat) = &r.subject {
        let proofings = state.store().identity_proofings_of(idnat).await?;
        v["identity_proofings"] = proofings
            .iter()
            .map(|p| {
                json!({
                    "document_type": p.document_type.as_str(),
                    "document_number": p.document_number.as_str(),
                    "mode": p.mode.as_str(),
                    "checked_by": p.checked_by.to_string(),
                    "checked_at": ts(p.checked_at),
                })
            })
            .collect();
    }
    ok(StatusCode::OK, v)
}

/// POST /api/v1/requests/{id}/approve: four eyes; issues the certificate at once.
pub async fn approve(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult {
    let issued = h::approve_and_issue(&state, &ctx, &id).await?;
    let c = h::certificate_of(&state, &issued.serial.to_string()).await?;
    ok(StatusCode::CREATED, certificate_json(&c, true))
}

#[derive(Debug, Default, Deserialize)]
struct ReasonBody {
    #[serde(default)]
    reason: String,
}

/// POST /api/v1/requests/{id}/reject {reason}
pub async fn reject(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let b: ReasonBody = json_body(&headers, &body)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::invalid_field("reason", h::REJECT_REASON_MISSING));
    }
    let r = h::reject_request(&state, &ctx, &id, &b.reason).await?;
    ok(StatusCode::OK, request_json(&r))
}

// ----- certificates ------------------------------------------------------------------------------

/// GET /api/v1/certificates/{serial}: with its PEM.
pub async fn certificate(
    State(state): State<PortalState>,
    axum::extract::Path(serial): axum::extract::Path<String>,
) -> ApiResult {
    let c = h::certificate_of(&state, &serial).await?;
    ok(StatusCode::OK, certificate_json(&c, true))
}

async fn change(state: &PortalState, ctx: &Ctx, serial: &str, change: StatusChange) -> ApiResult {
    let outcome = h::change_status(state, ctx, serial, change).await?;
    let c = h::certificate_of(state, serial).await?;
    let mut v = certificate_json(&c, false);
    v["crls_republished"] = json!(outcome.crl_error.is_none());
    ok(StatusCode::OK, v)
}

/// POST /api/v1/certificates/{serial}/suspend
pub async fn suspend(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(serial): axum::extract::Path<String>,
) -> ApiResult {
    change(&state, &ctx, &serial, StatusChange::Suspend).await
}

/// POST /api/v1/certificates/{serial}/reinstate
pub async fn reinstate(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(serial): axum::extract::Path<String>,
) -> ApiResult {
    change(&state, &ctx, &serial, StatusChange::Reinstate).await
}

/// POST /api/v1/certificates/{serial}/revoke {reason}: an RFC 5280 reason name.
pub async fn revoke(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(serial): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let b: ReasonBody = optional_json_body(&headers, &body)?;
    let reason = h::revocation_reason(&b.reason).ok_or_else(|| {
        ApiError::invalid_field(
            "reason",
            format!(
                "{} Motifs admis : {}.",
                h::UNKNOWN_REVOCATION_REASON,
                crate::messages::REVOCATION_REASONS
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    change(&state, &ctx, &serial, StatusChange::Revoke(reason)).await
}
