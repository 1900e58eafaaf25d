//! Bulk import of professionals from CSV (issue 6): each row is checked with the rules of the
//! registration form ([`crate::forms::validate_registration`]: Luhn, names, profession in
//! the operator's Order, identity proofing), registered through the workflow
//! ([`Workflow::import_row`]) and written in its own transaction, so a bad row
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

use ca::storage::{ImportJobRecord, ImportRow, NewImportJob};
use ca::workflow::{AuthenticatedOperator, Workflow};
use time::OffsetDateTime;

use crate::error::{PortalError, PortalResult};
use crate::forms::validate_registration;
use crate::messages::french;
use crate::state::{Ctx, PortalState};
use crate::views::RegisterForm;

/// Largest number of data rows in one file.
pub const MAX_ROWS: usize = 10_000;
/// Jobs being worked on at once, across instances, and by one operator; more uploads are
/// refused until one ends (the check and the creation are not one transaction: two uploads at
/// the same instant may both pass).
const MAX_RUNNING_JOBS: u64 = 64;
const MAX_RUNNING_JOBS_PER_OPERATOR: u64 = 4;
/// An unfinished job with no line reported for this long is shown as interrupted (a line takes
/// milliseconds; a stopped instance reports nothing more).
pub const INTERRUPTED_AFTER: Duration = Duration::from_secs(60);
/// Reports are forgotten this long after their upload (when a later job is created).
const REPORT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Characters of the RPPS cell, of a refusal message and of the file name kept in the report.
const REPORTED_IDNAT_CHARS: usize = 32;
const REPORTED_MESSAGE_CHARS: usize = 500;
const REPORTED_FILE_NAME_CHARS: usize = 100;

/// Text from the file (or quoting it) as the report keeps it: without control characters,
/// at most `max` characters.
fn reportable(text: &str, max: usize) -> String {
    text.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

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

/// The state of a stored job at `now`. A job with every line reported is finished even if its
/// instance stopped before marking it so.
pub fn job_state(job: &ImportJobRecord, now: OffsetDateTime) -> JobState {
    let all_reported = u64::try_from(job.rows.len()).is_ok_and(|n| n >= job.total_rows);
    if job.finished_at.is_some() || all_reported {
        JobState::Finished
    } else if now - job.updated_at > INTERRUPTED_AFTER {
        JobState::Interrupted
    } else {
        JobState::Running
    }
}

/// One data row of the file, as the registration form's fields.
#[derive(Debug)]
struct Row {
    line: u64,
    fields: RegisterForm,
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

/// The line of `text` (line ends already made LF) where the record at `position` starts. The
/// reader places a record where it started reading it, before the blank lines it skipped:
/// those are counted here.
fn file_line(text: &str, position: &csv::Position) -> u64 {
    let blank_lines = usize::try_from(position.byte())
        .ok()
        .and_then(|at| text.as_bytes().get(at..))
        .unwrap_or_default()
        .iter()
        .take_while(|b| **b == b'\n')
        .count();
    position.line() + u64::try_from(blank_lines).unwrap_or(0)
}

/// Parses the whole file (header, delimiter `;` or `,`, UTF-8) before anything is written.
fn parse_csv(bytes: &[u8]) -> Result<Vec<Row>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "Le fichier doit être encodé en UTF-8.".to_owned())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Line ends made LF: the reader also ends a record at a lone CR (old Mac exports) but counts
    // lines by LF only, and the report's line numbers must be the file's.
    let text: std::borrow::Cow<'_, str> = if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n").into()
    } else {
        text.into()
    };
    let text = text.as_ref();
    let first = text.lines().next().unwrap_or("");
    if first.trim().is_empty() {
        return Err(if text.trim().is_empty() {
            "Le fichier est vide.".to_owned()
        } else {
            "La première ligne du fichier doit nommer les colonnes : elle est vide.".to_owned()
        });
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
    for (counted, record) in (2u64..).zip(reader.records()) {
        // The line where the record starts in the file: blank lines are skipped by the reader
        // and a quoted cell may span lines, so records are not counted.
        let record = record.map_err(|e| {
            let line = e.position().map_or(counted, |p| file_line(text, p));
            format!("Ligne {line} illisible : {e}.")
        })?;
        let line = record.position().map_or(counted, |p| file_line(text, p));
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
            fields: RegisterForm {
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

/// Starts the import of `file` as the session's operator. The whole file is parsed first: a
/// refused file is `Ok(Err(French reason))` and nothing is written. Then the job is created
/// (within the limits of jobs running) and its rows are registered by a background task;
/// returns the job's identifier.
pub(crate) async fn start(
    state: &PortalState,
    ctx: &Ctx,
    file_name: &str,
    file: &[u8],
) -> PortalResult<Result<String, String>> {
    let rows = if file.is_empty() {
        Err("Joignez un fichier CSV.".to_owned())
    } else {
        parse_csv(file)
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(message) => return Ok(Err(message)),
    };
    let me = ctx.me()?.clone();
    let workflow = state.workflow();
    let id = crate::auth::random_hex(16);
    let now = OffsetDateTime::now_utc();
    let (running, running_here) = workflow
        .running_imports(&me, now - INTERRUPTED_AFTER)
        .await?;
    if running_here >= MAX_RUNNING_JOBS_PER_OPERATOR {
        return Err(PortalError::TooManyRequests(format!(
            "Vous avez déjà {running_here} importations en cours : attendez qu'une se termine."
        )));
    }
    if running >= MAX_RUNNING_JOBS {
        return Err(PortalError::Unavailable(
            "Trop d'importations en cours : réessayez dans un instant.".into(),
        ));
    }
    let total_rows = u64::try_from(rows.len())
        .map_err(|_| PortalError::BadRequest("Fichier trop long.".into()))?;
    let job = NewImportJob {
        id: id.clone(),
        login: me.login().to_string(),
        file_name: reportable(file_name, REPORTED_FILE_NAME_CHARS),
        total_rows,
    };
    workflow
        .start_import(&me, &job, now - REPORT_RETENTION, now - INTERRUPTED_AFTER)
        .await?;
    let (workflow, job_id) = (workflow.clone(), id.clone());
    tokio::spawn(async move {
        for row in rows {
            if let Err(e) = import_row(&workflow, &me, &job_id, &row).await {
                // The system failed (store, or the job gone): the job stays unfinished and its
                // page will call it interrupted; nothing of the row was written.
                tracing::error!(job = %job_id, line = row.line, error = %e, "CSV import stopped");
                return;
            }
        }
        if let Err(e) = workflow.finish_import(&job_id).await {
            tracing::error!(job = %job_id, error = %e, "CSV import not marked finished");
        }
    });
    Ok(Ok(id))
}

/// Validates, registers and reports one row. A refused row is reported with its reason; an
/// error is a failure of the system (registering, or recording the report).
async fn import_row(
    workflow: &Workflow,
    me: &AuthenticatedOperator,
    job_id: &str,
    row: &Row,
) -> Result<(), ca::Error> {
    let refused = |message: &str| ImportRow {
        line: row.line,
        idnat: reportable(&row.fields.idnat, REPORTED_IDNAT_CHARS),
        ok: false,
        message: reportable(message, REPORTED_MESSAGE_CHARS),
    };
    let (professional, proofing) = match validate_registration(workflow, me, &row.fields) {
        Ok(v) => v,
        Err(errors) => {
            let message = errors
                .0
                .iter()
                .map(|(f, m)| format!("{} : {m}", column_label(f)))
                .collect::<Vec<_>>()
                .join(" ; ");
            return workflow
                .refuse_import_row(me, job_id, &refused(&message))
                .await;
        }
    };
    match workflow
        .import_row(me, job_id, row.line, &professional, &proofing)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if !e.is_system_failure() => {
            let mut report = refused(&french(&e));
            report.idnat = professional.idnat.to_string();
            workflow.refuse_import_row(me, job_id, &report).await
        }
        Err(e) => Err(e),
    }
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
        // Every line reported, the end not recorded (instance stopped just before): finished.
        job.finished_at = None;
        let line = |line| ImportRow {
            line,
            idnat: String::new(),
            ok: true,
            message: String::new(),
        };
        job.rows = vec![line(2)];
        assert_eq!(job_state(&job, late), JobState::Interrupted);
        job.rows.push(line(3));
        assert_eq!(job_state(&job, late), JobState::Finished);
    }

    #[test]
    fn lines_are_the_file_lines_across_blank_lines_and_multi_line_cells() {
        let file = "rpps;nom;prenoms;profession;type_piece;numero_piece;modalite\n\
             \n\
             10000000016;MARTIN;Claire;10;cni;A1;face-to-face\n\
             10000000024;\"DURAND\nsur deux lignes\";Jo;10;cni;A2;remote\n\
             \n\
             10000000032;PETIT;Léa;10;cni;A3;remote\n";
        for file in [
            file.to_owned(),
            file.replace('\n', "\r\n"),
            file.replace('\n', "\r"),
        ] {
            let rows = parse_csv(file.as_bytes()).unwrap();
            let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, [3, 4, 7], "{file:?}");
        }
    }

    #[test]
    fn reportable_text_is_bounded_and_without_control_characters() {
        assert_eq!(reportable("  a\0b\u{7}c\n ", 10), "abc");
        assert_eq!(reportable("éééé", 2), "éé");
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
