//! Professionals, structures and identity proofings.

use serde_json::json;
use sqlx::error::ErrorKind;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

use super::audit::Outcome;
use super::{db_time, fold_name, next_id, now, opt_text_col, text_col, time_col, Store};
use crate::domain::{
    Actor, IdNatPs, IdNatStruct, IdentityProofing, Professional, ProfessionalStatus,
    RevocationReason, Serial, Structure,
};
use crate::error::{Error, Result};

/// `SELECT <professional columns> FROM professionals <tail>` as one literal.
macro_rules! select_professionals {
    ($tail:literal) => {
        concat!(
            "SELECT idnat, surname, given_names, profession, structure, status FROM professionals ",
            $tail
        )
    };
}

fn professional_from_row(row: &sqlx::any::AnyRow) -> Result<Professional> {
    const T: &str = "professionals";
    Ok(Professional {
        idnat: text_col(T, row, "idnat")?,
        surname: text_col(T, row, "surname")?,
        given_names: text_col(T, row, "given_names")?,
        profession: text_col(T, row, "profession")?,
        structure: opt_text_col(T, row, "structure")?,
        status: text_col(T, row, "status")?,
    })
}

impl Store {
    /// Registers a structure (establishment, practice).
    pub async fn register_structure(&self, structure: &Structure, actor: &Actor) -> Result<()> {
        let idnat = structure.idnat.to_string();
        let mut tx = self.begin_write().await?;
        let at = db_time(now())?;
        let inserted = sqlx::query(
            "INSERT INTO structures (idnat, name, departement, registered_at, registered_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&idnat)
        .bind(structure.name.as_str())
        .bind(structure.departement.as_str())
        .bind(&at)
        .bind(actor.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(Error::from);
        if let Err(e) = inserted {
            return Err(match e.db_kind() {
                Some(ErrorKind::UniqueViolation) => Error::StructureAlreadyRegistered { idnat },
                _ => e,
            });
        }
        self.commit_audited(
            tx,
            actor,
            "structure.register",
            &format!("structure:{idnat}"),
            &json!({
                "name": structure.name.as_str(),
                "departement": structure.departement.as_str(),
            }),
        )
        .await?;
        Ok(())
    }

    pub async fn find_structure(&self, idnat: &IdNatStruct) -> Result<Option<Structure>> {
        const T: &str = "structures";
        let query = sqlx::query("SELECT idnat, name, departement FROM structures WHERE idnat = $1")
            .bind(idnat.to_string());
        self.fetch_row(query, |row| {
            Ok(Structure {
                idnat: text_col(T, row, "idnat")?,
                name: text_col(T, row, "name")?,
                departement: text_col(T, row, "departement")?,
            })
        })
        .await
    }

    /// Registers a professional together with the identity check that was made, in one
    /// transaction with its audit entry. The caller (RA) has already checked that the actor's
    /// Order covers the profession; the document number is stored in the registry but not
    /// copied into the journal.
    pub async fn register_professional(
        &self,
        professional: &Professional,
        proofing: &IdentityProofing,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.insert_professional(&mut tx, professional, proofing, actor)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Store::register_professional`] within a transaction of the caller.
    pub(super) async fn insert_professional(
        &self,
        tx: &mut Transaction<'static, Any>,
        professional: &Professional,
        proofing: &IdentityProofing,
        actor: &Actor,
    ) -> Result<()> {
        if professional.status != ProfessionalStatus::Active {
            return Err(Error::invalid(
                "professional status",
                "a professional is registered active",
            ));
        }
        let idnat = professional.idnat.to_string();
        let structure = professional.structure.as_ref().map(ToString::to_string);
        let (id_type, id_number) = match &professional.idnat {
            IdNatPs::Rpps(r) => ("rpps", r.as_str()),
            IdNatPs::Adeli(a) => ("adeli", a.as_str()),
        };
        let at = db_time(now())?;
        let checked_at = db_time(proofing.checked_at)?;

        let inserted = sqlx::query(
            "INSERT INTO professionals (idnat, id_type, id_number, surname, given_names, \
             name_key, profession, structure, status, registered_at, registered_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)",
        )
        .bind(&idnat)
        .bind(id_type)
        .bind(id_number)
        .bind(professional.surname.as_str())
        .bind(professional.given_names.as_str())
        .bind(fold_name(professional.surname.as_str()))
        .bind(professional.profession.as_str())
        .bind(structure.clone())
        .bind(professional.status.as_str())
        .bind(&at)
        .bind(actor.id.as_str())
        .execute(&mut **tx)
        .await
        .map_err(Error::from);
        if let Err(e) = inserted {
            return Err(match e.db_kind() {
                Some(ErrorKind::UniqueViolation) => Error::AlreadyRegistered { idnat },
                Some(ErrorKind::ForeignKeyViolation) => Error::StructureNotFound {
                    idnat: structure.unwrap_or_default(),
                },
                _ => e,
            });
        }

        let proofing_id = next_id(tx, "identity_proofings").await?;
        sqlx::query(
            "INSERT INTO identity_proofings (id, professional, document_type, document_number, \
             mode, checked_by, checked_at, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(proofing_id)
        .bind(&idnat)
        .bind(proofing.document_type.as_str())
        .bind(proofing.document_number.as_str())
        .bind(proofing.mode.as_str())
        .bind(proofing.checked_by.as_str())
        .bind(&checked_at)
        .bind(&at)
        .execute(&mut **tx)
        .await?;

        self.append_audit(
            tx,
            actor,
            "professional.register",
            &format!("professional:{idnat}"),
            Outcome::Success,
            &json!({
                "profession": professional.profession.as_str(),
                "structure": structure,
                "identity_proofing": {
                    "id": proofing_id,
                    "document_type": proofing.document_type.as_str(),
                    "mode": proofing.mode.as_str(),
                    "checked_by": proofing.checked_by.as_str(),
                    "checked_at": checked_at,
                },
            }),
        )
        .await?;
        Ok(())
    }

    pub async fn find_professional(&self, idnat: &IdNatPs) -> Result<Option<Professional>> {
        self.fetch_row(
            sqlx::query(select_professionals!("WHERE idnat = $1")).bind(idnat.to_string()),
            professional_from_row,
        )
        .await
    }

    /// Professionals whose surname matches `surname` ignoring case and accents, in IdNat
    /// order, at most `limit`.
    pub async fn find_professionals_by_name(
        &self,
        surname: &str,
        limit: u32,
    ) -> Result<Vec<Professional>> {
        self.fetch_rows(
            sqlx::query(select_professionals!(
                "WHERE name_key = $1 ORDER BY idnat LIMIT $2"
            ))
            .bind(fold_name(surname))
            .bind(i64::from(limit)),
            professional_from_row,
        )
        .await
    }

    /// Professionals whose surname matches `surname` ignoring case and accents and who hold a
    /// valid certificate at `at` (what the public directory may show), in IdNat order, at
    /// most `limit`.
    pub async fn find_certified_professionals_by_name(
        &self,
        surname: &str,
        at: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Professional>> {
        self.fetch_rows(
            sqlx::query(select_professionals!(
                "WHERE name_key = $1 AND EXISTS (SELECT 1 FROM certificates c \
             WHERE c.professional = professionals.idnat AND c.status = 'good' \
             AND c.not_before <= $2 AND c.not_after > $2) ORDER BY idnat LIMIT $3"
            ))
            .bind(fold_name(surname))
            .bind(db_time(at)?)
            .bind(i64::from(limit)),
            professional_from_row,
        )
        .await
    }

    /// Identity checks recorded for a professional, oldest first.
    pub async fn identity_proofings_of(&self, idnat: &IdNatPs) -> Result<Vec<IdentityProofing>> {
        const T: &str = "identity_proofings";
        let query = sqlx::query(
            "SELECT document_type, document_number, mode, checked_by, checked_at \
             FROM identity_proofings WHERE professional = $1 ORDER BY id",
        )
        .bind(idnat.to_string());
        self.fetch_rows(query, |row| {
            Ok(IdentityProofing {
                document_type: text_col(T, row, "document_type")?,
                document_number: text_col(T, row, "document_number")?,
                mode: text_col(T, row, "mode")?,
                checked_by: text_col(T, row, "checked_by")?,
                checked_at: time_col(T, row, "checked_at")?,
            })
        })
        .await
    }

    /// Strikes a professional off (radiation): status `struck-off`, no new request can be
    /// filed or approved, and every certificate still good or on hold is revoked with
    /// `affiliationChanged` at `time` — all in one transaction. Returns the revoked serials.
    pub async fn strike_off_professional(
        &self,
        idnat: &IdNatPs,
        time: OffsetDateTime,
        actor: &Actor,
    ) -> Result<Vec<Serial>> {
        let id = idnat.to_string();
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE professionals SET status = 'struck-off', updated_at = $1 \
             WHERE idnat = $2 AND status = 'active'",
        )
        .bind(db_time(now())?)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM professionals WHERE idnat = $1")
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match status {
                None => Error::ProfessionalNotFound { idnat: id },
                Some(_) => Error::ProfessionalNotActive { idnat: id },
            });
        }
        self.append_audit(
            &mut tx,
            actor,
            "professional.strike-off",
            &format!("professional:{id}"),
            Outcome::Success,
            &json!({}),
        )
        .await?;
        let serials = self
            .revoke_all_in_tx(
                &mut tx,
                &id,
                RevocationReason::AffiliationChanged,
                time,
                actor,
            )
            .await?;
        tx.commit().await?;
        Ok(serials)
    }
}
