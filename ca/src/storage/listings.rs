//! The listings of the operators' daily work: search, requests waiting for a decision, the
//! requests an operator filed, certificates about to expire, accounts needing an
//! administrator, the journal's anchoring. Each listing of professionals' objects takes the
//! professions of the operator's scope and applies them in SQL, before its limit, so that a
//! page never comes back short because other Orders' rows filled it.

use sqlx::any::AnyRow;
use sqlx::Row as _;
use time::OffsetDateTime;

use super::certificates::status_from_columns;
use super::requests::RequestId;
use super::{
    db_time, fold_name, opt_text_col, opt_time_col, text_col, time_col, AnyQuery,
    CertificateStatus, Store,
};
use crate::domain::{
    ActorId, IdNatPs, ProfessionCode, Professional, Profile, RequestStatus, Serial,
};
use crate::error::{Error, Result};

/// What a search of professionals looks for.
#[derive(Debug, Clone, Copy)]
pub enum ProfessionalKey<'a> {
    IdNat(&'a IdNatPs),
    /// The whole surname, case and accents ignored.
    Surname(&'a str),
    /// Part of the surname (case and accents ignored), or of the given names as typed.
    NamePart(&'a str),
    /// The professional a certificate was issued to.
    Serial(&'a Serial),
}

/// A request as the listings show it, with its professional's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    pub id: RequestId,
    pub profile: Profile,
    pub status: RequestStatus,
    pub idnat: IdNatPs,
    pub surname: String,
    pub given_names: String,
    pub filed_by: ActorId,
    pub filed_at: OffsetDateTime,
    pub decided_by: Option<ActorId>,
    pub decided_at: Option<OffsetDateTime>,
    /// The reason given when rejected.
    pub decision_note: Option<String>,
}

/// A certificate about to expire, with its professional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringCertificate {
    pub serial: Serial,
    pub profile: Profile,
    pub status: CertificateStatus,
    pub not_after: OffsetDateTime,
    pub idnat: IdNatPs,
    pub surname: String,
    pub given_names: String,
    pub profession: ProfessionCode,
}

/// An operator account locked after failed logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedOperator {
    pub login: ActorId,
    pub display_name: String,
    pub locked_until: OffsetDateTime,
}

/// `$first, $first+1, …` for `count` parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A statement built from fixed text and numbered placeholders only.
fn query(sql: String) -> AnyQuery<'static> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
}

/// Binds each profession code, in order.
fn bind_professions<'q>(mut q: AnyQuery<'q>, professions: &[ProfessionCode]) -> AnyQuery<'q> {
    for p in professions {
        q = q.bind(p.as_str().to_owned());
    }
    q
}

/// `s` for a LIKE pattern with `\` as escape character.
fn like_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn to_i64(what: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid(what, "too large"))
}

fn count_from(table: &'static str, n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::corrupt(table, format!("count {n}")))
}

const PROFESSIONAL_COLUMNS: &str = "idnat, surname, given_names, profession, structure, status";

fn professional_from_row(row: &AnyRow) -> Result<Professional> {
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

const REQUEST_SUMMARY: &str = "SELECT r.id, r.profile, r.status, r.professional, p.surname, \
     p.given_names, r.filed_by, r.filed_at, r.decided_by, r.decided_at, r.decision_note \
     FROM certificate_requests r JOIN professionals p ON p.idnat = r.professional";

fn request_summary_from_row(row: &AnyRow) -> Result<RequestSummary> {
    const T: &str = "certificate_requests";
    Ok(RequestSummary {
        id: RequestId(row.try_get("id")?),
        profile: text_col(T, row, "profile")?,
        status: text_col(T, row, "status")?,
        idnat: text_col(T, row, "professional")?,
        surname: row.try_get("surname")?,
        given_names: row.try_get("given_names")?,
        filed_by: text_col(T, row, "filed_by")?,
        filed_at: time_col(T, row, "filed_at")?,
        decided_by: opt_text_col(T, row, "decided_by")?,
        decided_at: opt_time_col(T, row, "decided_at")?,
        decision_note: row.try_get("decision_note")?,
    })
}

fn expiring_from_row(row: &AnyRow) -> Result<ExpiringCertificate> {
    const T: &str = "certificates";
    let status: String = row.try_get("status")?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    let reason: Option<String> = row.try_get("revocation_reason")?;
    Ok(ExpiringCertificate {
        serial: text_col(T, row, "serial")?,
        profile: text_col(T, row, "profile")?,
        status: status_from_columns(&status, revoked_at.as_deref(), reason.as_deref())?,
        not_after: time_col(T, row, "not_after")?,
        idnat: text_col(T, row, "professional")?,
        surname: row.try_get("surname")?,
        given_names: row.try_get("given_names")?,
        profession: text_col(T, row, "profession")?,
    })
}

impl Store {
    /// Professionals of `professions` that `key` finds, `limit` from `offset`: by surname
    /// (prefix matches first), then IdNat.
    pub async fn search_professionals(
        &self,
        professions: &[ProfessionCode],
        key: ProfessionalKey<'_>,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Professional>> {
        if professions.is_empty() {
            return Ok(Vec::new());
        }
        // The key's values come first ($1, and $2 for a name part), then the professions,
        // then limit and offset.
        let (condition, order, values) = match key {
            ProfessionalKey::IdNat(idnat) => ("idnat = $1", "idnat", vec![idnat.to_string()]),
            ProfessionalKey::Surname(surname) => {
                ("name_key = $1", "idnat", vec![fold_name(surname)])
            }
            ProfessionalKey::NamePart(part) => {
                let folded = like_escaped(&fold_name(part));
                (
                    "(name_key LIKE $1 ESCAPE '\\' OR UPPER(given_names) LIKE $1 ESCAPE '\\')",
                    "CASE WHEN name_key LIKE $2 ESCAPE '\\' THEN 0 ELSE 1 END, name_key, idnat",
                    vec![format!("%{folded}%"), format!("{folded}%")],
                )
            }
            ProfessionalKey::Serial(serial) => (
                "idnat IN (SELECT professional FROM certificates WHERE serial = $1)",
                "idnat",
                vec![serial.as_str().to_owned()],
            ),
        };
        let n = professions.len();
        let first = values.len() + 1;
        let sql = format!(
            "SELECT {PROFESSIONAL_COLUMNS} FROM professionals WHERE {condition} \
             AND profession IN ({}) ORDER BY {order} LIMIT ${} OFFSET ${}",
            placeholders(first, n),
            first + n,
            first + n + 1
        );
        let mut q = query(sql);
        for v in values {
            q = q.bind(v);
        }
        let q = bind_professions(q, professions)
            .bind(i64::from(limit))
            .bind(to_i64("offset", offset)?);
        self.fetch_rows(q, professional_from_row).await
    }

    /// Requests waiting for a decision about professionals of `professions`, oldest first
    /// (identifiers are allocated in filing order), `limit` from `offset`.
    pub async fn filed_requests(
        &self,
        professions: &[ProfessionCode],
        offset: u64,
        limit: u32,
    ) -> Result<Vec<RequestSummary>> {
        if professions.is_empty() {
            return Ok(Vec::new());
        }
        let n = professions.len();
        let sql = format!(
            "{REQUEST_SUMMARY} WHERE r.status = 'filed' AND p.profession IN ({}) \
             ORDER BY r.id LIMIT ${} OFFSET ${}",
            placeholders(1, n),
            n + 1,
            n + 2
        );
        let q = bind_professions(query(sql), professions)
            .bind(i64::from(limit))
            .bind(to_i64("offset", offset)?);
        self.fetch_rows(q, request_summary_from_row).await
    }

    /// How many requests about professionals of `professions` wait for a decision.
    pub async fn count_filed_requests(&self, professions: &[ProfessionCode]) -> Result<u64> {
        if professions.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "SELECT COUNT(*) AS n FROM certificate_requests r \
             JOIN professionals p ON p.idnat = r.professional \
             WHERE r.status = 'filed' AND p.profession IN ({})",
            placeholders(1, professions.len())
        );
        let row = bind_professions(query(sql), professions)
            .fetch_one(&self.pool)
            .await?;
        count_from("certificate_requests", row.try_get("n")?)
    }

    /// Requests `login` filed about professionals of `professions`, newest first, `limit`
    /// from `offset`.
    pub async fn requests_filed_by(
        &self,
        login: &str,
        professions: &[ProfessionCode],
        offset: u64,
        limit: u32,
    ) -> Result<Vec<RequestSummary>> {
        if professions.is_empty() {
            return Ok(Vec::new());
        }
        let n = professions.len();
        let sql = format!(
            "{REQUEST_SUMMARY} WHERE r.filed_by = $1 AND p.profession IN ({}) \
             ORDER BY r.id DESC LIMIT ${} OFFSET ${}",
            placeholders(2, n),
            n + 2,
            n + 3
        );
        let q = bind_professions(query(sql).bind(login.to_owned()), professions)
            .bind(i64::from(limit))
            .bind(to_i64("offset", offset)?);
        self.fetch_rows(q, request_summary_from_row).await
    }

    /// Certificates of professionals of `professions`, good or on hold (never revoked),
    /// expiring after `from` and at the latest at `until`, soonest first, `limit` from
    /// `offset`.
    pub async fn expiring_certificates(
        &self,
        professions: &[ProfessionCode],
        from: OffsetDateTime,
        until: OffsetDateTime,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<ExpiringCertificate>> {
        if professions.is_empty() {
            return Ok(Vec::new());
        }
        let n = professions.len();
        let sql = format!(
            "SELECT c.serial, c.profile, c.status, c.revoked_at, c.revocation_reason, \
             c.not_after, c.professional, p.surname, p.given_names, p.profession \
             FROM certificates c JOIN professionals p ON p.idnat = c.professional \
             WHERE c.status IN ('good', 'hold') AND c.not_after > $1 AND c.not_after <= $2 \
             AND p.profession IN ({}) ORDER BY c.not_after, c.serial LIMIT ${} OFFSET ${}",
            placeholders(3, n),
            n + 3,
            n + 4
        );
        let q = query(sql).bind(db_time(from)?).bind(db_time(until)?);
        let q = bind_professions(q, professions)
            .bind(i64::from(limit))
            .bind(to_i64("offset", offset)?);
        self.fetch_rows(q, expiring_from_row).await
    }

    /// Operator accounts locked after failed logins at `at`, by login.
    pub async fn locked_operators(&self, at: OffsetDateTime) -> Result<Vec<LockedOperator>> {
        const T: &str = "ra_operators";
        let q = sqlx::query(
            "SELECT login, display_name, locked_until FROM ra_operators \
             WHERE locked_until IS NOT NULL AND locked_until > $1 ORDER BY login",
        )
        .bind(db_time(at)?);
        self.fetch_rows(q, |row| {
            Ok(LockedOperator {
                login: text_col(T, row, "login")?,
                display_name: row.try_get("display_name")?,
                locked_until: time_col(T, row, "locked_until")?,
            })
        })
        .await
    }

    /// The sequence number and time-stamp time of the latest anchor of the journal.
    pub async fn last_audit_anchor(&self) -> Result<Option<(u64, OffsetDateTime)>> {
        const T: &str = "audit_anchors";
        let q = sqlx::query("SELECT seq, gen_time FROM audit_anchors ORDER BY seq DESC LIMIT 1");
        self.fetch_row(q, |row| {
            let seq: i64 = row.try_get("seq")?;
            let seq = u64::try_from(seq).map_err(|_| Error::corrupt(T, format!("seq {seq}")))?;
            Ok((seq, time_col(T, row, "gen_time")?))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 1), "$1");
    }

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_escaped(r"A_B%C\D"), r"A\_B\%C\\D");
        assert_eq!(like_escaped("DUPONT"), "DUPONT");
    }
}
