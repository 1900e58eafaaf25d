//! RA portal: the web application of the Orders' registration clerks (issue 6).
//!
//! Server-rendered French HTML (askama), no JavaScript, over TLS on its own listener. The
//! binary builds the RA workflow ([`ca::workflow::Workflow`]: the store, the profession table,
//! the CAs with their HSM signers, the sink of status changes) and hands it to
//! [`PortalState::new`]; this crate never links the HSM.
//!
//! Security model: every route is declared in one table ([`route_table`]) with the permission
//! it needs and the object it acts on; one middleware enforces session, idle timeout, first-
//! login enrolment, role and CSRF token, and has the workflow find the route's object in the
//! operator's scope, before any handler runs (deny by default). The handlers — the HTML pages
//! (`handlers`) and the JSON API (`api`), one file per subject — are thin adapters over
//! the workflow, which decides role, Order scope and four eyes once for the pages, the API
//! and the command line.
//!
//! Modules point one way: `config`, `messages`, `views`, `cookies` at the bottom; `error`,
//! `auth`, `login_guard`, `certauth`, `tls`; `state`; `login`, `forms`, `approval`,
//! `import`, `loss`; `handlers` and `api`; `routes` on top.
#![forbid(unsafe_code)]

mod api;
mod approval;
mod auth;
mod certauth;
mod config;
mod cookies;
mod error;
mod forms;
mod handlers;
mod import;
mod login;
mod login_guard;
mod loss;
mod messages;
mod routes;
mod state;
pub mod tls;
mod views;

use ca::domain::{Actor, Order};
use ca::storage::{NewOperator, OperatorRole, Store};

pub use api::openapi_document;
pub use auth::{
    base32_decode, check_totp, current_step, totp_code, Permission, Scope, AUTH_CLIENT_CERT,
    AUTH_PASSWORD_TOTP,
};
pub use config::{PortalConfig, PortalConfigError};
pub use cookies::{PRELOGIN_COOKIE, SESSION_COOKIE};
pub use error::PortalError;
pub use import::check_import_csv;
pub use login_guard::{ACTION_REFUSED_UNKNOWN, ACTION_THROTTLED, ADDRESS_SAMPLE_SIZE, SAMPLE_SIZE};
pub use routes::{route_table, RouteMethod, RouteSpec, Target};
pub use state::{Ctx, PortalState};
pub use tls::serve_tls;

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
    order: Option<Order>,
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
            state::otp_expiry(validity)?,
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
        .create_first_administrators(&accounts, state::otp_expiry(otp_validity)?, ceremony, actor)
        .await?;
    Ok(first_logins)
}
