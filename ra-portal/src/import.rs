//! Bulk import of professionals from CSV (issue 6): each row is checked with the rules of the
//! registration form ([`crate::handlers::validate_registration`]: Luhn, names, profession in
//! the operator's Order, identity proofing) and written in its own transaction, so a bad row
//! is reported and nothing of it is written while the good rows go in. The rows are processed
//! in a background task; the job page shows the progress (refreshing itself, no JavaScript)
//! and then the per-row report.

use std::collections::HashMap;
use std::sync::Mutex;

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Extension;
use time::OffsetDateTime;

use crate::error::PortalError;
use crate::handlers::{html, html_status, layout, validate_registration, Page, RegisterFields};
use crate::messages::french;
use crate::views::{FieldErrors, Layout};
use crate::{Ctx, PortalState};

/// Largest number of data rows in one file.
pub const MAX_ROWS: usize = 10_000;
/// Jobs kept in memory (the oldest finished ones are forgotten first).
const MAX_JOBS: usize = 64;

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

#[derive(Debug, Clone)]
pub struct RowReport {
    /// Line number in the file (the header is line 1).
    pub line: usize,
    pub idnat: String,
    pub ok: bool,
    pub message: String,
}

#[derive(Debug)]
pub struct ImportJob {
    owner: String,
    file_name: String,
    total: usize,
    rows: Vec<RowReport>,
    finished: bool,
    started: OffsetDateTime,
}

/// The import jobs of this portal instance, by id.
#[derive(Debug, Default)]
pub struct ImportJobs(Mutex<HashMap<String, ImportJob>>);

impl ImportJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ImportJob>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    line: usize,
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
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
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
    {
        let mut jobs = state.imports().lock();
        if jobs.len() >= MAX_JOBS {
            let oldest = jobs
                .iter()
                .filter(|(_, j)| j.finished)
                .min_by_key(|(_, j)| j.started)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    jobs.remove(&k);
                }
                None => {
                    return Err(PortalError::Unavailable(
                        "Trop d'importations en cours : réessayez dans un instant.".into(),
                    ))
                }
            }
        }
        jobs.insert(
            id.clone(),
            ImportJob {
                owner: ctx.operator.login.to_string(),
                file_name: file_name
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(100)
                    .collect(),
                total: rows.len(),
                rows: Vec::new(),
                finished: false,
                started: OffsetDateTime::now_utc(),
            },
        );
    }
    let (job_state, job_id) = (state.clone(), id.clone());
    tokio::spawn(async move {
        let jobs = job_state.imports();
        for row in rows {
            let report = import_row(&job_state, &ctx, &row).await;
            if let Some(j) = jobs.lock().get_mut(&job_id) {
                j.rows.push(report);
            }
        }
        if let Some(j) = jobs.lock().get_mut(&job_id) {
            j.finished = true;
        }
    });
    Ok(Redirect::to(&format!("/importations/{id}")).into_response())
}

async fn import_row(state: &PortalState, ctx: &Ctx, row: &Row) -> RowReport {
    let mut report = RowReport {
        line: row.line,
        idnat: row.fields.idnat.trim().to_owned(),
        ok: false,
        message: String::new(),
    };
    let (professional, proofing) =
        match validate_registration(state, ctx.scope, &ctx.actor, &row.fields) {
            Ok(v) => v,
            Err(errors) => {
                report.message = errors
                    .0
                    .iter()
                    .map(|(f, m)| format!("{} : {m}", column_label(f)))
                    .collect::<Vec<_>>()
                    .join(" ; ");
                return report;
            }
        };
    report.idnat = professional.idnat.to_string();
    match state
        .store()
        .register_professional(&professional, &proofing, &ctx.actor)
        .await
    {
        Ok(()) => {
            report.ok = true;
            report.message = "enregistré".into();
        }
        Err(e) => report.message = french(&e),
    }
    report
}

pub async fn import_job(
    State(state): State<PortalState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Page {
    let not_found = || PortalError::NotFound("Importation introuvable.".into());
    let page = {
        let jobs = state.imports().lock();
        let job = jobs.get(&id).ok_or_else(not_found)?;
        // Only the operator who started it sees an import (its rows are of their Order).
        if job.owner != ctx.operator.login.as_str() {
            return Err(not_found());
        }
        let imported = job.rows.iter().filter(|r| r.ok).count();
        ImportJobPage {
            layout: layout(&ctx, "Importation CSV"),
            file_name: job.file_name.clone(),
            total: job.total,
            done: job.rows.len(),
            imported,
            refused: job.rows.len() - imported,
            finished: job.finished,
            rows: job.rows.clone(),
        }
    };
    html(&page)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

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
