//! Professionals through the API: search, the professional's record, registration.

use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use ca::workflow::Search;
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::{certificate_json, professional_json, proofing_json, request_json};
use super::{json_body, ok, ApiError, ApiResult, Body};
use crate::forms::{parse_idnat, validate_registration};
use crate::messages::french;
use crate::state::Acting;
use crate::views::RegisterForm;

#[derive(Debug, Default, Deserialize)]
struct SearchParams {
    #[serde(default)]
    name: String,
    #[serde(default)]
    idnat: String,
}

/// GET /api/v1/professionals?name=…|idnat=…: professionals of the operator's scope only.
pub async fn search(Acting { state, ctx }: Acting, RawQuery(query): RawQuery) -> ApiResult {
    let q: SearchParams = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "Requête illisible."))?;
    let (name, idnat) = (q.name.trim(), q.idnat.trim());
    let id;
    let search = if !idnat.is_empty() {
        id = parse_idnat(idnat).map_err(|e| ApiError::invalid_field("idnat", french(&e)))?;
        Search::IdNat(&id)
    } else if !name.is_empty() {
        Search::Name(name)
    } else {
        return Err(ApiError::invalid_field(
            "name",
            "Indiquez un nom (name) ou un identifiant (idnat).",
        ));
    };
    let found = state.workflow().search(ctx.me()?, search).await?;
    let professions = state.workflow().professions();
    let list: Vec<Value> = found
        .iter()
        .map(|p| professional_json(professions, p))
        .collect();
    ok(StatusCode::OK, json!({ "professionals": list }))
}

/// GET /api/v1/professionals/{idnat}: identity, proofings, requests and certificates.
pub async fn professional(Acting { state, ctx }: Acting) -> ApiResult {
    let idnat = &ctx.professional()?.idnat;
    let d = state.workflow().dossier(ctx.me()?, idnat).await?;
    let mut v = professional_json(state.workflow().professions(), &d.professional);
    v["identity_proofings"] = d.proofings.iter().map(proofing_json).collect();
    v["requests"] = d.requests.iter().map(request_json).collect();
    v["certificates"] = d
        .certificates
        .iter()
        .map(|c| certificate_json(c, false))
        .collect();
    ok(StatusCode::OK, v)
}

/// POST /api/v1/professionals: registration with identity proofing (the checks of the form).
pub async fn register(Acting { state, ctx }: Acting, headers: HeaderMap, body: Body) -> ApiResult {
    let f: RegisterForm = json_body(&headers, &body)?;
    let (workflow, me) = (state.workflow(), ctx.me()?);
    let (professional, proofing) =
        validate_registration(workflow, me, &f).map_err(|e| ApiError::invalid(&e))?;
    match workflow.register(me, &professional, &proofing).await {
        Ok(()) => ok(
            StatusCode::CREATED,
            professional_json(workflow.professions(), &professional),
        ),
        Err(e @ ca::Error::AlreadyRegistered { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_registered",
            french(&e),
        )),
        Err(e) => Err(e.into()),
    }
}
