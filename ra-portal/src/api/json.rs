//! The API's JSON representations of the workflow's objects.

use ca::domain::{IdentityProofing, ProfessionTable, Professional, RegistrationAuthority};
use ca::storage::{CertificateRecord, CertificateRequest, RequestSubject};
use serde_json::{json, Value};
use time::OffsetDateTime;

pub(super) fn ts(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(super) fn professional_json(professions: &ProfessionTable, p: &Professional) -> Value {
    let profession = professions.lookup(&p.profession);
    let order = match professions.registration_authority(&p.profession) {
        Ok(RegistrationAuthority::Order(o)) => Some(o.slug()),
        _ => None,
    };
    json!({
        "idnat": p.idnat.to_string(),
        "surname": p.surname.to_string(),
        "given_names": p.given_names.to_string(),
        "profession": {
            "code": p.profession.to_string(),
            "label": profession.map(|x| x.label.clone()),
        },
        "order": order,
        "status": p.status.as_str(),
    })
}

pub(super) fn request_json(r: &CertificateRequest) -> Value {
    let subject = match &r.subject {
        RequestSubject::Professional(p) => p.to_string(),
        RequestSubject::Structure(s) => s.to_string(),
        RequestSubject::Operator(o) => o.to_string(),
    };
    json!({
        "id": r.id.0,
        "profile": r.profile.as_str(),
        "professional": subject,
        "status": r.status.as_str(),
        "filed_by": r.filed_by.to_string(),
        "filed_at": ts(r.filed_at),
        "decided_by": r.decided_by.as_ref().map(ToString::to_string),
        "decided_at": r.decided_at.map(ts),
        "decision_note": r.decision_note,
        "issued_at": r.issued_at.map(ts),
    })
}

pub(super) fn certificate_json(c: &CertificateRecord, with_pem: bool) -> Value {
    let mut v = json!({
        "serial": c.serial.to_string(),
        "issuer": c.issuer.to_string(),
        "profile": c.profile.as_str(),
        "professional": c.professional.as_ref().map(ToString::to_string),
        "request": c.request.map(|r| r.0),
        "subject": c.subject,
        "not_before": ts(c.not_before),
        "not_after": ts(c.not_after),
        "status": c.status,
        "superseded_by": c.superseded_by.as_ref().map(ToString::to_string),
    });
    if with_pem {
        v["pem"] = json!(pem::encode(&pem::Pem::new("CERTIFICATE", c.der.clone())));
    }
    v
}

/// An identity check, without its document number (the professional's page).
pub(super) fn proofing_json(p: &IdentityProofing) -> Value {
    json!({
        "document_type": p.document_type.as_str(),
        "mode": p.mode.as_str(),
        "checked_by": p.checked_by.to_string(),
        "checked_at": ts(p.checked_at),
    })
}

/// An identity check with its document number (what the approver of a request checks).
pub(super) fn proofing_json_for_approver(p: &IdentityProofing) -> Value {
    json!({
        "document_type": p.document_type.as_str(),
        "document_number": p.document_number.as_str(),
        "mode": p.mode.as_str(),
        "checked_by": p.checked_by.to_string(),
        "checked_at": ts(p.checked_at),
    })
}
