//! What the pages show of the workflow's objects.

use ca::domain::{
    IdentityProofing, ProfessionTable, Professional, ProfessionalStatus, ProofingMode,
    RequestStatus,
};
use ca::storage::{
    AuditEntry, CertificateRecord, CertificateRequest, CertificateStatus, ExpiringCertificate,
    Operator, OperatorStatus, RequestSubject, RequestSummary,
};
use ca::workflow::{AuthenticatedOperator, Workflow};
use time::OffsetDateTime;

use crate::auth;
use crate::messages;
use crate::views::{
    AuditRow, CertRow, ExpiringRow, OperatorRow, ProfessionalRow, ProofingRow, RequestRow,
    SummaryRow,
};

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// The last Sunday of `month` of `year`, at 01:00 UTC: when EU summer time starts (March)
/// or ends (October).
fn last_sunday_0100_utc(year: i32, month: time::Month) -> Option<OffsetDateTime> {
    let next_month_first = match month {
        time::Month::December => time::Date::from_calendar_date(year + 1, time::Month::January, 1),
        m => time::Date::from_calendar_date(year, m.next(), 1),
    }
    .ok()?;
    let last_day = next_month_first.previous_day()?;
    let back = last_day.weekday().number_days_from_sunday();
    let sunday = last_day - time::Duration::days(i64::from(back));
    Some(sunday.with_hms(1, 0, 0).ok()?.assume_utc())
}

/// Paris's offset from UTC at `t` (EU rule: UTC+2 from the last Sunday of March 01:00 UTC to
/// the last Sunday of October 01:00 UTC, UTC+1 otherwise).
pub(crate) fn paris_offset(t: OffsetDateTime) -> time::UtcOffset {
    let utc = t.to_offset(time::UtcOffset::UTC);
    let summer = match (
        last_sunday_0100_utc(utc.year(), time::Month::March),
        last_sunday_0100_utc(utc.year(), time::Month::October),
    ) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        // Only at the edges of the supported years: winter time.
        _ => false,
    };
    let hours = if summer { 2 } else { 1 };
    // Both offsets are valid UtcOffsets.
    time::UtcOffset::from_hms(hours, 0, 0).unwrap_or(time::UtcOffset::UTC)
}

/// `t` in Paris time, in French: "7 décembre 2026 à 15:04".
pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    let local = t
        .checked_to_offset(paris_offset(t))
        .unwrap_or_else(|| t.to_offset(time::UtcOffset::UTC));
    let month = MONTHS[usize::from(u8::from(local.month())) - 1];
    let day = match local.day() {
        1 => "1er".to_owned(),
        d => d.to_string(),
    };
    format!(
        "{day} {month} {} à {:02}:{:02}",
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// `t` in UTC, as the journal shows its entries: "2026-12-07 14:04:05 UTC".
fn fmt_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `t` as a date in Paris, for exports: "2026-12-07".
pub(crate) fn fmt_date_iso(t: OffsetDateTime) -> String {
    let local = t
        .checked_to_offset(paris_offset(t))
        .unwrap_or_else(|| t.to_offset(time::UtcOffset::UTC));
    format!(
        "{:04}-{:02}-{:02}",
        local.year(),
        u8::from(local.month()),
        local.day()
    )
}

/// How long before `now` `t` was, in French ("il y a 3 jours").
pub(super) fn fmt_age(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let d = now - t;
    let (days, hours, minutes) = (d.whole_days(), d.whole_hours(), d.whole_minutes());
    let plural = |n: i64, one: &str, many: &str| {
        if n == 1 {
            format!("il y a 1 {one}")
        } else {
            format!("il y a {n} {many}")
        }
    };
    if days >= 1 {
        plural(days, "jour", "jours")
    } else if hours >= 1 {
        plural(hours, "heure", "heures")
    } else if minutes >= 1 {
        plural(minutes, "minute", "minutes")
    } else {
        "à l'instant".to_owned()
    }
}

/// A request of a listing.
pub(super) fn summary_row(r: &RequestSummary, now: OffsetDateTime) -> SummaryRow {
    SummaryRow {
        id: r.id.0,
        profile: messages::profile_label(r.profile).to_owned(),
        idnat: r.idnat.to_string(),
        name: format!("{} {}", r.surname, r.given_names),
        status: messages::request_status(r.status).to_owned(),
        filed_by: r.filed_by.to_string(),
        filed_at: fmt_time(r.filed_at),
        age: fmt_age(r.filed_at, now),
        rejected: r.status == RequestStatus::Rejected,
        note: r.decision_note.clone().unwrap_or_default(),
    }
}

/// A certificate of the expiring list.
pub(super) fn expiring_row(professions: &ProfessionTable, c: &ExpiringCertificate) -> ExpiringRow {
    ExpiringRow {
        serial: c.serial.to_string(),
        profile: messages::profile_label(c.profile).to_owned(),
        idnat: c.idnat.to_string(),
        name: format!("{} {}", c.surname, c.given_names),
        profession: professions
            .lookup(&c.profession)
            .map_or_else(|| c.profession.to_string(), |x| x.label.clone()),
        not_after: fmt_time(c.not_after),
        on_hold: matches!(c.status, CertificateStatus::OnHold { .. }),
        status: cert_status(&c.status),
    }
}

pub(super) fn professional_row(professions: &ProfessionTable, p: &Professional) -> ProfessionalRow {
    ProfessionalRow {
        idnat: p.idnat.to_string(),
        surname: p.surname.to_string(),
        given_names: p.given_names.to_string(),
        profession: professions
            .lookup(&p.profession)
            .map_or_else(|| p.profession.to_string(), |x| x.label.clone()),
        status: match p.status {
            ProfessionalStatus::Active => "actif".into(),
            ProfessionalStatus::StruckOff => "radié".into(),
        },
    }
}

pub(super) fn request_row(r: &CertificateRequest) -> RequestRow {
    RequestRow {
        id: r.id.0,
        profile: messages::profile_label(r.profile).to_owned(),
        subject: match &r.subject {
            RequestSubject::Professional(p) => p.to_string(),
            RequestSubject::Structure(s) => s.to_string(),
            RequestSubject::Operator(o) => o.to_string(),
        },
        status: messages::request_status(r.status).to_owned(),
        filed_by: r.filed_by.to_string(),
        filed_at: fmt_time(r.filed_at),
        decided_by: r
            .decided_by
            .as_ref()
            .map_or(String::new(), ToString::to_string),
        note: r.decision_note.clone().unwrap_or_default(),
    }
}

pub(super) fn cert_status(s: &CertificateStatus) -> String {
    match s {
        CertificateStatus::Good => "valide".into(),
        CertificateStatus::OnHold { since } => format!("suspendu depuis le {}", fmt_time(*since)),
        CertificateStatus::Revoked { at, reason } => format!(
            "révoqué le {} ({})",
            fmt_time(*at),
            messages::reason_label(*reason)
        ),
    }
}

pub(super) fn cert_row(c: &CertificateRecord) -> CertRow {
    CertRow {
        serial: c.serial.to_string(),
        profile: messages::profile_label(c.profile).to_owned(),
        status: cert_status(&c.status),
        not_after: fmt_time(c.not_after),
    }
}

pub(super) fn audit_row(e: &AuditEntry) -> AuditRow {
    AuditRow {
        seq: e.seq,
        // The journal is read in UTC (its page says so).
        time: fmt_utc(e.time),
        actor: e.actor.clone(),
        auth_method: e.auth_method.clone(),
        action: e.action.clone(),
        object: e.object.clone(),
        outcome: e.outcome.to_string(),
        details: e.details.to_string(),
    }
}

/// An operator account as `me` (an administrator) sees it in the list.
pub(super) fn operator_row(me: &AuthenticatedOperator, o: &Operator) -> OperatorRow {
    OperatorRow {
        login: o.login.to_string(),
        name: o.display_name.clone(),
        role: auth::role_label(o.role).to_owned(),
        scope: auth::scope_of(o.role, o.order).label(),
        status: match o.status {
            OperatorStatus::Active => "actif".into(),
            OperatorStatus::Disabled => "désactivé".into(),
        },
        active: o.status == OperatorStatus::Active,
        enrolled: o.totp_enrolled,
        awaiting_confirmation_by: o.awaiting_confirmation_by.clone().unwrap_or_default(),
        can_confirm: Workflow::may_confirm(me, o),
    }
}

/// A professional's identity checks, oldest first, as shown to operators.
pub(super) fn proofing_rows(proofings: &[IdentityProofing]) -> Vec<ProofingRow> {
    proofings
        .iter()
        .map(|v| ProofingRow {
            document_type: v.document_type.as_str().to_owned(),
            document_number: v.document_number.as_str().to_owned(),
            mode: match v.mode {
                ProofingMode::FaceToFace => "face à face".into(),
                ProofingMode::Remote => "à distance".into(),
            },
            checked_by: v.checked_by.to_string(),
            checked_at: fmt_time(v.checked_at),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn summer_time_starts_on_the_last_sunday_of_march_at_one_utc() {
        // 2026: Sunday 29 March.
        assert_eq!(
            fmt_time(datetime!(2026-03-29 00:59:59 UTC)),
            "29 mars 2026 à 01:59"
        );
        assert_eq!(
            fmt_time(datetime!(2026-03-29 01:00 UTC)),
            "29 mars 2026 à 03:00"
        );
        assert_eq!(
            fmt_time(datetime!(2026-03-28 12:00 UTC)),
            "28 mars 2026 à 13:00"
        );
        // 2027: Sunday 28 March; the 31st is a Wednesday.
        assert_eq!(
            fmt_time(datetime!(2027-03-28 00:30 UTC)),
            "28 mars 2027 à 01:30"
        );
        assert_eq!(
            fmt_time(datetime!(2027-03-28 01:30 UTC)),
            "28 mars 2027 à 03:30"
        );
    }

    #[test]
    fn summer_time_ends_on_the_last_sunday_of_october_at_one_utc() {
        // 2026: Sunday 25 October; 02:30 Paris happens twice.
        assert_eq!(
            fmt_time(datetime!(2026-10-25 00:30 UTC)),
            "25 octobre 2026 à 02:30"
        );
        assert_eq!(
            fmt_time(datetime!(2026-10-25 00:59:59 UTC)),
            "25 octobre 2026 à 02:59"
        );
        assert_eq!(
            fmt_time(datetime!(2026-10-25 01:00 UTC)),
            "25 octobre 2026 à 02:00"
        );
        assert_eq!(
            fmt_time(datetime!(2026-10-25 01:30 UTC)),
            "25 octobre 2026 à 02:30"
        );
        // 2020: the 31st is a Saturday, the last Sunday the 25th.
        assert_eq!(
            paris_offset(datetime!(2020-10-25 00:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            paris_offset(datetime!(2020-10-25 01:00 UTC)).whole_hours(),
            1
        );
        // A last day of the month that is a Sunday: 31 October 2021, 31 March 2024.
        assert_eq!(
            paris_offset(datetime!(2021-10-31 00:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            paris_offset(datetime!(2021-10-31 01:00 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            paris_offset(datetime!(2024-03-31 00:59 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            paris_offset(datetime!(2024-03-31 01:00 UTC)).whole_hours(),
            2
        );
    }

    #[test]
    fn winter_dates_and_day_one() {
        assert_eq!(
            fmt_time(datetime!(2026-12-07 14:04 UTC)),
            "7 décembre 2026 à 15:04"
        );
        assert_eq!(
            fmt_time(datetime!(2026-12-31 23:30 UTC)),
            "1er janvier 2027 à 00:30"
        );
        assert_eq!(fmt_date_iso(datetime!(2026-12-31 23:30 UTC)), "2027-01-01");
        // Any offset in: the same instant out.
        assert_eq!(
            fmt_time(datetime!(2026-07-01 12:00 +05:00)),
            "1er juillet 2026 à 09:00"
        );
    }

    #[test]
    fn ages() {
        let now = datetime!(2026-12-07 12:00 UTC);
        assert_eq!(fmt_age(now, now), "à l'instant");
        assert_eq!(
            fmt_age(now - time::Duration::minutes(5), now),
            "il y a 5 minutes"
        );
        assert_eq!(
            fmt_age(now - time::Duration::hours(1), now),
            "il y a 1 heure"
        );
        assert_eq!(
            fmt_age(now - time::Duration::days(3), now),
            "il y a 3 jours"
        );
    }
}
