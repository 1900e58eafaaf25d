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
mod messages;
mod routes;
pub mod tls;
mod views;

use std::sync::Arc;

use ca::domain::{Actor, ProfessionTable, Professional};
use ca::issuance::{CertificateAuthority, Revocations};
use ca::storage::{NewOperator, Operator, OperatorRole, Store};
use time::OffsetDateTime;

pub use api::openapi_document;
pub use auth::{
    base32_decode, check_totp, current_step, totp_code, Permission, Scope, AUTH_CLIENT_CERT,
    AUTH_PASSWORD_TOTP,
};
pub use config::PortalConfig;
pub use error::PortalError;
pub use import::check_import_csv;
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
    cas: Vec<Arc<CertificateAuthority>>,
    revocations: Arc<Revocations>,
    professions: Arc<ProfessionTable>,
    config: PortalConfig,
    status_listener: std::sync::OnceLock<StatusListener>,
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
        PortalState {
            inner: Arc::new(Inner {
                store,
                cas,
                revocations,
                professions,
                config,
                status_listener: std::sync::OnceLock::new(),
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

/// Creates the first administrator when there is no operator yet, and returns its one-time
/// password (to print once, valid for `otp_validity`); `None` when operators already exist. At
/// the first login the administrator enrols TOTP (QR code) and chooses a new password.
pub async fn bootstrap_admin(
    store: &Store,
    login: &str,
    otp_validity: std::time::Duration,
) -> Result<Option<String>, PortalError> {
    if store.operator_count().await? > 0 {
        return Ok(None);
    }
    let otp = auth::one_time_password();
    let created = create_operator_valid_for(
        store,
        login,
        "Administrateur initial",
        OperatorRole::Administrator,
        None,
        &otp,
        otp_validity,
        &Actor::system("ra-portal-bootstrap")?,
    )
    .await;
    match created {
        Ok(()) => Ok(Some(otp)),
        // Instances sharing PostgreSQL may start together: the one that lost
        // the race finds the administrator created by the other (the login is
        // unique in the database) and has nothing to print.
        Err(_) if store.operator_count().await? > 0 => {
            tracing::info!("the first administrator was created by another instance");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Creates an operator with a one-time password valid for the default time (tests, bulk
/// provisioning).
pub async fn create_operator(
    store: &Store,
    login: &str,
    display_name: &str,
    role: OperatorRole,
    order: Option<ca::domain::Order>,
    one_time_password: &str,
    actor: &Actor,
) -> Result<(), PortalError> {
    let validity = PortalConfig::default().one_time_password_validity();
    create_operator_valid_for(
        store,
        login,
        display_name,
        role,
        order,
        one_time_password,
        validity,
        actor,
    )
    .await
}

/// The end of validity of a one-time password made now.
pub(crate) fn otp_expiry(validity: std::time::Duration) -> Result<OffsetDateTime, PortalError> {
    time::Duration::try_from(validity)
        .ok()
        .and_then(|d| OffsetDateTime::now_utc().checked_add(d))
        .ok_or_else(|| PortalError::Internal("one-time password validity out of range".into()))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn create_operator_valid_for(
    store: &Store,
    login: &str,
    display_name: &str,
    role: OperatorRole,
    order: Option<ca::domain::Order>,
    one_time_password: &str,
    otp_validity: std::time::Duration,
    actor: &Actor,
) -> Result<(), PortalError> {
    let hash = auth::hash_password(one_time_password)?;
    store
        .create_operator(
            &NewOperator {
                login: login.parse()?,
                display_name: display_name.to_owned(),
                role,
                order,
            },
            &hash,
            otp_expiry(otp_validity)?,
            actor,
        )
        .await?;
    Ok(())
}
