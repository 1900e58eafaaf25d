//! Issued certificates and their revocation state.

use serde::Serialize;
use serde_json::json;
use sqlx::error::ErrorKind;
use sqlx::{Any, Row as _, Transaction};
use time::OffsetDateTime;

use super::audit::Outcome;
use super::requests::{check_profile_subject, RequestId};
use super::{
    b64, db_time, now, opt_text_col, parse_col, parse_db_time, parse_opt_col, sha256_hex, text_col,
    time_col, unb64, Store,
};
use crate::domain::{
    Actor, CaName, CertStatus, IdNatPs, IdNatStruct, Profile, RequestStatus, RevocationReason,
    Serial, SubjectKind,
};
use crate::error::{Error, Result};

/// A certificate the CA has just signed, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCertificate {
    pub serial: Serial,
    pub issuer: CaName,
    pub profile: Profile,
    pub professional: Option<IdNatPs>,
    pub structure: Option<IdNatStruct>,
    /// Subject DN as text (RFC 4514), for display and search.
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub der: Vec<u8>,
    /// Partition of the issuer's CRL this certificate will be listed in if revoked.
    pub crl_partition: u32,
    /// The certificate this one renews; it gets `superseded_by` = this serial (and stays valid
    /// until revoked or expired).
    pub supersedes: Option<Serial>,
}

/// Revocation state of a certificate, as OCSP and CRLs report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum CertificateStatus {
    Good,
    Revoked {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        reason: RevocationReason,
    },
    /// Suspended (certificateHold); may be reinstated.
    OnHold {
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
}

impl CertificateStatus {
    pub fn stored(&self) -> CertStatus {
        match self {
            CertificateStatus::Good => CertStatus::Good,
            CertificateStatus::Revoked { .. } => CertStatus::Revoked,
            CertificateStatus::OnHold { .. } => CertStatus::Hold,
        }
    }
}

/// A stored certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    pub serial: Serial,
    pub issuer: CaName,
    pub profile: Profile,
    pub professional: Option<IdNatPs>,
    pub structure: Option<IdNatStruct>,
    pub request: Option<RequestId>,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub der: Vec<u8>,
    pub status: CertificateStatus,
    pub superseded_by: Option<Serial>,
    pub crl_partition: u32,
    pub issued_at: OffsetDateTime,
}

macro_rules! select_certificates {
    ($tail:literal) => {
        concat!(
            "SELECT serial, issuer, profile, professional, structure, request_id, subject, \
             not_before, not_after, der, status, revoked_at, revocation_reason, superseded_by, \
             crl_partition, issued_at FROM certificates ",
            $tail
        )
    };
}

const T: &str = "certificates";

/// The revocation state from the `status`, `revoked_at` and `revocation_reason` columns.
pub(super) fn status_from_columns(
    status: &str,
    revoked_at: Option<&str>,
    reason: Option<&str>,
) -> Result<CertificateStatus> {
    let status: CertStatus = parse_col(T, status)?;
    let at = revoked_at.map(|t| parse_db_time(T, t)).transpose()?;
    let reason: Option<RevocationReason> = parse_opt_col(T, reason)?;
    match (status, at, reason) {
        (CertStatus::Good, None, None) => Ok(CertificateStatus::Good),
        (CertStatus::Hold, Some(since), Some(RevocationReason::CertificateHold)) => {
            Ok(CertificateStatus::OnHold { since })
        }
        (CertStatus::Revoked, Some(at), Some(reason)) => {
            Ok(CertificateStatus::Revoked { at, reason })
        }
        _ => Err(Error::corrupt(T, "inconsistent revocation columns")),
    }
}

fn certificate_from_row(row: &sqlx::any::AnyRow) -> Result<CertificateRecord> {
    let request: Option<i64> = row.try_get("request_id")?;
    let der: String = row.try_get("der")?;
    let status: String = row.try_get("status")?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    let reason: Option<String> = row.try_get("revocation_reason")?;
    let partition: i64 = row.try_get("crl_partition")?;
    Ok(CertificateRecord {
        serial: text_col(T, row, "serial")?,
        issuer: text_col(T, row, "issuer")?,
        profile: text_col(T, row, "profile")?,
        professional: opt_text_col(T, row, "professional")?,
        structure: opt_text_col(T, row, "structure")?,
        request: request.map(RequestId),
        subject: row.try_get("subject")?,
        not_before: time_col(T, row, "not_before")?,
        not_after: time_col(T, row, "not_after")?,
        der: unb64(T, &der)?,
        status: status_from_columns(&status, revoked_at.as_deref(), reason.as_deref())?,
        superseded_by: opt_text_col(T, row, "superseded_by")?,
        crl_partition: u32::try_from(partition)
            .map_err(|_| Error::corrupt(T, format!("crl_partition {partition}")))?,
        issued_at: time_col(T, row, "issued_at")?,
    })
}

/// The journal action of a certificate recorded when its CA signed it.
const ISSUE: &str = "certificate.issue";

/// How an infrastructure certificate reaches the store ([`Store::record_infrastructure_certificate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfraOrigin {
    /// Recorded by the key ceremony that signed it, before its file is written: journaled as
    /// `certificate.issue`, like any issuance.
    Ceremony,
    /// Found unrecorded when `igc serve` started (signed before ceremonies recorded what they
    /// sign, or in the window between a ceremony's signature and its record): journaled as
    /// `certificate.backfill`.
    BackFill,
}

impl InfraOrigin {
    fn action(self) -> &'static str {
        match self {
            InfraOrigin::Ceremony => ISSUE,
            InfraOrigin::BackFill => "certificate.backfill",
        }
    }
}

/// What [`Store::record_infrastructure_certificate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfraRecorded {
    /// The certificate is now recorded (and journaled).
    New,
    /// The same certificate (same serial, same DER) was recorded already: nothing written.
    AlreadyRecorded,
}

/// The checks of [`Store::record_issued_certificate`] that need no database.
fn check_new_certificate(cert: &NewCertificate, request: Option<RequestId>) -> Result<()> {
    check_certificate_fields(cert)?;
    if cert.profile.is_requestable() && request.is_none() {
        return Err(Error::ProfileMismatch {
            profile: cert.profile,
            reason: "certificates of this profile are issued for an approved request".into(),
        });
    }
    Ok(())
}

/// The checks of any certificate record, with or without a request.
fn check_certificate_fields(cert: &NewCertificate) -> Result<()> {
    if cert.not_before >= cert.not_after {
        return Err(Error::invalid(
            "validity",
            "notBefore must precede notAfter",
        ));
    }
    if cert.der.is_empty() || cert.der.first() != Some(&0x30) {
        return Err(Error::invalid("certificate", "expected a DER SEQUENCE"));
    }
    let subject = cert.subject.trim();
    if subject.is_empty() || subject.chars().any(char::is_control) {
        return Err(Error::invalid(
            "subject",
            "empty or with control characters",
        ));
    }
    let kind = cert.profile.subject_kind();
    match kind {
        SubjectKind::Professional if cert.professional.is_none() => {
            return Err(Error::ProfileMismatch {
                profile: cert.profile,
                reason: "a professional certificate names its professional".into(),
            })
        }
        SubjectKind::Structure if cert.structure.is_none() => {
            return Err(Error::ProfileMismatch {
                profile: cert.profile,
                reason: "a server certificate names its structure".into(),
            })
        }
        _ => {}
    }
    Ok(())
}

/// A certificate found recorded under the serial of `cert`: the same one, or a refusal.
fn same_certificate(cert: &NewCertificate, recorded: &[u8]) -> Result<InfraRecorded> {
    if recorded == cert.der.as_slice() {
        Ok(InfraRecorded::AlreadyRecorded)
    } else {
        Err(Error::DuplicateSerial {
            serial: cert.serial.to_string(),
        })
    }
}

impl Store {
    /// Records a certificate the CA signed, atomically with its audit entry and, when it was
    /// issued for a request, with the request's transition approved → issued. Certificates of
    /// requestable profiles need an approved request whose profile and subject they match;
    /// infrastructure certificates (OCSP, TSA) are recorded without one. A serial that already
    /// exists is refused by the database ([`Error::DuplicateSerial`]).
    pub async fn record_issued_certificate(
        &self,
        cert: &NewCertificate,
        request: Option<RequestId>,
        actor: &Actor,
    ) -> Result<()> {
        check_new_certificate(cert, request)?;
        let issued_at = db_time(now())?;
        let mut tx = self.begin_write().await?;
        self.insert_issued_in_tx(&mut tx, cert, request, actor, &issued_at, ISSUE)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a certificate a CA key signed outside the RA workflow — in a key ceremony (OCSP
    /// responder, TSA unit, first RA operators) — so that OCSP and the CRLs answer for it like
    /// for any other. Idempotent: a certificate already recorded with the same DER is left as
    /// it is ([`InfraRecorded::AlreadyRecorded`], nothing journaled). The same serial recorded
    /// with other bytes is refused ([`Error::DuplicateSerial`]): two certificates with one
    /// serial from one CA must never be, and which one the CA answers for is not ours to pick.
    pub async fn record_infrastructure_certificate(
        &self,
        cert: &NewCertificate,
        origin: InfraOrigin,
        actor: &Actor,
    ) -> Result<InfraRecorded> {
        if !matches!(
            cert.profile.subject_kind(),
            SubjectKind::Infrastructure | SubjectKind::Operator
        ) {
            return Err(Error::ProfileMismatch {
                profile: cert.profile,
                reason: "only infrastructure and RA operator certificates are signed in \
                         ceremonies"
                    .into(),
            });
        }
        if cert.supersedes.is_some() {
            return Err(Error::invalid(
                "supersedes",
                "an infrastructure certificate is recorded as it is",
            ));
        }
        check_certificate_fields(cert)?;
        if let Some(recorded) = self.recorded_der(&cert.serial).await? {
            return same_certificate(cert, &recorded);
        }
        let issued_at = db_time(now())?;
        let mut tx = self.begin_write().await?;
        let inserted = self
            .insert_issued_in_tx(&mut tx, cert, None, actor, &issued_at, origin.action())
            .await;
        match inserted {
            Ok(()) => {
                tx.commit().await?;
                Ok(InfraRecorded::New)
            }
            // Another instance recorded it between our look and our insert.
            Err(Error::DuplicateSerial { serial }) => {
                drop(tx);
                match self.recorded_der(&cert.serial).await? {
                    Some(recorded) => same_certificate(cert, &recorded),
                    None => Err(Error::DuplicateSerial { serial }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The DER recorded under `serial`, if any.
    async fn recorded_der(&self, serial: &Serial) -> Result<Option<Vec<u8>>> {
        let der: Option<String> =
            sqlx::query_scalar("SELECT der FROM certificates WHERE serial = $1")
                .bind(serial.as_str())
                .fetch_optional(&self.pool)
                .await?;
        der.map(|d| unb64(T, &d)).transpose()
    }

    /// Records several certificates (group commit): the valid ones in one transaction — one
    /// durable commit for the batch — each with its request transition and its audit entry,
    /// exactly as [`Store::record_issued_certificate`] would. If that transaction fails, each
    /// certificate is retried in its own transaction, so one bad item never takes the others
    /// down. Returns one result per item, in order.
    pub async fn record_issued_certificates(
        &self,
        items: &[(NewCertificate, Option<RequestId>, Actor)],
    ) -> Vec<Result<()>> {
        let mut results: Vec<Option<Result<()>>> = items
            .iter()
            .map(|(cert, request, _)| check_new_certificate(cert, *request).err().map(Err))
            .collect();
        let valid: Vec<usize> = (0..items.len()).filter(|&i| results[i].is_none()).collect();
        if valid.len() > 1 {
            let batch = async {
                let issued_at = db_time(now())?;
                let mut tx = self.begin_write().await?;
                for &i in &valid {
                    let (cert, request, actor) = &items[i];
                    self.insert_issued_in_tx(&mut tx, cert, *request, actor, &issued_at, ISSUE)
                        .await?;
                }
                tx.commit().await?;
                Ok::<(), Error>(())
            };
            if batch.await.is_ok() {
                for &i in &valid {
                    results[i] = Some(Ok(()));
                }
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, r) in results.into_iter().enumerate() {
            out.push(match r {
                Some(r) => r,
                None => {
                    let (cert, request, actor) = &items[i];
                    self.record_issued_certificate(cert, *request, actor).await
                }
            });
        }
        out
    }

    /// The inserts of [`Store::record_issued_certificate`], inside the caller's transaction
    /// (`cert` already checked with [`check_new_certificate`]).
    async fn insert_issued_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        cert: &NewCertificate,
        request: Option<RequestId>,
        actor: &Actor,
        issued_at: &str,
        action: &str,
    ) -> Result<()> {
        let subject = cert.subject.trim();
        let serial = cert.serial.to_string();
        let professional = cert.professional.as_ref().map(ToString::to_string);
        let structure = cert.structure.as_ref().map(ToString::to_string);
        if let Some(id) = request {
            self.consume_request(tx, id, cert, issued_at).await?;
        }
        if let Some(p) = &professional {
            self.check_professional_active(tx, p).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO certificates (serial, issuer, profile, professional, structure, \
             request_id, subject, not_before, not_after, der, status, crl_partition, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'good', $11, $12)",
        )
        .bind(&serial)
        .bind(cert.issuer.as_str())
        .bind(cert.profile.as_str())
        .bind(professional.clone())
        .bind(structure.clone())
        .bind(request.map(|r| r.0))
        .bind(subject)
        .bind(db_time(cert.not_before)?)
        .bind(db_time(cert.not_after)?)
        .bind(b64(&cert.der))
        .bind(i64::from(cert.crl_partition))
        .bind(issued_at)
        .execute(&mut **tx)
        .await
        .map_err(Error::from);
        if let Err(e) = inserted {
            return Err(match e.db_kind() {
                Some(ErrorKind::UniqueViolation) => Error::DuplicateSerial { serial },
                Some(ErrorKind::ForeignKeyViolation) => match (&professional, &structure) {
                    (_, Some(s)) => Error::StructureNotFound { idnat: s.clone() },
                    (Some(p), None) => Error::ProfessionalNotFound { idnat: p.clone() },
                    (None, None) => e,
                },
                _ => e,
            });
        }
        if let Some(old) = &cert.supersedes {
            let updated = sqlx::query(
                "UPDATE certificates SET superseded_by = $1 \
                 WHERE serial = $2 AND superseded_by IS NULL AND serial <> $1",
            )
            .bind(&serial)
            .bind(old.as_str())
            .execute(&mut **tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(Error::CertificateNotFound {
                    serial: format!("{old} (to supersede; missing or already superseded)"),
                });
            }
        }
        self.append_audit(
            tx,
            actor,
            action,
            &format!("certificate:{serial}"),
            Outcome::Success,
            &json!({
                "issuer": cert.issuer.as_str(),
                "profile": cert.profile.as_str(),
                "professional": professional,
                "structure": structure,
                "request": request.map(|r| r.0),
                "not_before": db_time(cert.not_before)?,
                "not_after": db_time(cert.not_after)?,
                "crl_partition": cert.crl_partition,
                "supersedes": cert.supersedes.as_ref().map(Serial::as_str),
                "der_sha256": sha256_hex(&cert.der),
            }),
        )
        .await?;
        Ok(())
    }

    /// Moves an approved request to issued after checking that `cert` is what it asked for.
    async fn consume_request(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: RequestId,
        cert: &NewCertificate,
        issued_at: &str,
    ) -> Result<()> {
        let row = sqlx::query(self.sql(
            "SELECT profile, professional, structure, operator, status \
             FROM certificate_requests WHERE id = $1",
            "SELECT profile, professional, structure, operator, status \
             FROM certificate_requests WHERE id = $1 FOR UPDATE",
        ))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::RequestNotFound { id: id.0 })?;
        const R: &str = "certificate_requests";
        let status: String = row.try_get("status")?;
        let status: RequestStatus = parse_col(R, &status)?;
        if status != RequestStatus::Approved {
            return Err(Error::RequestNotInState {
                id: id.0,
                expected: RequestStatus::Approved,
                found: status,
            });
        }
        let profile: String = row.try_get("profile")?;
        let profile: Profile = parse_col(R, &profile)?;
        check_profile_subject(profile, cert.profile.subject_kind())?;
        let mismatch = |reason: String| Error::RequestMismatch { id: id.0, reason };
        if profile != cert.profile {
            return Err(mismatch(format!(
                "request is for {profile}, certificate is {}",
                cert.profile
            )));
        }
        let professional: Option<String> = row.try_get("professional")?;
        let structure: Option<String> = row.try_get("structure")?;
        if let Some(p) = professional {
            if cert.professional.as_ref().map(ToString::to_string) != Some(p.clone()) {
                return Err(mismatch(format!("request is for professional {p}")));
            }
        }
        if let Some(s) = structure {
            if cert.structure.as_ref().map(ToString::to_string) != Some(s.clone()) {
                return Err(mismatch(format!("request is for structure {s}")));
            }
        }
        sqlx::query(
            "UPDATE certificate_requests SET status = 'issued', issued_at = $1 \
             WHERE id = $2 AND status = 'approved'",
        )
        .bind(issued_at)
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn certificate(&self, serial: &Serial) -> Result<Option<CertificateRecord>> {
        self.fetch_row(
            sqlx::query(select_certificates!("WHERE serial = $1")).bind(serial.as_str()),
            certificate_from_row,
        )
        .await
    }

    /// Revocation status of a serial; `None` when the CA never issued it.
    pub async fn certificate_status(&self, serial: &Serial) -> Result<Option<CertificateStatus>> {
        let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT status, revoked_at, revocation_reason FROM certificates WHERE serial = $1",
        )
        .bind(serial.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(s, at, reason)| status_from_columns(&s, at.as_deref(), reason.as_deref()))
            .transpose()
    }

    /// All certificates of a professional, newest first.
    pub async fn certificates_of(&self, idnat: &IdNatPs) -> Result<Vec<CertificateRecord>> {
        self.fetch_rows(
            sqlx::query(select_certificates!(
                "WHERE professional = $1 ORDER BY issued_at DESC, serial"
            ))
            .bind(idnat.to_string()),
            certificate_from_row,
        )
        .await
    }

    /// Certificates of a professional that are good and within their validity at `at`
    /// (what the directory publishes), newest first.
    pub async fn valid_certificates_of(
        &self,
        idnat: &IdNatPs,
        at: OffsetDateTime,
    ) -> Result<Vec<CertificateRecord>> {
        self.fetch_rows(
            sqlx::query(select_certificates!(
            "WHERE professional = $1 AND status = 'good' AND not_before <= $2 AND not_after > $2 \
             ORDER BY issued_at DESC, serial"
        ))
            .bind(idnat.to_string())
            .bind(db_time(at)?),
            certificate_from_row,
        )
        .await
    }

    /// Revokes a certificate, or suspends it when `reason` is `certificateHold`.
    ///
    /// good → revoked | hold; hold → revoked. Revoking a revoked certificate is refused
    /// ([`Error::AlreadyRevoked`]) and writes nothing; so is holding a held one
    /// ([`Error::AlreadyOnHold`]).
    pub async fn revoke(
        &self,
        serial: &Serial,
        reason: RevocationReason,
        time: OffsetDateTime,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let hold = reason == RevocationReason::CertificateHold;
        let sql = if hold {
            "UPDATE certificates SET status = 'hold', revoked_at = $1, revocation_reason = $2 \
             WHERE serial = $3 AND status = 'good'"
        } else {
            "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2 \
             WHERE serial = $3 AND status IN ('good', 'hold')"
        };
        let updated = sqlx::query(sql)
            .bind(db_time(time)?)
            .bind(reason.as_str())
            .bind(serial.as_str())
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM certificates WHERE serial = $1")
                    .bind(serial.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let serial = serial.to_string();
            return Err(match status.as_deref() {
                None => Error::CertificateNotFound { serial },
                Some("hold") => Error::AlreadyOnHold { serial },
                Some(_) => Error::AlreadyRevoked { serial },
            });
        }
        self.commit_audited(
            tx,
            actor,
            if hold {
                "certificate.hold"
            } else {
                "certificate.revoke"
            },
            &format!("certificate:{serial}"),
            &json!({ "reason": reason.as_str(), "time": db_time(time)? }),
        )
        .await?;
        Ok(())
    }

    /// Lifts a suspension: hold → good. Anything else is refused ([`Error::NotOnHold`]).
    pub async fn reinstate(&self, serial: &Serial, actor: &Actor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET status = 'good', revoked_at = NULL, revocation_reason = NULL \
             WHERE serial = $1 AND status = 'hold'",
        )
        .bind(serial.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM certificates WHERE serial = $1")
                    .bind(serial.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let serial = serial.to_string();
            return Err(match status {
                None => Error::CertificateNotFound { serial },
                Some(s) => Error::NotOnHold {
                    status: parse_col(T, &s)?,
                    serial,
                },
            });
        }
        self.commit_audited(
            tx,
            actor,
            "certificate.reinstate",
            &format!("certificate:{serial}"),
            &json!({}),
        )
        .await?;
        Ok(())
    }

    /// Revokes (or, with `certificateHold`, suspends) every certificate of a professional that
    /// is still good (or on hold, for a revocation), in one transaction with one audit entry
    /// per certificate. Returns the serials affected, sorted.
    pub async fn revoke_all_of_professional(
        &self,
        idnat: &IdNatPs,
        reason: RevocationReason,
        time: OffsetDateTime,
        actor: &Actor,
    ) -> Result<Vec<Serial>> {
        let id = idnat.to_string();
        let mut tx = self.begin_write().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT idnat FROM professionals WHERE idnat = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(Error::ProfessionalNotFound { idnat: id });
        }
        let serials = self
            .revoke_all_in_tx(&mut tx, &id, reason, time, actor)
            .await?;
        tx.commit().await?;
        Ok(serials)
    }

    pub(crate) async fn revoke_all_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        idnat: &str,
        reason: RevocationReason,
        time: OffsetDateTime,
        actor: &Actor,
    ) -> Result<Vec<Serial>> {
        let hold = reason == RevocationReason::CertificateHold;
        let sql = if hold {
            "UPDATE certificates SET status = 'hold', revoked_at = $1, revocation_reason = $2 \
             WHERE professional = $3 AND status = 'good' RETURNING serial"
        } else {
            "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2 \
             WHERE professional = $3 AND status IN ('good', 'hold') RETURNING serial"
        };
        let when = db_time(time)?;
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .bind(&when)
            .bind(reason.as_str())
            .bind(idnat)
            .fetch_all(&mut **tx)
            .await?;
        let mut serials = rows
            .iter()
            .map(|s| parse_col::<Serial>(T, s))
            .collect::<Result<Vec<_>>>()?;
        serials.sort();
        for serial in &serials {
            self.append_audit(
                tx,
                actor,
                if hold {
                    "certificate.hold"
                } else {
                    "certificate.revoke"
                },
                &format!("certificate:{serial}"),
                Outcome::Success,
                &json!({ "reason": reason.as_str(), "time": when, "professional": idnat }),
            )
            .await?;
        }
        Ok(serials)
    }
}
