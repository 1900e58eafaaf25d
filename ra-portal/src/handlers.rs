//! Thin HTTP handlers: parse the form, call the store / CA / revocation service, render.
//! Authorization (role, CSRF, Order scope of the object) was done by the route middleware.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use base64::Engine as _;
use ca::domain::{
    Actor, IdNatPs, IdentityDocumentType, IdentityProofing, Name, Order, Professional,
    ProfessionalStatus, Profile, ProofingMode, RequestStatus, RevocationReason, Rpps, Serial,
};
use ca::issuance::{check_csr, IssueRequest};
use ca::storage::{
    AuditEntry, CertificateRecord, CertificateRequest, CertificateStatus, NewOperator, NewRequest,
    NewSession, OperatorRole, OperatorStatus, RequestId, RequestSubject, SessionStage,
};
use ca::workflow::AuthenticatedOperator;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::{self, Permission, Scope, AUTH_CLIENT_CERT, AUTH_PASSWORD_TOTP};
use crate::error::{PortalError, PortalResult};
use crate::login_guard::{self, Throttle};
use crate::messages::{self, french};
use crate::routes::{clear_cookie, set_cookie, PRELOGIN_COOKIE, SESSION_COOKIE};
use crate::views::*;
use crate::{Ctx, PortalState};

pub(crate) type Page = PortalResult<Response>;

pub(crate) fn html(t: &impl Template) -> Page {
    Ok(Html(t.render()?).into_response())
}

pub(crate) fn html_status(status: StatusCode, t: &impl Template) -> Page {
    Ok((status, Html(t.render()?)).into_response())
}

fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub(crate) fn layout(ctx: &Ctx, title: &str) -> Layout {
    let role = ctx.operator.role;
    let mut nav = vec![("/".to_owned(), "Accueil".to_owned())];
    let allow = |p| auth::role_allows(role, p);
    if allow(Permission::ViewProfessionals) {
        nav.push(("/professionnels".into(), "Rechercher".into()));
        nav.push(("/professionnels/nouveau".into(), "Enregistrer".into()));
        nav.push(("/importations".into(), "Importer (CSV)".into()));
        nav.push(("/demandes".into(), "Demandes".into()));
    }
    if allow(Permission::ReadJournal) {
        nav.push(("/journal".into(), "Journal".into()));
    }
    if allow(Permission::ManageOperators) {
        nav.push(("/operateurs".into(), "Opérateurs".into()));
    }
    Layout {
        title: title.to_owned(),
        operator: Some(format!(
            "{} ({})",
            ctx.operator.display_name, ctx.operator.login
        )),
        role: auth::role_label(role).to_owned(),
        scope: ctx.scope.label(),
        csrf: ctx.csrf.clone(),
        nav,
    }
}

fn target(ctx: &Ctx) -> PortalResult<&Professional> {
    ctx.target
        .as_ref()
        .ok_or_else(|| PortalError::Internal("route without its object".into()))
}

fn professional_row(state: &PortalState, p: &Professional) -> ProfessionalRow {
    ProfessionalRow {
        idnat: p.idnat.to_string(),
        surname: p.surname.to_string(),
        given_names: p.given_names.to_string(),
        profession: state
            .professions()
            .lookup(&p.profession)
            .map_or_else(|| p.profession.to_string(), |x| x.label.clone()),
        status: match p.status {
            ProfessionalStatus::Active => "actif".into(),
            ProfessionalStatus::StruckOff => "radié".into(),
        },
    }
}

pub(crate) fn in_scope(state: &PortalState, scope: Scope, p: &Professional) -> bool {
    state
        .professions()
        .registration_authority(&p.profession)
        .is_ok_and(|a| scope.covers(a))
}

fn request_row(r: &CertificateRequest) -> RequestRow {
    RequestRow {
        id: r.id.0,
        profile: messages::profile_label(r.profile).to_owned(),
        subject: match &r.subject {
            RequestSubject::Professional(p) => p.to_string(),
            RequestSubject::Structure(s) => s.to_string(),
            RequestSubject::Operator(o) => o.to_string(),
        },
        status: messages::request_status(r.status).to_owned(),
        filed_by: r.filed_by.to_string(),
        filed_at: fmt_time(r.filed_at),
        decided_by: r
            .decided_by
            .as_ref()
            .map_or(String::new(), ToString::to_string),
        note: r.decision_note.clone().unwrap_or_default(),
    }
}

fn cert_status(s: &CertificateStatus) -> String {
    match s {
        CertificateStatus::Good => "valide".into(),
        CertificateStatus::OnHold { since } => format!("suspendu depuis le {}", fmt_time(*since)),
        CertificateStatus::Revoked { at, reason } => format!(
            "révoqué le {} ({})",
            fmt_time(*at),
            messages::reason_label(*reason)
        ),
    }
}

fn cert_row(c: &CertificateRecord) -> CertRow {
    CertRow {
        serial: c.serial.to_string(),
        profile: messages::profile_label(c.profile).to_owned(),
        status: cert_status(&c.status),
        not_after: fmt_time(c.not_after),
    }
}

fn audit_row(e: &AuditEntry) -> AuditRow {
    AuditRow {
        seq: e.seq,
        time: fmt_time(e.time),
        actor: e.actor.clone(),
        auth_method: e.auth_method.clone(),
        action: e.action.clone(),
        object: e.object.clone(),
        outcome: e.outcome.to_string(),
        details: e.details.to_string(),
    }
}

// ----- static ------------------------------------------------------------------------------------

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/portail.css"),
    )
        .into_response()
}

// ----- login, enrolment, logout --------------------------------------------------------------------

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

pub async fn login_page() -> Page {
    login_form("", "", StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
}

pub(crate) const LOGIN_REFUSED: &str = "Identifiant, mot de passe ou code TOTP incorrect.";

/// The answer over a rate limit of logins (429), the same whether the login exists or not;
/// `{secs}` is the `Retry-After` delay.
pub(crate) fn login_throttled_message(secs: u64) -> String {
    format!("Trop de tentatives de connexion. Réessayez dans {secs} s.")
}

/// The answer when every password-checking slot is taken (503).
pub(crate) fn login_busy_message(secs: u64) -> String {
    format!("Service de connexion momentanément saturé. Réessayez dans {secs} s.")
}

/// A `Retry-After` delay in whole seconds (at least one).
pub(crate) fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

/// Why a password + TOTP login was refused (already journaled and counted for throttling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginRefusal {
    /// Wrong login, password or TOTP code, disabled or locked operator, replayed code, spent
    /// or expired one-time password: one answer for all, so that a refusal tells nothing of
    /// the account (the journal keeps the reason).
    Refused,
    /// Right password, but TOTP is not enrolled yet (API logins only).
    NotEnrolled,
    /// Refused before the password was checked: a rate limit (429) or every hashing slot
    /// taken (503); try again after `retry_after`. Counted and journaled in aggregate.
    Throttled {
        why: Throttle,
        retry_after: std::time::Duration,
    },
}

/// A session opened by a login.
#[derive(Debug)]
pub(crate) struct OpenedSession {
    pub(crate) token: String,
    pub(crate) stage: SessionStage,
    pub(crate) expires_at: OffsetDateTime,
}

/// Password + TOTP login shared by the HTML form and the JSON API: rate limits per source
/// address (`peer`, when known) and per login before anything else, argon2 on the blocking
/// pool within a bound, lockout after repeated failures, timing-equalised unknown logins,
/// TOTP replay refusal, journal. The TOTP secret is opened (by the HSM) only once the password
/// is right. With `allow_enrolment` false (API), an operator who has not enrolled TOTP yet
/// gets no session.
pub(crate) async fn password_login(
    state: &PortalState,
    peer: Option<std::net::SocketAddr>,
    login: &str,
    password: &str,
    totp: &str,
    allow_enrolment: bool,
) -> PortalResult<Result<OpenedSession, LoginRefusal>> {
    let store = state.store();
    let config = state.config();
    let guard = state.login_guard();
    let login = login.trim().to_owned();
    let address = peer.map(login_guard::address_key);
    if let Err((why, retry_after)) = guard.admit(address, &login) {
        guard.throttled(store, why, &login, address);
        return Ok(Err(LoginRefusal::Throttled { why, retry_after }));
    }
    let busy = || {
        guard.throttled(store, Throttle::Busy, &login, address);
        Ok(Err(LoginRefusal::Throttled {
            why: Throttle::Busy,
            retry_after: guard.busy_retry_after(),
        }))
    };
    let dummy_verify = || {
        let password = password.to_owned();
        guard.as_long_as_a_check(move || auth::dummy_verify(&password))
    };
    let now = OffsetDateTime::now_utc();
    let attempt_actor = Actor::new(
        if login.is_empty() || login.chars().count() > 128 || login.chars().any(char::is_control) {
            "?"
        } else {
            &login
        },
        AUTH_PASSWORD_TOTP,
    )?;
    let lock_until =
        now + time::Duration::seconds(i64::try_from(config.lockout_secs).unwrap_or(900));
    let refuse = |reason: &'static str, refusal: LoginRefusal| {
        let store = store.clone();
        let login = login.clone();
        let actor = attempt_actor.clone();
        async move {
            store
                .record_login_failure(&login, config.max_failed_logins, lock_until, &actor, reason)
                .await?;
            Ok::<_, PortalError>(Err(refusal))
        }
    };
    let Some(sealed) = store.sealed_operator_credentials(&login).await? else {
        // As long as a password check, so that the answer's time does not tell; journaled
        // in aggregate (a flood of made-up logins writes no entry each).
        if dummy_verify().await.is_err() {
            return busy();
        }
        guard.refused_unknown(store, &login, address);
        return Ok(Err(LoginRefusal::Refused));
    };
    let known = sealed.credentials();
    if known.locked_until.is_some_and(|t| t > now) {
        // As long as a password check, so that the answer's time does not tell either.
        if dummy_verify().await.is_err() {
            return busy();
        }
        store
            .record_login_failure(&login, u32::MAX, lock_until, &attempt_actor, "locked")
            .await?;
        return Ok(Err(LoginRefusal::Refused));
    }
    let verified = {
        let (password, hash) = (password.to_owned(), known.password_hash.clone());
        guard
            .hash(move || auth::verify_password(&password, &hash))
            .await
    };
    match verified {
        Err(login_guard::Busy) => return busy(),
        Ok(false) => return refuse("bad-password", LoginRefusal::Refused).await,
        Ok(true) => {}
    }
    if known.operator.status != OperatorStatus::Active {
        return refuse("disabled", LoginRefusal::Refused).await;
    }
    // The password is right: only now does the HSM open the TOTP secret.
    let creds = store.open_operator_credentials(sealed).await?;
    let actor = Actor::new(creds.operator.login.as_str(), AUTH_PASSWORD_TOTP)?;
    let (stage, step, new_secret) = if creds.operator.totp_enrolled {
        let secret = creds.totp_secret.clone().unwrap_or_default();
        let Some(step) = auth::check_totp(&secret, totp, now.unix_timestamp()) else {
            return refuse("bad-totp", LoginRefusal::Refused).await;
        };
        if creds.last_totp_step.is_some_and(|last| last >= step) {
            return refuse("totp-replay", LoginRefusal::Refused).await;
        }
        (SessionStage::Full, Some(step), None)
    } else if allow_enrolment {
        // The password is a one-time password: it opens one enrolment session, and only
        // before it expires.
        match creds.otp_expires_at {
            None => return refuse("one-time-password-spent", LoginRefusal::Refused).await,
            Some(t) if t <= now => {
                return refuse("one-time-password-expired", LoginRefusal::Refused).await
            }
            Some(_) => {}
        }
        (SessionStage::Enrolment, None, Some(auth::new_totp_secret()))
    } else {
        return refuse("not-enrolled", LoginRefusal::NotEnrolled).await;
    };
    let token = auth::random_hex(32);
    let lifetime =
        time::Duration::try_from(config.max_lifetime()).unwrap_or(time::Duration::hours(10));
    let session = NewSession {
        token_hash: auth::sha256_hex(&token),
        login: creds.operator.login.clone(),
        auth_method: AUTH_PASSWORD_TOTP.to_owned(),
        stage,
        csrf_token: auth::random_hex(32),
        expires_at: now + lifetime,
    };
    if store
        .open_session(&session, step, new_secret.as_deref(), &actor)
        .await
        .is_err()
    {
        return refuse("session-refused", LoginRefusal::Refused).await;
    }
    Ok(Ok(OpenedSession {
        token,
        stage,
        expires_at: session.expires_at,
    }))
}

/// The peer address of the TLS connection ([`crate::tls::serve_tls`] inserts it), absent when
/// the router is driven without one (tests).
pub(crate) type Peer = Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>;

pub(crate) fn peer_address(peer: Peer) -> Option<std::net::SocketAddr> {
    peer.map(|Extension(axum::extract::ConnectInfo(a))| a)
}

pub async fn login(
    State(state): State<PortalState>,
    peer: Peer,
    Form(form): Form<LoginForm>,
) -> Page {
    let login = form.login.trim().to_owned();
    let peer = peer_address(peer);
    let attempt = password_login(&state, peer, &login, &form.password, &form.totp, true).await?;
    let opened = match attempt {
        Ok(o) => o,
        Err(LoginRefusal::Throttled { why, retry_after }) => {
            let secs = retry_after_secs(retry_after);
            let (status, message) = match why {
                Throttle::Busy => (StatusCode::SERVICE_UNAVAILABLE, login_busy_message(secs)),
                Throttle::Address | Throttle::Login => {
                    (StatusCode::TOO_MANY_REQUESTS, login_throttled_message(secs))
                }
            };
            let mut res = login_form(&login, &message, status)?;
            res.headers_mut()
                .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
            return Ok(res);
        }
        Err(LoginRefusal::Refused | LoginRefusal::NotEnrolled) => {
            return login_form(&login, LOGIN_REFUSED, StatusCode::UNAUTHORIZED)
        }
    };
    let to = match opened.stage {
        SessionStage::Enrolment => "/enrolement",
        SessionStage::Full => "/",
    };
    let mut res = Redirect::to(to).into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &opened.token, None),
    );
    h.append(header::SET_COOKIE, clear_cookie(PRELOGIN_COOKIE));
    Ok(res)
}

/// POST /connexion/certificat: logs in the operator bound to the TLS client certificate of
/// the connection (see [`crate::certauth`]); no password, no TOTP.
/// Certificate login shared by the HTML form and the JSON API: the operator bound to the TLS
/// client certificate of the connection (see [`crate::certauth`]); refusals are journaled.
/// `Err(message)` is the French reason of a refusal.
pub(crate) async fn certificate_login(
    state: &PortalState,
    peer: Option<crate::tls::PeerCertificate>,
) -> PortalResult<Result<OpenedSession, &'static str>> {
    let store = state.store();
    let Some(crate::tls::PeerCertificate(der)) = peer else {
        return Ok(Err(
            "Aucun certificat d'opérateur n'a été présenté : insérez votre carte, ou \
             connectez-vous en mode dégradé (mot de passe et code TOTP).",
        ));
    };
    let (operator, serial) = match crate::certauth::operator_of(state, &der).await? {
        Ok(v) => v,
        Err(refusal) => {
            store
                .record_event(
                    &Actor::new("?", AUTH_CLIENT_CERT)?,
                    "login",
                    "operator:?",
                    ca::storage::Outcome::Denied,
                    &serde_json::json!({ "why": refusal.code() }),
                )
                .await?;
            return Ok(Err(refusal.french()));
        }
    };
    let actor = Actor::new(operator.login.as_str(), AUTH_CLIENT_CERT)?;
    let token = auth::random_hex(32);
    let lifetime = time::Duration::try_from(state.config().max_lifetime())
        .unwrap_or(time::Duration::hours(10));
    let session = NewSession {
        token_hash: auth::sha256_hex(&token),
        login: operator.login.clone(),
        auth_method: AUTH_CLIENT_CERT.to_owned(),
        stage: SessionStage::Full,
        csrf_token: auth::random_hex(32),
        expires_at: OffsetDateTime::now_utc() + lifetime,
    };
    store.open_session(&session, None, None, &actor).await?;
    store
        .record_event(
            &actor,
            "login.certificate",
            &format!("certificate:{serial}"),
            ca::storage::Outcome::Success,
            &serde_json::json!({ "operator": operator.login.as_str() }),
        )
        .await?;
    Ok(Ok(OpenedSession {
        token,
        stage: SessionStage::Full,
        expires_at: session.expires_at,
    }))
}

/// POST /connexion/certificat: logs in the operator bound to the TLS client certificate of
/// the connection (see [`crate::certauth`]); no password, no TOTP.
pub async fn login_certificate(
    State(state): State<PortalState>,
    req: axum::extract::Request,
) -> Page {
    let peer = req
        .extensions()
        .get::<crate::tls::PeerCertificate>()
        .cloned();
    let opened = match certificate_login(&state, peer).await? {
        Ok(o) => o,
        Err(message) => return login_form("", message, StatusCode::UNAUTHORIZED),
    };
    let mut res = Redirect::to("/").into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &opened.token, None),
    );
    h.append(header::SET_COOKIE, clear_cookie(PRELOGIN_COOKIE));
    Ok(res)
}

async fn enrolment_view(state: &PortalState, ctx: &Ctx, errors: FieldErrors) -> Page {
    let creds = state
        .store()
        .operator_credentials(ctx.operator.login.as_str())
        .await?
        .ok_or(PortalError::Unauthenticated)?;
    let secret = creds.totp_secret.unwrap_or_default();
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
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    html_status(
        status,
        &EnrolmentPage {
            layout: layout(ctx, "Enrôlement TOTP"),
            secret,
            qr_data_uri,
            uri,
            errors,
        },
    )
}

pub async fn enrolment_page(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
) -> Page {
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

pub async fn enrol(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<EnrolForm>,
) -> Page {
    let store = state.store();
    let creds = store
        .operator_credentials(ctx.operator.login.as_str())
        .await?
        .ok_or(PortalError::Unauthenticated)?;
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
    let step = auth::check_totp(
        &secret,
        &form.totp,
        OffsetDateTime::now_utc().unix_timestamp(),
    );
    if step.is_none() {
        errors.add(
            "totp",
            "Code TOTP incorrect : vérifiez l'heure de votre appareil et le secret enregistré.",
        );
    }
    let Some(step) = step.filter(|_| errors.is_empty()) else {
        return enrolment_view(&state, &ctx, errors).await;
    };
    let hash = state.hash_password(&form.password).await?;
    if let Err(e) = store
        .complete_enrolment(&ctx.token_hash, &hash, step, &ctx.actor)
        .await
    {
        tracing::info!(error = %e, "enrolment refused");
        let mut errors = FieldErrors::default();
        errors.add("totp", "Code TOTP déjà utilisé : attendez le code suivant.");
        return enrolment_view(&state, &ctx, errors).await;
    }
    Ok(Redirect::to("/").into_response())
}

pub async fn logout(State(state): State<PortalState>, Extension(ctx): Extension<Ctx>) -> Page {
    state
        .store()
        .close_session(&ctx.token_hash, false, &ctx.actor)
        .await?;
    let mut res = Redirect::to("/connexion").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    Ok(res)
}

// ----- dashboard, search ---------------------------------------------------------------------------

async fn pending_in_scope(state: &PortalState, scope: Scope) -> PortalResult<Vec<RequestRow>> {
    let store = state.store();
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .requests_with_status(RequestStatus::Filed, after, 200)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for r in &page {
            if let RequestSubject::Professional(id) = &r.subject {
                if let Some(p) = store.find_professional(id).await? {
                    if in_scope(state, scope, &p) {
                        rows.push(request_row(r));
                    }
                }
            }
        }
        if rows.len() >= 500 {
            break;
        }
    }
    Ok(rows)
}

pub async fn dashboard(State(state): State<PortalState>, Extension(ctx): Extension<Ctx>) -> Page {
    let can_decide = auth::role_allows(ctx.operator.role, Permission::Decide);
    let pending = if can_decide {
        pending_in_scope(&state, ctx.scope).await?
    } else {
        Vec::new()
    };
    html(&DashboardPage {
        layout: layout(&ctx, "Accueil"),
        pending,
        can_decide,
    })
}

pub async fn pending_requests(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
) -> Page {
    let requests = pending_in_scope(&state, ctx.scope).await?;
    html(&RequestsPage {
        layout: layout(&ctx, "Demandes en attente"),
        pending: requests,
    })
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Parses an RPPS (11 digits) or an IdNat_PS (12 or 10 characters).
pub(crate) fn parse_idnat(s: &str) -> Result<IdNatPs, ca::Error> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<Rpps>().map(IdNatPs::from);
    }
    s.parse()
}

pub async fn search(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Query(query): Query<SearchQuery>,
) -> Page {
    let q = query.q.trim().to_owned();
    let mut error = String::new();
    let mut found = Vec::new();
    if !q.is_empty() {
        if q.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            match parse_idnat(&q) {
                Ok(id) => found.extend(state.store().find_professional(&id).await?),
                Err(e) => error = french(&e),
            }
        } else {
            found = state.store().find_professionals_by_name(&q, 100).await?;
        }
    }
    let results = found
        .iter()
        .filter(|p| in_scope(&state, ctx.scope, p))
        .map(|p| professional_row(&state, p))
        .collect();
    html(&SearchPage {
        layout: layout(&ctx, "Rechercher un professionnel"),
        searched: !q.is_empty(),
        q,
        results,
        error,
    })
}

// ----- registration --------------------------------------------------------------------------------

fn professions_in_scope(state: &PortalState, scope: Scope) -> Vec<(String, String)> {
    state
        .professions()
        .iter()
        .filter(|p| scope.covers(p.registration_authority()))
        .map(|p| (p.code.to_string(), p.label.clone()))
        .collect()
}

pub async fn register_page(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
) -> Page {
    html(&RegisterPage {
        layout: layout(&ctx, "Enregistrer un professionnel"),
        professions: professions_in_scope(&state, ctx.scope),
        form: RegisterForm::default(),
        errors: FieldErrors::default(),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct RegisterFields {
    #[serde(default)]
    pub(crate) idnat: String,
    #[serde(default)]
    pub(crate) surname: String,
    #[serde(default)]
    pub(crate) given_names: String,
    #[serde(default)]
    pub(crate) profession: String,
    #[serde(default)]
    pub(crate) document_type: String,
    #[serde(default)]
    pub(crate) document_number: String,
    #[serde(default)]
    pub(crate) mode: String,
}

/// Checks a registration (form or CSV row) with the rules of the portal: identifiers (Luhn),
/// names, profession in the operator's scope, identity proofing. Writes nothing.
pub(crate) fn validate_registration(
    state: &PortalState,
    scope: Scope,
    actor: &Actor,
    f: &RegisterFields,
) -> Result<(Professional, IdentityProofing), FieldErrors> {
    let mut errors = FieldErrors::default();
    let idnat = parse_idnat(&f.idnat)
        .map_err(|e| errors.add("idnat", french(&e)))
        .ok();
    let surname = f
        .surname
        .trim()
        .parse::<Name>()
        .map_err(|_| errors.add("surname", "Le nom est obligatoire (64 caractères au plus)."))
        .ok();
    let given = f
        .given_names
        .trim()
        .parse::<Name>()
        .map_err(|_| {
            errors.add(
                "given_names",
                "Le ou les prénoms sont obligatoires (64 caractères au plus).",
            )
        })
        .ok();
    let profession = match f.profession.trim().parse::<ca::domain::ProfessionCode>() {
        Ok(code) => match state.professions().registration_authority(&code) {
            Ok(a) if scope.covers(a) => Some(code),
            Ok(_) => {
                errors.add(
                    "profession",
                    format!(
                        "Cette profession ne relève pas de votre périmètre ({}).",
                        scope.label()
                    ),
                );
                None
            }
            Err(e) => {
                errors.add("profession", french(&e));
                None
            }
        },
        Err(e) => {
            errors.add("profession", french(&e));
            None
        }
    };
    let document_type = f
        .document_type
        .trim()
        .parse::<IdentityDocumentType>()
        .map_err(|_| errors.add("document_type", "Type de pièce d'identité inconnu."))
        .ok();
    let document_number = f
        .document_number
        .trim()
        .parse()
        .map_err(|_| {
            errors.add(
                "document_number",
                "Le numéro de pièce doit comporter de 1 à 32 lettres et chiffres.",
            )
        })
        .ok();
    let mode = f
        .mode
        .trim()
        .parse::<ProofingMode>()
        .map_err(|_| errors.add("mode", "Modalité de vérification inconnue."))
        .ok();
    let (
        Some(idnat),
        Some(surname),
        Some(given_names),
        Some(profession),
        Some(document_type),
        Some(document_number),
        Some(mode),
    ) = (
        idnat,
        surname,
        given,
        profession,
        document_type,
        document_number,
        mode,
    )
    else {
        return Err(errors);
    };
    let professional = Professional {
        idnat,
        surname,
        given_names,
        profession,
        structure: None,
        status: ProfessionalStatus::Active,
    };
    let proofing = IdentityProofing {
        document_type,
        document_number,
        mode,
        checked_by: actor.id.clone(),
        checked_at: OffsetDateTime::now_utc(),
    };
    Ok((professional, proofing))
}

pub async fn register(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<RegisterFields>,
) -> Page {
    let form = RegisterForm {
        idnat: f.idnat.clone(),
        surname: f.surname.clone(),
        given_names: f.given_names.clone(),
        profession: f.profession.clone(),
        document_type: f.document_type.clone(),
        document_number: f.document_number.clone(),
        mode: f.mode.clone(),
    };
    let rerender = |errors: FieldErrors| {
        html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &RegisterPage {
                layout: layout(&ctx, "Enregistrer un professionnel"),
                professions: professions_in_scope(&state, ctx.scope),
                form: form.clone(),
                errors,
            },
        )
    };
    let (professional, proofing) = match validate_registration(&state, ctx.scope, &ctx.actor, &f) {
        Ok(v) => v,
        Err(errors) => return rerender(errors),
    };
    let idnat = professional.idnat.clone();
    match state
        .store()
        .register_professional(&professional, &proofing, &ctx.actor)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/professionnels/{idnat}")).into_response()),
        Err(e @ ca::Error::AlreadyRegistered { .. }) => {
            let mut errors = FieldErrors::default();
            errors.add("idnat", french(&e));
            rerender(errors)
        }
        Err(e) => Err(e.into()),
    }
}

// ----- professional --------------------------------------------------------------------------------

pub async fn professional(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
) -> Page {
    let p = target(&ctx)?;
    let store = state.store();
    let proofings = proofing_rows(&state, &p.idnat).await?;
    let requests = store
        .requests_of(&p.idnat)
        .await?
        .iter()
        .map(request_row)
        .collect();
    let certificates = store
        .certificates_of(&p.idnat)
        .await?
        .iter()
        .map(cert_row)
        .collect();
    html(&ProfessionalPage {
        layout: layout(&ctx, &format!("{} {}", p.given_names, p.surname)),
        p: professional_row(&state, p),
        proofings,
        pending: requests,
        certificates,
    })
}

pub async fn professional_journal(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
) -> Page {
    let p = target(&ctx)?;
    let store = state.store();
    let mut objects = vec![format!("professional:{}", p.idnat)];
    objects.extend(
        store
            .requests_of(&p.idnat)
            .await?
            .iter()
            .map(|r| format!("request:{}", r.id)),
    );
    objects.extend(
        store
            .certificates_of(&p.idnat)
            .await?
            .iter()
            .map(|c| format!("certificate:{}", c.serial)),
    );
    let entries = store.audit_entries_about(&objects, 500).await?;
    html(&JournalPage {
        layout: layout(&ctx, "Journal du professionnel"),
        heading: format!("{} {} ({})", p.given_names, p.surname, p.idnat),
        entries: entries.iter().map(audit_row).collect(),
        chain: String::new(),
    })
}

// ----- requests ---------------------------------------------------------------------------------------

/// Reads the CSR of a multipart form (file or PEM text) and the other fields.
async fn read_request_form(mut mp: Multipart) -> PortalResult<(Option<String>, Vec<u8>)> {
    let mut profile = None;
    let mut csr = Vec::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|_| PortalError::BadRequest("Formulaire illisible.".into()))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| PortalError::BadRequest("Formulaire illisible.".into()))?;
        match name.as_str() {
            "profile" => profile = Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
            "csr_file" | "csr_pem"
                if csr.is_empty() && !bytes.iter().all(u8::is_ascii_whitespace) =>
            {
                csr = bytes.to_vec();
            }
            _ => {}
        }
    }
    Ok((profile, csr))
}

/// The profile of a professional's request: AUTH, SIGN or CONF.
pub(crate) fn request_profile(s: Option<&str>) -> Result<Profile, &'static str> {
    match s.map(str::parse::<Profile>) {
        Some(Ok(pr @ (Profile::Auth | Profile::Sign | Profile::Conf))) => Ok(pr),
        _ => Err("Choisissez l'usage : AUTH, SIGN ou CONF."),
    }
}

/// DER of a CSR given as PEM or DER, checked (proof of possession, key policy).
pub(crate) fn checked_csr_der(csr: &[u8]) -> Result<Vec<u8>, String> {
    if csr.is_empty() {
        return Err(
            "Joignez la demande de certificat (CSR) du professionnel, en PEM ou DER.".into(),
        );
    }
    let der = if csr.trim_ascii_start().starts_with(b"-----BEGIN") {
        match pem::parse(csr.trim_ascii()) {
            Ok(p) if p.tag() == "CERTIFICATE REQUEST" || p.tag() == "NEW CERTIFICATE REQUEST" => {
                p.into_contents()
            }
            Ok(p) => {
                return Err(format!(
                    "Le fichier PEM contient « {} » et non une demande de certificat \
                     (CERTIFICATE REQUEST).",
                    p.tag()
                ))
            }
            Err(_) => return Err("Le fichier PEM est illisible.".into()),
        }
    } else {
        csr.to_vec()
    };
    check_csr(&der).map_err(|e| french(&e))?;
    Ok(der)
}

async fn file_request_view(
    state: &PortalState,
    ctx: &Ctx,
    renewal: Option<&CertificateRecord>,
    errors: FieldErrors,
) -> Page {
    let p = target(ctx)?;
    let (action, renewal_of, fixed_profile) = match renewal {
        Some(c) => (
            format!("/certificats/{}/renouvellement", c.serial),
            c.serial.to_string(),
            messages::profile_label(c.profile).to_owned(),
        ),
        None => (
            format!("/professionnels/{}/demandes", p.idnat),
            String::new(),
            String::new(),
        ),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    html_status(
        status,
        &FileRequestPage {
            layout: layout(ctx, "Demande de certificat"),
            p: professional_row(state, p),
            action,
            renewal_of,
            fixed_profile,
            errors,
        },
    )
}

pub async fn file_request_page(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
) -> Page {
    file_request_view(&state, &ctx, None, FieldErrors::default()).await
}

pub async fn file_request(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    mp: Multipart,
) -> Page {
    let p = target(&ctx)?.clone();
    let (profile, csr) = read_request_form(mp).await?;
    let mut errors = FieldErrors::default();
    let profile = request_profile(profile.as_deref())
        .map_err(|m| errors.add("profile", m))
        .ok();
    let der = checked_csr_der(&csr).map_err(|m| errors.add("csr", m)).ok();
    let (Some(profile), Some(der)) = (profile, der) else {
        return file_request_view(&state, &ctx, None, errors).await;
    };
    let id = file_with_workflow(
        &state,
        &ctx,
        &NewRequest {
            profile,
            subject: RequestSubject::Professional(p.idnat.clone()),
            csr_der: der,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/demandes/{id}")).into_response())
}

/// Files a request as the session's operator; the workflow decides (role, Order), as for the
/// API and the CLI.
pub(crate) async fn file_with_workflow(
    state: &PortalState,
    ctx: &Ctx,
    request: &NewRequest,
) -> PortalResult<RequestId> {
    let me = AuthenticatedOperator::from_session(state.store(), &ctx.token_hash).await?;
    Ok(state.workflow().file(&me, request).await?)
}

pub(crate) async fn request_of(
    state: &PortalState,
    headers_id: &str,
) -> PortalResult<CertificateRequest> {
    let id: i64 = headers_id
        .parse()
        .map_err(|_| PortalError::NotFound("Demande introuvable.".into()))?;
    state
        .store()
        .request(RequestId(id))
        .await?
        .ok_or_else(|| PortalError::NotFound("Demande introuvable.".into()))
}

/// A professional's identity checks, oldest first, as shown to operators.
async fn proofing_rows(state: &PortalState, idnat: &IdNatPs) -> PortalResult<Vec<ProofingRow>> {
    Ok(state
        .store()
        .identity_proofings_of(idnat)
        .await?
        .iter()
        .map(|v| ProofingRow {
            document_type: v.document_type.as_str().to_owned(),
            document_number: v.document_number.as_str().to_owned(),
            mode: match v.mode {
                ProofingMode::FaceToFace => "face à face".into(),
                ProofingMode::Remote => "à distance".into(),
            },
            checked_by: v.checked_by.to_string(),
            checked_at: fmt_time(v.checked_at),
        })
        .collect())
}

/// What the CA would sign for request `r` if issued now (the approver approves exactly
/// this), or why it would not (French).
pub(crate) async fn issuance_preview(
    state: &PortalState,
    r: &CertificateRequest,
) -> PortalResult<Result<ca::issuance::IssuancePreview, String>> {
    let Some(ca) = state.cas().iter().find(|ca| ca.issues(r.profile)) else {
        return Ok(Err(format!(
            "Aucune autorité de certification ne délivre le gabarit {}.",
            r.profile
        )));
    };
    match ca.preview(r).await {
        Ok(p) => Ok(Ok(p)),
        Err(e) if e.is_system_failure() => Err(e.into()),
        Err(e) => Ok(Err(french(&e))),
    }
}

pub async fn request(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Page {
    let r = request_of(&state, &id).await?;
    let p = target(&ctx)?;
    let decide = auth::role_allows(ctx.operator.role, Permission::Decide);
    let certificate = if r.status == RequestStatus::Issued {
        state
            .store()
            .certificates_of(&p.idnat)
            .await?
            .into_iter()
            .find(|c| c.request == Some(r.id))
            .map_or(String::new(), |c| c.serial.to_string())
    } else {
        String::new()
    };
    let renewal_of = state
        .store()
        .renewal_of(r.id)
        .await?
        .map_or(String::new(), |s| s.to_string());
    let (preview, preview_error) = if r.status == RequestStatus::Issued {
        (None, String::new())
    } else {
        match issuance_preview(&state, &r).await? {
            Ok(p) => (Some(p), String::new()),
            Err(why) => (None, why),
        }
    };
    html(&RequestPage {
        layout: layout(&ctx, &format!("Demande n° {}", r.id)),
        preview,
        preview_error,
        proofings: proofing_rows(&state, &p.idnat).await?,
        idnat: p.idnat.to_string(),
        can_decide: decide && r.status == RequestStatus::Filed,
        can_issue: decide && r.status == RequestStatus::Approved,
        own_request: r.filed_by == ctx.actor.id,
        certificate,
        renewal_of,
        r: request_row(&r),
    })
}

/// Issues an approved request through the first CA that issues its profile; tells OCSP.
pub(crate) async fn issue_approved_cert(
    state: &PortalState,
    ctx: &Ctx,
    r: &CertificateRequest,
) -> PortalResult<ca::issuance::IssuedCertificate> {
    let Some(ca) = state.cas().iter().find(|ca| ca.issues(r.profile)) else {
        return Err(PortalError::Unavailable(format!(
            "Aucune autorité de certification ne délivre le gabarit {}.",
            r.profile
        )));
    };
    let renewal_of = state.store().renewal_of(r.id).await?;
    let issued = ca
        .issue(
            IssueRequest {
                request: r.id,
                dns_names: Vec::new(),
                renewal_of,
            },
            &ctx.actor,
        )
        .await?;
    state.status_changed(std::slice::from_ref(&issued.serial));
    Ok(issued)
}

async fn issue_approved(state: &PortalState, ctx: &Ctx, r: &CertificateRequest) -> Page {
    let issued = issue_approved_cert(state, ctx, r).await?;
    Ok(Redirect::to(&format!("/certificats/{}", issued.serial)).into_response())
}

/// Approves a request filed by someone else and issues its certificate. The decision (role,
/// Order, four eyes) is the workflow's ([`ca::workflow::Workflow`]), shared with the CLI; a
/// four-eyes refusal is journaled.
pub(crate) async fn approve_and_issue(
    state: &PortalState,
    ctx: &Ctx,
    id: &str,
) -> PortalResult<ca::issuance::IssuedCertificate> {
    let r = request_of(state, id).await?;
    let me = AuthenticatedOperator::from_session(state.store(), &ctx.token_hash).await?;
    if let Err(e) = state.workflow().approve(&me, r.id).await {
        if matches!(e, ca::Error::SelfApproval { .. }) {
            let _ = state
                .store()
                .record_event(
                    &ctx.actor,
                    "request.approve",
                    &format!("request:{}", r.id),
                    ca::storage::Outcome::Denied,
                    &serde_json::json!({ "why": "four-eyes" }),
                )
                .await;
        }
        return Err(e.into());
    }
    let r = request_of(state, id).await?;
    issue_approved_cert(state, ctx, &r).await
}

pub async fn approve(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Page {
    let issued = approve_and_issue(&state, &ctx, &id).await?;
    Ok(Redirect::to(&format!("/certificats/{}", issued.serial)).into_response())
}

pub async fn issue(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Page {
    let r = request_of(&state, &id).await?;
    if r.status != RequestStatus::Approved {
        return Err(PortalError::Conflict(format!(
            "La demande n° {} n'est pas approuvée en attente d'émission.",
            r.id
        )));
    }
    issue_approved(&state, &ctx, &r).await
}

#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: String,
}

pub async fn reject(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<RejectForm>,
) -> Page {
    let r = reject_request(&state, &ctx, &id, &form.reason).await?;
    Ok(Redirect::to(&format!("/demandes/{}", r.id)).into_response())
}

pub(crate) const REJECT_REASON_MISSING: &str =
    "Indiquez le motif du rejet (500 caractères au plus).";

/// Rejects a request with a reason; returns it as it is now.
pub(crate) async fn reject_request(
    state: &PortalState,
    ctx: &Ctx,
    id: &str,
    reason: &str,
) -> PortalResult<CertificateRequest> {
    let r = request_of(state, id).await?;
    if reason.trim().is_empty() {
        return Err(PortalError::BadRequest(REJECT_REASON_MISSING.into()));
    }
    let me = AuthenticatedOperator::from_session(state.store(), &ctx.token_hash).await?;
    state.workflow().reject(&me, r.id, reason).await?;
    request_of(state, id).await
}

// ----- certificates ------------------------------------------------------------------------------------

pub(crate) async fn certificate_of(
    state: &PortalState,
    serial: &str,
) -> PortalResult<CertificateRecord> {
    let serial: Serial = serial
        .parse()
        .map_err(|_| PortalError::NotFound("Certificat introuvable.".into()))?;
    state
        .store()
        .certificate(&serial)
        .await?
        .ok_or_else(|| PortalError::NotFound("Certificat introuvable.".into()))
}

async fn certificate_view(state: &PortalState, ctx: &Ctx, serial: &str, notice: String) -> Page {
    let c = certificate_of(state, serial).await?;
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", c.der.clone()));
    html(&CertificatePage {
        layout: layout(ctx, "Certificat"),
        idnat: c
            .professional
            .as_ref()
            .map_or(String::new(), ToString::to_string),
        subject: c.subject.clone(),
        issuer: c.issuer.to_string(),
        not_before: fmt_time(c.not_before),
        pem,
        good: matches!(c.status, CertificateStatus::Good),
        on_hold: matches!(c.status, CertificateStatus::OnHold { .. }),
        revoked: matches!(c.status, CertificateStatus::Revoked { .. }),
        reasons: messages::REVOCATION_REASONS
            .iter()
            .map(|r| (r.as_str().to_owned(), messages::reason_label(*r).to_owned()))
            .collect(),
        notice,
        c: cert_row(&c),
    })
}

pub async fn certificate(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(serial): Path<String>,
) -> Page {
    certificate_view(&state, &ctx, &serial, String::new()).await
}

fn download(body: Vec<u8>, content_type: &'static str, file: String) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    (headers, body).into_response()
}

pub async fn certificate_pem(State(state): State<PortalState>, Path(serial): Path<String>) -> Page {
    let c = certificate_of(&state, &serial).await?;
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", c.der.clone()));
    Ok(download(
        pem.into_bytes(),
        "application/x-pem-file",
        format!("{}.pem", c.serial),
    ))
}

pub async fn certificate_der(State(state): State<PortalState>, Path(serial): Path<String>) -> Page {
    let c = certificate_of(&state, &serial).await?;
    Ok(download(
        c.der,
        "application/pkix-cert",
        format!("{}.cer", c.serial),
    ))
}

fn crl_notice(outcome: &ca::status::RevocationOutcome, done: &str) -> String {
    match &outcome.crl_error {
        None => format!("{done} Les listes de révocation ont été republiées."),
        Some(_) => format!(
            "{done} La republication des listes de révocation a échoué ; elle sera retentée \
             automatiquement."
        ),
    }
}

/// A status change of a certificate asked by an operator.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StatusChange {
    Suspend,
    Reinstate,
    Revoke(RevocationReason),
}

/// Suspends, reinstates or revokes a certificate (CRLs republished) and tells OCSP.
pub(crate) async fn change_status(
    state: &PortalState,
    ctx: &Ctx,
    serial: &str,
    change: StatusChange,
) -> PortalResult<ca::status::RevocationOutcome> {
    let c = certificate_of(state, serial).await?;
    let r = state.revocations();
    let outcome = match change {
        StatusChange::Suspend => r.suspend(&c.serial, &ctx.actor).await?,
        StatusChange::Reinstate => r.reinstate(&c.serial, &ctx.actor).await?,
        StatusChange::Revoke(reason) => r.revoke(&c.serial, reason, &ctx.actor).await?,
    };
    state.status_changed(&outcome.serials);
    Ok(outcome)
}

pub async fn suspend(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(serial): Path<String>,
) -> Page {
    let outcome = change_status(&state, &ctx, &serial, StatusChange::Suspend).await?;
    certificate_view(
        &state,
        &ctx,
        &serial,
        crl_notice(&outcome, "Certificat suspendu."),
    )
    .await
}

pub async fn reinstate(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(serial): Path<String>,
) -> Page {
    let outcome = change_status(&state, &ctx, &serial, StatusChange::Reinstate).await?;
    certificate_view(
        &state,
        &ctx,
        &serial,
        crl_notice(&outcome, "Suspension levée."),
    )
    .await
}

pub(crate) const UNKNOWN_REVOCATION_REASON: &str = "Motif de révocation inconnu.";

/// A revocation reason an operator may choose (RFC 5280 name, e.g. `keyCompromise`).
pub(crate) fn revocation_reason(s: &str) -> Option<RevocationReason> {
    s.trim()
        .parse::<RevocationReason>()
        .ok()
        .filter(|r| messages::REVOCATION_REASONS.contains(r))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    reason: String,
}

pub async fn revoke(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(serial): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Page {
    let reason = revocation_reason(&form.reason)
        .ok_or_else(|| PortalError::BadRequest(UNKNOWN_REVOCATION_REASON.into()))?;
    let outcome = change_status(&state, &ctx, &serial, StatusChange::Revoke(reason)).await?;
    certificate_view(
        &state,
        &ctx,
        &serial,
        crl_notice(&outcome, "Certificat révoqué."),
    )
    .await
}

pub async fn renew_page(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(serial): Path<String>,
) -> Page {
    let c = certificate_of(&state, &serial).await?;
    file_request_view(&state, &ctx, Some(&c), FieldErrors::default()).await
}

pub async fn renew(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(serial): Path<String>,
    mp: Multipart,
) -> Page {
    let c = certificate_of(&state, &serial).await?;
    if matches!(c.status, CertificateStatus::Revoked { .. }) {
        return Err(PortalError::Conflict(
            "Un certificat révoqué ne se renouvelle pas : déposez une nouvelle demande.".into(),
        ));
    }
    let p = target(&ctx)?.clone();
    let (_, csr) = read_request_form(mp).await?;
    let der = match checked_csr_der(&csr) {
        Ok(d) => d,
        Err(m) => {
            let mut errors = FieldErrors::default();
            errors.add("csr", m);
            return file_request_view(&state, &ctx, Some(&c), errors).await;
        }
    };
    let id = state
        .store()
        .file_renewal_request(
            &NewRequest {
                profile: c.profile,
                subject: RequestSubject::Professional(p.idnat.clone()),
                csr_der: der,
            },
            &c.serial,
            &ctx.actor,
        )
        .await?;
    Ok(Redirect::to(&format!("/demandes/{id}")).into_response())
}

// ----- journal (auditor) ------------------------------------------------------------------------------

pub async fn journal(State(state): State<PortalState>, Extension(ctx): Extension<Ctx>) -> Page {
    let store = state.store();
    let (head, _) = store.audit_head().await?;
    let mut entries = store.audit_entries(head.saturating_sub(300), 300).await?;
    entries.reverse();
    let v = store.verify_audit_chain().await?;
    let chain = match &v.first_broken {
        None => format!(
            "Chaîne du journal intègre : {} entrées vérifiées.",
            v.entries_checked
        ),
        Some(b) => format!(
            "ALERTE : la chaîne du journal est rompue à l'entrée n° {} ({:?}).",
            b.seq, b.problem
        ),
    };
    html(&JournalPage {
        layout: layout(&ctx, "Journal d'audit"),
        heading: "Dernières entrées".into(),
        entries: entries.iter().map(audit_row).collect(),
        chain,
    })
}

// ----- operators (administrator) ---------------------------------------------------------------------------

async fn operators_view(
    state: &PortalState,
    ctx: &Ctx,
    errors: FieldErrors,
    notice: String,
    one_time_password: String,
) -> Page {
    let operators = state
        .store()
        .operators()
        .await?
        .iter()
        .map(|o| OperatorRow {
            login: o.login.to_string(),
            name: o.display_name.clone(),
            role: auth::role_label(o.role).to_owned(),
            scope: auth::scope_of(o.role, o.order).label(),
            status: match o.status {
                OperatorStatus::Active => "actif".into(),
                OperatorStatus::Disabled => "désactivé".into(),
            },
            active: o.status == OperatorStatus::Active,
            enrolled: o.totp_enrolled,
            awaiting_confirmation_by: o.awaiting_confirmation_by.clone().unwrap_or_default(),
            can_confirm: o
                .awaiting_confirmation_by
                .as_deref()
                .is_some_and(|by| by != ctx.operator.login.as_str())
                && o.login != ctx.operator.login,
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    html_status(
        status,
        &OperatorsPage {
            layout: layout(ctx, "Opérateurs du portail"),
            operators,
            roles: OperatorRole::ALL
                .iter()
                .map(|r| (r.as_str().to_owned(), auth::role_label(*r).to_owned()))
                .collect(),
            orders: Order::ALL
                .iter()
                .map(|o| (o.slug().to_owned(), o.french_name().to_owned()))
                .collect(),
            errors,
            notice,
            one_time_password,
        },
    )
}

pub async fn operators(State(state): State<PortalState>, Extension(ctx): Extension<Ctx>) -> Page {
    operators_view(
        &state,
        &ctx,
        FieldErrors::default(),
        String::new(),
        String::new(),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct OperatorForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    order: String,
}

fn valid_login(s: &str) -> bool {
    (3..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b))
}

pub async fn create_operator(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<OperatorForm>,
) -> Page {
    let mut errors = FieldErrors::default();
    let login = f.login.trim().to_owned();
    if !valid_login(&login) {
        errors.add(
            "login",
            "Identifiant de 3 à 64 caractères : minuscules, chiffres, point, tiret, souligné.",
        );
    }
    let name = f.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 {
        errors.add("name", "Le nom est obligatoire (128 caractères au plus).");
    }
    let role = f.role.parse::<OperatorRole>().ok();
    let order = Order::from_slug(f.order.trim());
    match role {
        None => errors.add("role", "Rôle inconnu."),
        Some(r) if r.needs_order() && order.is_none() => {
            errors.add(
                "order",
                "Un agent ou un approbateur est rattaché à un Ordre.",
            );
        }
        Some(r) if !r.needs_order() && order.is_some() => {
            errors.add("order", "Ce rôle n'est rattaché à aucun Ordre.");
        }
        Some(_) => {}
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return operators_view(&state, &ctx, errors, String::new(), String::new()).await;
    };
    let existing: BTreeSet<String> = state
        .store()
        .operators()
        .await?
        .iter()
        .map(|o| o.login.to_string())
        .collect();
    if existing.contains(&login) {
        errors.add("login", "Cet identifiant existe déjà.");
        return operators_view(&state, &ctx, errors, String::new(), String::new()).await;
    }
    state
        .store()
        .create_operator(
            &NewOperator {
                login: login.parse()?,
                display_name: name,
                role,
                order,
            },
            &ctx.actor,
        )
        .await?;
    operators_view(
        &state,
        &ctx,
        FieldErrors::default(),
        format!(
            "Opérateur {login} créé. Un autre administrateur doit confirmer le compte : le mot \
             de passe à usage unique lui sera affiché, à lui seul."
        ),
        String::new(),
    )
    .await
}

/// POST /operateurs/{login}/confirmation: a second administrator confirms the creation or
/// reset of an account, and is the only one shown its one-time password.
pub async fn confirm_operator(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(login): Path<String>,
) -> Page {
    let otp = auth::one_time_password();
    let hash = state.hash_password(&otp).await?;
    state
        .store()
        .confirm_operator(
            &login,
            &hash,
            crate::otp_expiry(state.config().one_time_password_validity())?,
            &ctx.actor,
        )
        .await?;
    operators_view(
        &state,
        &ctx,
        FieldErrors::default(),
        format!("Compte {login} confirmé : transmettez-lui son mot de passe à usage unique."),
        otp,
    )
    .await
}

async fn set_status(state: &PortalState, ctx: &Ctx, login: &str, status: OperatorStatus) -> Page {
    if login == ctx.operator.login.as_str() {
        return Err(PortalError::Conflict(
            "Vous ne pouvez pas modifier votre propre compte.".into(),
        ));
    }
    state
        .store()
        .set_operator_status(login, status, &ctx.actor)
        .await?;
    operators_view(
        state,
        ctx,
        FieldErrors::default(),
        format!("Opérateur {login} mis à jour."),
        String::new(),
    )
    .await
}

pub async fn disable_operator(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(login): Path<String>,
) -> Page {
    set_status(&state, &ctx, &login, OperatorStatus::Disabled).await
}

pub async fn enable_operator(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(login): Path<String>,
) -> Page {
    set_status(&state, &ctx, &login, OperatorStatus::Active).await
}

pub async fn reset_operator(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(login): Path<String>,
) -> Page {
    if login == ctx.operator.login.as_str() {
        return Err(PortalError::Conflict(
            "Vous ne pouvez pas réinitialiser votre propre compte.".into(),
        ));
    }
    state.store().reset_operator(&login, &ctx.actor).await?;
    operators_view(
        &state,
        &ctx,
        FieldErrors::default(),
        format!(
            "Compte {login} réinitialisé : ses sessions sont closes et son TOTP est à réenrôler. \
             Un autre administrateur doit confirmer la réinitialisation ; le nouveau mot de passe \
             à usage unique lui sera affiché, à lui seul."
        ),
        String::new(),
    )
    .await
}
