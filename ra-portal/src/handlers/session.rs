//! Login (password + TOTP, or client certificate), first-login TOTP enrolment, logout; the
//! style sheet.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine as _;
use ca::storage::{OperatorCredentials, SessionStage};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{form_status, html_status, layout, Page};
use crate::auth;
use crate::cookies::{clear_cookie, set_cookie, PRELOGIN_COOKIE, SESSION_COOKIE};
use crate::error::PortalError;
use crate::login::{
    certificate_login, login_busy_message, login_throttled_message, password_login, peer_address,
    retry_after_secs, LoginRefusal, PasswordLogin, Peer, LOGIN_REFUSED,
};
use crate::login_guard::Throttle;
use crate::state::{Acting, Ctx, PortalState};
use crate::views::{EnrolmentPage, FieldErrors, Layout, LoginPage};

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/portail.css"),
    )
        .into_response()
}

fn login_form(login: &str, error: &str, status: StatusCode) -> Page {
    let token = auth::random_hex(32);
    let page = LoginPage {
        layout: Layout {
            csrf: token.clone(),
            ..Layout::anonymous("Connexion")
        },
        login: login.to_owned(),
        error: error.to_owned(),
    };
    let mut res = html_status(status, &page)?;
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(PRELOGIN_COOKIE, &token, None),
    );
    Ok(res)
}

/// The login form again after a rate limit (429) or with every hashing slot taken (503).
fn throttled_form(login: &str, why: Throttle, retry_after: std::time::Duration) -> Page {
    let secs = retry_after_secs(retry_after);
    let (status, message) = match why {
        Throttle::Busy => (StatusCode::SERVICE_UNAVAILABLE, login_busy_message(secs)),
        Throttle::Address | Throttle::Login => {
            (StatusCode::TOO_MANY_REQUESTS, login_throttled_message(secs))
        }
    };
    let mut res = login_form(login, &message, status)?;
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Ok(res)
}

/// Where a new session goes, with its cookie (and the pre-login cookie cleared).
fn session_redirect(to: &str, token: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, token, None));
    h.append(header::SET_COOKIE, clear_cookie(PRELOGIN_COOKIE));
    res
}

pub async fn login_page() -> Page {
    login_form("", "", StatusCode::OK)
}

pub async fn login(
    State(state): State<PortalState>,
    peer: Peer,
    Form(form): Form<PasswordLogin>,
) -> Page {
    let login = form.login.trim().to_owned();
    let peer = peer_address(peer);
    let attempt = password_login(&state, peer, &login, &form.password, &form.totp, true).await?;
    match attempt {
        Ok(opened) => {
            let to = match opened.stage {
                SessionStage::Enrolment => "/enrolement",
                SessionStage::Full => "/",
            };
            Ok(session_redirect(to, &opened.token))
        }
        Err(LoginRefusal::Throttled { why, retry_after }) => {
            throttled_form(&login, why, retry_after)
        }
        Err(LoginRefusal::Refused | LoginRefusal::NotEnrolled) => {
            login_form(&login, LOGIN_REFUSED, StatusCode::UNAUTHORIZED)
        }
    }
}

/// POST /connexion/certificat: logs in the operator bound to the TLS client certificate of
/// the connection (see [`crate::certauth`]); no password, no TOTP.
pub async fn login_certificate(
    State(state): State<PortalState>,
    req: axum::extract::Request,
) -> Page {
    match certificate_login(&state, req.extensions()).await? {
        Ok(opened) => Ok(session_redirect("/", &opened.token)),
        Err(message) => login_form("", message, StatusCode::UNAUTHORIZED),
    }
}

async fn credentials(state: &PortalState, ctx: &Ctx) -> Result<OperatorCredentials, PortalError> {
    state
        .store()
        .operator_credentials(ctx.operator.login.as_str())
        .await?
        .ok_or(PortalError::Unauthenticated)
}

async fn enrolment_view(state: &PortalState, ctx: &Ctx, errors: FieldErrors) -> Page {
    let secret = credentials(state, ctx)
        .await?
        .totp_secret
        .unwrap_or_default();
    let uri = auth::otpauth_uri(
        &state.config().totp_issuer,
        ctx.operator.login.as_str(),
        &secret,
    );
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| PortalError::Internal(format!("QR code: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let qr_data_uri = format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    );
    let page = EnrolmentPage {
        layout: layout(ctx, "Enrôlement TOTP"),
        secret,
        qr_data_uri,
        uri,
        errors,
    };
    html_status(form_status(&page.errors), &page)
}

pub async fn enrolment_page(Acting { state, ctx }: Acting) -> Page {
    enrolment_view(&state, &ctx, FieldErrors::default()).await
}

#[derive(Debug, Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
    #[serde(default)]
    totp: String,
}

/// The TOTP step of a valid enrolment form, or what is wrong with it.
async fn check_enrolment(
    state: &PortalState,
    creds: &OperatorCredentials,
    form: &EnrolForm,
) -> Result<Result<i64, FieldErrors>, PortalError> {
    let mut errors = FieldErrors::default();
    if form.password.chars().count() < 12 {
        errors.add(
            "password",
            "Le mot de passe doit comporter au moins 12 caractères.",
        );
    } else if state
        .verify_password(&form.password, &creds.password_hash)
        .await?
    {
        errors.add(
            "password",
            "Choisissez un mot de passe différent du mot de passe à usage unique.",
        );
    }
    if form.password != form.confirmation {
        errors.add(
            "confirmation",
            "La confirmation ne correspond pas au mot de passe.",
        );
    }
    let secret = creds.totp_secret.clone().unwrap_or_default();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let step = auth::check_totp(&secret, &form.totp, now);
    if step.is_none() {
        errors.add(
            "totp",
            "Code TOTP incorrect : vérifiez l'heure de votre appareil et le secret enregistré.",
        );
    }
    Ok(step.filter(|_| errors.is_empty()).ok_or(errors))
}

pub async fn enrol(Acting { state, ctx }: Acting, Form(form): Form<EnrolForm>) -> Page {
    let creds = credentials(&state, &ctx).await?;
    let step = match check_enrolment(&state, &creds, &form).await? {
        Ok(step) => step,
        Err(errors) => return enrolment_view(&state, &ctx, errors).await,
    };
    let hash = state.hash_password(&form.password).await?;
    if let Err(e) = state
        .store()
        .complete_enrolment(&ctx.session.token_hash, &hash, step, &ctx.actor)
        .await
    {
        tracing::info!(error = %e, "enrolment refused");
        let mut errors = FieldErrors::default();
        errors.add("totp", "Code TOTP déjà utilisé : attendez le code suivant.");
        return enrolment_view(&state, &ctx, errors).await;
    }
    Ok(Redirect::to("/").into_response())
}

pub async fn logout(Acting { state, ctx }: Acting) -> Page {
    state
        .store()
        .close_session(&ctx.session.token_hash, false, &ctx.actor)
        .await?;
    let mut res = Redirect::to("/connexion").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    Ok(res)
}
