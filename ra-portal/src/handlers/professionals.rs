//! Professionals: search, registration, the professional's page.

use axum::extract::Query;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use ca::workflow::Search;
use serde::Deserialize;

use super::rows::{cert_row, professional_row, proofing_rows, request_row};
use super::{form_status, html, html_status, layout, Page};
use crate::forms::{parse_idnat, validate_registration};
use crate::messages::french;
use crate::state::{Acting, Ctx, PortalState};
use crate::views::{FieldErrors, ProfessionalPage, RegisterForm, RegisterPage, SearchPage};

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// An IdNat or RPPS when the query starts with a digit, a surname otherwise; only the
/// professionals of the operator's scope are shown.
pub async fn search(Acting { state, ctx }: Acting, Query(query): Query<SearchQuery>) -> Page {
    let q = query.q.trim().to_owned();
    let (mut error, mut found) = (String::new(), Vec::new());
    if q.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        match parse_idnat(&q) {
            Ok(id) => {
                found = state
                    .workflow()
                    .search(ctx.me()?, Search::IdNat(&id))
                    .await?
            }
            Err(e) => error = french(&e),
        }
    } else if !q.is_empty() {
        found = state.workflow().search(ctx.me()?, Search::Name(&q)).await?;
    }
    let professions = state.workflow().professions();
    html(&SearchPage {
        layout: layout(&ctx, "Rechercher un professionnel"),
        searched: !q.is_empty(),
        results: found
            .iter()
            .map(|p| professional_row(professions, p))
            .collect(),
        q,
        error,
    })
}

fn register_page_of(
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
        layout: layout(ctx, "Enregistrer un professionnel"),
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
}

pub async fn register(Acting { state, ctx }: Acting, Form(form): Form<RegisterForm>) -> Page {
    let (workflow, me) = (state.workflow(), ctx.me()?);
    let (professional, proofing) = match validate_registration(workflow, me, &form) {
        Ok(v) => v,
        Err(errors) => return register_page_of(&state, &ctx, form, errors),
    };
    match workflow.register(me, &professional, &proofing).await {
        Ok(()) => {
            let to = format!("/professionnels/{}", professional.idnat);
            Ok(Redirect::to(&to).into_response())
        }
        Err(e @ ca::Error::AlreadyRegistered { .. }) => {
            let mut errors = FieldErrors::default();
            errors.add("idnat", french(&e));
            register_page_of(&state, &ctx, form, errors)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn professional(Acting { state, ctx }: Acting) -> Page {
    let idnat = &ctx.professional()?.idnat;
    let d = state.workflow().dossier(ctx.me()?, idnat).await?;
    let p = &d.professional;
    html(&ProfessionalPage {
        layout: layout(&ctx, &format!("{} {}", p.given_names, p.surname)),
        p: professional_row(state.workflow().professions(), p),
        proofings: proofing_rows(&d.proofings),
        pending: d.requests.iter().map(request_row).collect(),
        certificates: d.certificates.iter().map(cert_row).collect(),
    })
}
