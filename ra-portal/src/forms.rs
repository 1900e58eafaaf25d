//! What the operators type, read and checked the same way for the HTML forms, the JSON API
//! and the CSV import: identifiers, registrations, request profiles, CSRs, revocation reasons.
//! Nothing here writes; the decisions are the workflow's.

use std::str::FromStr;

use ca::domain::{
    IdNatPs, IdentityDocumentType, IdentityProofing, Name, Professional, ProfessionalStatus,
    Profile, ProofingMode, RevocationReason, Rpps,
};
use ca::issuance::check_csr;
use ca::workflow::{AuthenticatedOperator, Workflow};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::messages::{self, french};
use crate::views::{FieldErrors, RegisterForm};

/// Parses an RPPS (11 digits) or an IdNat_PS (12 or 10 characters).
pub(crate) fn parse_idnat(s: &str) -> Result<IdNatPs, ca::Error> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<Rpps>().map(IdNatPs::from);
    }
    s.parse()
}

/// Checks a registration (form or CSV row) with the rules of the portal: identifiers (Luhn),
/// names, profession in the operator's scope, identity proofing. Writes nothing.
pub(crate) fn validate_registration(
    workflow: &Workflow,
    me: &AuthenticatedOperator,
    f: &RegisterForm,
) -> Result<(Professional, IdentityProofing), FieldErrors> {
    let mut errors = FieldErrors::default();
    let idnat = parse_idnat(&f.idnat)
        .map_err(|e| errors.add("idnat", french(&e)))
        .ok();
    let surname: Option<Name> = parsed(
        &mut errors,
        "surname",
        &f.surname,
        "Le nom est obligatoire (64 caractères au plus).",
    );
    let given: Option<Name> = parsed(
        &mut errors,
        "given_names",
        &f.given_names,
        "Le ou les prénoms sont obligatoires (64 caractères au plus).",
    );
    let profession = match f.profession.trim().parse::<ca::domain::ProfessionCode>() {
        // The workflow decides (role, Order); the form says it next to the field.
        Ok(code) => match workflow.check_register(me, &code) {
            Ok(()) => Some(code),
            Err(ca::Error::NotPermitted { .. }) => {
                errors.add(
                    "profession",
                    format!(
                        "Cette profession ne relève pas de votre périmètre ({}).",
                        me.scope().label()
                    ),
                );
                None
            }
            Err(e) => {
                errors.add("profession", french(&e));
                None
            }
        },
        Err(e) => {
            errors.add("profession", french(&e));
            None
        }
    };
    let document_type: Option<IdentityDocumentType> = parsed(
        &mut errors,
        "document_type",
        &f.document_type,
        "Type de pièce d'identité inconnu.",
    );
    let document_number = parsed(
        &mut errors,
        "document_number",
        &f.document_number,
        "Le numéro de pièce doit comporter de 1 à 32 lettres et chiffres.",
    );
    let mode: Option<ProofingMode> = parsed(
        &mut errors,
        "mode",
        &f.mode,
        "Modalité de vérification inconnue.",
    );
    let (
        Some(idnat),
        Some(surname),
        Some(given_names),
        Some(profession),
        Some(document_type),
        Some(document_number),
        Some(mode),
    ) = (
        idnat,
        surname,
        given,
        profession,
        document_type,
        document_number,
        mode,
    )
    else {
        return Err(errors);
    };
    let professional = Professional {
        idnat,
        surname,
        given_names,
        profession,
        structure: None,
        status: ProfessionalStatus::Active,
    };
    let proofing = IdentityProofing {
        document_type,
        document_number,
        mode,
        checked_by: me.login().clone(),
        checked_at: OffsetDateTime::now_utc(),
    };
    Ok((professional, proofing))
}

/// `value`, trimmed, as a `T`; or `None`, with `message` noted against `field`.
fn parsed<T: FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    message: &str,
) -> Option<T> {
    value
        .trim()
        .parse()
        .map_err(|_| errors.add(field, message))
        .ok()
}

/// The profile of a professional's request: AUTH, SIGN or CONF.
pub(crate) fn request_profile(s: Option<&str>) -> Result<Profile, &'static str> {
    match s.map(str::parse::<Profile>) {
        Some(Ok(pr @ (Profile::Auth | Profile::Sign | Profile::Conf))) => Ok(pr),
        _ => Err("Choisissez l'usage : AUTH, SIGN ou CONF."),
    }
}

/// DER of a CSR given as PEM or DER, checked (proof of possession, key policy).
pub(crate) fn checked_csr_der(csr: &[u8]) -> Result<Vec<u8>, String> {
    if csr.is_empty() {
        return Err(
            "Joignez la demande de certificat (CSR) du professionnel, en PEM ou DER.".into(),
        );
    }
    let der = if csr.trim_ascii_start().starts_with(b"-----BEGIN") {
        match pem::parse(csr.trim_ascii()) {
            Ok(p) if p.tag() == "CERTIFICATE REQUEST" || p.tag() == "NEW CERTIFICATE REQUEST" => {
                p.into_contents()
            }
            Ok(p) => {
                return Err(format!(
                    "Le fichier PEM contient « {} » et non une demande de certificat \
                     (CERTIFICATE REQUEST).",
                    p.tag()
                ))
            }
            Err(_) => return Err("Le fichier PEM est illisible.".into()),
        }
    } else {
        csr.to_vec()
    };
    check_csr(&der).map_err(|e| french(&e))?;
    Ok(der)
}

/// A form or JSON body that gives only a reason: a rejection's (free text) or a revocation's
/// (RFC 5280 name), for the pages and the API alike.
#[derive(Debug, Default, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    pub(crate) reason: String,
}

pub(crate) const REJECT_REASON_MISSING: &str =
    "Indiquez le motif du rejet (500 caractères au plus).";

pub(crate) const UNKNOWN_REVOCATION_REASON: &str = "Motif de révocation inconnu.";

/// A revocation reason an operator may choose (RFC 5280 name, e.g. `keyCompromise`).
pub(crate) fn revocation_reason(s: &str) -> Option<RevocationReason> {
    s.trim()
        .parse::<RevocationReason>()
        .ok()
        .filter(|r| messages::REVOCATION_REASONS.contains(r))
}

// ----- daily work (issue 25) -----------------------------------------------------------------

/// The query of a listing: its page (1 when absent or unreadable) and, for the search, what
/// was typed, and for the expiring certificates, the horizon in days.
#[derive(Debug, Default, Deserialize)]
pub struct ListingQuery {
    #[serde(default)]
    pub(crate) q: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    pub(crate) jours: Option<String>,
}

/// Highest page number a link may ask for.
const MAX_PAGE: u32 = 100_000;

impl ListingQuery {
    /// The page asked for, 1 to [`MAX_PAGE`]; anything else is page 1.
    pub(crate) fn page(&self) -> u32 {
        self.page
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .unwrap_or(1)
    }
}

/// Default horizon of the expiring certificates, in days.
pub(crate) const DEFAULT_EXPIRY_DAYS: u32 = 60;

/// The horizon of the expiring certificates: `jours` (1 to 3650), the default when absent.
pub(crate) fn expiry_days(jours: Option<&str>) -> Result<u32, String> {
    let range = ca::workflow::EXPIRY_DAYS;
    match jours.map(str::trim) {
        None | Some("") => Ok(DEFAULT_EXPIRY_DAYS),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|d| range.contains(d))
            .ok_or_else(|| {
                format!(
                    "Indiquez un nombre de jours entre {} et {}.",
                    range.start(),
                    range.end()
                )
            }),
    }
}

/// What the search box holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SearchInput {
    IdNat(IdNatPs),
    Serial(ca::domain::Serial),
    NamePart(String),
}

impl SearchInput {
    /// What the workflow looks for.
    pub(crate) fn as_search(&self) -> ca::workflow::Search<'_> {
        match self {
            SearchInput::IdNat(id) => ca::workflow::Search::IdNat(id),
            SearchInput::Serial(serial) => ca::workflow::Search::Serial(serial),
            SearchInput::NamePart(part) => ca::workflow::Search::NamePart(part),
        }
    }
}

/// Reads the search box: an RPPS or IdNat_PS, else a certificate serial (hex, `:` allowed)
/// when it holds a digit, else part of a name. Names hold no digit; a text with digits that
/// is neither identifier is the IdNat's error.
pub(crate) fn search_input(q: &str) -> Result<SearchInput, String> {
    let q = q.trim();
    if !q.chars().any(|c| c.is_ascii_digit()) {
        return Ok(SearchInput::NamePart(q.to_owned()));
    }
    let idnat_error = match parse_idnat(q) {
        Ok(id) => return Ok(SearchInput::IdNat(id)),
        Err(e) => french(&e),
    };
    let hex = q.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    match q.parse::<ca::domain::Serial>() {
        Ok(serial) if hex => Ok(SearchInput::Serial(serial)),
        _ => Err(format!(
            "{idnat_error} Ni identifiant de professionnel, ni numéro de série de certificat \
             (hexadécimal)."
        )),
    }
}

/// A cell of a CSV export, quoted (RFC 4180) and defused: a cell a spreadsheet would read as
/// a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading
/// apostrophe (OWASP, CSV injection).
pub(crate) fn csv_cell(s: &str) -> String {
    let defused = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// A CSV line of `cells` (`;`-separated, as French spreadsheets expect), CRLF-terminated.
pub(crate) fn csv_line(cells: &[&str]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(";");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod daily_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("Dupont"), "\"Dupont\"");
        assert_eq!(csv_cell("=1+1"), "\"'=1+1\"");
        assert_eq!(csv_cell("+33"), "\"'+33\"");
        assert_eq!(csv_cell("-2"), "\"'-2\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("\tx"), "\"'\tx\"");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("a\"b;c\nd"), "\"a\"\"b;c\nd\"");
        assert_eq!(csv_line(&["a", "=b"]), "\"a\";\"'=b\"\r\n");
    }

    #[test]
    fn search_box() {
        assert_eq!(
            search_input(" lefè ").unwrap(),
            SearchInput::NamePart("lefè".into())
        );
        assert!(matches!(
            search_input("10003456786").unwrap(),
            SearchInput::IdNat(_)
        ));
        assert!(matches!(
            search_input("0A:1B:2c").unwrap(),
            SearchInput::Serial(_)
        ));
        assert!(search_input("12 rue").is_err());
    }

    #[test]
    fn listing_parameters() {
        let q = |page: &str| ListingQuery {
            page: page.into(),
            ..ListingQuery::default()
        };
        assert_eq!(q("").page(), 1);
        assert_eq!(q("3").page(), 3);
        assert_eq!(q("0").page(), 1);
        assert_eq!(q("abc").page(), 1);
        assert_eq!(expiry_days(None).unwrap(), 60);
        assert_eq!(expiry_days(Some("90")).unwrap(), 90);
        assert!(expiry_days(Some("0")).is_err());
        assert!(expiry_days(Some("3651")).is_err());
        assert!(expiry_days(Some("x")).is_err());
    }
}
