//! The RA operators' TOTP secrets at rest: sealed by the store's [`SecretSealer`], bound to
//! the operator's login, never written or read in clear; and the start-up migration that
//! seals what older versions left in clear.
//!
//! [`SecretSealer`]: pkix::sealing::SecretSealer

use pkix::sealing::SealError;
use serde_json::json;
use sqlx::Row as _;

use super::audit::Outcome;
use super::operators::operator_object;
use super::Store;
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::sealing::{decode_sealed, encode_sealed, is_sealed, SharedSealer};

const T: &str = "ra_operators";

/// Associated data of an operator's sealed TOTP secret: what it is and whose it is, so that a
/// sealed value copied to another operator's row does not open there.
pub fn totp_secret_aad(login: &str) -> Vec<u8> {
    let mut aad = b"igc ra_operators.totp_secret v1\0".to_vec();
    aad.extend_from_slice(login.as_bytes());
    aad
}

impl Store {
    fn totp_sealer(&self) -> Result<&SharedSealer> {
        self.sealer.as_ref().ok_or_else(|| {
            Error::Sealing(SealError::Unavailable(
                "this store was given no sealer, and TOTP secrets are never kept in clear".into(),
            ))
        })
    }

    /// The column value of `login`'s TOTP secret: sealed, bound to the login.
    pub(super) async fn seal_totp_secret(&self, login: &str, secret: &str) -> Result<String> {
        let sealed = self
            .totp_sealer()?
            .seal(secret.as_bytes().to_vec(), totp_secret_aad(login))
            .await?;
        Ok(encode_sealed(&sealed))
    }

    /// `login`'s TOTP secret from its column value; a clear value is refused.
    pub(super) async fn open_totp_secret(&self, login: &str, stored: &str) -> Result<String> {
        let sealer = self.totp_sealer()?;
        if !is_sealed(stored) {
            return Err(Error::corrupt(
                T,
                format!(
                    "the TOTP secret of {} is not sealed (igc serve seals clear secrets when it starts)",
                    operator_object(login)
                ),
            ));
        }
        let clear = sealer
            .open(decode_sealed(stored)?, totp_secret_aad(login))
            .await?;
        String::from_utf8(clear).map_err(|_| Error::Sealing(SealError::DoesNotOpen))
    }

    /// Seals every TOTP secret still in clear (written by a version before sealing), each in
    /// its own transaction with its journal entry. Each update applies only while the clear
    /// value is still there, so several instances starting at once seal every secret once.
    /// Returns how many this call sealed.
    pub async fn seal_clear_totp_secrets(&self) -> Result<usize> {
        let rows = sqlx::query(
            "SELECT login, totp_secret FROM ra_operators \
             WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE 'sealed:%' ORDER BY login",
        )
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let actor = Actor::system("totp-sealing")?;
        let mut sealed = 0;
        for row in rows {
            let login: String = row.try_get("login")?;
            let clear: String = row.try_get("totp_secret")?;
            let value = self.seal_totp_secret(&login, &clear).await?;
            let mut tx = self.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE ra_operators SET totp_secret = $1 WHERE login = $2 AND totp_secret = $3",
            )
            .bind(&value)
            .bind(&login)
            .bind(&clear)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 1 {
                self.append_audit(
                    &mut tx,
                    &actor,
                    "operator.totp-sealed",
                    &operator_object(&login),
                    Outcome::Success,
                    &json!({ "format": "sealed:v1" }),
                )
                .await?;
                sealed += 1;
            }
            tx.commit().await?;
        }
        Ok(sealed)
    }
}
