//! Certificates of the operator's scope about to expire: the list (with a link to each
//! renewal form) and its CSV export.

use axum::extract::Query;
use time::OffsetDateTime;

use super::rows::{expiring_row, fmt_date_iso};
use super::{download, html_status, layout_counted, pager, Page};
use crate::error::PortalError;
use crate::forms::{csv_line, expiry_days, ListingQuery};
use crate::state::Acting;
use crate::views::{ExpiringPage, Pager};

/// The certificates expiring within `jours` days (60 by default), soonest first.
pub async fn expiring(Acting { state, ctx }: Acting, Query(query): Query<ListingQuery>) -> Page {
    let typed = query.jours.clone().unwrap_or_default();
    let layout = layout_counted(&state, &ctx, "Certificats arrivant à échéance").await?;
    let days = match expiry_days(query.jours.as_deref()) {
        Ok(d) => d,
        Err(error) => {
            let page = ExpiringPage {
                layout,
                days: typed,
                error,
                rows: Vec::new(),
                pager: Pager::default(),
                csv: String::new(),
            };
            return html_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let workflow = state.workflow();
    let listing = workflow.expiring(ctx.me()?, days, query.page()).await?;
    let days_text = days.to_string();
    let page = ExpiringPage {
        layout,
        days: days_text.clone(),
        error: String::new(),
        rows: listing
            .items
            .iter()
            .map(|c| expiring_row(workflow.professions(), c))
            .collect(),
        pager: pager(
            "/echeances",
            &[("jours", &days_text)],
            listing.page,
            listing.has_next,
        ),
        csv: format!("/echeances/export.csv?jours={days}"),
    };
    html_status(axum::http::StatusCode::OK, &page)
}

/// The same certificates as a CSV file (UTF-8 with a byte order mark, `;`-separated), every
/// cell quoted and defused against formula injection.
pub async fn expiring_csv(
    Acting { state, ctx }: Acting,
    Query(query): Query<ListingQuery>,
) -> Page {
    let days = expiry_days(query.jours.as_deref()).map_err(PortalError::BadRequest)?;
    let workflow = state.workflow();
    let certificates = workflow.expiring_export(ctx.me()?, days).await?;
    let mut body = String::from("\u{feff}");
    body.push_str(&csv_line(&[
        "Numéro de série",
        "IdNat_PS",
        "Nom",
        "Prénoms",
        "Profession",
        "Gabarit",
        "Fin de validité",
        "État",
    ]));
    for c in &certificates {
        let row = expiring_row(workflow.professions(), c);
        body.push_str(&csv_line(&[
            &row.serial,
            &row.idnat,
            &c.surname,
            &c.given_names,
            &row.profession,
            &row.profile,
            &fmt_date_iso(c.not_after),
            if row.on_hold { "suspendu" } else { "valide" },
        ]));
    }
    let today = fmt_date_iso(OffsetDateTime::now_utc());
    Ok(download(
        body.into_bytes(),
        "text/csv; charset=utf-8",
        format!("certificats-echeance-{days}j-{today}.csv"),
    ))
}
