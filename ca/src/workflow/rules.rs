//! The rules every decision of the workflow applies: which role may do what ([`role_may`]),
//! which objects an operator acts on ([`Scope`]), four eyes ([`check_distinct`]). Deny by
//! default.

use std::fmt;

use super::AuthenticatedOperator;
use crate::domain::{Order, RegistrationAuthority};
use crate::error::{Error, Result};
use crate::storage::{OperatorRole, OperatorStatus};

/// What an operator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duty {
    /// See professionals, their requests and certificates.
    View,
    /// File a request (or a renewal).
    File,
    /// Approve or reject a request, and issue an approved one.
    Decide,
    /// Register a professional (identity proofing), one by one or by import.
    Register,
    /// Suspend, reinstate or revoke a certificate.
    ManageCertificates,
    /// Read the whole journal.
    ReadJournal,
    /// Create, confirm, disable, enable and reset operator accounts.
    ManageOperators,
}

impl fmt::Display for Duty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Duty::View => "see professionals, their requests and certificates",
            Duty::File => "file certificate requests",
            Duty::Decide => "approve or reject certificate requests",
            Duty::Register => "register professionals",
            Duty::ManageCertificates => "suspend, reinstate or revoke certificates",
            Duty::ReadJournal => "read the journal",
            Duty::ManageOperators => "manage operator accounts",
        })
    }
}

/// Whether `role` may perform `duty` (deny by default).
pub fn role_may(role: OperatorRole, duty: Duty) -> bool {
    match duty {
        Duty::View | Duty::File | Duty::Register | Duty::ManageCertificates => matches!(
            role,
            OperatorRole::Clerk | OperatorRole::Approver | OperatorRole::RegistrationOffice
        ),
        Duty::Decide => matches!(
            role,
            OperatorRole::Approver | OperatorRole::RegistrationOffice
        ),
        Duty::ReadJournal => role == OperatorRole::Auditor,
        Duty::ManageOperators => role == OperatorRole::Administrator,
    }
}

/// Which professionals an operator acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Order(Order),
    RegistrationOffice,
    /// Auditors and administrators: no professional.
    Nobody,
}

pub fn scope_of(role: OperatorRole, order: Option<Order>) -> Scope {
    match (role, order) {
        (OperatorRole::Clerk | OperatorRole::Approver, Some(o)) => Scope::Order(o),
        (OperatorRole::RegistrationOffice, _) => Scope::RegistrationOffice,
        _ => Scope::Nobody,
    }
}

impl Scope {
    pub fn covers(self, authority: RegistrationAuthority) -> bool {
        match (self, authority) {
            (Scope::Order(a), RegistrationAuthority::Order(b)) => a == b,
            (Scope::RegistrationOffice, RegistrationAuthority::RegistrationOffice) => true,
            _ => false,
        }
    }

    pub fn label(self) -> String {
        match self {
            Scope::Order(o) => o.french_name().to_owned(),
            Scope::RegistrationOffice => "Bureau d'enregistrement (professions sans Ordre)".into(),
            Scope::Nobody => "—".into(),
        }
    }
}

fn authority_label(a: RegistrationAuthority) -> String {
    match a {
        RegistrationAuthority::Order(o) => o.french_name().to_owned(),
        RegistrationAuthority::RegistrationOffice => "the registration office".to_owned(),
    }
}

fn refuse(who: &AuthenticatedOperator, reason: String) -> Error {
    Error::NotPermitted {
        actor: who.login().to_string(),
        reason,
    }
}

/// May `who` perform `duty` at all: an active operator whose role allows it.
pub(super) fn allow_role(who: &AuthenticatedOperator, duty: Duty) -> Result<()> {
    let o = who.operator();
    if o.status != OperatorStatus::Active {
        return Err(refuse(who, "the operator is disabled".to_owned()));
    }
    if !role_may(o.role, duty) {
        return Err(refuse(who, format!("the {} role may not {duty}", o.role)));
    }
    Ok(())
}

/// May `who` perform `duty` on an object registered by `authority`: [`allow_role`], and the
/// object in the operator's scope.
pub(super) fn allow(
    who: &AuthenticatedOperator,
    duty: Duty,
    authority: RegistrationAuthority,
) -> Result<()> {
    allow_role(who, duty)?;
    if !who.scope().covers(authority) {
        return Err(refuse(
            who,
            format!(
                "may not {duty} for {}: outside the operator's scope ({})",
                authority_label(authority),
                match who.scope() {
                    Scope::Order(ord) => ord.french_name().to_owned(),
                    Scope::RegistrationOffice => "the registration office".to_owned(),
                    Scope::Nobody => "none".to_owned(),
                }
            ),
        ));
    }
    Ok(())
}

/// Refuses the same login as filer and approver before anything else is done (four eyes).
pub fn check_distinct(filer: &str, approver: &str) -> Result<()> {
    if filer.trim() == approver.trim() {
        return Err(Error::NotPermitted {
            actor: approver.trim().to_owned(),
            reason: "the approver must be a different operator from the one filing the request \
                     (four eyes)"
                .to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert!(!role_may(OperatorRole::Administrator, Duty::Decide));
        assert!(!role_may(OperatorRole::Administrator, Duty::File));
        assert!(!role_may(OperatorRole::Administrator, Duty::View));
        assert!(!role_may(OperatorRole::Auditor, Duty::File));
        assert!(!role_may(OperatorRole::Clerk, Duty::Decide));
        assert!(role_may(OperatorRole::Clerk, Duty::File));
        assert!(role_may(OperatorRole::Approver, Duty::Decide));
        assert!(role_may(OperatorRole::RegistrationOffice, Duty::Decide));
        assert!(role_may(OperatorRole::Auditor, Duty::ReadJournal));
        assert!(!role_may(OperatorRole::Administrator, Duty::ReadJournal));
        assert!(role_may(OperatorRole::Administrator, Duty::ManageOperators));
        assert!(!role_may(
            OperatorRole::RegistrationOffice,
            Duty::ManageOperators
        ));
    }

    #[test]
    fn distinct() {
        assert!(check_distinct("a", "a").is_err());
        assert!(check_distinct("a", " a ").is_err());
        assert!(check_distinct("a", "b").is_ok());
    }
}
