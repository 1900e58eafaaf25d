//! Lost or stolen cards: the revocation codes given at issuance (argon2id hashes only), the
//! wrong codes counted per professional, and the declarations with what they suspended.

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row as _;
use time::OffsetDateTime;

use super::audit::Outcome;
use super::requests::RequestId;
use super::{db_time, next_id, now, opt_time_col, parse_col, text_col, time_col, Store};
use crate::domain::{Actor, IdNatPs, LossChannel, LossStatus, RevocationReason, Serial};
use crate::error::{Error, Result};

const T: &str = "loss_declarations";

/// Codes checked per declaration at most: the newest certificates' (a professional holds a
/// handful; the bound keeps the cost of one attempt fixed whatever the history).
pub const MAX_CODES_CHECKED: i64 = 8;

/// A declaration of loss or theft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LossDeclaration {
    pub id: i64,
    pub professional: IdNatPs,
    pub channel: LossChannel,
    #[serde(with = "time::serde::rfc3339")]
    pub declared_at: OffsetDateTime,
    /// The journal's actor of the declaration (the holder, or the operator's login).
    pub declared_by: String,
    pub status: LossStatus,
    pub closed_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// The certificates it suspended, sorted.
    pub serials: Vec<Serial>,
}

/// What a declaration by revocation code is checked against.
#[derive(Debug, Clone, Default)]
pub struct LossCodeState {
    /// Whether the professional is registered.
    pub known: bool,
    /// The hashes of the codes of their certificates still good or on hold and not expired,
    /// newest first, at most [`MAX_CODES_CHECKED`].
    pub hashes: Vec<String>,
    /// Wrong codes in a row.
    pub failures: u32,
    pub locked_until: Option<OffsetDateTime>,
}

/// A wrong code, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeFailure {
    /// `failures` wrong codes in a row so far.
    Counted { failures: u32 },
    /// This failure reached the limit: declarations are refused until then.
    Locked { until: OffsetDateTime },
}

fn declaration_from_row(row: &AnyRow) -> Result<LossDeclaration> {
    let closed_by: Option<String> = row.try_get("closed_by")?;
    Ok(LossDeclaration {
        id: row.try_get("id")?,
        professional: text_col(T, row, "professional")?,
        channel: text_col(T, row, "channel")?,
        declared_at: time_col(T, row, "declared_at")?,
        declared_by: row.try_get("declared_by")?,
        status: text_col(T, row, "status")?,
        closed_by,
        closed_at: opt_time_col(T, row, "closed_at")?,
        serials: Vec::new(),
    })
}

/// The declarations' columns, then `$rest` (a literal: no SQL is built at run time).
macro_rules! select_declarations {
    ($rest:literal) => {
        concat!(
            "SELECT id, professional, channel, declared_at, declared_by, status, closed_by, \
             closed_at FROM loss_declarations ",
            $rest
        )
    };
}

impl Store {
    /// Stores the hash of the revocation code of request `request` (a professional's), before
    /// its certificate is signed; a code stored earlier for the same request (an issuance
    /// that failed after it) is replaced. Journaled without the hash.
    pub async fn record_revocation_code(
        &self,
        request: RequestId,
        professional: &IdNatPs,
        code_hash: &str,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM revocation_codes WHERE request_id = $1")
            .bind(request.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO revocation_codes (request_id, professional, code_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(request.0)
        .bind(professional.to_string())
        .bind(code_hash)
        .bind(db_time(now())?)
        .execute(&mut *tx)
        .await?;
        self.commit_audited(
            tx,
            actor,
            "revocation-code.create",
            &format!("request:{}", request.0),
            &json!({ "professional": professional.to_string() }),
        )
        .await
    }

    /// What a declaration for `idnat` is checked against at `at`.
    pub async fn loss_code_state(
        &self,
        idnat: &IdNatPs,
        at: OffsetDateTime,
    ) -> Result<LossCodeState> {
        let id = idnat.to_string();
        let known: Option<String> =
            sqlx::query_scalar("SELECT idnat FROM professionals WHERE idnat = $1")
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?;
        if known.is_none() {
            return Ok(LossCodeState::default());
        }
        let hashes: Vec<String> = sqlx::query_scalar(
            "SELECT rc.code_hash FROM revocation_codes rc \
             JOIN certificates c ON c.request_id = rc.request_id \
             WHERE rc.professional = $1 AND c.professional = $1 \
             AND c.status IN ('good', 'hold') AND c.not_after > $2 \
             ORDER BY c.issued_at DESC, c.serial LIMIT $3",
        )
        .bind(&id)
        .bind(db_time(at)?)
        .bind(MAX_CODES_CHECKED)
        .fetch_all(&self.pool)
        .await?;
        let row: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT failures, locked_until FROM loss_code_failures WHERE professional = $1",
        )
        .bind(&id)
        .fetch_optional(&self.pool)
        .await?;
        let (failures, locked_until) = match row {
            None => (0, None),
            Some((n, until)) => (
                u32::try_from(n).unwrap_or(u32::MAX),
                until
                    .map(|t| super::parse_db_time("loss_code_failures", &t))
                    .transpose()?,
            ),
        };
        Ok(LossCodeState {
            known: true,
            hashes,
            failures,
            locked_until,
        })
    }

    /// Counts a wrong code for `idnat` (registered) and journals the attempt; at
    /// `max_failures` in a row, declarations are locked until `lock_until`. Once a lock has
    /// run out, the count starts again.
    pub async fn record_loss_code_failure(
        &self,
        idnat: &IdNatPs,
        max_failures: u32,
        lock_until: OffsetDateTime,
        actor: &Actor,
        details: &serde_json::Value,
    ) -> Result<CodeFailure> {
        let id = idnat.to_string();
        let at = db_time(now())?;
        let mut tx = self.begin_write().await?;
        // A lock that has run out starts the count again.
        sqlx::query(
            "INSERT INTO loss_code_failures (professional, failures, last_failed_at) \
             VALUES ($1, 1, $2) ON CONFLICT (professional) DO UPDATE \
             SET failures = CASE WHEN loss_code_failures.locked_until <= $2 THEN 1 \
                                 ELSE loss_code_failures.failures + 1 END, \
                 locked_until = CASE WHEN loss_code_failures.locked_until <= $2 THEN NULL \
                                     ELSE loss_code_failures.locked_until END, \
                 last_failed_at = $2",
        )
        .bind(&id)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        let failures: i64 = sqlx::query_scalar(
            "UPDATE loss_code_failures SET locked_until = \
             CASE WHEN failures >= $1 THEN $2 ELSE locked_until END \
             WHERE professional = $3 RETURNING failures",
        )
        .bind(i64::from(max_failures))
        .bind(db_time(lock_until)?)
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        let failures = u32::try_from(failures).unwrap_or(u32::MAX);
        let answer = if failures >= max_failures {
            CodeFailure::Locked { until: lock_until }
        } else {
            CodeFailure::Counted { failures }
        };
        let mut details = details.clone();
        details["failures"] = json!(failures);
        details["locked"] = json!(matches!(answer, CodeFailure::Locked { .. }));
        self.append_audit(
            &mut tx,
            actor,
            "loss.declare",
            &format!("professional:{id}"),
            Outcome::Denied,
            &details,
        )
        .await?;
        tx.commit().await?;
        Ok(answer)
    }

    /// Declares the loss of `idnat`'s card: every certificate still good is suspended
    /// (certificateHold), the wrong-code count is cleared, the declaration recorded — one
    /// transaction, with an entry per certificate and one for the declaration.
    pub async fn declare_loss(
        &self,
        idnat: &IdNatPs,
        channel: LossChannel,
        actor: &Actor,
        details: &serde_json::Value,
    ) -> Result<LossDeclaration> {
        let id_text = idnat.to_string();
        let time = now();
        let mut tx = self.begin_write().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT idnat FROM professionals WHERE idnat = $1")
                .bind(&id_text)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(Error::ProfessionalNotFound { idnat: id_text });
        }
        sqlx::query("DELETE FROM loss_code_failures WHERE professional = $1")
            .bind(&id_text)
            .execute(&mut *tx)
            .await?;
        let serials = self
            .revoke_all_in_tx(
                &mut tx,
                &id_text,
                RevocationReason::CertificateHold,
                time,
                actor,
            )
            .await?;
        let id = next_id(&mut tx, "loss_declarations").await?;
        let declared_at = db_time(time)?;
        sqlx::query(
            "INSERT INTO loss_declarations (id, professional, channel, declared_at, declared_by, \
             status) VALUES ($1, $2, $3, $4, $5, 'open')",
        )
        .bind(id)
        .bind(&id_text)
        .bind(channel.as_str())
        .bind(&declared_at)
        .bind(actor.id.as_str())
        .execute(&mut *tx)
        .await?;
        for serial in &serials {
            sqlx::query(
                "INSERT INTO loss_declaration_certificates (declaration, serial) VALUES ($1, $2)",
            )
            .bind(id)
            .bind(serial.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let mut details = details.clone();
        details["declaration"] = json!(id);
        details["channel"] = json!(channel.as_str());
        details["suspended"] = json!(serials.iter().map(Serial::as_str).collect::<Vec<_>>());
        self.append_audit(
            &mut tx,
            actor,
            "loss.declare",
            &format!("professional:{id_text}"),
            Outcome::Success,
            &details,
        )
        .await?;
        tx.commit().await?;
        Ok(LossDeclaration {
            id,
            professional: idnat.clone(),
            channel,
            declared_at: super::parse_db_time(T, &declared_at)?,
            declared_by: actor.id.as_str().to_owned(),
            status: LossStatus::Open,
            closed_by: None,
            closed_at: None,
            serials,
        })
    }

    async fn declaration_serials(&self, id: i64) -> Result<Vec<Serial>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT serial FROM loss_declaration_certificates WHERE declaration = $1 \
             ORDER BY serial",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|s| parse_col(T, s)).collect()
    }

    /// Declaration `id`, with its certificates.
    pub async fn loss_declaration(&self, id: i64) -> Result<Option<LossDeclaration>> {
        let sql = select_declarations!("WHERE id = $1");
        let Some(mut d) = self
            .fetch_row(sqlx::query(sql).bind(id), declaration_from_row)
            .await?
        else {
            return Ok(None);
        };
        d.serials = self.declaration_serials(id).await?;
        Ok(Some(d))
    }

    /// The declarations still open, oldest first, with their certificates.
    pub async fn open_loss_declarations(&self) -> Result<Vec<LossDeclaration>> {
        let sql = select_declarations!("WHERE status = 'open' ORDER BY id");
        let mut all = self
            .fetch_rows(sqlx::query(sql), declaration_from_row)
            .await?;
        for d in &mut all {
            d.serials = self.declaration_serials(d.id).await?;
        }
        Ok(all)
    }

    /// The declarations of `idnat`, newest first.
    pub async fn loss_declarations_of(&self, idnat: &IdNatPs) -> Result<Vec<LossDeclaration>> {
        let sql = select_declarations!("WHERE professional = $1 ORDER BY id DESC");
        let mut all = self
            .fetch_rows(
                sqlx::query(sql).bind(idnat.to_string()),
                declaration_from_row,
            )
            .await?;
        for d in &mut all {
            d.serials = self.declaration_serials(d.id).await?;
        }
        Ok(all)
    }

    /// Closes open declaration `id`: `revoke` revokes its certificates still on hold
    /// (keyCompromise), otherwise their suspension is lifted. One transaction, an entry per
    /// certificate and one for the decision. Returns the certificates changed, sorted.
    pub async fn close_loss_declaration(
        &self,
        id: i64,
        revoke: bool,
        actor: &Actor,
    ) -> Result<Vec<Serial>> {
        let time = now();
        let when = db_time(time)?;
        let status = if revoke {
            LossStatus::Revoked
        } else {
            LossStatus::Reinstated
        };
        let mut tx = self.begin_write().await?;
        let closed = sqlx::query(
            "UPDATE loss_declarations SET status = $1, closed_by = $2, closed_at = $3 \
             WHERE id = $4 AND status = 'open'",
        )
        .bind(status.as_str())
        .bind(actor.id.as_str())
        .bind(&when)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if closed.rows_affected() == 0 {
            let found: Option<String> =
                sqlx::query_scalar("SELECT status FROM loss_declarations WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match found {
                None => Error::LossDeclarationNotFound { id },
                Some(s) => Error::LossDeclarationClosed {
                    id,
                    status: parse_col(T, &s)?,
                },
            });
        }
        let professional: String =
            sqlx::query_scalar("SELECT professional FROM loss_declarations WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let declared: Vec<String> = sqlx::query_scalar(
            "SELECT serial FROM loss_declaration_certificates WHERE declaration = $1 \
             ORDER BY serial",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut changed = Vec::new();
        for serial in &declared {
            let query = if revoke {
                sqlx::query(
                    "UPDATE certificates SET status = 'revoked', revoked_at = $1, \
                     revocation_reason = 'keyCompromise' WHERE serial = $2 AND status = 'hold'",
                )
                .bind(&when)
                .bind(serial)
            } else {
                sqlx::query(
                    "UPDATE certificates SET status = 'good', revoked_at = NULL, \
                     revocation_reason = NULL WHERE serial = $1 AND status = 'hold'",
                )
                .bind(serial)
            };
            let updated = query.execute(&mut *tx).await?;
            if updated.rows_affected() == 0 {
                // Already decided one by one (revoked, or reinstated then maybe revoked).
                continue;
            }
            let (action, details) = if revoke {
                (
                    "certificate.revoke",
                    json!({ "reason": RevocationReason::KeyCompromise.as_str(), "time": when,
                            "professional": professional, "declaration": id }),
                )
            } else {
                (
                    "certificate.reinstate",
                    json!({ "professional": professional, "declaration": id }),
                )
            };
            self.append_audit(
                &mut tx,
                actor,
                action,
                &format!("certificate:{serial}"),
                Outcome::Success,
                &details,
            )
            .await?;
            changed.push(parse_col::<Serial>(T, serial)?);
        }
        self.append_audit(
            &mut tx,
            actor,
            if revoke {
                "loss.confirm"
            } else {
                "loss.reinstate"
            },
            &format!("professional:{professional}"),
            Outcome::Success,
            &json!({
                "declaration": id,
                "certificates": changed.iter().map(Serial::as_str).collect::<Vec<_>>(),
            }),
        )
        .await?;
        tx.commit().await?;
        changed.sort();
        Ok(changed)
    }
}
