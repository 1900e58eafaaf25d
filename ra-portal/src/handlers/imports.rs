//! CSV import of professionals: the upload page, the upload, the job's report.

use axum::extract::{Multipart, Path};
use axum::response::{IntoResponse, Redirect};
use ca::storage::ImportRow;
use time::OffsetDateTime;

use super::{form_status, html, html_status, layout_counted, Page};
use crate::error::PortalError;
use crate::import::{self, job_state, JobState, MAX_ROWS};
use crate::state::{Acting, Ctx, PortalState};
use crate::views::{FieldErrors, ImportJobPage, ImportPage};

async fn import_view(state: &PortalState, ctx: &Ctx, errors: FieldErrors) -> Page {
    let page = ImportPage {
        layout: layout_counted(state, ctx, "Importer des professionnels (CSV)").await?,
        errors,
        max_rows: MAX_ROWS,
    };
    html_status(form_status(&page.errors), &page)
}

pub async fn import_page(Acting { state, ctx }: Acting) -> Page {
    import_view(&state, &ctx, FieldErrors::default()).await
}

/// The `csv_file` field of the upload form and its file name.
async fn read_upload(mut mp: Multipart) -> Result<(String, Vec<u8>), PortalError> {
    let unreadable = || PortalError::BadRequest("Formulaire illisible.".into());
    let (mut file_name, mut file) = (String::new(), Vec::new());
    while let Some(field) = mp.next_field().await.map_err(|_| unreadable())? {
        if field.name() == Some("csv_file") {
            file_name = field.file_name().unwrap_or("").to_owned();
            file = field.bytes().await.map_err(|_| unreadable())?.to_vec();
        }
    }
    Ok((file_name, file))
}

pub async fn import(Acting { state, ctx }: Acting, mp: Multipart) -> Page {
    let (file_name, file) = read_upload(mp).await?;
    match import::start(&state, &ctx, &file_name, &file).await? {
        Ok(id) => Ok(Redirect::to(&format!("/importations/{id}")).into_response()),
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add("csv_file", message);
            import_view(&state, &ctx, errors).await
        }
    }
}

pub async fn import_job(Acting { state, ctx }: Acting, Path(id): Path<String>) -> Page {
    // Identifiers are 32 hexadecimal digits (`random_hex(16)`): anything else is not looked up.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PortalError::NotFound("Importation introuvable.".into()));
    }
    // Only the operator who started it sees an import (the workflow's rule).
    let job = state.workflow().import_job(ctx.me()?, &id).await?;
    let state_now = job_state(&job, OffsetDateTime::now_utc());
    let imported = job.rows.iter().filter(|r| r.ok).count();
    let done = job.rows.len();
    html(&ImportJobPage {
        layout: layout_counted(&state, &ctx, "Importation CSV").await?,
        file_name: job.file_name,
        total: usize::try_from(job.total_rows).unwrap_or(usize::MAX),
        done,
        imported,
        refused: done - imported,
        finished: state_now == JobState::Finished,
        interrupted: state_now == JobState::Interrupted,
        // Registered lines carry "enregistré" as their message here.
        rows: job
            .rows
            .into_iter()
            .map(|r| ImportRow {
                message: if r.ok {
                    "enregistré".into()
                } else {
                    r.message
                },
                ..r
            })
            .collect(),
    })
}
