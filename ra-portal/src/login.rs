//! Logins shared by the HTML form and the JSON API: password + TOTP, and the TLS client
//! certificate of the connection. Authentication, not the RA's workflow: the sessions they
//! open are what the middleware turns into the workflow's authenticated operator.

use axum::Extension;
use ca::domain::Actor;
use ca::storage::{NewSession, OperatorStatus, SessionStage};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::{self, AUTH_CLIENT_CERT, AUTH_PASSWORD_TOTP};
use crate::error::{PortalError, PortalResult};
use crate::login_guard::{self, Throttle};
use crate::state::PortalState;

/// What a password login gives, from the login form or the API's JSON body (a field left out
/// is empty).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordLogin {
    pub(crate) login: String,
    pub(crate) password: String,
    pub(crate) totp: String,
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

/// Certificate login shared by the HTML form and the JSON API: the operator bound to the TLS
/// client certificate of the connection (see [`crate::certauth`]); refusals are journaled.
/// `Err(message)` is the French reason of a refusal. `extensions`: the request's, where the
/// TLS listener left the client certificate of the connection, if any.
pub(crate) async fn certificate_login(
    state: &PortalState,
    extensions: &axum::http::Extensions,
) -> PortalResult<Result<OpenedSession, &'static str>> {
    let store = state.store();
    let Some(crate::tls::PeerCertificate(der)) = extensions.get() else {
        return Ok(Err(
            "Aucun certificat d'opérateur n'a été présenté : insérez votre carte, ou \
             connectez-vous en mode dégradé (mot de passe et code TOTP).",
        ));
    };
    let (operator, serial) = match crate::certauth::operator_of(store, der).await? {
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
