//! TLS client-certificate login (the primary mode of issue 6: an RA operator certificate from
//! CA Personnes, like a clerk's CPS card).
//!
//! rustls has already checked the chain to CA Personnes, the validity dates and EKU
//! clientAuth (see [`crate::tls::load_server_config_with_clients`]). Here the certificate is
//! bound to an operator:
//! - the exact DER presented is a certificate of our store (same bytes; looked up by serial),
//!   issued with the `ra-operator` profile;
//! - its status in the store is good (not revoked, not suspended) and it is within validity;
//! - it was issued for a request whose subject is `RequestSubject::Operator(login)` (what
//!   `igc cert issue --profile ra-operator --idnat LOGIN` files): that login is the operator;
//! - the operator exists and is active.
//!
//! A session opened this way records the method [`crate::AUTH_CLIENT_CERT`] in every audit
//! entry, and every later request of the session must present the same binding again (a
//! certificate revoked during a session ends it at the next request).

use ca::domain::{Profile, Serial};
use ca::storage::{CertificateStatus, Operator, OperatorStatus, RequestSubject, Store};
use der::Decode as _;
use time::OffsetDateTime;

use crate::error::PortalResult;

/// Why a client certificate does not log anyone in (recorded in the journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unreadable,
    Unknown,
    NotOperatorProfile,
    Revoked,
    Suspended,
    Expired,
    NoOperator,
    OperatorDisabled,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Unreadable => "cert-unreadable",
            Refusal::Unknown => "cert-unknown",
            Refusal::NotOperatorProfile => "cert-not-ra-operator",
            Refusal::Revoked => "cert-revoked",
            Refusal::Suspended => "cert-suspended",
            Refusal::Expired => "cert-expired",
            Refusal::NoOperator => "cert-no-operator",
            Refusal::OperatorDisabled => "operator-disabled",
        }
    }

    /// The French message of the login page.
    pub fn french(self) -> &'static str {
        match self {
            Refusal::Unreadable | Refusal::Unknown => {
                "Ce certificat n'a pas été délivré par cette IGC : connexion refusée."
            }
            Refusal::NotOperatorProfile => {
                "Ce certificat n'est pas un certificat d'opérateur de l'autorité d'enregistrement."
            }
            Refusal::Revoked => "Ce certificat d'opérateur est révoqué : connexion refusée.",
            Refusal::Suspended => "Ce certificat d'opérateur est suspendu : connexion refusée.",
            Refusal::Expired => "Ce certificat d'opérateur a expiré : connexion refusée.",
            Refusal::NoOperator => {
                "Ce certificat n'est rattaché à aucun opérateur du portail : connexion refusée."
            }
            Refusal::OperatorDisabled => "Ce compte d'opérateur est désactivé.",
        }
    }
}

/// The operator `der` (a client certificate verified by rustls) logs in, with its serial.
pub async fn operator_of(
    store: &Store,
    der: &[u8],
) -> PortalResult<Result<(Operator, Serial), Refusal>> {
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return Ok(Err(Refusal::Unreadable));
    };
    let Ok(serial) = Serial::from_be_bytes(cert.tbs_certificate.serial_number.as_bytes()) else {
        return Ok(Err(Refusal::Unreadable));
    };
    let Some(record) = store.certificate(&serial).await? else {
        return Ok(Err(Refusal::Unknown));
    };
    if record.der != der {
        return Ok(Err(Refusal::Unknown));
    }
    if record.profile != Profile::RaOperator {
        return Ok(Err(Refusal::NotOperatorProfile));
    }
    match record.status {
        CertificateStatus::Good => {}
        CertificateStatus::Revoked { .. } => return Ok(Err(Refusal::Revoked)),
        CertificateStatus::OnHold { .. } => return Ok(Err(Refusal::Suspended)),
    }
    let now = OffsetDateTime::now_utc();
    if now < record.not_before || now > record.not_after {
        return Ok(Err(Refusal::Expired));
    }
    let Some(request_id) = record.request else {
        return Ok(Err(Refusal::NoOperator));
    };
    let login = match store.request(request_id).await?.map(|r| r.subject) {
        Some(RequestSubject::Operator(login)) => login,
        _ => return Ok(Err(Refusal::NoOperator)),
    };
    match store.operator(login.as_str()).await? {
        Some(o) if o.status == OperatorStatus::Active => Ok(Ok((o, serial))),
        Some(_) => Ok(Err(Refusal::OperatorDisabled)),
        None => Ok(Err(Refusal::NoOperator)),
    }
}
