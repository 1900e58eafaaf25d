//! What the handlers share ([`PortalState`]: the RA workflow, the configuration, the login
//! guard) and what the authorization middleware tells them of a request ([`Ctx`]).

use std::sync::Arc;

use axum::extract::rejection::ExtensionRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::Extension;
use ca::domain::{Actor, Professional};
use ca::storage::{CertificateRecord, CertificateRequest, Operator, SessionRecord, Store};
use ca::workflow::{scope_of, AuthenticatedOperator, Located, Scope, Workflow};
use time::OffsetDateTime;

use crate::auth;
use crate::config::PortalConfig;
use crate::error::{PortalError, PortalResult};
use crate::login_guard::LoginGuard;

/// Everything the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PortalState {
    inner: Arc<Inner>,
}

struct Inner {
    workflow: Workflow,
    config: PortalConfig,
    login_guard: Arc<LoginGuard>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("store", self.workflow.store())
            .field("cas", &self.workflow.issuers().len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PortalState {
    /// `workflow`: the RA workflow the binary built over the store, the profession table, the
    /// issuing CAs (with their HSM signers) and the sink of status changes (CRLs, OCSP).
    pub fn new(workflow: Workflow, config: PortalConfig) -> Self {
        let login_guard = Arc::new(LoginGuard::new(&config));
        PortalState {
            inner: Arc::new(Inner {
                workflow,
                config,
                login_guard,
            }),
        }
    }

    /// Every operation of the clerks and administrators, and what they may see.
    pub fn workflow(&self) -> &Workflow {
        &self.inner.workflow
    }

    /// The store, for what is not the RA's workflow: logins, sessions, enrolment.
    pub fn store(&self) -> &Store {
        self.inner.workflow.store()
    }

    pub fn config(&self) -> &PortalConfig {
        &self.inner.config
    }

    pub(crate) fn login_guard(&self) -> &Arc<LoginGuard> {
        &self.inner.login_guard
    }

    /// Journals at once the refused logins counted since the last aggregated entries (a
    /// background task does it every `login_refusals_journal_secs`): at shutdown, so that
    /// none is lost, and in tests.
    pub async fn flush_login_refusals(&self) {
        self.inner.login_guard.flush(self.store()).await;
    }

    /// Hashes a password for storage, on the blocking pool within the hashing bound.
    pub(crate) async fn hash_password(&self, password: &str) -> PortalResult<String> {
        let password = password.to_owned();
        self.inner
            .login_guard
            .hash(move || auth::hash_password(&password))
            .await
            .map_err(|_| busy())?
    }

    /// Whether `password` matches `hash`, checked on the blocking pool within the hashing
    /// bound.
    pub(crate) async fn verify_password(&self, password: &str, hash: &str) -> PortalResult<bool> {
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
    /// The session of the request (its token hash, its CSRF token).
    pub session: SessionRecord,
    /// The operator as the workflow takes them: set for a full session, absent in the
    /// enrolment stage.
    pub me: Option<AuthenticatedOperator>,
    /// The route's object, found by the workflow in the operator's scope.
    pub target: Option<Located>,
}

impl Ctx {
    /// The operator's Order scope.
    pub fn scope(&self) -> Scope {
        scope_of(self.operator.role, self.operator.order)
    }

    /// The operator who acts (a full session).
    pub(crate) fn me(&self) -> PortalResult<&AuthenticatedOperator> {
        self.me.as_ref().ok_or(PortalError::Unauthenticated)
    }

    fn located(&self) -> PortalResult<&Located> {
        self.target
            .as_ref()
            .ok_or_else(|| PortalError::Internal("route without its object".into()))
    }

    /// The professional the route's object belongs to.
    pub(crate) fn professional(&self) -> PortalResult<&Professional> {
        Ok(&self.located()?.professional)
    }

    /// The route's request (`{id}`).
    pub(crate) fn request(&self) -> PortalResult<&CertificateRequest> {
        self.located()?
            .request
            .as_ref()
            .ok_or_else(|| PortalError::Internal("route without its request".into()))
    }

    /// The route's certificate (`{serial}`).
    pub(crate) fn certificate(&self) -> PortalResult<&CertificateRecord> {
        self.located()?
            .certificate
            .as_ref()
            .ok_or_else(|| PortalError::Internal("route without its certificate".into()))
    }
}

/// What a handler of an authenticated route starts from: the portal's state and the
/// [`Ctx`] the authorization middleware set. One extractor instead of
/// `State(state): State<PortalState>, Extension(ctx): Extension<Ctx>` in every handler.
pub(crate) struct Acting {
    pub(crate) state: PortalState,
    pub(crate) ctx: Ctx,
}

impl FromRequestParts<PortalState> for Acting {
    /// The rejection of `Extension<Ctx>` (500), as before: the middleware sets a `Ctx` on
    /// every route but the public ones, which take no `Acting`.
    type Rejection = ExtensionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PortalState,
    ) -> Result<Self, Self::Rejection> {
        let Extension(ctx) = Extension::<Ctx>::from_request_parts(parts, state).await?;
        Ok(Acting {
            state: state.clone(),
            ctx,
        })
    }
}

/// The end of validity of a one-time password made now.
pub(crate) fn otp_expiry(validity: std::time::Duration) -> PortalResult<OffsetDateTime> {
    time::Duration::try_from(validity)
        .ok()
        .and_then(|d| OffsetDateTime::now_utc().checked_add(d))
        .ok_or_else(|| PortalError::Internal("one-time password validity out of range".into()))
}
