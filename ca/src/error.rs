//! The one error type of the crate.

use std::fmt;

use crate::vocabulary::{CertStatus, Profile, RequestStatus, UnknownValue};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which kind of identifier an identifier error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    Rpps,
    Adeli,
    Finess,
    Siren,
    Siret,
    IdNatPs,
    IdNatStruct,
    Departement,
    ProfessionCode,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Rpps => "RPPS",
            IdKind::Adeli => "ADELI",
            IdKind::Finess => "FINESS",
            IdKind::Siren => "SIREN",
            IdKind::Siret => "SIRET",
            IdKind::IdNatPs => "IdNat_PS",
            IdKind::IdNatStruct => "IdNat_Struct",
            IdKind::Departement => "département",
            IdKind::ProfessionCode => "profession code",
        })
    }
}

/// Every error the CA core can report: bad input (identifiers, names, reference data),
/// refused workflow transitions, and storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- identifiers and domain values -------------------------------------------------
    #[error("{kind}: expected {expected} characters, found {found}")]
    WrongLength {
        kind: IdKind,
        expected: usize,
        found: usize,
    },
    #[error("{kind}: character {position} is not a digit")]
    NotDigits { kind: IdKind, position: usize },
    #[error("{kind}: bad check digit: expected {expected}, found {found}")]
    BadCheckDigit {
        kind: IdKind,
        expected: char,
        found: char,
    },
    #[error("{kind}: {found:?} is not a département code")]
    BadDepartement { kind: IdKind, found: String },
    #[error("{kind}: unknown type prefix {found:?}")]
    UnknownPrefix { kind: IdKind, found: String },
    #[error("invalid {field}: {reason}")]
    InvalidValue { field: &'static str, reason: String },
    #[error("audit details must not carry secrets (key {key:?})")]
    SecretInAuditDetails { key: String },

    // ----- reference data ----------------------------------------------------------------
    #[error("reference data {source_name}: {reason}")]
    ReferenceData { source_name: String, reason: String },
    #[error("unknown profession code {code:?}")]
    UnknownProfession { code: String },

    // ----- workflow ----------------------------------------------------------------------
    #[error("professional {idnat} is already registered")]
    AlreadyRegistered { idnat: String },
    #[error("structure {idnat} is already registered")]
    StructureAlreadyRegistered { idnat: String },
    #[error("no professional {idnat}")]
    ProfessionalNotFound { idnat: String },
    #[error("no structure {idnat}")]
    StructureNotFound { idnat: String },
    #[error("professional {idnat} is not active (struck off)")]
    ProfessionalNotActive { idnat: String },
    #[error("profile {profile} does not fit this request: {reason}")]
    ProfileMismatch { profile: Profile, reason: String },
    #[error("no certificate request {id}")]
    RequestNotFound { id: i64 },
    #[error("certificate request {id} is {found}, expected {expected}")]
    RequestNotInState {
        id: i64,
        expected: RequestStatus,
        found: RequestStatus,
    },
    #[error("{actor} filed certificate request {id} and cannot also decide it (four eyes)")]
    SelfApproval { id: i64, actor: String },
    #[error(
        "the subject of certificate request {id} changed in the registry since it was filed: \
         file it again"
    )]
    RequestStale { id: i64 },
    #[error(
        "{actor} asked for operator account {login} (or is it) and cannot also confirm it \
         (dual control)"
    )]
    SelfConfirmation { login: String, actor: String },
    #[error(
        "operator {login} is one of the last {minimum} active administrators and cannot be \
         disabled (dual control needs two)"
    )]
    LastAdministrators { login: String, minimum: usize },
    /// An operator's password, TOTP code, session or certificate was not accepted.
    #[error("operator {login}: authentication refused: {why}")]
    AuthenticationRefused { login: String, why: String },
    /// An authenticated operator's role or scope does not allow the action.
    #[error("operator {actor} is not allowed to do this: {reason}")]
    NotPermitted { actor: String, reason: String },
    /// An operator tried to disable, enable or reset (`reset`) their own account.
    #[error("operator {login} cannot {} their own account", if *reset { "reset" } else { "change" })]
    OwnAccount { login: String, reset: bool },
    #[error("no import job {id} of this operator")]
    ImportJobNotFound { id: String },
    #[error("certificate {serial} is revoked: file a new request instead of renewing it")]
    RevokedNotRenewable { serial: String },
    #[error("certificate does not match request {id}: {reason}")]
    RequestMismatch { id: i64, reason: String },
    #[error(
        "time-stamp serial {serial} is already recorded for another token \
         (serials must never repeat: check the TSA instances that write to this database)"
    )]
    DuplicateTimestampSerial { serial: String },
    #[error("a certificate with serial {serial} already exists")]
    DuplicateSerial { serial: String },
    #[error("no certificate with serial {serial}")]
    CertificateNotFound { serial: String },
    #[error("certificate {serial} is already revoked")]
    AlreadyRevoked { serial: String },
    #[error("certificate {serial} is already on hold")]
    AlreadyOnHold { serial: String },
    #[error("certificate {serial} is {status}, not on hold")]
    NotOnHold { serial: String, status: CertStatus },

    // ----- lost or stolen cards ----------------------------------------------------------
    #[error("revocation code refused")]
    LossCodeRefused,
    #[error("too many wrong revocation codes: declarations are locked until {until}")]
    LossDeclarationLocked { until: String },
    #[error("no loss declaration {id}")]
    LossDeclarationNotFound { id: i64 },
    #[error("loss declaration {id} is already closed ({status})")]
    LossDeclarationClosed {
        id: i64,
        status: crate::vocabulary::LossStatus,
    },

    // ----- issuance ----------------------------------------------------------------------
    #[error("malformed certificate request: {reason}")]
    MalformedCsr { reason: String },
    #[error("certificate request key refused: {reason}")]
    UnsupportedKey { reason: String },
    #[error("certificate request signature does not verify (no proof of possession): {reason}")]
    CsrProofOfPossession { reason: String },
    #[error("policy configuration: {0}")]
    Config(String),
    #[error("no issuing CA issues {profile} certificates")]
    NoIssuer { profile: Profile },
    #[error("this CA ({ca}) does not issue {profile} certificates")]
    ProfileNotIssued { ca: String, profile: Profile },
    #[error("the {profile} certificate failed the pre-signing checks: {}", findings.join("; "))]
    Lint {
        profile: Profile,
        findings: Vec<String>,
    },
    #[error(
        "certificate would end on {not_after}, after the issuing CA certificate ({ca_not_after})"
    )]
    OutlivesCa {
        not_after: String,
        ca_not_after: String,
    },
    #[error("renewal of {serial} refused: {reason}")]
    RenewalRefused { serial: String, reason: String },
    #[error("X.509: {0}")]
    X509(#[from] pkix::X509Error),
    #[error("CA signer: {0}")]
    Signer(String),
    #[error("the CA signer's key is not the key of the CA certificate {ca}")]
    SignerKeyMismatch { ca: String },
    #[error("unknown CA {name:?}")]
    UnknownCa { name: String },
    #[error("{0}")]
    Task(String),
    #[error("secret sealing: {0}")]
    Sealing(#[from] pkix::sealing::SealError),

    // ----- storage -----------------------------------------------------------------------
    #[error("unsupported database URL scheme {scheme:?} (use sqlite:// or postgres://)")]
    UnsupportedDatabaseUrl { scheme: String },
    #[error("database row in {table} cannot be read back: {reason}")]
    CorruptRow { table: &'static str, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl From<UnknownValue> for Error {
    fn from(e: UnknownValue) -> Self {
        Error::invalid(e.what, e.reason())
    }
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidValue {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(table: &'static str, reason: impl fmt::Display) -> Self {
        Error::CorruptRow {
            table,
            reason: reason.to_string(),
        }
    }

    /// Whether the system failed (store unreachable, I/O, lock timeout, unreadable row,
    /// signer, configuration) rather than refused the values it was given (a rule of the
    /// domain or a constraint of the schema): a bulk job stops on the first, reports the
    /// second and goes on. Every variant is listed, so that a new one is classified here.
    pub fn is_system_failure(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(e)) => {
                matches!(e.kind(), sqlx::error::ErrorKind::Other)
            }
            Error::Database(_)
            | Error::CorruptRow { .. }
            | Error::Migration(_)
            | Error::UnsupportedDatabaseUrl { .. }
            | Error::Task(_)
            | Error::Sealing(_)
            | Error::Signer(_)
            | Error::SignerKeyMismatch { .. }
            | Error::UnknownCa { .. }
            | Error::Config(_)
            | Error::ReferenceData { .. }
            | Error::SecretInAuditDetails { .. }
            | Error::X509(_)
            // Serials are the system's own: a clash is a fault of the system, not of the input.
            | Error::DuplicateTimestampSerial { .. }
            | Error::DuplicateSerial { .. }
            // The issuing CA nears its end: a state of the system.
            | Error::OutlivesCa { .. } => true,
            Error::WrongLength { .. }
            | Error::NotDigits { .. }
            | Error::BadCheckDigit { .. }
            | Error::BadDepartement { .. }
            | Error::UnknownPrefix { .. }
            | Error::InvalidValue { .. }
            | Error::UnknownProfession { .. }
            | Error::AlreadyRegistered { .. }
            | Error::StructureAlreadyRegistered { .. }
            | Error::ProfessionalNotFound { .. }
            | Error::StructureNotFound { .. }
            | Error::ProfessionalNotActive { .. }
            | Error::ProfileMismatch { .. }
            | Error::RequestNotFound { .. }
            | Error::RequestNotInState { .. }
            | Error::SelfApproval { .. }
            | Error::SelfConfirmation { .. }
            | Error::RequestStale { .. }
            | Error::LastAdministrators { .. }
            | Error::AuthenticationRefused { .. }
            | Error::NotPermitted { .. }
            | Error::OwnAccount { .. }
            | Error::ImportJobNotFound { .. }
            | Error::RevokedNotRenewable { .. }
            | Error::RequestMismatch { .. }
            | Error::CertificateNotFound { .. }
            | Error::AlreadyRevoked { .. }
            | Error::AlreadyOnHold { .. }
            | Error::NotOnHold { .. }
            | Error::LossCodeRefused
            | Error::LossDeclarationLocked { .. }
            | Error::LossDeclarationNotFound { .. }
            | Error::LossDeclarationClosed { .. }
            | Error::MalformedCsr { .. }
            | Error::UnsupportedKey { .. }
            | Error::CsrProofOfPossession { .. }
            | Error::ProfileNotIssued { .. }
            | Error::NoIssuer { .. }
            | Error::Lint { .. }
            | Error::RenewalRefused { .. } => false,
        }
    }

    /// The SQL constraint class of a database error, when there is one.
    pub(crate) fn db_kind(&self) -> Option<sqlx::error::ErrorKind> {
        match self {
            Error::Database(sqlx::Error::Database(e)) => Some(e.kind()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_failures_stop_refusals_do_not() {
        assert!(Error::Database(sqlx::Error::PoolClosed).is_system_failure());
        assert!(Error::corrupt("t", "x").is_system_failure());
        assert!(Error::Task("panicked".into()).is_system_failure());
        assert!(!Error::AlreadyRegistered { idnat: "8".into() }.is_system_failure());
        assert!(!Error::invalid("f", "r").is_system_failure());
    }
}
