//! Certificate requests: the pending ones, filing, renewal, the request's page, approval
//! (four eyes), rejection, issuance.

use axum::extract::{Multipart, Query};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use ca::domain::RequestStatus;
use ca::issuance::IssuedCertificate;
use ca::storage::{CertificateRecord, NewRequest, RequestSubject};
use ca::workflow::IssueOptions;
use time::OffsetDateTime;

use super::rows::{professional_row, proofing_rows, request_row, summary_row};
use super::{form_status, html, html_status, layout_counted, pager, Page};
use crate::approval;
use crate::auth::{self, Permission};
use crate::error::{PortalError, PortalResult};
use crate::forms::{
    checked_csr_der, request_profile, ListingQuery, ReasonForm, REJECT_REASON_MISSING,
};
use crate::messages::{self, french};
use crate::state::{Acting, Ctx, PortalState};
use crate::views::{FieldErrors, FileRequestPage, IssuedPage, RequestPage, RequestsPage};

/// The home page of the operator's role ([`super::home`]).
pub async fn dashboard(acting: Acting) -> Page {
    super::home::home(acting).await
}

/// The requests of the operator's scope waiting for a decision, oldest first, page by page.
pub async fn pending_requests(
    Acting { state, ctx }: Acting,
    Query(query): Query<ListingQuery>,
) -> Page {
    let (workflow, me) = (state.workflow(), ctx.me()?);
    let listing = workflow.pending_requests(me, query.page()).await?;
    let now = OffsetDateTime::now_utc();
    html(&RequestsPage {
        layout: layout_counted(&state, &ctx, "Demandes en attente").await?,
        count: workflow.pending_count(me).await?,
        rows: listing.items.iter().map(|r| summary_row(r, now)).collect(),
        pager: pager("/demandes", &[], listing.page, listing.has_next),
    })
}

/// A request form as sent: the profile, the CSR (file or PEM text) and the PEM text as typed
/// (shown again when the form has errors).
#[derive(Debug, Default)]
struct RequestForm {
    profile: Option<String>,
    csr: Vec<u8>,
    csr_pem: String,
}

/// Reads the CSR of a multipart form (file or PEM text) and the other fields.
async fn read_request_form(mut mp: Multipart) -> PortalResult<RequestForm> {
    let mut form = RequestForm::default();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|_| PortalError::BadRequest("Formulaire illisible.".into()))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| PortalError::BadRequest("Formulaire illisible.".into()))?;
        if name == "csr_pem" {
            form.csr_pem = String::from_utf8_lossy(&bytes).into_owned();
        }
        match name.as_str() {
            "profile" => form.profile = Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
            "csr_file" | "csr_pem"
                if form.csr.is_empty() && !bytes.iter().all(u8::is_ascii_whitespace) =>
            {
                form.csr = bytes.to_vec();
            }
            _ => {}
        }
    }
    Ok(form)
}

/// The form of a new request, or of the renewal of `renewal`.
async fn file_request_view(
    state: &PortalState,
    ctx: &Ctx,
    renewal: Option<&CertificateRecord>,
    kept: RequestForm,
    errors: FieldErrors,
) -> Page {
    let p = ctx.professional()?;
    let (action, renewal_of, fixed_profile) = match renewal {
        Some(c) => (
            format!("/certificats/{}/renouvellement", c.serial),
            c.serial.to_string(),
            messages::profile_label(c.profile).to_owned(),
        ),
        None => (
            format!("/professionnels/{}/demandes", p.idnat),
            String::new(),
            String::new(),
        ),
    };
    let page = FileRequestPage {
        layout: layout_counted(state, ctx, "Demande de certificat").await?,
        profile: kept.profile.unwrap_or_default(),
        csr_pem: kept.csr_pem,
        p: professional_row(state.workflow().professions(), p),
        action,
        renewal_of,
        fixed_profile,
        errors,
    };
    html_status(form_status(&page.errors), &page)
}

pub async fn file_request_page(Acting { state, ctx }: Acting) -> Page {
    file_request_view(
        &state,
        &ctx,
        None,
        RequestForm::default(),
        FieldErrors::default(),
    )
    .await
}

pub async fn file_request(Acting { state, ctx }: Acting, mp: Multipart) -> Page {
    let idnat = ctx.professional()?.idnat.clone();
    let form = read_request_form(mp).await?;
    let mut errors = FieldErrors::default();
    let profile = request_profile(form.profile.as_deref())
        .map_err(|m| errors.add("profile", m))
        .ok();
    let der = checked_csr_der(&form.csr)
        .map_err(|m| errors.add("csr", m))
        .ok();
    let (Some(profile), Some(csr_der)) = (profile, der) else {
        return file_request_view(&state, &ctx, None, form, errors).await;
    };
    let subject = RequestSubject::Professional(idnat);
    let request = NewRequest {
        profile,
        subject,
        csr_der,
    };
    let id = state.workflow().file(ctx.me()?, &request).await?;
    Ok(Redirect::to(&format!("/demandes/{id}")).into_response())
}

pub async fn renew_page(Acting { state, ctx }: Acting) -> Page {
    file_request_view(
        &state,
        &ctx,
        Some(ctx.certificate()?),
        RequestForm::default(),
        FieldErrors::default(),
    )
    .await
}

pub async fn renew(Acting { state, ctx }: Acting, mp: Multipart) -> Page {
    let (workflow, me) = (state.workflow(), ctx.me()?);
    let renewal = workflow.renewable(me, &ctx.certificate()?.serial).await?;
    let form = read_request_form(mp).await?;
    let der = match checked_csr_der(&form.csr) {
        Ok(d) => d,
        Err(m) => {
            let mut errors = FieldErrors::default();
            errors.add("csr", m);
            return file_request_view(&state, &ctx, Some(renewal.certificate()), form, errors)
                .await;
        }
    };
    let id = workflow.renew(me, renewal, der).await?;
    Ok(Redirect::to(&format!("/demandes/{id}")).into_response())
}

pub async fn request(Acting { state, ctx }: Acting) -> Page {
    let d = state
        .workflow()
        .request(ctx.me()?, ctx.request()?.id)
        .await?;
    let r = &d.request;
    let decide = auth::role_allows(ctx.operator.role, Permission::Decide);
    let (preview, preview_error) = match d.preview {
        None => (None, String::new()),
        Some(Ok(p)) => (Some(p), String::new()),
        Some(Err(e)) => (None, french(&e)),
    };
    let shown = |s: Option<&ca::domain::Serial>| s.map_or(String::new(), ToString::to_string);
    html(&RequestPage {
        layout: layout_counted(&state, &ctx, &format!("Demande n° {}", r.id)).await?,
        preview,
        preview_error,
        proofings: proofing_rows(&d.proofings),
        idnat: d.professional.idnat.to_string(),
        can_decide: decide && r.status == RequestStatus::Filed,
        can_issue: decide && r.status == RequestStatus::Approved,
        own_request: r.filed_by == ctx.actor.id,
        certificate: shown(d.certificate.as_ref()),
        renewal_of: shown(d.renewal_of.as_ref()),
        r: request_row(r),
    })
}

/// The page after an issuance, with the revocation code shown this once.
async fn issued_page(state: &PortalState, ctx: &Ctx, issued: &IssuedCertificate) -> Page {
    html(&IssuedPage {
        layout: layout_counted(state, ctx, "Certificat émis").await?,
        serial: issued.serial.to_string(),
        profile: messages::profile_label(issued.profile).to_owned(),
        subject: issued.subject.clone(),
        revocation_code: issued
            .revocation_code
            .as_ref()
            .map_or(String::new(), |c| c.reveal().to_owned()),
    })
}

/// Approves a request filed by someone else and issues its certificate.
pub async fn approve(Acting { state, ctx }: Acting) -> Page {
    let issued = approval::approve_and_issue(&state, &ctx).await?;
    issued_page(&state, &ctx, &issued).await
}

/// Issues a request approved earlier (when its issuance failed, e.g. HSM unavailable).
pub async fn issue(Acting { state, ctx }: Acting) -> Page {
    let id = ctx.request()?.id;
    let issued = state
        .workflow()
        .issue(ctx.me()?, id, IssueOptions::default())
        .await?;
    issued_page(&state, &ctx, &issued).await
}

pub async fn reject(Acting { state, ctx }: Acting, Form(form): Form<ReasonForm>) -> Page {
    let id = ctx.request()?.id;
    if form.reason.trim().is_empty() {
        return Err(PortalError::BadRequest(REJECT_REASON_MISSING.into()));
    }
    state.workflow().reject(ctx.me()?, id, &form.reason).await?;
    Ok(Redirect::to(&format!("/demandes/{id}")).into_response())
}
