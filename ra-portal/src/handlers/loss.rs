//! Lost or stolen cards: the public declaration page (the holder, with the revocation code
//! given at issuance), the queue of open declarations, a declaration's page with its decision
//! (revocation keyCompromise, or reinstatement), and an operator's suspension of all of a
//! professional's certificates.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use ca::storage::{LossChannel, LossDeclaration, LossStatus};
use serde::Deserialize;

use super::rows::{cert_row, fmt_time};
use super::{html, html_status, layout_counted, Page};
use crate::auth::{self, Permission};
use crate::cookies::{set_cookie, PRELOGIN_COOKIE};
use crate::error::{PortalError, PortalResult};
use crate::login::{peer_address, Peer};
use crate::loss::{declaration_id, declare, Refusal};
use crate::messages::{loss_channel, loss_status};
use crate::state::{Acting, Ctx, PortalState};
use crate::views::{Layout, LossDonePage, LossFormPage, LossPage, LossRow, LossesPage};

const TITLE: &str = "Carte perdue ou volée";

/// The public form, with a fresh pre-login cookie and its CSRF token.
fn form(idnat: &str, idnat_error: &str, error: &str, status: StatusCode) -> Page {
    let token = auth::random_hex(32);
    let page = LossFormPage {
        layout: Layout {
            csrf: token.clone(),
            ..Layout::anonymous(TITLE)
        },
        idnat: idnat.to_owned(),
        idnat_error: idnat_error.to_owned(),
        error: error.to_owned(),
    };
    let mut res = html_status(status, &page)?;
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(PRELOGIN_COOKIE, &token, None),
    );
    Ok(res)
}

/// GET /perte-ou-vol
pub async fn declaration_page() -> Page {
    form("", "", "", StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct DeclarationForm {
    #[serde(default)]
    idnat: String,
    #[serde(default)]
    code: String,
}

/// POST /perte-ou-vol: the code is never shown again, the identifier is.
pub async fn declare_page(
    State(state): State<PortalState>,
    peer: Peer,
    Form(f): Form<DeclarationForm>,
) -> Page {
    let idnat = f.idnat.trim();
    let refusal = match declare(
        &state,
        peer_address(peer),
        idnat,
        &f.code,
        LossChannel::HolderPortal,
    )
    .await?
    {
        Ok(done) => {
            let d = &done.declaration;
            return html(&LossDonePage {
                layout: Layout::anonymous("Déclaration enregistrée"),
                id: d.id,
                declared_at: fmt_time(d.declared_at),
                suspended: d.serials.iter().map(ToString::to_string).collect(),
            });
        }
        Err(r) => r,
    };
    match refusal {
        Refusal::Identifier(m) => form(idnat, &m, "", StatusCode::UNPROCESSABLE_ENTITY),
        Refusal::Refused(m) => form(idnat, "", &m, StatusCode::FORBIDDEN),
        Refusal::Locked(m) => form(idnat, "", &m, StatusCode::TOO_MANY_REQUESTS),
        Refusal::Throttled {
            message,
            retry_after,
            busy,
        } => {
            let status = if busy {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            let mut res = form(idnat, "", &message, status)?;
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            Ok(res)
        }
    }
}

/// A declaration as the queue and the home page list it.
pub(super) async fn row(state: &PortalState, d: &LossDeclaration) -> PortalResult<LossRow> {
    let name = match state.store().find_professional(&d.professional).await? {
        Some(p) => format!("{} {}", p.surname, p.given_names),
        None => String::new(),
    };
    Ok(LossRow {
        id: d.id,
        idnat: d.professional.to_string(),
        name,
        declared_at: fmt_time(d.declared_at),
        channel: loss_channel(d.channel).to_owned(),
        certificates: d.serials.len(),
    })
}

/// GET /pertes: the open declarations of the operator's scope, oldest first.
pub async fn queue(Acting { state, ctx }: Acting) -> Page {
    let mut declarations = Vec::new();
    for d in state.workflow().open_loss_declarations(ctx.me()?).await? {
        declarations.push(row(&state, &d).await?);
    }
    html(&LossesPage {
        layout: layout_counted(&state, &ctx, "Pertes et vols de cartes").await?,
        declarations,
    })
}

async fn declaration_view(state: &PortalState, ctx: &Ctx, id: i64, notice: String) -> Page {
    let (workflow, me) = (state.workflow(), ctx.me()?);
    let idnat = &ctx.professional()?.idnat;
    let d = workflow.loss_declaration(me, idnat, id).await?;
    let mut certificates = Vec::new();
    for serial in &d.serials {
        certificates.push(cert_row(&workflow.certificate(me, serial).await?));
    }
    let closed = match (&d.closed_by, d.closed_at) {
        (Some(by), Some(at)) => format!("{} par {by} le {}", loss_status(d.status), fmt_time(at)),
        _ => String::new(),
    };
    html(&LossPage {
        layout: layout_counted(
            state,
            ctx,
            &format!("Déclaration de perte ou de vol n° {}", d.id),
        )
        .await?,
        status: loss_status(d.status).to_owned(),
        closed,
        open: d.status == LossStatus::Open,
        can_manage: auth::role_allows(ctx.operator.role, Permission::ManageCertificates),
        certificates,
        notice,
        d: row(state, &d).await?,
    })
}

/// GET /professionnels/{idnat}/pertes/{declaration}
pub async fn declaration(
    Acting { state, ctx }: Acting,
    Path(params): Path<HashMap<String, String>>,
) -> Page {
    declaration_view(&state, &ctx, declaration_id(&params)?, String::new()).await
}

#[derive(Debug, Default, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

fn crl_notice(done: &str, outcome: &ca::status::RevocationOutcome) -> String {
    match outcome.crl_error {
        None => format!("{done} Les listes de révocation ont été republiées."),
        Some(_) => format!(
            "{done} La republication des listes de révocation a échoué ; elle sera retentée \
             automatiquement."
        ),
    }
}

/// POST /professionnels/{idnat}/pertes/{declaration}/revocation (the box ticked).
pub async fn confirm(
    Acting { state, ctx }: Acting,
    Path(params): Path<HashMap<String, String>>,
    Form(f): Form<ConfirmForm>,
) -> Page {
    let id = declaration_id(&params)?;
    if f.confirm != "oui" {
        return Err(PortalError::BadRequest(
            "Cochez la case de confirmation : la révocation est définitive.".into(),
        ));
    }
    let idnat = ctx.professional()?.idnat.clone();
    let outcome = state.workflow().confirm_loss(ctx.me()?, &idnat, id).await?;
    let notice = crl_notice(
        &format!("{} certificat(s) révoqué(s).", outcome.serials.len()),
        &outcome,
    );
    declaration_view(&state, &ctx, id, notice).await
}

/// POST /professionnels/{idnat}/pertes/{declaration}/reactivation
pub async fn reinstate(
    Acting { state, ctx }: Acting,
    Path(params): Path<HashMap<String, String>>,
) -> Page {
    let id = declaration_id(&params)?;
    let idnat = ctx.professional()?.idnat.clone();
    let outcome = state
        .workflow()
        .reinstate_loss(ctx.me()?, &idnat, id)
        .await?;
    let notice = crl_notice(
        &format!(
            "Suspension levée pour {} certificat(s).",
            outcome.serials.len()
        ),
        &outcome,
    );
    declaration_view(&state, &ctx, id, notice).await
}

/// POST /professionnels/{idnat}/suspension: an operator suspends every certificate of the
/// professional (a holder who calls without their code), as a declaration to decide later.
pub async fn suspend_all(Acting { state, ctx }: Acting) -> Page {
    let idnat = ctx.professional()?.idnat.clone();
    let done = state.workflow().suspend_all(ctx.me()?, &idnat).await?;
    Ok(Redirect::to(&format!(
        "/professionnels/{idnat}/pertes/{}",
        done.declaration.id
    ))
    .into_response())
}
