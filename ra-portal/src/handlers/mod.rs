//! The HTML pages, one file per subject. Each handler is a thin adapter: it reads the form,
//! calls the workflow ([`ca::workflow::Workflow`], which decides role, Order scope and four
//! eyes) and renders the page. The route middleware has authenticated the operator, checked
//! the route's role and CSRF token and found the route's object in the operator's scope.

pub mod certificates;
pub mod expiring;
pub mod home;
pub mod imports;
pub mod journal;
pub mod loss;
pub mod operators;
pub mod professionals;
pub mod requests;
mod rows;
pub mod session;

use askama::Template;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::auth::{self, Permission};
use crate::error::PortalResult;
use crate::state::{Ctx, PortalState};
use crate::views::{FieldErrors, Layout, Pager};

pub(crate) type Page = PortalResult<Response>;

pub(crate) fn html(t: &impl Template) -> Page {
    Ok(Html(t.render()?).into_response())
}

pub(crate) fn html_status(status: StatusCode, t: &impl Template) -> Page {
    Ok((status, Html(t.render()?)).into_response())
}

/// 200 for a fresh form, 422 for one shown again with its errors.
fn form_status(errors: &FieldErrors) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// What waits for the operator, counted in the menu.
#[derive(Debug, Clone, Copy, Default)]
struct Waiting {
    /// Requests waiting for a decision ("Demandes (3)").
    requests: Option<u64>,
    /// Loss declarations waiting for a decision ("Pertes et vols (1)").
    losses: Option<usize>,
}

/// [`layout`] with what waits for a decision counted in the menu ("Demandes (3)", "Pertes et
/// vols (1)"), for the roles that see them.
pub(crate) async fn layout_counted(
    state: &PortalState,
    ctx: &Ctx,
    title: &str,
) -> PortalResult<Layout> {
    let waiting = if auth::role_allows(ctx.operator.role, Permission::ViewProfessionals) {
        let workflow = state.workflow();
        Waiting {
            requests: Some(workflow.pending_count(ctx.me()?).await?),
            losses: Some(workflow.open_loss_declarations(ctx.me()?).await?.len()),
        }
    } else {
        Waiting::default()
    };
    Ok(layout_with(ctx, title, waiting))
}

pub(crate) fn layout(ctx: &Ctx, title: &str) -> Layout {
    layout_with(ctx, title, Waiting::default())
}

/// The layout, with the counts of what waits when known.
fn layout_with(ctx: &Ctx, title: &str, waiting: Waiting) -> Layout {
    let role = ctx.operator.role;
    let mut nav = vec![("/".to_owned(), "Accueil".to_owned())];
    let allow = |p| auth::role_allows(role, p);
    if allow(Permission::ViewProfessionals) {
        nav.push(("/professionnels".into(), "Rechercher".into()));
        nav.push(("/professionnels/nouveau".into(), "Enregistrer".into()));
        nav.push(("/importations".into(), "Importer (CSV)".into()));
        let requests = match waiting.requests {
            Some(n) => format!("Demandes ({n})"),
            None => "Demandes".into(),
        };
        nav.push(("/demandes".into(), requests));
        nav.push(("/echeances".into(), "Échéances".into()));
        let losses = match waiting.losses {
            Some(n) => format!("Pertes et vols ({n})"),
            None => "Pertes et vols".into(),
        };
        nav.push(("/pertes".into(), losses));
    }
    if allow(Permission::ReadJournal) {
        nav.push(("/journal".into(), "Journal".into()));
    }
    if allow(Permission::ManageOperators) {
        nav.push(("/operateurs".into(), "Opérateurs".into()));
    }
    Layout {
        title: title.to_owned(),
        operator: Some(format!(
            "{} ({})",
            ctx.operator.display_name, ctx.operator.login
        )),
        role: auth::role_label(role).to_owned(),
        scope: ctx.scope().label(),
        csrf: ctx.session.csrf_token.clone(),
        nav,
    }
}

/// A file to download.
fn download(body: Vec<u8>, content_type: &'static str, file: String) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    (headers, body).into_response()
}

/// Links to the pages around `page` of the listing at `path` with `params` (the query kept
/// from page to page).
fn pager(path: &str, params: &[(&str, &str)], page: u32, has_next: bool) -> Pager {
    let href = |n: u32| {
        let n = n.to_string();
        let mut query: Vec<(&str, &str)> = params.to_vec();
        query.push(("page", &n));
        match serde_urlencoded::to_string(&query) {
            Ok(q) => format!("{path}?{q}"),
            Err(_) => path.to_owned(),
        }
    };
    Pager {
        page,
        previous: if page > 1 {
            href(page - 1)
        } else {
            String::new()
        },
        next: if has_next {
            href(page + 1)
        } else {
            String::new()
        },
    }
}
