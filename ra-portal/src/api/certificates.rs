//! Certificates through the API: the certificate with its PEM; suspension, reinstatement,
//! revocation (the workflow tells the CRLs and OCSP).

use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use ca::status::RevocationOutcome;
use serde_json::json;

use super::json::certificate_json;
use super::{ok, optional_json_body, ApiError, ApiResult, Body};
use crate::forms::{revocation_reason, ReasonForm, UNKNOWN_REVOCATION_REASON};
use crate::messages::REVOCATION_REASONS;
use crate::state::{Acting, Ctx, PortalState};

/// GET /api/v1/certificates/{serial}: with its PEM.
pub async fn certificate(Extension(ctx): Extension<Ctx>) -> ApiResult {
    ok(StatusCode::OK, certificate_json(ctx.certificate()?, true))
}

/// The certificate after a change of its status, saying whether the CRLs followed.
async fn changed(state: &PortalState, ctx: &Ctx, outcome: &RevocationOutcome) -> ApiResult {
    let serial = &ctx.certificate()?.serial;
    let c = state.workflow().certificate(ctx.me()?, serial).await?;
    let mut v = certificate_json(&c, false);
    v["crls_republished"] = json!(outcome.crl_error.is_none());
    ok(StatusCode::OK, v)
}

/// POST /api/v1/certificates/{serial}/suspend
pub async fn suspend(Acting { state, ctx }: Acting) -> ApiResult {
    let serial = &ctx.certificate()?.serial;
    let outcome = state.workflow().suspend(ctx.me()?, serial).await?;
    changed(&state, &ctx, &outcome).await
}

/// POST /api/v1/certificates/{serial}/reinstate
pub async fn reinstate(Acting { state, ctx }: Acting) -> ApiResult {
    let serial = &ctx.certificate()?.serial;
    let outcome = state.workflow().reinstate(ctx.me()?, serial).await?;
    changed(&state, &ctx, &outcome).await
}

/// POST /api/v1/certificates/{serial}/revoke {reason}: an RFC 5280 reason name.
pub async fn revoke(Acting { state, ctx }: Acting, headers: HeaderMap, body: Body) -> ApiResult {
    let b: ReasonForm = optional_json_body(&headers, &body)?;
    let reason = revocation_reason(&b.reason).ok_or_else(|| {
        let allowed: Vec<&str> = REVOCATION_REASONS.iter().map(|r| r.as_str()).collect();
        ApiError::invalid_field(
            "reason",
            format!(
                "{UNKNOWN_REVOCATION_REASON} Motifs admis : {}.",
                allowed.join(", ")
            ),
        )
    })?;
    let serial = &ctx.certificate()?.serial;
    let outcome = state.workflow().revoke(ctx.me()?, serial, reason).await?;
    changed(&state, &ctx, &outcome).await
}
