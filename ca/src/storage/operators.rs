//! RA portal operators (clerks, approvers, registration office, auditors, administrators),
//! their login sessions, and renewal links. Passwords arrive already hashed (argon2, by the
//! portal); neither hashes nor TOTP secrets ever reach the audit journal.

use serde::Serialize;
use serde_json::json;
use sqlx::error::ErrorKind;
use sqlx::Row as _;
use time::OffsetDateTime;

use super::audit::Outcome;
use super::requests::{NewRequest, RequestId};
use super::{db_time, now, opt_time_col, parse_col, text_col, time_col, Store};
use crate::domain::{Actor, ActorId, Order, Serial};
use crate::error::{Error, Result};
use crate::vocabulary::spelled_enum;

const T: &str = "ra_operators";

/// The password hash of an account awaiting confirmation: not a PHC string, so no password
/// verifies against it.
const NO_PASSWORD: &str = "!awaiting-confirmation";

/// Dual control of administration needs two administrators: the last two are not disabled.
pub const MIN_ACTIVE_ADMINISTRATORS: usize = 2;

/// What an operator may do (the portal maps roles to permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorRole {
    /// Registers professionals and files requests for one Order.
    Clerk,
    /// A clerk of one Order who may also approve or reject requests filed by others.
    Approver,
    /// Registers, files and approves for the professions without an Order.
    RegistrationOffice,
    /// Reads the journal; changes nothing.
    Auditor,
    /// Manages operators; never acts on professionals or certificates.
    Administrator,
}

spelled_enum!(OperatorRole, "operator role", {
    Clerk => "clerk",
    Approver => "approver",
    RegistrationOffice => "registration-office",
    Auditor => "auditor",
    Administrator => "administrator",
});

impl OperatorRole {
    pub const ALL: [OperatorRole; 5] = [
        OperatorRole::Clerk,
        OperatorRole::Approver,
        OperatorRole::RegistrationOffice,
        OperatorRole::Auditor,
        OperatorRole::Administrator,
    ];

    /// Whether the role is scoped to one Order.
    pub fn needs_order(self) -> bool {
        matches!(self, OperatorRole::Clerk | OperatorRole::Approver)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorStatus {
    Active,
    Disabled,
}

spelled_enum!(OperatorStatus, "operator status", {
    Active => "active",
    Disabled => "disabled",
});

/// An operator to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperator {
    pub login: ActorId,
    pub display_name: String,
    pub role: OperatorRole,
    /// Required for clerks and approvers, absent otherwise.
    pub order: Option<Order>,
}

/// A stored operator (without credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub login: ActorId,
    pub display_name: String,
    pub role: OperatorRole,
    pub order: Option<Order>,
    pub status: OperatorStatus,
    pub must_change_password: bool,
    pub totp_enrolled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The administrator whose creation or reset of this account awaits a second
    /// administrator's confirmation; the account is unusable meanwhile.
    pub awaiting_confirmation_by: Option<String>,
}

/// What the portal needs to check a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorCredentials {
    pub operator: Operator,
    pub password_hash: String,
    /// In clear (opened by the store's sealer); the database holds it sealed only.
    pub totp_secret: Option<String>,
    pub last_totp_step: Option<i64>,
    pub failed_logins: i64,
    pub locked_until: Option<OffsetDateTime>,
    /// Until when the one-time password may open an enrolment session; `None` once spent or
    /// for an enrolled operator.
    pub otp_expires_at: Option<OffsetDateTime>,
}

/// [`OperatorCredentials`] whose TOTP secret is still sealed
/// ([`Store::sealed_operator_credentials`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCredentials {
    credentials: OperatorCredentials,
    sealed_totp_secret: Option<String>,
}

impl SealedCredentials {
    /// Everything but the TOTP secret (`totp_secret` is `None` here).
    pub fn credentials(&self) -> &OperatorCredentials {
        &self.credentials
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionStage {
    /// Password checked; TOTP enrolment and password change still to do.
    Enrolment,
    Full,
}

spelled_enum!(SessionStage, "session stage", {
    Enrolment => "enrolment",
    Full => "full",
});

/// A session to open at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 (hex) of the session token.
    pub token_hash: String,
    pub login: ActorId,
    pub auth_method: String,
    pub stage: SessionStage,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: String,
    pub login: ActorId,
    pub auth_method: String,
    pub stage: SessionStage,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

const SELECT_OPERATORS: &str = "SELECT login, display_name, role, order_slug, status, \
     must_change_password, totp_enrolled, created_at, password_hash, totp_secret, \
     last_totp_step, failed_logins, locked_until, otp_expires_at, awaiting_confirmation_by \
     FROM ra_operators";

fn credentials_from_row(row: &sqlx::any::AnyRow) -> Result<OperatorCredentials> {
    let order: Option<String> = row.try_get("order_slug")?;
    let must_change: i64 = row.try_get("must_change_password")?;
    let enrolled: i64 = row.try_get("totp_enrolled")?;
    let order = match order {
        Some(slug) => Some(
            Order::from_slug(&slug)
                .ok_or_else(|| Error::corrupt(T, format!("unknown Order {slug:?}")))?,
        ),
        None => None,
    };
    Ok(OperatorCredentials {
        operator: Operator {
            login: text_col(T, row, "login")?,
            display_name: row.try_get("display_name")?,
            role: text_col(T, row, "role")?,
            order,
            status: text_col(T, row, "status")?,
            must_change_password: must_change != 0,
            totp_enrolled: enrolled != 0,
            created_at: time_col(T, row, "created_at")?,
            awaiting_confirmation_by: row.try_get("awaiting_confirmation_by")?,
        },
        password_hash: row.try_get("password_hash")?,
        totp_secret: row.try_get("totp_secret")?,
        last_totp_step: row.try_get("last_totp_step")?,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: opt_time_col(T, row, "locked_until")?,
        otp_expires_at: opt_time_col(T, row, "otp_expires_at")?,
    })
}

fn session_from_row(row: &sqlx::any::AnyRow) -> Result<SessionRecord> {
    const S: &str = "ra_sessions";
    Ok(SessionRecord {
        token_hash: row.try_get("token_hash")?,
        login: text_col(S, row, "login")?,
        auth_method: row.try_get("auth_method")?,
        stage: text_col(S, row, "stage")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: time_col(S, row, "created_at")?,
        last_seen: time_col(S, row, "last_seen")?,
        expires_at: time_col(S, row, "expires_at")?,
    })
}

pub(super) fn operator_object(login: &str) -> String {
    let clean: String = login
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if clean.is_empty() {
        "operator:?".to_owned()
    } else {
        format!("operator:{clean}")
    }
}

impl Store {
    /// Creates an operator account that is unusable until a second administrator confirms it
    /// ([`Store::confirm_operator`], which gives it its one-time password): no single person
    /// makes a working account.
    pub async fn create_operator(&self, operator: &NewOperator, actor: &Actor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.insert_operator(
            &mut tx,
            operator,
            None,
            None,
            Some(actor.id.as_str()),
            actor,
        )
        .await?;
        self.commit_audited(
            tx,
            actor,
            "operator.create",
            &operator_object(operator.login.as_str()),
            &json!({
                "role": operator.role.as_str(),
                "order": operator.order.map(Order::slug),
                "awaiting_confirmation": true,
            }),
        )
        .await?;
        Ok(())
    }

    /// Creates the first administrators, usable at once with their one-time passwords
    /// (already hashed) until `otp_expires_at`: the act of a key ceremony, where custodians
    /// vouch for them instead of a second administrator (`ceremony` names it, e.g. the SHA-256
    /// of its file). At least two, all administrators, and only while no administrator exists.
    pub async fn create_first_administrators(
        &self,
        administrators: &[(NewOperator, String)],
        otp_expires_at: OffsetDateTime,
        ceremony: &str,
        actor: &Actor,
    ) -> Result<()> {
        if administrators.len() < 2
            || administrators
                .iter()
                .any(|(o, _)| o.role != OperatorRole::Administrator)
        {
            return Err(Error::invalid(
                "first administrators",
                "at least two, all administrators",
            ));
        }
        let confirmed_by = format!("ceremony:{ceremony}");
        let mut tx = self.begin_write().await?;
        if self.backend == super::Backend::Postgres {
            // Two ceremonies at once must not both find no administrator (SQLite's write
            // transactions are serial already).
            sqlx::query("LOCK TABLE ra_operators IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let existing: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM ra_operators WHERE role = 'administrator'")
                .fetch_one(&mut *tx)
                .await?;
        if existing > 0 {
            return Err(Error::invalid(
                "first administrators",
                "administrators exist already: further ones are created and confirmed by two of them",
            ));
        }
        for (operator, password_hash) in administrators {
            self.insert_operator(
                &mut tx,
                operator,
                Some((password_hash, otp_expires_at)),
                Some(&confirmed_by),
                None,
                actor,
            )
            .await?;
            self.append_audit(
                &mut tx,
                actor,
                "operator.create",
                &operator_object(operator.login.as_str()),
                Outcome::Success,
                &json!({ "role": operator.role.as_str(), "confirmed_by": confirmed_by }),
            )
            .await?;
        }
        let logins: Vec<&str> = administrators
            .iter()
            .map(|(o, _)| o.login.as_str())
            .collect();
        self.commit_audited(
            tx,
            actor,
            "ceremony.ra-administrators",
            &format!("ceremony:{ceremony}"),
            &json!({ "administrators": logins }),
        )
        .await?;
        Ok(())
    }

    /// Inserts an account: usable with `credentials` (one-time password hash and its end of
    /// validity), or unusable while it awaits `awaiting_confirmation_by`.
    async fn insert_operator(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        operator: &NewOperator,
        credentials: Option<(&str, OffsetDateTime)>,
        confirmed_by: Option<&str>,
        awaiting_confirmation_by: Option<&str>,
        actor: &Actor,
    ) -> Result<()> {
        if operator.role.needs_order() != operator.order.is_some() {
            return Err(Error::invalid(
                "operator Order",
                "clerks and approvers have exactly one Order; other roles none",
            ));
        }
        let display_name = operator.display_name.trim();
        if display_name.is_empty()
            || display_name.chars().count() > 128
            || display_name.chars().any(char::is_control)
        {
            return Err(Error::invalid("operator name", "1 to 128 characters"));
        }
        let login = operator.login.as_str();
        let at = db_time(now())?;
        let (password_hash, otp_expires_at) = match credentials {
            Some((hash, until)) => (hash, Some(db_time(until)?)),
            None => (NO_PASSWORD, None),
        };
        let inserted = sqlx::query(
            "INSERT INTO ra_operators (login, display_name, role, order_slug, status, \
             password_hash, must_change_password, totp_secret, totp_enrolled, last_totp_step, \
             failed_logins, locked_until, created_at, created_by, updated_at, otp_expires_at, \
             confirmed_by, awaiting_confirmation_by) \
             VALUES ($1, $2, $3, $4, 'active', $5, 1, NULL, 0, NULL, 0, NULL, $6, $7, $6, $8, \
             $9, $10)",
        )
        .bind(login)
        .bind(display_name)
        .bind(operator.role.as_str())
        .bind(operator.order.map(Order::slug))
        .bind(password_hash)
        .bind(&at)
        .bind(actor.id.as_str())
        .bind(otp_expires_at)
        .bind(confirmed_by)
        .bind(awaiting_confirmation_by)
        .execute(&mut **tx)
        .await
        .map_err(Error::from);
        match inserted {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.db_kind() {
                Some(ErrorKind::UniqueViolation) => {
                    Error::invalid("operator login", format!("{login:?} already exists"))
                }
                _ => e,
            }),
        }
    }

    /// Confirms the creation or reset of an account by a second administrator (`actor`, who
    /// must not be the one who asked for it): the account gets its one-time password (already
    /// hashed), valid until `otp_expires_at`, and becomes usable.
    pub async fn confirm_operator(
        &self,
        login: &str,
        password_hash: &str,
        otp_expires_at: OffsetDateTime,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let requested_by: Option<Option<String>> = sqlx::query_scalar(
            "SELECT awaiting_confirmation_by FROM ra_operators WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(&mut *tx)
        .await?;
        let requested_by = match requested_by {
            None => {
                return Err(Error::invalid(
                    "operator login",
                    format!("no operator {login:?}"),
                ))
            }
            Some(None) => {
                return Err(Error::invalid(
                    "confirmation",
                    format!("{login:?} awaits no confirmation"),
                ))
            }
            Some(Some(by)) => by,
        };
        if requested_by == actor.id.as_str() || login == actor.id.as_str() {
            return Err(Error::SelfConfirmation {
                login: login.to_owned(),
                actor: actor.id.to_string(),
            });
        }
        let updated = sqlx::query(
            "UPDATE ra_operators SET password_hash = $1, otp_expires_at = $2, \
             awaiting_confirmation_by = NULL, confirmed_by = $3, updated_at = $4 \
             WHERE login = $5 AND awaiting_confirmation_by = $6",
        )
        .bind(password_hash)
        .bind(db_time(otp_expires_at)?)
        .bind(actor.id.as_str())
        .bind(db_time(now())?)
        .bind(login)
        .bind(&requested_by)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::invalid(
                "confirmation",
                format!("{login:?} changed meanwhile"),
            ));
        }
        self.commit_audited(
            tx,
            actor,
            "operator.confirm",
            &operator_object(login),
            &json!({ "requested_by": requested_by }),
        )
        .await?;
        Ok(())
    }

    pub async fn operator_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM ra_operators")
            .fetch_one(&self.pool)
            .await?)
    }

    /// An operator's credentials, the TOTP secret opened (in clear, in memory only).
    pub async fn operator_credentials(&self, login: &str) -> Result<Option<OperatorCredentials>> {
        match self.sealed_operator_credentials(login).await? {
            Some(sealed) => Ok(Some(self.open_operator_credentials(sealed).await?)),
            None => Ok(None),
        }
    }

    /// An operator's credentials with the TOTP secret still sealed: what a login checks the
    /// password against before any HSM work, so that only someone who knows the password
    /// makes the HSM open a secret ([`Store::open_operator_credentials`]).
    pub async fn sealed_operator_credentials(
        &self,
        login: &str,
    ) -> Result<Option<SealedCredentials>> {
        Ok(self.stored_credentials(login).await?.map(|mut creds| {
            let sealed_totp_secret = creds.totp_secret.take();
            SealedCredentials {
                credentials: creds,
                sealed_totp_secret,
            }
        }))
    }

    /// The credentials with the TOTP secret opened by the store's sealer (an HSM operation).
    pub async fn open_operator_credentials(
        &self,
        sealed: SealedCredentials,
    ) -> Result<OperatorCredentials> {
        let SealedCredentials {
            mut credentials,
            sealed_totp_secret,
        } = sealed;
        if let Some(stored) = sealed_totp_secret {
            let login = credentials.operator.login.as_str();
            credentials.totp_secret = Some(self.open_totp_secret(login, &stored).await?);
        }
        Ok(credentials)
    }

    /// The credentials as stored (the TOTP secret sealed).
    async fn stored_credentials(&self, login: &str) -> Result<Option<OperatorCredentials>> {
        self.fetch_row(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SELECT_OPERATORS} WHERE login = $1"
            )))
            .bind(login),
            credentials_from_row,
        )
        .await
    }

    pub async fn operator(&self, login: &str) -> Result<Option<Operator>> {
        Ok(self.stored_credentials(login).await?.map(|c| c.operator))
    }

    /// Every operator, by login.
    pub async fn operators(&self) -> Result<Vec<Operator>> {
        self.fetch_rows(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SELECT_OPERATORS} ORDER BY login"
            ))),
            |r| credentials_from_row(r).map(|c| c.operator),
        )
        .await
    }

    /// Records a refused login (journal entry `auth.login`, outcome denied). When the login
    /// names an operator, its failure counter grows and, at `max_failures`, the account is
    /// locked until `lock_until`.
    pub async fn record_login_failure(
        &self,
        login: &str,
        max_failures: u32,
        lock_until: OffsetDateTime,
        actor: &Actor,
        reason: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE ra_operators SET failed_logins = failed_logins + 1, \
             locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END \
             WHERE login = $3",
        )
        .bind(i64::from(max_failures))
        .bind(db_time(lock_until)?)
        .bind(login)
        .execute(&mut *tx)
        .await?;
        self.append_audit(
            &mut tx,
            actor,
            "auth.login",
            &operator_object(login),
            Outcome::Denied,
            &json!({ "reason": reason }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Opens a session after a successful authentication: resets the failure counter, records
    /// the TOTP step used (a step is accepted once: an older or equal step is refused as a
    /// replay), stores `new_totp_secret` for an operator still to enrol, and journals the
    /// login — one transaction. An enrolment session is opened by the one-time password,
    /// which it spends (refused when already spent or expired), and it ends every other
    /// session of the operator.
    pub async fn open_session(
        &self,
        session: &NewSession,
        totp_step: Option<i64>,
        new_totp_secret: Option<&str>,
        actor: &Actor,
    ) -> Result<()> {
        let login = session.login.as_str();
        // Sealed before the transaction: an HSM call never holds the write lock.
        let new_totp_secret = match new_totp_secret {
            Some(secret) => Some(self.seal_totp_secret(login, secret).await?),
            None => None,
        };
        let at = db_time(now())?;
        let spends_otp = i64::from(session.stage == SessionStage::Enrolment);
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE ra_operators SET failed_logins = 0, locked_until = NULL, updated_at = $1, \
             last_totp_step = COALESCE($2, last_totp_step), \
             otp_expires_at = CASE WHEN $4 = 1 THEN NULL ELSE otp_expires_at END \
             WHERE login = $3 AND status = 'active' AND awaiting_confirmation_by IS NULL \
             AND ($2 IS NULL OR last_totp_step IS NULL OR last_totp_step < $2) \
             AND ($4 = 0 OR (totp_enrolled = 0 AND otp_expires_at > $1))",
        )
        .bind(&at)
        .bind(totp_step)
        .bind(login)
        .bind(spends_otp)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::invalid(
                "login",
                "operator disabled or unknown, TOTP code already used, or one-time password \
                 spent or expired",
            ));
        }
        if let Some(secret) = &new_totp_secret {
            sqlx::query(
                "UPDATE ra_operators SET totp_secret = $1 WHERE login = $2 AND totp_enrolled = 0",
            )
            .bind(secret)
            .bind(login)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM ra_sessions WHERE login = $1 AND (expires_at < $2 OR $3 = 1)")
            .bind(login)
            .bind(&at)
            .bind(spends_otp)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ra_sessions (token_hash, login, auth_method, stage, csrf_token, \
             created_at, last_seen, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(&session.token_hash)
        .bind(login)
        .bind(&session.auth_method)
        .bind(session.stage.as_str())
        .bind(&session.csrf_token)
        .bind(&at)
        .bind(db_time(session.expires_at)?)
        .execute(&mut *tx)
        .await?;
        self.commit_audited(
            tx,
            actor,
            "auth.login",
            &operator_object(login),
            &json!({ "stage": session.stage.as_str() }),
        )
        .await?;
        Ok(())
    }

    /// Completes the first login: the new password replaces the one-time password, the TOTP
    /// secret is confirmed (by a code of step `totp_step`) and the session becomes full. It
    /// happens once per one-time password, and ends every other session of the operator.
    pub async fn complete_enrolment(
        &self,
        token_hash: &str,
        new_password_hash: &str,
        totp_step: i64,
        actor: &Actor,
    ) -> Result<()> {
        let login = actor.id.as_str();
        let at = db_time(now())?;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE ra_operators SET password_hash = $1, must_change_password = 0, \
             totp_enrolled = 1, last_totp_step = $2, updated_at = $3 \
             WHERE login = $4 AND status = 'active' AND totp_secret IS NOT NULL \
             AND totp_enrolled = 0 AND must_change_password = 1 \
             AND (last_totp_step IS NULL OR last_totp_step < $2)",
        )
        .bind(new_password_hash)
        .bind(totp_step)
        .bind(&at)
        .bind(login)
        .execute(&mut *tx)
        .await?;
        let session = sqlx::query(
            "UPDATE ra_sessions SET stage = 'full', last_seen = $1 \
             WHERE token_hash = $2 AND login = $3 AND stage = 'enrolment'",
        )
        .bind(&at)
        .bind(token_hash)
        .bind(login)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 || session.rows_affected() == 0 {
            return Err(Error::invalid(
                "enrolment",
                "no enrolment in progress, or TOTP code already used",
            ));
        }
        sqlx::query("DELETE FROM ra_sessions WHERE login = $1 AND token_hash <> $2")
            .bind(login)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        self.commit_audited(
            tx,
            actor,
            "operator.enrol",
            &operator_object(login),
            &json!({ "second_factor": "totp", "password_changed": true }),
        )
        .await?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        self.fetch_row(
            sqlx::query(
                "SELECT token_hash, login, auth_method, stage, csrf_token, created_at, last_seen, \
             expires_at FROM ra_sessions WHERE token_hash = $1",
            )
            .bind(token_hash),
            session_from_row,
        )
        .await
    }

    /// Marks a session as used now (idle timeout bookkeeping; not journaled).
    pub async fn touch_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("UPDATE ra_sessions SET last_seen = $1 WHERE token_hash = $2")
            .bind(db_time(now())?)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session (`auth.logout`, or `auth.session-expired` when `expired`).
    pub async fn close_session(
        &self,
        token_hash: &str,
        expired: bool,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM ra_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() > 0 {
            self.append_audit(
                &mut tx,
                actor,
                if expired {
                    "auth.session-expired"
                } else {
                    "auth.logout"
                },
                &operator_object(actor.id.as_str()),
                Outcome::Success,
                &json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Resets an account: its password and TOTP are gone and every session of it ends; it is
    /// unusable until a second administrator confirms the reset ([`Store::confirm_operator`],
    /// which gives it a new one-time password).
    pub async fn reset_operator(&self, login: &str, actor: &Actor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE ra_operators SET password_hash = $1, must_change_password = 1, \
             totp_secret = NULL, totp_enrolled = 0, last_totp_step = NULL, failed_logins = 0, \
             locked_until = NULL, updated_at = $2, otp_expires_at = NULL, \
             awaiting_confirmation_by = $3 WHERE login = $4",
        )
        .bind(NO_PASSWORD)
        .bind(db_time(now())?)
        .bind(actor.id.as_str())
        .bind(login)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::invalid(
                "operator login",
                format!("no operator {login:?}"),
            ));
        }
        sqlx::query("DELETE FROM ra_sessions WHERE login = $1")
            .bind(login)
            .execute(&mut *tx)
            .await?;
        self.commit_audited(
            tx,
            actor,
            "operator.reset",
            &operator_object(login),
            &json!({ "awaiting_confirmation": true }),
        )
        .await?;
        Ok(())
    }

    /// Enables or disables an operator; disabling ends its sessions.
    pub async fn set_operator_status(
        &self,
        login: &str,
        status: OperatorStatus,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if status == OperatorStatus::Disabled {
            // Locked on PostgreSQL, so that two administrators disabled at once are counted
            // one after the other (SQLite's write transactions are serial already).
            let active_admins: Vec<String> = sqlx::query_scalar(self.sql(
                "SELECT login FROM ra_operators WHERE role = 'administrator' AND status = 'active'",
                "SELECT login FROM ra_operators WHERE role = 'administrator' AND status = 'active' \
                 FOR UPDATE",
            ))
            .fetch_all(&mut *tx)
            .await?;
            if active_admins.iter().any(|a| a == login)
                && active_admins.len() <= MIN_ACTIVE_ADMINISTRATORS
            {
                return Err(Error::LastAdministrators {
                    login: login.to_owned(),
                    minimum: MIN_ACTIVE_ADMINISTRATORS,
                });
            }
        }
        let updated = sqlx::query(
            "UPDATE ra_operators SET status = $1, updated_at = $2 WHERE login = $3 AND status <> $1",
        )
        .bind(status.as_str())
        .bind(db_time(now())?)
        .bind(login)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::invalid(
                "operator login",
                format!("no operator {login:?}, or already {}", status.as_str()),
            ));
        }
        if status == OperatorStatus::Disabled {
            sqlx::query("DELETE FROM ra_sessions WHERE login = $1")
                .bind(login)
                .execute(&mut *tx)
                .await?;
        }
        self.commit_audited(
            tx,
            actor,
            match status {
                OperatorStatus::Active => "operator.enable",
                OperatorStatus::Disabled => "operator.disable",
            },
            &operator_object(login),
            &json!({}),
        )
        .await?;
        Ok(())
    }

    /// Files a request that renews certificate `renews` (same profile and subject, new key):
    /// the request and its link to the certificate, in one transaction.
    pub async fn file_renewal_request(
        &self,
        request: &NewRequest,
        renews: &Serial,
        actor: &Actor,
    ) -> Result<RequestId> {
        let mut tx = self.begin_write().await?;
        let id = self.file_request_in_tx(&mut tx, request, actor).await?;
        let inserted =
            sqlx::query("INSERT INTO ra_renewals (request_id, renews_serial) VALUES ($1, $2)")
                .bind(id.0)
                .bind(renews.as_str())
                .execute(&mut *tx)
                .await
                .map_err(Error::from);
        if let Err(e) = inserted {
            return Err(match e.db_kind() {
                Some(ErrorKind::ForeignKeyViolation) => Error::CertificateNotFound {
                    serial: renews.to_string(),
                },
                _ => e,
            });
        }
        tx.commit().await?;
        Ok(id)
    }

    /// The certificate a request renews, if it is a renewal.
    pub async fn renewal_of(&self, id: RequestId) -> Result<Option<Serial>> {
        let s: Option<String> =
            sqlx::query_scalar("SELECT renews_serial FROM ra_renewals WHERE request_id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        s.map(|s| parse_col("ra_renewals", &s)).transpose()
    }
}
