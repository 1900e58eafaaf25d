//! Lost or stolen cards through the API: the holder's declaration relayed by an Order's
//! software (public, with the revocation code: the same limits and journal as the public
//! page), the open declarations of the operator's scope, a declaration, its decision, and an
//! operator's suspension of all of a professional's certificates.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ca::status::RevocationOutcome;
use ca::storage::{LossChannel, LossDeclaration};
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::ts;
use super::{json_body, ok, ApiError, ApiResult, Body};
use crate::login::{peer_address, Peer};
use crate::loss::{declaration_id, declare, Refusal};
use crate::state::{Acting, Ctx, PortalState};

fn declaration_json(d: &LossDeclaration) -> Value {
    json!({
        "id": d.id,
        "professional": d.professional.to_string(),
        "channel": d.channel,
        "declared_at": ts(d.declared_at),
        "declared_by": d.declared_by,
        "status": d.status,
        "closed_by": d.closed_by,
        "closed_at": d.closed_at.map(ts),
        "certificates": d.serials.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Deserialize)]
pub struct DeclarationBody {
    #[serde(default)]
    idnat: String,
    #[serde(default)]
    code: String,
}

/// POST /api/v1/loss-declarations {idnat, code}: 201 with the declaration and the
/// certificates suspended.
pub async fn declare_loss(
    State(state): State<PortalState>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let b: DeclarationBody = json_body(&headers, &body)?;
    let channel = LossChannel::HolderApi;
    match declare(&state, peer_address(peer), &b.idnat, &b.code, channel).await? {
        Ok(done) => ok(StatusCode::CREATED, declaration_json(&done.declaration)),
        Err(Refusal::Identifier(m)) => Err(ApiError::invalid_field("idnat", m)),
        Err(Refusal::Refused(m)) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "revocation_code_refused",
            m,
        )),
        Err(Refusal::Locked(m)) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "declarations_locked",
            m,
        )),
        Err(Refusal::Throttled {
            message,
            retry_after,
            busy,
        }) => {
            let mut e = if busy {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
            } else {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
            };
            e.retry_after = Some(retry_after);
            Err(e)
        }
    }
}

/// GET /api/v1/loss-declarations: the open ones of the operator's scope, oldest first.
pub async fn open_declarations(Acting { state, ctx }: Acting) -> ApiResult {
    let all = state.workflow().open_loss_declarations(ctx.me()?).await?;
    ok(
        StatusCode::OK,
        json!({ "declarations": all.iter().map(declaration_json).collect::<Vec<_>>() }),
    )
}

async fn declaration_now(state: &PortalState, ctx: &Ctx, id: i64) -> Result<Value, ApiError> {
    let idnat = &ctx.professional()?.idnat;
    let d = state
        .workflow()
        .loss_declaration(ctx.me()?, idnat, id)
        .await?;
    Ok(declaration_json(&d))
}

/// GET /api/v1/professionals/{idnat}/loss-declarations/{declaration}
pub async fn declaration(
    Acting { state, ctx }: Acting,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult {
    let id = declaration_id(&params).map_err(ApiError::from)?;
    ok(StatusCode::OK, declaration_now(&state, &ctx, id).await?)
}

async fn decided(
    state: &PortalState,
    ctx: &Ctx,
    id: i64,
    outcome: &RevocationOutcome,
) -> ApiResult {
    let mut v = declaration_now(state, ctx, id).await?;
    v["changed"] = json!(outcome
        .serials
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>());
    v["crls_republished"] = json!(outcome.crl_error.is_none());
    ok(StatusCode::OK, v)
}

/// POST /api/v1/professionals/{idnat}/loss-declarations/{declaration}/revoke: the
/// certificates still on hold are revoked (keyCompromise).
pub async fn revoke(
    Acting { state, ctx }: Acting,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult {
    let id = declaration_id(&params).map_err(ApiError::from)?;
    let idnat = ctx.professional()?.idnat.clone();
    let outcome = state.workflow().confirm_loss(ctx.me()?, &idnat, id).await?;
    decided(&state, &ctx, id, &outcome).await
}

/// POST /api/v1/professionals/{idnat}/loss-declarations/{declaration}/reinstate
pub async fn reinstate(
    Acting { state, ctx }: Acting,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult {
    let id = declaration_id(&params).map_err(ApiError::from)?;
    let idnat = ctx.professional()?.idnat.clone();
    let outcome = state
        .workflow()
        .reinstate_loss(ctx.me()?, &idnat, id)
        .await?;
    decided(&state, &ctx, id, &outcome).await
}

/// POST /api/v1/professionals/{idnat}/suspend-all: 201 with the declaration it makes.
pub async fn suspend_all(Acting { state, ctx }: Acting) -> ApiResult {
    let idnat = ctx.professional()?.idnat.clone();
    let done = state.workflow().suspend_all(ctx.me()?, &idnat).await?;
    let mut v = declaration_json(&done.declaration);
    v["crls_republished"] = json!(done.outcome.crl_error.is_none());
    ok(StatusCode::CREATED, v)
}
