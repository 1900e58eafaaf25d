//! Operator accounts (administrators): list, creation, confirmation by a second
//! administrator, disabling, enabling, reset. Dual control is the workflow's.

use axum::extract::Path;
use axum::Form;
use ca::domain::Order;
use ca::storage::{NewOperator, OperatorRole, OperatorStatus};
use serde::Deserialize;

use super::rows::operator_row;
use super::{form_status, html_status, layout, Page};
use crate::auth;
use crate::state::{otp_expiry, Acting, Ctx, PortalState};
use crate::views::{FieldErrors, OperatorsPage};

async fn operators_view(
    state: &PortalState,
    ctx: &Ctx,
    errors: FieldErrors,
    notice: String,
    one_time_password: String,
) -> Page {
    let me = ctx.me()?;
    let operators = state
        .workflow()
        .operators(me)
        .await?
        .iter()
        .map(|o| operator_row(me, o))
        .collect();
    let page = OperatorsPage {
        layout: layout(ctx, "Opérateurs du portail"),
        operators,
        roles: OperatorRole::ALL
            .iter()
            .map(|r| (r.as_str().to_owned(), auth::role_label(*r).to_owned()))
            .collect(),
        orders: Order::ALL
            .iter()
            .map(|o| (o.slug().to_owned(), o.french_name().to_owned()))
            .collect(),
        errors,
        notice,
        one_time_password,
    };
    html_status(form_status(&page.errors), &page)
}

/// The page with a notice.
async fn notice(state: &PortalState, ctx: &Ctx, notice: String) -> Page {
    operators_view(state, ctx, FieldErrors::default(), notice, String::new()).await
}

pub async fn operators(Acting { state, ctx }: Acting) -> Page {
    notice(&state, &ctx, String::new()).await
}

#[derive(Debug, Deserialize)]
pub struct OperatorForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    order: String,
}

fn valid_login(s: &str) -> bool {
    (3..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b))
}

/// The account the form describes, or what is wrong with it.
fn new_operator(f: &OperatorForm) -> Result<NewOperator, FieldErrors> {
    let mut errors = FieldErrors::default();
    let login = f.login.trim();
    if !valid_login(login) {
        errors.add(
            "login",
            "Identifiant de 3 à 64 caractères : minuscules, chiffres, point, tiret, souligné.",
        );
    }
    let name = f.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 {
        errors.add("name", "Le nom est obligatoire (128 caractères au plus).");
    }
    let role = f.role.parse::<OperatorRole>().ok();
    let order = Order::from_slug(f.order.trim());
    match role {
        None => errors.add("role", "Rôle inconnu."),
        Some(r) if r.needs_order() && order.is_none() => {
            errors.add(
                "order",
                "Un agent ou un approbateur est rattaché à un Ordre.",
            );
        }
        Some(r) if !r.needs_order() && order.is_some() => {
            errors.add("order", "Ce rôle n'est rattaché à aucun Ordre.");
        }
        Some(_) => {}
    }
    match (role, login.parse()) {
        (Some(role), Ok(login)) if errors.is_empty() => Ok(NewOperator {
            login,
            display_name: name,
            role,
            order,
        }),
        _ => Err(errors),
    }
}

pub async fn create_operator(Acting { state, ctx }: Acting, Form(f): Form<OperatorForm>) -> Page {
    let (workflow, me) = (state.workflow(), ctx.me()?);
    let mut account = new_operator(&f);
    if let Ok(a) = &account {
        if workflow
            .operators(me)
            .await?
            .iter()
            .any(|o| o.login == a.login)
        {
            let mut errors = FieldErrors::default();
            errors.add("login", "Cet identifiant existe déjà.");
            account = Err(errors);
        }
    }
    let account = match account {
        Ok(a) => a,
        Err(errors) => {
            return operators_view(&state, &ctx, errors, String::new(), String::new()).await
        }
    };
    workflow.create_operator(me, &account).await?;
    let login = account.login;
    let created = format!(
        "Opérateur {login} créé. Un autre administrateur doit confirmer le compte : le mot \
         de passe à usage unique lui sera affiché, à lui seul."
    );
    notice(&state, &ctx, created).await
}

/// POST /operateurs/{login}/confirmation: a second administrator confirms the creation or
/// reset of an account, and is the only one shown its one-time password.
pub async fn confirm_operator(Acting { state, ctx }: Acting, Path(login): Path<String>) -> Page {
    let otp = auth::one_time_password();
    let hash = state.hash_password(&otp).await?;
    let expiry = otp_expiry(state.config().one_time_password_validity())?;
    state
        .workflow()
        .confirm_operator(ctx.me()?, &login, &hash, expiry)
        .await?;
    let confirmed =
        format!("Compte {login} confirmé : transmettez-lui son mot de passe à usage unique.");
    operators_view(&state, &ctx, FieldErrors::default(), confirmed, otp).await
}

async fn set_status(state: &PortalState, ctx: &Ctx, login: &str, status: OperatorStatus) -> Page {
    state
        .workflow()
        .set_operator_status(ctx.me()?, login, status)
        .await?;
    notice(state, ctx, format!("Opérateur {login} mis à jour.")).await
}

pub async fn disable_operator(Acting { state, ctx }: Acting, Path(login): Path<String>) -> Page {
    set_status(&state, &ctx, &login, OperatorStatus::Disabled).await
}

pub async fn enable_operator(Acting { state, ctx }: Acting, Path(login): Path<String>) -> Page {
    set_status(&state, &ctx, &login, OperatorStatus::Active).await
}

pub async fn reset_operator(Acting { state, ctx }: Acting, Path(login): Path<String>) -> Page {
    state.workflow().reset_operator(ctx.me()?, &login).await?;
    let reset = format!(
        "Compte {login} réinitialisé : ses sessions sont closes et son TOTP est à réenrôler. \
         Un autre administrateur doit confirmer la réinitialisation ; le nouveau mot de passe \
         à usage unique lui sera affiché, à lui seul."
    );
    notice(&state, &ctx, reset).await
}
