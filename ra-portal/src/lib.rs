//! RA portal: the web application of the Orders' registration clerks (issue 6).
//!
//! Server-rendered French HTML (askama), no JavaScript, over TLS on its own listener. The
//! binary builds the CAs (with their HSM signers), the store, the revocation service and the
//! profession table, and hands them to [`PortalState::new`]; this crate never links the HSM.
//!
//! Security model: every route is declared in one table ([`route_table`]) with the permission
//! it needs and the object it acts on; one middleware enforces session, idle timeout, first-
//! login enrolment, role, CSRF token and Order scope before any handler runs (deny by default).
#![forbid(unsafe_code)]

mod api;
mod auth;
mod certauth;
mod config;
mod error;
mod handlers;
mod import;
mod login_guard;
mod messages;
mod routes;
pub mod tls;
mod views;

use std::sync::Arc;

use ca::domain::{Actor, ProfessionTable, Professional};
use ca::issuance::CertificateAuthority;
use ca::status::Revocations;
use ca::storage::{NewOperator, Operator, OperatorRole, Store};
use ca::workflow::Workflow;
use time::OffsetDateTime;

pub use api::openapi_document;
pub use auth::{
    base32_decode, check_totp, current_step, totp_code, Permission, Scope, AUTH_CLIENT_CERT,
    AUTH_PASSWORD_TOTP,
};
pub use config::{PortalConfig, PortalConfigError};
pub use error::PortalError;
pub use import::check_import_csv;
pub use login_guard::{ACTION_REFUSED_UNKNOWN, ACTION_THROTTLED, ADDRESS_SAMPLE_SIZE, SAMPLE_SIZE};
pub use routes::{route_table, RouteMethod, RouteSpec, Target, PRELOGIN_COOKIE, SESSION_COOKIE};
pub use tls::serve_tls;

/// Everything the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PortalState {
    inner: Arc<Inner>,
}

/// Called with the serials whose status changed (issued, suspended, reinstated, revoked),
/// after the change is committed: the binary points it at the OCSP responder, so this
/// instance answers the new status at once.
pub type StatusListener = Arc<dyn Fn(&[ca::domain::Serial]) + Send + Sync>;

struct Inner {
    store: Store,
    workflow: Workflow,
    cas: Vec<Arc<CertificateAuthority>>,
    revocations: Arc<Revocations>,
    professions: Arc<ProfessionTable>,
    config: PortalConfig,
    status_listener: std::sync::OnceLock<StatusListener>,
    login_guard: Arc<login_guard::LoginGuard>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("store", &self.store)
            .field("cas", &self.cas.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PortalState {
    /// `cas`: the issuing CAs (CA Personnes issues AUTH/SIGN/CONF; a request goes to the first
    /// CA that issues its profile).
    pub fn new(
        store: Store,
        cas: Vec<Arc<CertificateAuthority>>,
        revocations: Arc<Revocations>,
        professions: Arc<ProfessionTable>,
        config: PortalConfig,
    ) -> Self {
        let login_guard = Arc::new(login_guard::LoginGuard::new(&config));
        let workflow = Workflow::new(
            store.clone(),
            professions.clone(),
            cas.clone(),
            revocations.sink().clone(),
        );
        PortalState {
            inner: Arc::new(Inner {
                store,
                workflow,
                cas,
                revocations,
                professions,
                config,
                status_listener: std::sync::OnceLock::new(),
                login_guard,
            }),
        }
    }

    /// Sets the status listener (once; later calls are ignored).
    pub fn set_status_listener(&self, listener: StatusListener) {
        let _ = self.inner.status_listener.set(listener);
    }

    /// Tells the listener, if any, that these serials changed status.
    pub(crate) fn status_changed(&self, serials: &[ca::domain::Serial]) {
        if let Some(l) = self.inner.status_listener.get() {
            l(serials);
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The RA workflow over the store, the CAs and the profession table.
    pub(crate) fn workflow(&self) -> &Workflow {
        &self.inner.workflow
    }

    pub fn cas(&self) -> &[Arc<CertificateAuthority>] {
        &self.inner.cas
    }

    pub fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    pub fn professions(&self) -> &ProfessionTable {
        &self.inner.professions
    }

    pub fn config(&self) -> &PortalConfig {
        &self.inner.config
    }

    pub(crate) fn login_guard(&self) -> &Arc<login_guard::LoginGuard> {
        &self.inner.login_guard
    }

    /// Journals at once the refused logins counted since the last aggregated entries (a
    /// background task does it every `login_refusals_journal_secs`): at shutdown, so that
    /// none is lost, and in tests.
    pub async fn flush_login_refusals(&self) {
        self.inner.login_guard.flush(&self.inner.store).await;
    }

    /// Hashes a password for storage, on the blocking pool within the hashing bound.
    pub(crate) async fn hash_password(&self, password: &str) -> Result<String, PortalError> {
        let password = password.to_owned();
        self.inner
            .login_guard
            .hash(move || auth::hash_password(&password))
            .await
            .map_err(|_| busy())?
    }

    /// Whether `password` matches `hash`, checked on the blocking pool within the hashing
    /// bound.
    pub(crate) async fn verify_password(
        &self,
        password: &str,
        hash: &str,
    ) -> Result<bool, PortalError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.inner
            .login_guard
            .hash(move || auth::verify_password(&password, &hash))
            .await
            .map_err(|_| busy())
    }
}

/// The answer when every hashing slot is taken (operations of an authenticated operator).
fn busy() -> PortalError {
    ca::limits::count_refused(ca::limits::LISTENER_PORTAL, "password_hash_busy");
    PortalError::Unavailable(
        "Le service est momentanément saturé : réessayez dans quelques secondes.".into(),
    )
}

/// The authenticated operator of a request, set by the authorization middleware.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub operator: Operator,
    pub actor: Actor,
    pub scope: Scope,
    pub csrf: String,
    pub token_hash: String,
    /// The professional the route's object belongs to (already checked in scope).
    pub target: Option<Professional>,
}

/// The portal's router (every route of [`route_table`], security headers, body limit).
pub fn router(state: PortalState) -> axum::Router {
    routes::build(state)
}

/// Test support: creates an operator account as `actor` and confirms it as a second, system
/// actor, with `one_time_password` valid for the default time. The portal's pages and API
/// never do both steps for one person.
#[doc(hidden)]
pub async fn create_operator(
    store: &Store,
    login: &str,
    display_name: &str,
    role: OperatorRole,
    order: Option<ca::domain::Order>,
    one_time_password: &str,
    actor: &Actor,
) -> Result<(), PortalError> {
    store
        .create_operator(
            &NewOperator {
                login: login.parse()?,
                display_name: display_name.to_owned(),
                role,
                order,
            },
            actor,
        )
        .await?;
    let validity = PortalConfig::default().one_time_password_validity();
    store
        .confirm_operator(
            login,
            &auth::hash_password(one_time_password)?,
            otp_expiry(validity)?,
            &Actor::system("test-confirmation")?,
        )
        .await?;
    Ok(())
}

/// The first administrators, each with a fresh one-time password valid for `otp_validity`,
/// created by the key ceremony named `ceremony`; returns (login, one-time password) to hand
/// to each, once. Refused when administrators exist already.
pub async fn create_first_administrators(
    store: &Store,
    administrators: &[(String, String)],
    otp_validity: std::time::Duration,
    ceremony: &str,
    actor: &Actor,
) -> Result<Vec<(String, String)>, PortalError> {
    let mut accounts = Vec::with_capacity(administrators.len());
    let mut first_logins = Vec::with_capacity(administrators.len());
    for (login, name) in administrators {
        let otp = auth::one_time_password();
        accounts.push((
            NewOperator {
                login: login.parse()?,
                display_name: name.clone(),
                role: OperatorRole::Administrator,
                order: None,
            },
            auth::hash_password(&otp)?,
        ));
        first_logins.push((login.clone(), otp));
    }
    store
        .create_first_administrators(&accounts, otp_expiry(otp_validity)?, ceremony, actor)
        .await?;
    Ok(first_logins)
}

/// The end of validity of a one-time password made now.
pub(crate) fn otp_expiry(validity: std::time::Duration) -> Result<OffsetDateTime, PortalError> {
    time::Duration::try_from(validity)
        .ok()
        .and_then(|d| OffsetDateTime::now_utc().checked_add(d))
        .ok_or_else(|| PortalError::Internal("one-time password validity out of range".into()))
}
