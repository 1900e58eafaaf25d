//! The certificate-request workflow: who may file, approve or reject a request, decided once
//! for the RA portal, its JSON API and the `igc` command line (DESIGN.md §5).
//!
//! Every decision takes [`AuthenticatedOperator`]s, which exist only after an authentication:
//! a password and a TOTP code checked here ([`AuthenticatedOperator::with_password_totp`]), or
//! a full portal session opened by the portal's own login
//! ([`AuthenticatedOperator::from_session`]). The rules:
//!
//! - filing needs a clerk, an approver or the registration office ([`role_may`]), deciding an
//!   approver or the registration office;
//! - the subject must be in the operator's [`Scope`]: a professional's Order for clerks and
//!   approvers of that Order, the professions without an Order for the registration office;
//!   structures (server certificates) and RA operators are registered by the registration
//!   office, so only it files and decides theirs;
//! - the approver is never the operator who filed (four eyes). The SQL update of
//!   [`Store::approve_request`] refuses it too, as a second guard.

use std::fmt;

use time::OffsetDateTime;

use crate::credentials;
use crate::domain::{
    Actor, ActorId, Order, ProfessionCode, ProfessionTable, RegistrationAuthority, Serial,
};
use crate::error::{Error, Result};
use crate::storage::{
    CertificateRequest, NewRequest, Operator, OperatorRole, OperatorStatus, RequestId,
    RequestSubject, SessionStage, Store,
};

/// What an operator does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duty {
    /// File a request (or a renewal).
    File,
    /// Approve or reject a request.
    Decide,
    /// Register a professional (identity proofing).
    Register,
    /// Suspend, reinstate or revoke a certificate.
    ManageCertificates,
}

impl fmt::Display for Duty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Duty::File => "file certificate requests",
            Duty::Decide => "approve or reject certificate requests",
            Duty::Register => "register professionals",
            Duty::ManageCertificates => "suspend, reinstate or revoke certificates",
        })
    }
}

/// Whether `role` may perform `duty` (deny by default).
pub fn role_may(role: OperatorRole, duty: Duty) -> bool {
    match duty {
        Duty::File | Duty::Register | Duty::ManageCertificates => matches!(
            role,
            OperatorRole::Clerk | OperatorRole::Approver | OperatorRole::RegistrationOffice
        ),
        Duty::Decide => matches!(
            role,
            OperatorRole::Approver | OperatorRole::RegistrationOffice
        ),
    }
}

/// Which professionals an operator acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Order(Order),
    RegistrationOffice,
    /// Auditors and administrators: no professional.
    Nobody,
}

pub fn scope_of(role: OperatorRole, order: Option<Order>) -> Scope {
    match (role, order) {
        (OperatorRole::Clerk | OperatorRole::Approver, Some(o)) => Scope::Order(o),
        (OperatorRole::RegistrationOffice, _) => Scope::RegistrationOffice,
        _ => Scope::Nobody,
    }
}

impl Scope {
    pub fn covers(self, authority: RegistrationAuthority) -> bool {
        match (self, authority) {
            (Scope::Order(a), RegistrationAuthority::Order(b)) => a == b,
            (Scope::RegistrationOffice, RegistrationAuthority::RegistrationOffice) => true,
            _ => false,
        }
    }

    pub fn label(self) -> String {
        match self {
            Scope::Order(o) => o.french_name().to_owned(),
            Scope::RegistrationOffice => "Bureau d'enregistrement (professions sans Ordre)".into(),
            Scope::Nobody => "—".into(),
        }
    }
}

fn authority_label(a: RegistrationAuthority) -> String {
    match a {
        RegistrationAuthority::Order(o) => o.french_name().to_owned(),
        RegistrationAuthority::RegistrationOffice => "the registration office".to_owned(),
    }
}

/// How many failed logins lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lock_for: time::Duration,
}

/// An operator who has just proved who they are. Constructed only by the authentications of
/// this module; the workflow's decisions take nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedOperator {
    operator: Operator,
    method: String,
}

impl AuthenticatedOperator {
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    pub fn login(&self) -> &ActorId {
        &self.operator.login
    }

    /// How the operator authenticated (`password+totp`, `tls-client-cert`…).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The operator as recorded in the journal.
    pub fn actor(&self) -> Result<Actor> {
        Actor::new(self.operator.login.as_str(), &self.method)
    }

    pub fn scope(&self) -> Scope {
        scope_of(self.operator.role, self.operator.order)
    }

    /// The operator of a full, unexpired portal session (opened by the portal after a
    /// password + TOTP or a client-certificate login), still active.
    pub async fn from_session(store: &Store, token_hash: &str) -> Result<Self> {
        let refused = |why: &str| Error::AuthenticationRefused {
            login: "?".to_owned(),
            why: why.to_owned(),
        };
        let session = store
            .session(token_hash)
            .await?
            .ok_or_else(|| refused("no such session"))?;
        if session.stage != SessionStage::Full || session.expires_at <= OffsetDateTime::now_utc() {
            return Err(refused("the session is not a full, current session"));
        }
        match store.operator(session.login.as_str()).await? {
            Some(operator) if operator.status == OperatorStatus::Active => {
                Ok(AuthenticatedOperator {
                    operator,
                    method: session.auth_method,
                })
            }
            _ => Err(refused("the session's operator is not active")),
        }
    }

    /// Checks a password and a TOTP code with the portal's rules: argon2 password, code of
    /// the current step ±1, never a step already used (the step is consumed atomically),
    /// lockout after `policy.max_failures` failures. A refusal is journaled (`auth.login`,
    /// denied, with the reason) and counted, as the portal's login does; a success writes
    /// only the consumed step. `method` names the channel in the journal
    /// (e.g. `cli:password+totp`).
    pub async fn with_password_totp(
        store: &Store,
        login: &str,
        password: &str,
        totp: &str,
        policy: LockoutPolicy,
        method: &str,
    ) -> Result<Self> {
        let login = login.trim();
        let now = OffsetDateTime::now_utc();
        let printable = !login.is_empty()
            && login.chars().count() <= 128
            && !login.chars().any(char::is_control);
        let attempt = Actor::new(if printable { login } else { "?" }, method)?;
        let lock_until = now + policy.lock_for;
        let refuse = |reason: &'static str, why: &'static str| {
            let attempt = attempt.clone();
            async move {
                store
                    .record_login_failure(login, policy.max_failures, lock_until, &attempt, reason)
                    .await?;
                Err::<Self, _>(Error::AuthenticationRefused {
                    login: attempt.id.to_string(),
                    why: why.to_owned(),
                })
            }
        };
        const WRONG: &str = "wrong login, password or TOTP code, or account disabled";
        // The TOTP secret stays sealed until the password is right: a wrong password never
        // makes the HSM work.
        let Some(sealed) = store.sealed_operator_credentials(login).await? else {
            credentials::dummy_verify(password);
            return refuse("unknown-login", WRONG).await;
        };
        let creds = sealed.credentials();
        if creds.locked_until.is_some_and(|t| t > now) {
            store
                .record_login_failure(login, u32::MAX, lock_until, &attempt, "locked")
                .await?;
            return Err(Error::AuthenticationRefused {
                login: login.to_owned(),
                why: "account locked after too many failures; try again later".to_owned(),
            });
        }
        if !credentials::verify_password(password, &creds.password_hash) {
            return refuse("bad-password", WRONG).await;
        }
        if creds.operator.status != OperatorStatus::Active {
            return refuse("disabled", WRONG).await;
        }
        if !creds.operator.totp_enrolled || creds.operator.must_change_password {
            return refuse(
                "not-enrolled",
                "the operator has not enrolled TOTP yet (first login on the portal)",
            )
            .await;
        }
        let creds = store.open_operator_credentials(sealed).await?;
        let secret = creds.totp_secret.as_deref().unwrap_or_default();
        let Some(step) = credentials::check_totp(secret, totp, now.unix_timestamp()) else {
            return refuse("bad-totp", WRONG).await;
        };
        const REPLAY: &str = "this TOTP code has already been used; wait for the next one";
        if creds.last_totp_step.is_some_and(|last| last >= step) {
            return refuse("totp-replay", REPLAY).await;
        }
        if !store.consume_totp_step(login, step).await? {
            return refuse("totp-replay", REPLAY).await;
        }
        Ok(AuthenticatedOperator {
            operator: creds.operator,
            method: method.to_owned(),
        })
    }
}

/// Refuses the same login as filer and approver before anything else is done (four eyes).
pub fn check_distinct(filer: &str, approver: &str) -> Result<()> {
    if filer.trim() == approver.trim() {
        return Err(Error::NotPermitted {
            actor: approver.trim().to_owned(),
            reason: "the approver must be a different operator from the one filing the request \
                     (four eyes)"
                .to_owned(),
        });
    }
    Ok(())
}

/// The workflow over a store and the profession table (profession → Order).
#[derive(Debug, Clone, Copy)]
pub struct Workflow<'a> {
    store: &'a Store,
    professions: &'a ProfessionTable,
}

impl<'a> Workflow<'a> {
    pub fn new(store: &'a Store, professions: &'a ProfessionTable) -> Self {
        Workflow { store, professions }
    }

    /// Who registers the subject: a professional's Order (or the registration office for
    /// professions without one); the registration office for structures and RA operators.
    pub async fn authority_of(&self, subject: &RequestSubject) -> Result<RegistrationAuthority> {
        match subject {
            RequestSubject::Professional(idnat) => {
                let p = self.store.find_professional(idnat).await?.ok_or_else(|| {
                    Error::ProfessionalNotFound {
                        idnat: idnat.to_string(),
                    }
                })?;
                self.professions.registration_authority(&p.profession)
            }
            RequestSubject::Structure(_) | RequestSubject::Operator(_) => {
                Ok(RegistrationAuthority::RegistrationOffice)
            }
        }
    }

    fn allow(
        who: &AuthenticatedOperator,
        duty: Duty,
        authority: RegistrationAuthority,
    ) -> Result<()> {
        let refuse = |reason: String| Error::NotPermitted {
            actor: who.login().to_string(),
            reason,
        };
        let o = who.operator();
        if o.status != OperatorStatus::Active {
            return Err(refuse("the operator is disabled".to_owned()));
        }
        if !role_may(o.role, duty) {
            return Err(refuse(format!("the {} role may not {duty}", o.role)));
        }
        if !who.scope().covers(authority) {
            return Err(refuse(format!(
                "may not {duty} for {}: outside the operator's scope ({})",
                authority_label(authority),
                match who.scope() {
                    Scope::Order(ord) => ord.french_name().to_owned(),
                    Scope::RegistrationOffice => "the registration office".to_owned(),
                    Scope::Nobody => "none".to_owned(),
                }
            )));
        }
        Ok(())
    }

    /// May `filer` file a request about `subject`?
    pub async fn check_file(
        &self,
        filer: &AuthenticatedOperator,
        subject: &RequestSubject,
    ) -> Result<()> {
        Self::allow(filer, Duty::File, self.authority_of(subject).await?)
    }

    /// May `decider` approve (`approving`) or reject request `r`?
    pub async fn check_decide(
        &self,
        decider: &AuthenticatedOperator,
        r: &CertificateRequest,
        approving: bool,
    ) -> Result<()> {
        Self::allow(decider, Duty::Decide, self.authority_of(&r.subject).await?)?;
        if approving && &r.filed_by == decider.login() {
            return Err(Error::SelfApproval {
                id: r.id.0,
                actor: decider.login().to_string(),
            });
        }
        Ok(())
    }

    /// Files `request` as `filer`.
    pub async fn file(
        &self,
        filer: &AuthenticatedOperator,
        request: &NewRequest,
    ) -> Result<RequestId> {
        self.check_file(filer, &request.subject).await?;
        self.store.file_request(request, &filer.actor()?).await
    }

    async fn request(&self, id: RequestId) -> Result<CertificateRequest> {
        self.store
            .request(id)
            .await?
            .ok_or(Error::RequestNotFound { id: id.0 })
    }

    /// Approves request `id` as `approver` (never its filer).
    pub async fn approve(&self, approver: &AuthenticatedOperator, id: RequestId) -> Result<()> {
        let r = self.request(id).await?;
        self.check_decide(approver, &r, true).await?;
        self.store.approve_request(id, &approver.actor()?).await
    }

    /// Rejects request `id` as `decider`, with a reason.
    pub async fn reject(
        &self,
        decider: &AuthenticatedOperator,
        id: RequestId,
        reason: &str,
    ) -> Result<()> {
        let r = self.request(id).await?;
        self.check_decide(decider, &r, false).await?;
        self.store
            .reject_request(id, reason, &decider.actor()?)
            .await
    }

    /// May `who` register a professional of `profession`?
    pub fn check_register(
        &self,
        who: &AuthenticatedOperator,
        profession: &ProfessionCode,
    ) -> Result<()> {
        let authority = self.professions.registration_authority(profession)?;
        Self::allow(who, Duty::Register, authority)
    }

    /// May `who` suspend, reinstate or revoke certificate `serial`? A professional's
    /// certificate belongs to the professional's Order; others (structures, RA operators) to
    /// the registration office.
    pub async fn check_manage_certificate(
        &self,
        who: &AuthenticatedOperator,
        serial: &Serial,
    ) -> Result<()> {
        let cert =
            self.store
                .certificate(serial)
                .await?
                .ok_or_else(|| Error::CertificateNotFound {
                    serial: serial.to_string(),
                })?;
        let authority = match &cert.professional {
            Some(idnat) => {
                self.authority_of(&RequestSubject::Professional(idnat.clone()))
                    .await?
            }
            None => RegistrationAuthority::RegistrationOffice,
        };
        Self::allow(who, Duty::ManageCertificates, authority)
    }

    /// Checks, before anything is written, that `filer` may file about `subject` and
    /// `approver`, another operator, may approve it.
    pub async fn check_file_and_approve(
        &self,
        filer: &AuthenticatedOperator,
        approver: &AuthenticatedOperator,
        subject: &RequestSubject,
    ) -> Result<()> {
        check_distinct(filer.login().as_str(), approver.login().as_str())?;
        let authority = self.authority_of(subject).await?;
        Self::allow(filer, Duty::File, authority)?;
        Self::allow(approver, Duty::Decide, authority)
    }

    /// Files `request` as `filer` and approves it as `approver` (both present), after
    /// [`check_file_and_approve`](Self::check_file_and_approve).
    pub async fn file_and_approve(
        &self,
        filer: &AuthenticatedOperator,
        approver: &AuthenticatedOperator,
        request: &NewRequest,
    ) -> Result<RequestId> {
        self.check_file_and_approve(filer, approver, &request.subject)
            .await?;
        let id = self.store.file_request(request, &filer.actor()?).await?;
        self.approve(approver, id).await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert!(!role_may(OperatorRole::Administrator, Duty::Decide));
        assert!(!role_may(OperatorRole::Administrator, Duty::File));
        assert!(!role_may(OperatorRole::Auditor, Duty::File));
        assert!(!role_may(OperatorRole::Clerk, Duty::Decide));
        assert!(role_may(OperatorRole::Clerk, Duty::File));
        assert!(role_may(OperatorRole::Approver, Duty::Decide));
        assert!(role_may(OperatorRole::RegistrationOffice, Duty::Decide));
    }

    #[test]
    fn distinct() {
        assert!(check_distinct("a", "a").is_err());
        assert!(check_distinct("a", " a ").is_err());
        assert!(check_distinct("a", "b").is_ok());
    }
}
