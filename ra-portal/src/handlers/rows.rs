//! What the pages show of the workflow's objects.

use ca::domain::{
    IdentityProofing, ProfessionTable, Professional, ProfessionalStatus, ProofingMode,
};
use ca::storage::{
    AuditEntry, CertificateRecord, CertificateRequest, CertificateStatus, Operator, OperatorStatus,
    RequestSubject,
};
use ca::workflow::{AuthenticatedOperator, Workflow};
use time::OffsetDateTime;

use crate::auth;
use crate::messages;
use crate::views::{AuditRow, CertRow, OperatorRow, ProfessionalRow, ProofingRow, RequestRow};

pub(super) fn fmt_time(t: OffsetDateTime) -> String {
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

fn cert_status(s: &CertificateStatus) -> String {
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
        time: fmt_time(e.time),
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
