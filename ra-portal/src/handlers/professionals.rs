//! Professionals: search, registration, the professional's page.

use axum::extract::Query;
use axum::response::{IntoResponse, Redirect};
use axum::Form;

use super::rows::{cert_row, professional_row, proofing_rows, request_row};
use super::{form_status, html, html_status, layout_counted, pager, Page};
use crate::auth::{self, Permission};
use crate::forms::{search_input, validate_registration, ListingQuery};
use crate::messages::{french, loss_status};
use crate::state::{Acting, Ctx, PortalState};
use crate::views::{FieldErrors, ProfessionalPage, RegisterForm, RegisterPage, SearchPage};

/// A search by part of a name (accents and case ignored), RPPS or IdNat_PS, or certificate
/// serial, page by page; only the professionals of the operator's scope are shown.
pub async fn search(Acting { state, ctx }: Acting, Query(query): Query<ListingQuery>) -> Page {
    let q = query.q.trim().to_owned();
    let (mut error, mut results, mut listing_page, mut has_next) =
        (String::new(), Vec::new(), query.page(), false);
    if !q.is_empty() {
        match search_input(&q) {
            Ok(input) => {
                let workflow = state.workflow();
                let found = workflow
                    .search_page(ctx.me()?, input.as_search(), query.page())
                    .await?;
                let professions = workflow.professions();
                results = found
                    .items
                    .iter()
                    .map(|p| professional_row(professions, p))
                    .collect();
                listing_page = found.page;
                has_next = found.has_next;
            }
            Err(e) => error = e,
        }
    }
    html(&SearchPage {
        layout: layout_counted(&state, &ctx, "Rechercher un professionnel").await?,
        searched: !q.is_empty() && error.is_empty(),
        results,
        pager: pager("/professionnels", &[("q", &q)], listing_page, has_next),
        q,
        error,
    })
}

async fn register_page_of(
    state: &PortalState,
    ctx: &Ctx,
    form: RegisterForm,
    errors: FieldErrors,
) -> Page {
    let professions = state
        .workflow()
        .professions_in_scope(ctx.me()?)
        .map(|p| (p.code.to_string(), p.label.clone()))
        .collect();
    let page = RegisterPage {
        layout: layout_counted(state, ctx, "Enregistrer un professionnel").await?,
        professions,
        form,
        errors,
    };
    html_status(form_status(&page.errors), &page)
}

pub async fn register_page(Acting { state, ctx }: Acting) -> Page {
    register_page_of(
        &state,
        &ctx,
        RegisterForm::default(),
        FieldErrors::default(),
    )
    .await
}

pub async fn register(Acting { state, ctx }: Acting, Form(form): Form<RegisterForm>) -> Page {
    let (workflow, me) = (state.workflow(), ctx.me()?);
    let (professional, proofing) = match validate_registration(workflow, me, &form) {
        Ok(v) => v,
        Err(errors) => return register_page_of(&state, &ctx, form, errors).await,
    };
    match workflow.register(me, &professional, &proofing).await {
        Ok(()) => {
            let to = format!("/professionnels/{}", professional.idnat);
            Ok(Redirect::to(&to).into_response())
        }
        Err(e @ ca::Error::AlreadyRegistered { .. }) => {
            let mut errors = FieldErrors::default();
            errors.add("idnat", french(&e));
            register_page_of(&state, &ctx, form, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn professional(Acting { state, ctx }: Acting) -> Page {
    let idnat = &ctx.professional()?.idnat;
    let d = state.workflow().dossier(ctx.me()?, idnat).await?;
    let p = &d.professional;
    let mut losses = Vec::new();
    for l in state
        .workflow()
        .loss_declarations_of(ctx.me()?, idnat)
        .await?
    {
        let mut row = super::loss::row(&state, &l).await?;
        row.channel = format!("{} — {}", row.channel, loss_status(l.status));
        losses.push(row);
    }
    html(&ProfessionalPage {
        layout: layout_counted(&state, &ctx, &format!("{} {}", p.given_names, p.surname)).await?,
        p: professional_row(state.workflow().professions(), p),
        proofings: proofing_rows(&d.proofings),
        pending: d.requests.iter().map(request_row).collect(),
        certificates: d.certificates.iter().map(cert_row).collect(),
        can_manage: auth::role_allows(ctx.operator.role, Permission::ManageCertificates),
        losses,
    })
}
