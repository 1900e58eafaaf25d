//! Certificate requests through the API: filing, the request as its approver sees it,
//! approval (four eyes, then issuance), rejection.

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use ca::storage::{CertificateRequest, NewRequest, RequestId, RequestSubject};
use ca::workflow::Object;
use serde::Deserialize;
use serde_json::json;

use super::json::{certificate_json, proofing_json_for_approver, request_json};
use super::{json_body, ok, ApiError, ApiResult, Body};
use crate::approval;
use crate::error::PortalResult;
use crate::forms::{checked_csr_der, request_profile, ReasonForm, REJECT_REASON_MISSING};
use crate::messages::french;
use crate::state::{Acting, Ctx, PortalState};
use crate::views::FieldErrors;

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

/// The request a body describes, about `subject`, or what is wrong with it (422).
fn new_request(b: &RequestBody, subject: RequestSubject) -> Result<NewRequest, ApiError> {
    let mut errors = FieldErrors::default();
    let profile = b.profile.as_deref().map(|s| s.trim().to_ascii_lowercase());
    let profile = request_profile(profile.as_deref())
        .map_err(|m| errors.add("profile", m))
        .ok();
    let der = csr_bytes(&b.csr)
        .and_then(|bytes| checked_csr_der(&bytes))
        .map_err(|m| errors.add("csr", m))
        .ok();
    match (profile, der) {
        (Some(profile), Some(csr_der)) => Ok(NewRequest {
            profile,
            subject,
            csr_der,
        }),
        _ => Err(ApiError::invalid(&errors)),
    }
}

/// Request `id` as it is now, in the operator's scope.
async fn request_now(
    state: &PortalState,
    ctx: &Ctx,
    id: RequestId,
) -> PortalResult<CertificateRequest> {
    let located = state
        .workflow()
        .locate(ctx.me()?, &Object::Request(id))
        .await?;
    Ok(located
        .request
        .ok_or(ca::Error::RequestNotFound { id: id.0 })?)
}

/// POST /api/v1/professionals/{idnat}/requests: files a request (AUTH, SIGN or CONF).
pub async fn file_request(
    Acting { state, ctx }: Acting,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let subject = RequestSubject::Professional(ctx.professional()?.idnat.clone());
    let b: RequestBody = json_body(&headers, &body)?;
    let request = new_request(&b, subject)?;
    let id = state.workflow().file(ctx.me()?, &request).await?;
    let r = request_now(&state, &ctx, id).await?;
    ok(StatusCode::CREATED, request_json(&r))
}

/// GET /api/v1/requests/{id}: with what the approver approves (what the CA would sign) and
/// the identity proofing.
pub async fn request(Acting { state, ctx }: Acting) -> ApiResult {
    let d = state
        .workflow()
        .request(ctx.me()?, ctx.request()?.id)
        .await?;
    let mut v = request_json(&d.request);
    if let Some(preview) = d.preview {
        v["issuance"] = match preview {
            Ok(p) => json!(p),
            Err(e) => json!({ "refused": french(&e) }),
        };
    }
    v["identity_proofings"] = d.proofings.iter().map(proofing_json_for_approver).collect();
    ok(StatusCode::OK, v)
}

/// POST /api/v1/requests/{id}/approve: four eyes; issues the certificate at once.
pub async fn approve(Acting { state, ctx }: Acting) -> ApiResult {
    let issued = approval::approve_and_issue(&state, &ctx).await?;
    let c = state
        .workflow()
        .certificate(ctx.me()?, &issued.serial)
        .await?;
    let mut v = certificate_json(&c, true);
    // Given once, for the professional: the API never shows it again.
    if let Some(code) = &issued.revocation_code {
        v["revocation_code"] = json!(code.reveal());
    }
    ok(StatusCode::CREATED, v)
}

/// POST /api/v1/requests/{id}/reject {reason}
pub async fn reject(Acting { state, ctx }: Acting, headers: HeaderMap, body: Body) -> ApiResult {
    let b: ReasonForm = json_body(&headers, &body)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::invalid_field("reason", REJECT_REASON_MISSING));
    }
    let id = ctx.request()?.id;
    state.workflow().reject(ctx.me()?, id, &b.reason).await?;
    let r = request_now(&state, &ctx, id).await?;
    ok(StatusCode::OK, request_json(&r))
}
