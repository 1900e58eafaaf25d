//! The route table (every route of the portal, with the permission it requires and the object
//! it acts on), the router built from it, and the middleware that enforces it: session, idle
//! timeout, enrolment stage, role, CSRF token, and the route's object found by the workflow in
//! the operator's Order scope — deny by default.

use axum::body::{to_bytes, Body};
use axum::extract::{RawPathParams, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodFilter, MethodRouter};
use axum::Router;
use ca::domain::{Actor, Serial};
use ca::storage::{OperatorStatus, Outcome, RequestId, SessionStage};
use ca::workflow::{AuthenticatedOperator, Located, Object};
use serde_json::json;
use time::OffsetDateTime;

use crate::api::{self, certificates as api_certs, loss as api_loss, professionals as api_pros};
use crate::api::{requests as api_requests, sessions as api_sessions};
use crate::auth::{constant_time_eq, role_allows, sha256_hex, Permission, AUTH_CLIENT_CERT};
use crate::cookies::{bearer, cookie, PRELOGIN_COOKIE, SESSION_COOKIE};
use crate::error::{PortalError, PortalResult};
use crate::handlers::{
    certificates, expiring, imports, journal, loss, operators, professionals, requests, session,
};
use crate::state::{Ctx, PortalState};

/// HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteMethod {
    Get,
    Post,
}

/// The object a route acts on, named by a path parameter; its professional's Order must be in
/// the operator's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    None,
    /// `{idnat}`: a professional.
    Professional,
    /// `{id}`: a certificate request (of a professional).
    Request,
    /// `{serial}`: a certificate (of a professional).
    Certificate,
}

/// One route of the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    pub method: RouteMethod,
    /// axum path pattern (`/professionnels/{idnat}`).
    pub path: &'static str,
    pub permission: Permission,
    pub target: Target,
    /// A route of the JSON API (`/api/…`): bearer-token authentication, no form CSRF token
    /// (browsers never send an `Authorization` header by themselves), JSON error bodies.
    pub api: bool,
}

impl RouteSpec {
    /// The route `method path`: its object is the one its path parameter names (`{idnat}`,
    /// `{id}`, `{serial}`; other parameters name no object), and it is an API route when it
    /// is under `/api/`.
    fn new(method: RouteMethod, path: &'static str, permission: Permission) -> Self {
        let target = if path.contains("{idnat}") {
            Target::Professional
        } else if path.contains("{id}") {
            Target::Request
        } else if path.contains("{serial}") {
            Target::Certificate
        } else {
            Target::None
        };
        RouteSpec {
            method,
            path,
            permission,
            target,
            api: path.starts_with("/api/"),
        }
    }
}

/// A route and its handler.
type Route = (RouteSpec, MethodRouter<PortalState>);

/// `method path`, served by `handler`.
fn route<H: Handler<T, PortalState>, T: 'static>(
    method: RouteMethod,
    path: &'static str,
    permission: Permission,
    handler: H,
) -> Route {
    // What `routing::get` and `routing::post` do.
    let filter = match method {
        RouteMethod::Get => MethodFilter::GET,
        RouteMethod::Post => MethodFilter::POST,
    };
    let spec = RouteSpec::new(method, path, permission);
    (spec, routing::on(filter, handler))
}

/// Every route with its handler. The router is built from this list only, and
/// [`route_table`] exposes it, so a new route cannot escape the authorization tests.
// One route a line: the table reads as one.
#[rustfmt::skip]
fn routes() -> Vec<Route> {
    use Permission as P;
    use RouteMethod::{Get, Post};
    vec![
        route(Get, "/static/portail.css", P::Public, session::stylesheet),
        route(Get, "/connexion", P::Public, session::login_page),
        route(Post, "/connexion", P::Public, session::login),
        route(Post, "/connexion/certificat", P::Public, session::login_certificate),
        route(Get, "/enrolement", P::Enrolment, session::enrolment_page),
        route(Post, "/enrolement", P::Enrolment, session::enrol),
        route(Post, "/deconnexion", P::AnySession, session::logout),
        route(Get, "/", P::Authenticated, requests::dashboard),
        route(Get, "/professionnels", P::ViewProfessionals, professionals::search),
        route(Get, "/professionnels/nouveau", P::Register, professionals::register_page),
        route(Post, "/professionnels", P::Register, professionals::register),
        route(Get, "/importations", P::Register, imports::import_page),
        route(Post, "/importations", P::Register, imports::import),
        route(Get, "/importations/{job}", P::Register, imports::import_job),
        route(Get, "/professionnels/{idnat}", P::ViewProfessionals, professionals::professional),
        route(Get, "/professionnels/{idnat}/journal", P::ViewProfessionals, journal::professional_journal),
        route(Get, "/professionnels/{idnat}/demandes/nouvelle", P::FileRequest, requests::file_request_page),
        route(Post, "/professionnels/{idnat}/demandes", P::FileRequest, requests::file_request),
        route(Get, "/demandes", P::ViewProfessionals, requests::pending_requests),
        route(Get, "/demandes/{id}", P::ViewProfessionals, requests::request),
        route(Post, "/demandes/{id}/approbation", P::Decide, requests::approve),
        route(Post, "/demandes/{id}/rejet", P::Decide, requests::reject),
        route(Post, "/demandes/{id}/emission", P::Decide, requests::issue),
        route(Get, "/certificats/{serial}", P::ViewProfessionals, certificates::certificate),
        route(Get, "/certificats/{serial}/pem", P::ViewProfessionals, certificates::certificate_pem),
        route(Get, "/certificats/{serial}/der", P::ViewProfessionals, certificates::certificate_der),
        route(Post, "/certificats/{serial}/suspension", P::ManageCertificates, certificates::suspend),
        route(Post, "/certificats/{serial}/reactivation", P::ManageCertificates, certificates::reinstate),
        route(Post, "/certificats/{serial}/revocation", P::ManageCertificates, certificates::revoke),
        route(Get, "/certificats/{serial}/renouvellement", P::FileRequest, requests::renew_page),
        route(Post, "/certificats/{serial}/renouvellement", P::FileRequest, requests::renew),
        route(Get, "/journal", P::ReadJournal, journal::journal),
        route(Get, "/operateurs", P::ManageOperators, operators::operators),
        route(Post, "/operateurs", P::ManageOperators, operators::create_operator),
        route(Post, "/operateurs/{login}/desactivation", P::ManageOperators, operators::disable_operator),
        route(Post, "/operateurs/{login}/activation", P::ManageOperators, operators::enable_operator),
        route(Post, "/operateurs/{login}/reinitialisation", P::ManageOperators, operators::reset_operator),
        route(Post, "/operateurs/{login}/confirmation", P::ManageOperators, operators::confirm_operator),
        // ----- daily work (issue 25) -----
        route(Get, "/echeances", P::ViewProfessionals, expiring::expiring),
        route(Get, "/echeances/export.csv", P::ViewProfessionals, expiring::expiring_csv),
        route(Get, "/certificats/{serial}/revocation", P::ManageCertificates, certificates::revoke_confirmation),
        // ----- lost or stolen cards (issue 25) -----
        route(Get, "/perte-ou-vol", P::Public, loss::declaration_page),
        route(Post, "/perte-ou-vol", P::Public, loss::declare_page),
        route(Get, "/pertes", P::ViewProfessionals, loss::queue),
        route(Post, "/professionnels/{idnat}/suspension", P::ManageCertificates, loss::suspend_all),
        route(Get, "/professionnels/{idnat}/pertes/{declaration}", P::ViewProfessionals, loss::declaration),
        route(Post, "/professionnels/{idnat}/pertes/{declaration}/revocation", P::ManageCertificates, loss::confirm),
        route(Post, "/professionnels/{idnat}/pertes/{declaration}/reactivation", P::ManageCertificates, loss::reinstate),
        // ----- JSON API for the Orders' software (OpenAPI at /api/docs) -----
        route(Get, "/api/docs", P::Public, api::docs),
        route(Post, "/api/v1/sessions", P::Public, api_sessions::create_session),
        route(Post, "/api/v1/sessions/certificate", P::Public, api_sessions::create_certificate_session),
        route(Post, "/api/v1/logout", P::AnySession, api_sessions::logout),
        route(Get, "/api/v1/professionals", P::ViewProfessionals, api_pros::search),
        route(Post, "/api/v1/professionals", P::Register, api_pros::register),
        route(Get, "/api/v1/professionals/{idnat}", P::ViewProfessionals, api_pros::professional),
        route(Post, "/api/v1/professionals/{idnat}/requests", P::FileRequest, api_requests::file_request),
        route(Get, "/api/v1/requests/{id}", P::ViewProfessionals, api_requests::request),
        route(Post, "/api/v1/requests/{id}/approve", P::Decide, api_requests::approve),
        route(Post, "/api/v1/requests/{id}/reject", P::Decide, api_requests::reject),
        route(Get, "/api/v1/certificates/{serial}", P::ViewProfessionals, api_certs::certificate),
        route(Post, "/api/v1/certificates/{serial}/suspend", P::ManageCertificates, api_certs::suspend),
        route(Post, "/api/v1/certificates/{serial}/reinstate", P::ManageCertificates, api_certs::reinstate),
        route(Post, "/api/v1/certificates/{serial}/revoke", P::ManageCertificates, api_certs::revoke),
        route(Post, "/api/v1/loss-declarations", P::Public, api_loss::declare_loss),
        route(Get, "/api/v1/loss-declarations", P::ViewProfessionals, api_loss::open_declarations),
        route(Post, "/api/v1/professionals/{idnat}/suspend-all", P::ManageCertificates, api_loss::suspend_all),
        route(Get, "/api/v1/professionals/{idnat}/loss-declarations/{declaration}", P::ViewProfessionals, api_loss::declaration),
        route(Post, "/api/v1/professionals/{idnat}/loss-declarations/{declaration}/revoke", P::ManageCertificates, api_loss::revoke),
        route(Post, "/api/v1/professionals/{idnat}/loss-declarations/{declaration}/reinstate", P::ManageCertificates, api_loss::reinstate),
    ]
}

/// Every route of the portal (what [`crate::router`] serves), for tests and documentation.
pub fn route_table() -> Vec<RouteSpec> {
    routes().into_iter().map(|(spec, _)| spec).collect()
}

pub fn build(state: PortalState) -> Router {
    let limit = state.config().max_body_bytes;
    let mut router: Router<PortalState> = Router::new();
    for (spec, method_router) in routes() {
        let guarded = method_router.route_layer(middleware::from_fn_with_state(
            (state.clone(), spec),
            authorize,
        ));
        router = router.route(spec.path, guarded);
    }
    router
        .fallback(|uri: axum::http::Uri| async move {
            error_for(
                uri.path(),
                PortalError::NotFound("Page introuvable.".into()),
            )
        })
        .method_not_allowed_fallback(|uri: axum::http::Uri| async move {
            error_for(
                uri.path(),
                PortalError::MethodNotAllowed("Méthode HTTP non permise sur cette adresse.".into()),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(limit, read_body_first))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Reads the whole request body (at most `limit` bytes) before routing and authorization.
/// An answer given before the body is read (401, 403, 404, …) makes an HTTP/2 server reset
/// the stream after answering (RST_STREAM NO_ERROR, RFC 9113 §8.1); a client still sending
/// its body — curl, seen in the tests — then reports "Stream error in the HTTP/2 framing
/// layer" instead of our answer. Bodies are small (forms, CSRs, CSV files up to the limit).
async fn read_body_first(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let error = if too_large {
                PortalError::PayloadTooLarge(format!(
                    "Corps de la requête trop volumineux (plus de {limit} octets)."
                ))
            } else {
                PortalError::BadRequest("Corps de la requête illisible.".into())
            };
            error_for(parts.uri.path(), error)
        }
    }
}

/// An error answered before any handler runs: JSON under `/api/`, an HTML page elsewhere.
fn error_for(path: &str, e: PortalError) -> Response {
    if path.starts_with("/api/") {
        api::error_response(e)
    } else {
        e.into_response()
    }
}

// ----- security headers --------------------------------------------------------------------------

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(
        h,
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    );
    set(h, "cross-origin-opener-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    res
}

// ----- authorization ---------------------------------------------------------------------------

async fn authorize(
    State((state, spec)): State<(PortalState, RouteSpec)>,
    req: Request,
    next: Next,
) -> Response {
    match authorize_inner(&state, spec, req).await {
        Ok(req) => next.run(req).await,
        Err(e) if spec.api => api::error_response(e),
        Err(e) => e.into_response(),
    }
}

async fn authorize_inner(
    state: &PortalState,
    spec: RouteSpec,
    req: Request,
) -> PortalResult<Request> {
    let is_post = req.method() == Method::POST;
    if spec.permission == Permission::Public {
        // API logins take JSON only (the handler checks the content type), which a page of
        // another site cannot send without a CORS preflight that this server never grants.
        if is_post && !spec.api {
            let expected = cookie(req.headers(), PRELOGIN_COOKIE).unwrap_or_default();
            let (req, token) = csrf_field(req, state.config().max_body_bytes).await?;
            if expected.is_empty() || !constant_time_eq(expected.as_bytes(), token.as_bytes()) {
                return Err(PortalError::Csrf);
            }
            return Ok(req);
        }
        return Ok(req);
    }

    let store = state.store();
    // The API authenticates by bearer token only (never the ambient cookie), the HTML pages
    // by cookie only.
    let token = if spec.api {
        bearer(req.headers())
    } else {
        cookie(req.headers(), SESSION_COOKIE)
    }
    .ok_or(PortalError::Unauthenticated)?;
    let token_hash = sha256_hex(&token);
    let session = store
        .session(&token_hash)
        .await?
        .ok_or(PortalError::Unauthenticated)?;
    let actor = Actor::new(session.login.as_str(), &session.auth_method)?;
    let now = OffsetDateTime::now_utc();
    let idle = time::Duration::try_from(state.config().idle_timeout())
        .unwrap_or(time::Duration::minutes(15));
    if now > session.expires_at || now - session.last_seen > idle {
        store.close_session(&token_hash, true, &actor).await?;
        return Err(PortalError::Unauthenticated);
    }
    let operator = match store.operator(session.login.as_str()).await? {
        Some(o) if o.status == OperatorStatus::Active => o,
        _ => {
            store.close_session(&token_hash, true, &actor).await?;
            return Err(PortalError::Unauthenticated);
        }
    };
    // A certificate session lives only as long as the certificate it was opened with is
    // presented on the connection, still bound to the same operator and still good.
    if session.auth_method == AUTH_CLIENT_CERT {
        let peer = req
            .extensions()
            .get::<crate::tls::PeerCertificate>()
            .cloned();
        let bound = match peer {
            Some(p) => matches!(
                crate::certauth::operator_of(store, &p.0).await?,
                Ok((o, _)) if o.login == session.login
            ),
            None => false,
        };
        if !bound {
            store.close_session(&token_hash, true, &actor).await?;
            return Err(PortalError::Unauthenticated);
        }
    }
    match (session.stage, spec.permission) {
        (_, Permission::AnySession) => {}
        (SessionStage::Enrolment, Permission::Enrolment) => {}
        (SessionStage::Enrolment, _) => return Err(PortalError::EnrolmentPending),
        (SessionStage::Full, Permission::Enrolment) => return Err(PortalError::GoHome),
        (SessionStage::Full, p) => {
            if !role_allows(operator.role, p) {
                deny(state, &actor, spec, req.uri().path(), "role").await;
                return Err(PortalError::Forbidden(
                    "votre rôle ne permet pas cette opération.".into(),
                ));
            }
        }
    }

    let (mut req, csrf_ok) = if is_post && !spec.api {
        let (req, field) = csrf_field(req, state.config().max_body_bytes).await?;
        let ok = constant_time_eq(field.as_bytes(), session.csrf_token.as_bytes());
        (req, ok)
    } else {
        (req, true)
    };
    if !csrf_ok {
        deny(state, &actor, spec, req.uri().path(), "csrf").await;
        return Err(PortalError::Csrf);
    }

    // The operator as the workflow takes them, once the session is a full one.
    let me = match session.stage {
        SessionStage::Full => Some(AuthenticatedOperator::of_session(
            &session,
            Some(operator.clone()),
        )?),
        SessionStage::Enrolment => None,
    };
    let target = match route_object(spec, &mut req).await? {
        None => None,
        Some(object) => {
            let me = me.as_ref().ok_or(PortalError::Unauthenticated)?;
            Some(locate(state, me, &object, &actor, spec, req.uri().path()).await?)
        }
    };
    store.touch_session(&token_hash).await?;
    req.extensions_mut().insert(Ctx {
        operator,
        actor,
        session,
        me,
        target,
    });
    Ok(req)
}

/// The route's object, found by the workflow in the operator's scope. An object of another
/// scope gets the same answer as an unknown one: a clerk learns nothing of what another
/// Order holds (the refusal is journaled all the same).
async fn locate(
    state: &PortalState,
    me: &AuthenticatedOperator,
    object: &Object,
    actor: &Actor,
    spec: RouteSpec,
    path: &str,
) -> PortalResult<Located> {
    let not_found = || PortalError::NotFound("Objet introuvable.".into());
    match state.workflow().locate(me, object).await {
        Ok(located) => Ok(located),
        Err(ca::Error::NotPermitted { .. }) => {
            deny(state, actor, spec, path, "scope").await;
            Err(not_found())
        }
        Err(
            ca::Error::ProfessionalNotFound { .. }
            | ca::Error::RequestNotFound { .. }
            | ca::Error::CertificateNotFound { .. },
        ) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

async fn deny(state: &PortalState, actor: &Actor, spec: RouteSpec, path: &str, why: &str) {
    let object: String = path.chars().filter(|c| !c.is_control()).take(200).collect();
    let r = state
        .store()
        .record_event(
            actor,
            "access.denied",
            &format!("route:{object}"),
            Outcome::Denied,
            &json!({ "route": spec.path, "why": why }),
        )
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "cannot journal a refused access");
    }
}

/// The object a route names by its path parameter (`{idnat}`, `{id}`, `{serial}`).
async fn route_object(spec: RouteSpec, req: &mut Request) -> PortalResult<Option<Object>> {
    if spec.target == Target::None {
        return Ok(None);
    }
    let params = {
        let (mut parts, body) = std::mem::take(req).into_parts();
        let params = axum::RequestPartsExt::extract::<RawPathParams>(&mut parts).await;
        *req = Request::from_parts(parts, body);
        params.map_err(|_| PortalError::NotFound("Page introuvable.".into()))?
    };
    let param = |name: &str| -> PortalResult<String> {
        params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
            .ok_or_else(|| PortalError::NotFound("Page introuvable.".into()))
    };
    let not_found = |_| PortalError::NotFound("Objet introuvable.".into());
    Ok(Some(match spec.target {
        Target::None => return Ok(None),
        Target::Professional => Object::Professional(param("idnat")?.parse().map_err(not_found)?),
        Target::Request => Object::Request(RequestId(
            param("id")?
                .parse()
                .map_err(|_| PortalError::NotFound("Objet introuvable.".into()))?,
        )),
        Target::Certificate => {
            let serial: Serial = param("serial")?.parse().map_err(not_found)?;
            Object::Certificate(serial)
        }
    }))
}

/// Reads the `csrf` field of a form (urlencoded or multipart) and gives the request back with
/// its body intact.
async fn csrf_field(req: Request, limit: usize) -> PortalResult<(Request, String)> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| PortalError::BadRequest("Requête trop volumineuse.".into()))?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut token = String::new();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        if let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes) {
            if let Some((_, v)) = fields.into_iter().find(|(k, _)| k == "csrf") {
                token = v;
            }
        }
    } else if content_type.starts_with("multipart/form-data") {
        if let Ok(boundary) = multer::parse_boundary(&content_type) {
            let stream = futures_util::stream::once({
                let b = bytes.clone();
                async move { Ok::<_, std::io::Error>(b) }
            });
            let mut mp = multer::Multipart::new(stream, boundary);
            while let Ok(Some(field)) = mp.next_field().await {
                if field.name() == Some("csrf") {
                    token = field.text().await.unwrap_or_default();
                    break;
                }
            }
        }
    }
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}
