//! Who acts: an operator who has just proved who they are.

use time::OffsetDateTime;

use super::rules::{scope_of, Scope};
use crate::credentials;
use crate::domain::{Actor, ActorId};
use crate::error::{Error, Result};
use crate::storage::{Operator, OperatorStatus, SessionRecord, SessionStage, Store};

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
        let session = store
            .session(token_hash)
            .await?
            .ok_or_else(|| session_refused("no such session"))?;
        let operator = store.operator(session.login.as_str()).await?;
        Self::of_session(&session, operator)
    }

    /// [`from_session`](Self::from_session) with the session and its operator as just read
    /// from the store (the portal's middleware reads both for every request).
    pub fn of_session(session: &SessionRecord, operator: Option<Operator>) -> Result<Self> {
        if session.stage != SessionStage::Full || session.expires_at <= OffsetDateTime::now_utc() {
            return Err(session_refused(
                "the session is not a full, current session",
            ));
        }
        match operator {
            Some(operator)
                if operator.status == OperatorStatus::Active && operator.login == session.login =>
            {
                Ok(AuthenticatedOperator {
                    operator,
                    method: session.auth_method.clone(),
                })
            }
            _ => Err(session_refused("the session's operator is not active")),
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

fn session_refused(why: &str) -> Error {
    Error::AuthenticationRefused {
        login: "?".to_owned(),
        why: why.to_owned(),
    }
}
