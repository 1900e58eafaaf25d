//! Certificate requests: filed by a clerk, approved by another (four eyes), then issued.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Any, Row as _, Transaction};
use time::OffsetDateTime;

use super::audit::Outcome;
use super::{
    b64, db_time, next_id, now, opt_text_col, opt_time_col, parse_col, sha256_hex, text_col,
    time_col, unb64, AnyQuery, Store,
};
use crate::domain::{Actor, ActorId, IdNatPs, IdNatStruct, Profile, RequestStatus, SubjectKind};
use crate::error::{Error, Result};

/// Largest CSR accepted (DER).
const MAX_CSR_LEN: usize = 64 * 1024;

/// Identifier of a certificate request (allocated in sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub i64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whom a requested certificate is for; must fit the profile ([`Profile::subject_kind`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestSubject {
    Professional(IdNatPs),
    Structure(IdNatStruct),
    /// An RA operator (clerk), by login.
    Operator(ActorId),
}

impl RequestSubject {
    fn kind(&self) -> SubjectKind {
        match self {
            RequestSubject::Professional(_) => SubjectKind::Professional,
            RequestSubject::Structure(_) => SubjectKind::Structure,
            RequestSubject::Operator(_) => SubjectKind::Operator,
        }
    }

    fn columns(&self) -> (Option<String>, Option<String>, Option<String>) {
        match self {
            RequestSubject::Professional(p) => (Some(p.to_string()), None, None),
            RequestSubject::Structure(s) => (None, Some(s.to_string()), None),
            RequestSubject::Operator(o) => (None, None, Some(o.to_string())),
        }
    }

    fn audit_name(&self) -> String {
        match self {
            RequestSubject::Professional(p) => format!("professional:{p}"),
            RequestSubject::Structure(s) => format!("structure:{s}"),
            RequestSubject::Operator(o) => format!("operator:{o}"),
        }
    }
}

/// A request as filed by a clerk. Proof of possession of the CSR's key is checked by the
/// caller before filing; the store keeps the DER as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub profile: Profile,
    pub subject: RequestSubject,
    pub csr_der: Vec<u8>,
}

/// A stored request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRequest {
    pub id: RequestId,
    pub profile: Profile,
    pub subject: RequestSubject,
    pub csr_der: Vec<u8>,
    pub status: RequestStatus,
    pub filed_by: ActorId,
    pub filed_at: OffsetDateTime,
    pub decided_by: Option<ActorId>,
    pub decided_at: Option<OffsetDateTime>,
    /// Reason given when rejected.
    pub decision_note: Option<String>,
    pub issued_at: Option<OffsetDateTime>,
}

macro_rules! select_requests {
    ($tail:literal) => {
        concat!(
            "SELECT id, profile, professional, structure, operator, csr_der, status, filed_by, \
             filed_at, decided_by, decided_at, decision_note, issued_at \
             FROM certificate_requests ",
            $tail
        )
    };
}

fn request_from_row(row: &sqlx::any::AnyRow) -> Result<CertificateRequest> {
    const T: &str = "certificate_requests";
    let professional: Option<String> = row.try_get("professional")?;
    let structure: Option<String> = row.try_get("structure")?;
    let operator: Option<String> = row.try_get("operator")?;
    let subject = match (professional, structure, operator) {
        (Some(p), None, None) => RequestSubject::Professional(parse_col(T, &p)?),
        (None, Some(s), None) => RequestSubject::Structure(parse_col(T, &s)?),
        (None, None, Some(o)) => RequestSubject::Operator(parse_col(T, &o)?),
        _ => return Err(Error::corrupt(T, "request subject")),
    };
    let csr: String = row.try_get("csr_der")?;
    Ok(CertificateRequest {
        id: RequestId(row.try_get("id")?),
        profile: text_col(T, row, "profile")?,
        subject,
        csr_der: unb64(T, &csr)?,
        status: text_col(T, row, "status")?,
        filed_by: text_col(T, row, "filed_by")?,
        filed_at: time_col(T, row, "filed_at")?,
        decided_by: opt_text_col(T, row, "decided_by")?,
        decided_at: opt_time_col(T, row, "decided_at")?,
        decision_note: row.try_get("decision_note")?,
        issued_at: opt_time_col(T, row, "issued_at")?,
    })
}

/// Checks that the subject is what the profile is for.
pub(crate) fn check_profile_subject(profile: Profile, subject: SubjectKind) -> Result<()> {
    if !profile.is_requestable() {
        return Err(Error::ProfileMismatch {
            profile,
            reason: "infrastructure certificates are issued by ceremony, not by request".into(),
        });
    }
    if profile.subject_kind() != subject {
        return Err(Error::ProfileMismatch {
            profile,
            reason: format!(
                "the profile is for a {:?} subject, not a {subject:?}",
                profile.subject_kind()
            ),
        });
    }
    Ok(())
}

impl Store {
    /// Fails unless the professional exists and is active. On PostgreSQL the row is share-locked
    /// until the end of the transaction, so a concurrent strike-off waits for it (or it for the
    /// strike-off, and then sees it).
    pub(crate) async fn check_professional_active(
        &self,
        tx: &mut Transaction<'static, Any>,
        idnat: &str,
    ) -> Result<()> {
        let status: Option<String> = sqlx::query_scalar(self.sql(
            "SELECT status FROM professionals WHERE idnat = $1",
            "SELECT status FROM professionals WHERE idnat = $1 FOR SHARE",
        ))
        .bind(idnat)
        .fetch_optional(&mut **tx)
        .await?;
        match status.as_deref() {
            None => Err(Error::ProfessionalNotFound {
                idnat: idnat.to_owned(),
            }),
            Some("active") => Ok(()),
            Some(_) => Err(Error::ProfessionalNotActive {
                idnat: idnat.to_owned(),
            }),
        }
    }

    /// Files a certificate request; returns its identifier.
    pub async fn file_request(&self, request: &NewRequest, actor: &Actor) -> Result<RequestId> {
        let mut tx = self.begin_write().await?;
        let id = self.file_request_in_tx(&mut tx, request, actor).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// [`file_request`](Self::file_request) inside the caller's write transaction.
    pub(crate) async fn file_request_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        request: &NewRequest,
        actor: &Actor,
    ) -> Result<RequestId> {
        check_profile_subject(request.profile, request.subject.kind())?;
        if request.csr_der.is_empty()
            || request.csr_der.len() > MAX_CSR_LEN
            || request.csr_der.first() != Some(&0x30)
        {
            return Err(Error::invalid(
                "CSR",
                format!("expected a DER SEQUENCE of at most {MAX_CSR_LEN} octets"),
            ));
        }
        let (professional, structure, operator) = request.subject.columns();
        let filed_at = db_time(now())?;

        if let Some(p) = &professional {
            self.check_professional_active(tx, p).await?;
        }
        if let Some(s) = &structure {
            let found: Option<String> =
                sqlx::query_scalar("SELECT idnat FROM structures WHERE idnat = $1")
                    .bind(s)
                    .fetch_optional(&mut **tx)
                    .await?;
            if found.is_none() {
                return Err(Error::StructureNotFound { idnat: s.clone() });
            }
        }
        let subject_digest = self.subject_digest(tx, &request.subject).await?;
        let id = next_id(tx, "certificate_requests").await?;
        sqlx::query(
            "INSERT INTO certificate_requests (id, profile, professional, structure, operator, \
             csr_der, status, filed_by, filed_at, subject_digest) \
             VALUES ($1, $2, $3, $4, $5, $6, 'filed', $7, $8, $9)",
        )
        .bind(id)
        .bind(request.profile.as_str())
        .bind(professional)
        .bind(structure)
        .bind(operator)
        .bind(b64(&request.csr_der))
        .bind(actor.id.as_str())
        .bind(&filed_at)
        .bind(&subject_digest)
        .execute(&mut **tx)
        .await?;
        self.append_audit(
            tx,
            actor,
            "request.file",
            &format!("request:{id}"),
            Outcome::Success,
            &json!({
                "profile": request.profile.as_str(),
                "subject": request.subject.audit_name(),
                "csr_sha256": sha256_hex(&request.csr_der),
            }),
        )
        .await?;
        Ok(RequestId(id))
    }

    /// Explains why a conditional update of request `id` matched no row.
    async fn request_refusal(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: RequestId,
        expected: RequestStatus,
        actor: &Actor,
        four_eyes: bool,
    ) -> Result<Error> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT status, filed_by FROM certificate_requests WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut **tx)
                .await?;
        let Some((status, filed_by)) = row else {
            return Ok(Error::RequestNotFound { id: id.0 });
        };
        let found: RequestStatus = parse_col("certificate_requests", &status)?;
        Ok(if found != expected {
            Error::RequestNotInState {
                id: id.0,
                expected,
                found,
            }
        } else if four_eyes && filed_by == actor.id.as_str() {
            Error::SelfApproval {
                id: id.0,
                actor: filed_by,
            }
        } else {
            Error::RequestNotFound { id: id.0 }
        })
    }

    /// Runs `decision`, the conditional update that moves filed request `id` on (approval or
    /// rejection); when it matches no row, fails with the reason ([`Store::request_refusal`],
    /// `four_eyes` for an approval).
    async fn decide_filed_request(
        &self,
        tx: &mut Transaction<'static, Any>,
        decision: AnyQuery<'_>,
        id: RequestId,
        actor: &Actor,
        four_eyes: bool,
    ) -> Result<()> {
        let updated = decision.execute(&mut **tx).await?;
        if updated.rows_affected() == 0 {
            return Err(self
                .request_refusal(tx, id, RequestStatus::Filed, actor, four_eyes)
                .await?);
        }
        Ok(())
    }

    /// Approves a filed request. The approver must not be the clerk who filed it
    /// ([`Error::SelfApproval`]); the professional must still be active.
    pub async fn approve_request(&self, id: RequestId, actor: &Actor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let decision = sqlx::query(
            "UPDATE certificate_requests SET status = 'approved', decided_by = $1, decided_at = $2 \
             WHERE id = $3 AND status = 'filed' AND filed_by <> $1",
        )
        .bind(actor.id.as_str())
        .bind(db_time(now())?)
        .bind(id.0);
        self.decide_filed_request(&mut tx, decision, id, actor, true)
            .await?;
        let professional: Option<String> =
            sqlx::query_scalar("SELECT professional FROM certificate_requests WHERE id = $1")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
        if let Some(p) = &professional {
            self.check_professional_active(&mut tx, p).await?;
        }
        // What was filed is what is approved: the subject's record has not changed since.
        let request = self
            .request_in_tx(&mut tx, id)
            .await?
            .ok_or(Error::RequestNotFound { id: id.0 })?;
        let filed_digest: Option<String> =
            sqlx::query_scalar("SELECT subject_digest FROM certificate_requests WHERE id = $1")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
        let now_digest = self.subject_digest(&mut tx, &request.subject).await?;
        if filed_digest.as_deref() != Some(now_digest.as_str()) {
            return Err(Error::RequestStale { id: id.0 });
        }
        self.commit_audited(
            tx,
            actor,
            "request.approve",
            &format!("request:{id}"),
            &json!({}),
        )
        .await?;
        Ok(())
    }

    /// Rejects a filed request with a reason (the filer may withdraw their own request).
    pub async fn reject_request(&self, id: RequestId, reason: &str, actor: &Actor) -> Result<()> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(Error::invalid("rejection reason", "1 to 500 characters"));
        }
        let mut tx = self.begin_write().await?;
        let decision = sqlx::query(
            "UPDATE certificate_requests SET status = 'rejected', decided_by = $1, \
             decided_at = $2, decision_note = $3 WHERE id = $4 AND status = 'filed'",
        )
        .bind(actor.id.as_str())
        .bind(db_time(now())?)
        .bind(reason)
        .bind(id.0);
        self.decide_filed_request(&mut tx, decision, id, actor, false)
            .await?;
        self.commit_audited(
            tx,
            actor,
            "request.reject",
            &format!("request:{id}"),
            &json!({ "reason": reason }),
        )
        .await?;
        Ok(())
    }

    async fn request_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: RequestId,
    ) -> Result<Option<CertificateRequest>> {
        let row = sqlx::query(select_requests!("WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// SHA-256 (hex) of everything the registry holds about `subject` that a certificate or
    /// its approval rests on: a professional's record, identity proofings and structure; a
    /// structure's record; an operator's account. Each value is length-prefixed.
    async fn subject_digest(
        &self,
        tx: &mut Transaction<'static, Any>,
        subject: &RequestSubject,
    ) -> Result<String> {
        let mut values: Vec<Option<String>> = Vec::new();
        let mut structure = None;
        match subject {
            RequestSubject::Professional(idnat) => {
                values.push(Some("professional".into()));
                let row = sqlx::query(
                    "SELECT idnat, surname, given_names, profession, structure, status \
                     FROM professionals WHERE idnat = $1",
                )
                .bind(idnat.to_string())
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| Error::ProfessionalNotFound {
                    idnat: idnat.to_string(),
                })?;
                for c in [
                    "idnat",
                    "surname",
                    "given_names",
                    "profession",
                    "structure",
                    "status",
                ] {
                    values.push(row.try_get(c)?);
                }
                structure = row.try_get::<Option<String>, _>("structure")?;
                let proofings = sqlx::query(
                    "SELECT id, document_type, document_number, mode, checked_by, checked_at \
                     FROM identity_proofings WHERE professional = $1 ORDER BY id",
                )
                .bind(idnat.to_string())
                .fetch_all(&mut **tx)
                .await?;
                for p in &proofings {
                    let id: i64 = p.try_get("id")?;
                    values.push(Some(id.to_string()));
                    for c in [
                        "document_type",
                        "document_number",
                        "mode",
                        "checked_by",
                        "checked_at",
                    ] {
                        values.push(p.try_get(c)?);
                    }
                }
            }
            RequestSubject::Structure(idnat) => structure = Some(idnat.to_string()),
            RequestSubject::Operator(login) => {
                values.push(Some("operator".into()));
                let row = sqlx::query(
                    "SELECT login, display_name, role, order_slug, status \
                     FROM ra_operators WHERE login = $1",
                )
                .bind(login.as_str())
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(row) = row {
                    for c in ["login", "display_name", "role", "order_slug", "status"] {
                        values.push(row.try_get(c)?);
                    }
                }
            }
        }
        if let Some(s) = structure {
            values.push(Some("structure".into()));
            let row =
                sqlx::query("SELECT idnat, name, departement FROM structures WHERE idnat = $1")
                    .bind(&s)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(Error::StructureNotFound { idnat: s })?;
            for c in ["idnat", "name", "departement"] {
                values.push(row.try_get(c)?);
            }
        }
        let mut encoded = Vec::new();
        for v in values {
            match v {
                Some(v) => encoded.extend_from_slice(format!("{}:{v};", v.len()).as_bytes()),
                None => encoded.extend_from_slice(b"-;"),
            }
        }
        Ok(sha256_hex(&encoded))
    }

    pub async fn request(&self, id: RequestId) -> Result<Option<CertificateRequest>> {
        self.fetch_row(
            sqlx::query(select_requests!("WHERE id = $1")).bind(id.0),
            request_from_row,
        )
        .await
    }

    /// Every request about a professional, newest first.
    pub async fn requests_of(&self, idnat: &IdNatPs) -> Result<Vec<CertificateRequest>> {
        self.fetch_rows(
            sqlx::query(select_requests!("WHERE professional = $1 ORDER BY id DESC"))
                .bind(idnat.to_string()),
            request_from_row,
        )
        .await
    }

    /// Requests in `status`, by id, after `after` (keyset paging), at most `limit`.
    pub async fn requests_with_status(
        &self,
        status: RequestStatus,
        after: Option<RequestId>,
        limit: u32,
    ) -> Result<Vec<CertificateRequest>> {
        self.fetch_rows(
            sqlx::query(select_requests!(
                "WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(status.as_str())
            .bind(after.map_or(0, |a| a.0))
            .bind(i64::from(limit)),
            request_from_row,
        )
        .await
    }
}
