//! Operator accounts (administrators, under dual control) and the journal (auditors).

use time::OffsetDateTime;

use super::rules::{allow_role, Duty};
use super::{AuthenticatedOperator, Workflow};
use crate::error::{Error, Result};
use crate::storage::{AuditEntry, AuditVerification, NewOperator, Operator, OperatorStatus};

impl Workflow {
    /// Every operator account.
    pub async fn operators(&self, who: &AuthenticatedOperator) -> Result<Vec<Operator>> {
        allow_role(who, Duty::ManageOperators)?;
        self.store().operators().await
    }

    /// Creates an account as `who`: unusable until another administrator confirms it.
    pub async fn create_operator(
        &self,
        who: &AuthenticatedOperator,
        operator: &NewOperator,
    ) -> Result<()> {
        allow_role(who, Duty::ManageOperators)?;
        self.store().create_operator(operator, &who.actor()?).await
    }

    /// Why `who` may not confirm the account `login` (as read: `account`), if they may not:
    /// the account must await a confirmation, asked for by another administrator, and not be
    /// theirs (dual control).
    fn confirmation_refused(
        who: &AuthenticatedOperator,
        login: &str,
        account: Option<&Operator>,
    ) -> Option<Error> {
        let Some(account) = account else {
            return Some(Error::invalid(
                "operator login",
                format!("no operator {login:?}"),
            ));
        };
        let Some(requested_by) = &account.awaiting_confirmation_by else {
            return Some(Error::invalid(
                "confirmation",
                format!("{login:?} awaits no confirmation"),
            ));
        };
        let me = who.login().as_str();
        if requested_by == me || login == me {
            return Some(Error::SelfConfirmation {
                login: login.to_owned(),
                actor: me.to_owned(),
            });
        }
        None
    }

    /// Whether `who` may confirm `account` (what the accounts page offers).
    pub fn may_confirm(who: &AuthenticatedOperator, account: &Operator) -> bool {
        Self::confirmation_refused(who, account.login.as_str(), Some(account)).is_none()
    }

    /// Confirms the creation or reset of account `login` as `who`, another administrator
    /// than the one who asked for it: it gets its one-time password (already hashed), valid
    /// until `otp_expires_at`.
    pub async fn confirm_operator(
        &self,
        who: &AuthenticatedOperator,
        login: &str,
        password_hash: &str,
        otp_expires_at: OffsetDateTime,
    ) -> Result<()> {
        allow_role(who, Duty::ManageOperators)?;
        let account = self.store().operator(login).await?;
        if let Some(refusal) = Self::confirmation_refused(who, login, account.as_ref()) {
            return Err(refusal);
        }
        self.store()
            .confirm_operator(login, password_hash, otp_expires_at, &who.actor()?)
            .await
    }

    fn not_own_account(who: &AuthenticatedOperator, login: &str, reset: bool) -> Result<()> {
        if login == who.login().as_str() {
            return Err(Error::OwnAccount {
                login: login.to_owned(),
                reset,
            });
        }
        Ok(())
    }

    /// Enables or disables account `login` (never one's own).
    pub async fn set_operator_status(
        &self,
        who: &AuthenticatedOperator,
        login: &str,
        status: OperatorStatus,
    ) -> Result<()> {
        allow_role(who, Duty::ManageOperators)?;
        Self::not_own_account(who, login, false)?;
        self.store()
            .set_operator_status(login, status, &who.actor()?)
            .await
    }

    /// Resets account `login` (never one's own): unusable until another administrator
    /// confirms the reset.
    pub async fn reset_operator(&self, who: &AuthenticatedOperator, login: &str) -> Result<()> {
        allow_role(who, Duty::ManageOperators)?;
        Self::not_own_account(who, login, true)?;
        self.store().reset_operator(login, &who.actor()?).await
    }

    /// The last `count` entries of the journal, newest first, and the check of its chain.
    pub async fn journal(
        &self,
        who: &AuthenticatedOperator,
        count: u32,
    ) -> Result<(Vec<AuditEntry>, AuditVerification)> {
        allow_role(who, Duty::ReadJournal)?;
        let store = self.store();
        let (head, _) = store.audit_head().await?;
        let mut entries = store
            .audit_entries(head.saturating_sub(u64::from(count)), count)
            .await?;
        entries.reverse();
        Ok((entries, store.verify_audit_chain().await?))
    }
}
