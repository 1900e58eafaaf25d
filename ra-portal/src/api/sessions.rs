//! Sessions of the API: password + TOTP, client certificate, logout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::json::ts;
use super::{json_body, ok, ApiError, ApiResult, Body};
use crate::login::{
    certificate_login, login_busy_message, login_throttled_message, password_login, peer_address,
    retry_after_secs, LoginRefusal, OpenedSession, PasswordLogin, Peer, LOGIN_REFUSED,
};
use crate::login_guard::Throttle;
use crate::state::{Acting, PortalState};

fn session_json(state: &PortalState, o: &OpenedSession) -> Value {
    json!({
        "token": o.token,
        "token_type": "Bearer",
        "expires_at": ts(o.expires_at),
        "idle_timeout_seconds": state.config().idle_timeout().as_secs(),
    })
}

/// A login refused before the password was checked: 429 or 503, with `Retry-After`.
fn throttled(why: Throttle, retry_after: std::time::Duration) -> ApiError {
    let secs = retry_after_secs(retry_after);
    let mut e = match why {
        Throttle::Busy => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "login_busy",
            login_busy_message(secs),
        ),
        Throttle::Address | Throttle::Login => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            login_throttled_message(secs),
        ),
    };
    e.retry_after = Some(secs);
    e
}

/// POST /api/v1/sessions: password + TOTP, with the throttling and journal of the HTML login;
/// an operator who has not enrolled TOTP yet is refused (enrol in the web portal first).
pub async fn create_session(
    State(state): State<PortalState>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let b: PasswordLogin = json_body(&headers, &body)?;
    let peer = peer_address(peer);
    match password_login(&state, peer, &b.login, &b.password, &b.totp, false).await? {
        Ok(o) => ok(StatusCode::CREATED, session_json(&state, &o)),
        Err(LoginRefusal::Throttled { why, retry_after }) => Err(throttled(why, retry_after)),
        Err(LoginRefusal::Refused) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            LOGIN_REFUSED,
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
    match certificate_login(&state, req.extensions()).await? {
        Ok(o) => ok(StatusCode::CREATED, session_json(&state, &o)),
        Err(message) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "certificate_refused",
            message,
        )),
    }
}

/// POST /api/v1/logout: ends the session of the bearer token.
pub async fn logout(Acting { state, ctx }: Acting) -> ApiResult {
    state
        .store()
        .close_session(&ctx.session.token_hash, false, &ctx.actor)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
