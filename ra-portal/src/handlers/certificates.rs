//! Certificates: the certificate's page and downloads; suspension, reinstatement,
//! revocation (the workflow tells the CRLs and OCSP).

use axum::extract::Query;
use axum::{Extension, Form};
use ca::status::RevocationOutcome;
use ca::storage::{CertificateRecord, CertificateStatus};

use super::rows::{cert_row, fmt_time};
use super::{download, html, layout_counted, Page};
use crate::error::PortalError;
use crate::forms::{revocation_reason, ReasonForm, UNKNOWN_REVOCATION_REASON};
use crate::messages;
use crate::state::{Acting, Ctx, PortalState};
use crate::views::{CertificatePage, RevokeConfirmPage};

/// The revocation reasons an operator chooses from: (value, French label).
fn reason_choices() -> Vec<(String, String)> {
    messages::REVOCATION_REASONS
        .iter()
        .map(|r| (r.as_str().to_owned(), messages::reason_label(*r).to_owned()))
        .collect()
}

async fn certificate_view(
    state: &PortalState,
    ctx: &Ctx,
    c: &CertificateRecord,
    notice: String,
) -> Page {
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", c.der.clone()));
    html(&CertificatePage {
        layout: layout_counted(state, ctx, "Certificat").await?,
        idnat: c
            .professional
            .as_ref()
            .map_or(String::new(), ToString::to_string),
        subject: c.subject.clone(),
        issuer: c.issuer.to_string(),
        not_before: fmt_time(c.not_before),
        pem,
        good: matches!(c.status, CertificateStatus::Good),
        on_hold: matches!(c.status, CertificateStatus::OnHold { .. }),
        revoked: matches!(c.status, CertificateStatus::Revoked { .. }),
        reasons: reason_choices(),
        notice,
        c: cert_row(c),
    })
}

pub async fn certificate(Acting { state, ctx }: Acting) -> Page {
    certificate_view(&state, &ctx, ctx.certificate()?, String::new()).await
}

pub async fn certificate_pem(Extension(ctx): Extension<Ctx>) -> Page {
    let c = ctx.certificate()?;
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", c.der.clone()));
    Ok(download(
        pem.into_bytes(),
        "application/x-pem-file",
        format!("{}.pem", c.serial),
    ))
}

pub async fn certificate_der(Extension(ctx): Extension<Ctx>) -> Page {
    let c = ctx.certificate()?;
    Ok(download(
        c.der.clone(),
        "application/pkix-cert",
        format!("{}.cer", c.serial),
    ))
}

/// The certificate's page after a change of its status, saying whether the CRLs followed.
async fn changed(state: &PortalState, ctx: &Ctx, outcome: &RevocationOutcome, done: &str) -> Page {
    let notice = match &outcome.crl_error {
        None => format!("{done} Les listes de révocation ont été republiées."),
        Some(_) => format!(
            "{done} La republication des listes de révocation a échoué ; elle sera retentée \
             automatiquement."
        ),
    };
    let serial = &ctx.certificate()?.serial;
    let c = state.workflow().certificate(ctx.me()?, serial).await?;
    certificate_view(state, ctx, &c, notice).await
}

pub async fn suspend(Acting { state, ctx }: Acting) -> Page {
    let serial = &ctx.certificate()?.serial;
    let outcome = state.workflow().suspend(ctx.me()?, serial).await?;
    changed(&state, &ctx, &outcome, "Certificat suspendu.").await
}

pub async fn reinstate(Acting { state, ctx }: Acting) -> Page {
    let serial = &ctx.certificate()?.serial;
    let outcome = state.workflow().reinstate(ctx.me()?, serial).await?;
    changed(&state, &ctx, &outcome, "Suspension levée.").await
}

/// The confirmation page of a revocation: the certificate and the reason chosen on its page
/// (`?reason=`); only its button revokes.
pub async fn revoke_confirmation(
    Acting { state, ctx }: Acting,
    Query(query): Query<ReasonForm>,
) -> Page {
    let c = ctx.certificate()?;
    let chosen = revocation_reason(&query.reason);
    let error = if query.reason.trim().is_empty() || chosen.is_some() {
        String::new()
    } else {
        UNKNOWN_REVOCATION_REASON.to_owned()
    };
    html(&RevokeConfirmPage {
        layout: layout_counted(&state, &ctx, "Confirmer la révocation").await?,
        idnat: c
            .professional
            .as_ref()
            .map_or(String::new(), ToString::to_string),
        subject: c.subject.clone(),
        revoked: matches!(c.status, CertificateStatus::Revoked { .. }),
        reasons: reason_choices(),
        reason: chosen.map_or(String::new(), |r| r.as_str().to_owned()),
        reason_label: chosen.map_or(String::new(), |r| messages::reason_label(r).to_owned()),
        error,
        c: cert_row(c),
    })
}

pub async fn revoke(Acting { state, ctx }: Acting, Form(form): Form<ReasonForm>) -> Page {
    let reason = revocation_reason(&form.reason)
        .ok_or_else(|| PortalError::BadRequest(UNKNOWN_REVOCATION_REASON.into()))?;
    let serial = &ctx.certificate()?.serial;
    let outcome = state.workflow().revoke(ctx.me()?, serial, reason).await?;
    changed(&state, &ctx, &outcome, "Certificat révoqué.").await
}
