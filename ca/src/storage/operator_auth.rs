//! The one write of a successful password + TOTP authentication outside a portal session
//! (the `igc` command line): the TOTP step is consumed and the failure counter reset, in one
//! conditional update, so that a code is accepted once even by concurrent processes.

use super::{db_time, now, Store};
use crate::error::Result;

impl Store {
    /// Records that `login` authenticated with the TOTP code of `step`: `last_totp_step`
    /// becomes `step` and the failure counter is reset, only if the operator is active,
    /// enrolled and `step` is newer than every step used before. Returns false otherwise (a
    /// replayed code, or an operator disabled meanwhile). Not journaled: the actions the
    /// operator then takes are, each naming how the operator authenticated.
    pub(crate) async fn consume_totp_step(&self, login: &str, step: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE ra_operators SET failed_logins = 0, locked_until = NULL, \
             last_totp_step = $1, updated_at = $2 \
             WHERE login = $3 AND status = 'active' AND totp_enrolled = 1 \
             AND awaiting_confirmation_by IS NULL \
             AND must_change_password = 0 \
             AND (last_totp_step IS NULL OR last_totp_step < $1)",
        )
        .bind(step)
        .bind(db_time(now())?)
        .bind(login)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(updated.rows_affected() == 1)
    }
}
