//! Bulk import of professionals from CSV (issue 6): each row is checked with the rules of the
//! registration form ([`crate::handlers::validate_registration`]: Luhn, names, profession in
//! the operator's Order, identity proofing) and written in its own transaction, so a bad row
//! is reported and nothing of it is written while the good rows go in. The rows are processed
//! in a background task; the job page shows the progress (refreshing itself, no JavaScript)
//! and then the per-row report.
//!
//! Jobs and their reports are in the database (`ca::storage`, migration 0004), not in this
//! instance's memory: the page may be served by another instance behind the load balancer,
//! and a restart keeps the report. A good row is registered and reported in one transaction.
//! A job whose instance stopped halfway stays unfinished; the page calls it interrupted once
//! no line has been reported for [`INTERRUPTED_AFTER`], and the clerk uploads the file again
//! (rows already registered are then refused as duplicates, nothing is written twice).

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Extension;
use time::OffsetDateTime;

use ca::storage::{ImportJobRecord, ImportRow, NewImportJob};

use crate::error::PortalError;
use crate::handlers::{html, html_status, layout, validate_registration, Page, RegisterFields};
use crate::messages::french;
use crate::views::{FieldErrors, Layout};
use crate::{Ctx, PortalState};

/// Largest number of data rows in one file.
pub const MAX_ROWS: usize = 10_000;
/// Jobs being worked on at once, across instances; more uploads are refused until one ends.
const MAX_RUNNING_JOBS: u64 = 64;
/// An unfinished job with no line reported for this long is shown as interrupted (a line takes
/// milliseconds; a stopped instance reports nothing more).
pub const INTERRUPTED_AFTER: Duration = Duration::from_secs(60);
/// Reports are forgotten this long after their upload (when a later job is created).
const REPORT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Characters of the RPPS cell copied into a refused row's report.
const REPORTED_IDNAT_CHARS: usize = 32;

/// The CSV columns, in any order (header names, case-insensitive; aliases after the first).
const COLUMNS: [(&str, &[&str]); 7] = [
    ("idnat", &["idnat", "rpps"]),
    ("surname", &["nom"]),
    ("given_names", &["prenoms", "prénoms", "prenom", "prénom"]),
    ("profession", &["profession"]),
    ("document_type", &["type_piece", "piece"]),
    (
        "document_number",
        &["numero_piece", "numéro_pièce", "numero"],
    ),
    ("mode", &["modalite", "modalité"]),
];

fn column_label(field: &str) -> &'static str {
    match field {
        "idnat" => "RPPS / IdNat",
        "surname" => "nom",
        "given_names" => "prénoms",
        "profession" => "profession",
        "document_type" => "type de pièce",
        "document_number" => "numéro de pièce",
        "mode" => "modalité",
        _ => "ligne",
    }
}

/// One line of a job's report, as the page shows it.
#[derive(Debug, Clone)]
pub struct RowReport {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    pub idnat: String,
    pub ok: bool,
    pub message: String,
}

/// Where a job stands, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Lines are still being reported: the page refreshes itself.
    Running,
    /// Every line reported.
    Finished,
    /// Unfinished, and no line reported for [`INTERRUPTED_AFTER`]: the instance running it
    /// stopped.
    Interrupted,
}

/// The state of a stored job at `now`.
pub fn job_state(job: &ImportJobRecord, now: OffsetDateTime) -> JobState {
    if job.finished_at.is_some() {
        JobState::Finished
    } else if now - job.updated_at > INTERRUPTED_AFTER {
        JobState::Interrupted
    } else {
        JobState::Running
    }
}

#[derive(Template)]
#[template(path = "import.html")]
pub struct ImportPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub max_rows: usize,
}

#[derive(Template)]
#[template(path = "import_job.html")]
pub struct ImportJobPage {
    pub layout: Layout,
    pub file_name: String,
    pub total: usize,
    pub done: usize,
    pub imported: usize,
    pub refused: usize,
    pub finished: bool,
    pub interrupted: bool,
    pub rows: Vec<RowReport>,
}

pub async fn import_page(Extension(ctx): Extension<Ctx>) -> Page {
    html(&ImportPage {
        layout: layout(&ctx, "Importer des professionnels (CSV)"),
        errors: FieldErrors::default(),
        max_rows: MAX_ROWS,
    })
}

/// One data row of the file, as the registration form's fields.
#[derive(Debug)]
struct Row {
    line: u64,
    fields: RegisterFields,
}

/// Parses an import file as the import page does, without writing anything: the number of
/// data rows, or the French reason the whole file is refused. For previews and fuzzing.
pub fn check_import_csv(bytes: &[u8]) -> Result<usize, String> {
    parse_csv(bytes).map(|rows| {
        // Every row keeps its source line, after the header.
        debug_assert!(rows.iter().all(|r| r.line >= 2));
        rows.len()
    })
}

/// Parses the whole file (header, delimiter `;` or `,`, UTF-8) before anything is written.
fn parse_csv(bytes: &[u8]) -> Result<Vec<Row>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "Le fichier doit être encodé en UTF-8.".to_owned())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("");
    if first.trim().is_empty() {
        return Err("Le fichier est vide : la première ligne doit nommer les colonnes.".into());
    }
    let delimiter = if first.contains(';') { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("En-tête illisible : {e}."))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut index = HashMap::new();
    let mut missing = Vec::new();
    for (field, names) in COLUMNS {
        match headers.iter().position(|h| names.contains(&h.as_str())) {
            Some(i) => {
                index.insert(field, i);
            }
            None => missing.push(names[0]),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "Colonnes manquantes dans l'en-tête : {}.",
            missing.join(", ")
        ));
    }
    let mut rows = Vec::new();
    for (line, record) in (2u64..).zip(reader.records()) {
        let record = record.map_err(|e| format!("Ligne {line} illisible : {e}."))?;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(format!(
                "Le fichier contient plus de {MAX_ROWS} lignes : découpez-le."
            ));
        }
        let get = |field: &str| {
            index
                .get(field)
                .and_then(|i| record.get(*i))
                .unwrap_or("")
                .to_owned()
        };
        rows.push(Row {
            line,
            fields: RegisterFields {
                idnat: get("idnat"),
                surname: get("surname"),
                given_names: get("given_names"),
                profession: get("profession"),
                document_type: get("document_type"),
                document_number: get("document_number"),
                mode: get("mode"),
            },
        });
    }
    if rows.is_empty() {
        return Err("Le fichier ne contient aucune ligne de données.".into());
    }
    Ok(rows)
}

pub async fn import(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    mut mp: Multipart,
) -> Page {
    let mut file = Vec::new();
    let mut file_name = String::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|_| PortalError::BadRequest("Formulaire illisible.".into()))?
    {
        if field.name() == Some("csv_file") {
            file_name = field.file_name().unwrap_or("").to_owned();
            file = field
                .bytes()
                .await
                .map_err(|_| PortalError::BadRequest("Formulaire illisible.".into()))?
                .to_vec();
        }
    }
    let rows = if file.is_empty() {
        Err("Joignez un fichier CSV.".to_owned())
    } else {
        parse_csv(&file)
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add("csv_file", message);
            return html_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ImportPage {
                    layout: layout(&ctx, "Importer des professionnels (CSV)"),
                    errors,
                    max_rows: MAX_ROWS,
                },
            );
        }
    };
    let id = crate::auth::random_hex(16);
    let now = OffsetDateTime::now_utc();
    let running = state
        .store()
        .running_import_jobs(now - INTERRUPTED_AFTER)
        .await?;
    if running >= MAX_RUNNING_JOBS {
        return Err(PortalError::Unavailable(
            "Trop d'importations en cours : réessayez dans un instant.".into(),
        ));
    }
    let total_rows = u64::try_from(rows.len())
        .map_err(|_| PortalError::BadRequest("Fichier trop long.".into()))?;
    state
        .store()
        .create_import_job(
            &NewImportJob {
                id: id.clone(),
                login: ctx.operator.login.to_string(),
                file_name: file_name
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(100)
                    .collect(),
                total_rows,
            },
            now - REPORT_RETENTION,
            &ctx.actor,
        )
        .await?;
    let (job_state, job_id) = (state.clone(), id.clone());
    tokio::spawn(async move {
        for row in rows {
            if let Err(e) = import_row(&job_state, &ctx, &job_id, &row).await {
                // The store is unreachable: the job stays unfinished and its page will call it
                // interrupted; nothing of the row was written.
                tracing::error!(job = %job_id, line = row.line, error = %e, "CSV import stopped");
                return;
            }
        }
        if let Err(e) = job_state.store().finish_import_job(&job_id).await {
            tracing::error!(job = %job_id, error = %e, "CSV import not marked finished");
        }
    });
    Ok(Redirect::to(&format!("/importations/{id}")).into_response())
}

/// Validates, registers and reports one row. A refused row is reported with its reason; the
/// error is the store failing to record the report.
async fn import_row(
    state: &PortalState,
    ctx: &Ctx,
    job_id: &str,
    row: &Row,
) -> Result<(), ca::Error> {
    let refused = |message: String| ImportRow {
        line: row.line,
        idnat: row
            .fields
            .idnat
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(REPORTED_IDNAT_CHARS)
            .collect(),
        ok: false,
        message,
    };
    let (professional, proofing) =
        match validate_registration(state, ctx.scope, &ctx.actor, &row.fields) {
            Ok(v) => v,
            Err(errors) => {
                let message = errors
                    .0
                    .iter()
                    .map(|(f, m)| format!("{} : {m}", column_label(f)))
                    .collect::<Vec<_>>()
                    .join(" ; ");
                return state
                    .store()
                    .report_refused_import_row(job_id, &refused(message))
                    .await;
            }
        };
    match state
        .store()
        .register_imported_professional(job_id, row.line, &professional, &proofing, &ctx.actor)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if !e.is_storage_failure() => {
            let mut report = refused(french(&e));
            report.idnat = professional.idnat.to_string();
            state
                .store()
                .report_refused_import_row(job_id, &report)
                .await
        }
        Err(e) => Err(e),
    }
}

pub async fn import_job(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Page {
    let not_found = || PortalError::NotFound("Importation introuvable.".into());
    // Identifiers are 32 hexadecimal digits (`random_hex(16)`): anything else is not looked up.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let job = state.store().import_job(&id).await?.ok_or_else(not_found)?;
    // Only the operator who started it sees an import (its rows are of their Order).
    if job.login != ctx.operator.login.as_str() {
        return Err(not_found());
    }
    let state_now = job_state(&job, OffsetDateTime::now_utc());
    let imported = job.rows.iter().filter(|r| r.ok).count();
    let done = job.rows.len();
    let page = ImportJobPage {
        layout: layout(&ctx, "Importation CSV"),
        file_name: job.file_name,
        total: usize::try_from(job.total_rows).unwrap_or(usize::MAX),
        done,
        imported,
        refused: done - imported,
        finished: state_now == JobState::Finished,
        interrupted: state_now == JobState::Interrupted,
        rows: job
            .rows
            .into_iter()
            .map(|r| RowReport {
                line: r.line,
                idnat: r.idnat,
                message: if r.ok {
                    "enregistré".into()
                } else {
                    r.message
                },
                ok: r.ok,
            })
            .collect(),
    };
    html(&page)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_job_is_interrupted_only_when_unfinished_and_silent() {
        let t0 = OffsetDateTime::now_utc();
        let mut job = ImportJobRecord {
            id: "j".into(),
            login: "agent".into(),
            file_name: String::new(),
            total_rows: 2,
            created_at: t0,
            updated_at: t0,
            finished_at: None,
            rows: Vec::new(),
        };
        assert_eq!(job_state(&job, t0), JobState::Running);
        assert_eq!(job_state(&job, t0 + INTERRUPTED_AFTER), JobState::Running);
        let late = t0 + INTERRUPTED_AFTER + Duration::from_millis(1);
        assert_eq!(job_state(&job, late), JobState::Interrupted);
        job.finished_at = Some(t0);
        assert_eq!(job_state(&job, late), JobState::Finished);
    }

    #[test]
    fn parses_semicolons_commas_quotes_and_refuses_bad_headers() {
        let rows = parse_csv(
            "\u{feff}RPPS;Nom;Prénoms;Profession;Type_piece;Numero_piece;Modalite\n\
             10000000016;\"DUPONT; fils\";Jean;10;cni;X1;face-to-face\n\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].fields.surname, "DUPONT; fils");
        let rows =
            parse_csv(b"modalite,numero_piece,type_piece,profession,prenoms,nom,idnat\nremote,A,cni,21,B,C,1\n")
                .unwrap();
        assert_eq!(rows[0].fields.idnat, "1");
        assert!(parse_csv(b"nom;prenoms\nA;B\n")
            .unwrap_err()
            .contains("Colonnes manquantes"));
        assert!(parse_csv(b"\xff\xfe").unwrap_err().contains("UTF-8"));
        assert!(parse_csv(b"").is_err());
    }
}
