//! Professionals, structures, identity proofing and the actors of the audit journal.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::identifiers::{Adeli, Departement, IdNatPs, IdNatStruct, Rpps};
use super::professions::ProfessionCode;
use crate::error::{Error, Result};
use crate::vocabulary::spelled_enum;

/// Checks a free-text value: trimmed, 1..=`max` characters, no control characters.
fn clean_text(field: &'static str, s: &str, max: usize) -> Result<String> {
    let s = s.trim();
    let n = s.chars().count();
    if n == 0 {
        return Err(Error::invalid(field, "empty"));
    }
    if n > max {
        return Err(Error::invalid(
            field,
            format!("{n} characters, at most {max} allowed"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains control characters"));
    }
    Ok(s.to_owned())
}

/// A free-text newtype checked by [`clean_text`].
macro_rules! text_newtype {
    ($(#[$m:meta])* $t:ident, $field:literal, $max:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $t(String);

        string_newtype!($t);

        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                clean_text($field, s, $max).map($t)
            }
        }

        impl TryFrom<&str> for $t {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                s.parse()
            }
        }
    };
}

text_newtype!(
    /// A person's or an organisation's name as it goes into a certificate: trimmed,
    /// 1 to 64 characters (X.520 upper bound of organizationName / commonName), no control
    /// characters.
    Name,
    "name",
    64
);

text_newtype!(
    /// Who did something: a clerk's login, a component (`ca`, `ocsp`) or a ceremony operator.
    ActorId,
    "actor",
    128
);

text_newtype!(
    /// Name of an issuing CA as recorded with its certificates and CRLs ("CA Personnes").
    CaName,
    "CA name",
    64
);

/// Whether a professional may currently receive certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfessionalStatus {
    Active,
    /// Radié: no new certificate; existing ones are revoked (affiliationChanged).
    StruckOff,
}

spelled_enum!(ProfessionalStatus, "professional status", {
    Active => "active",
    StruckOff => "struck-off",
});

/// A registered health (or social / medico-social) professional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Professional {
    pub idnat: IdNatPs,
    pub surname: Name,
    /// Given name(s) as they appear on the certificate's GN.
    pub given_names: Name,
    pub profession: ProfessionCode,
    /// The structure the professional practises in, when registered with one.
    pub structure: Option<IdNatStruct>,
    pub status: ProfessionalStatus,
}

impl Professional {
    pub fn rpps(&self) -> Option<&Rpps> {
        self.idnat.rpps()
    }

    pub fn adeli(&self) -> Option<&Adeli> {
        self.idnat.adeli()
    }

    pub fn is_active(&self) -> bool {
        self.status == ProfessionalStatus::Active
    }
}

/// A health or medico-social structure (establishment, practice, company).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Structure {
    pub idnat: IdNatStruct,
    pub name: Name,
    pub departement: Departement,
}

/// The identity document shown at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityDocumentType {
    /// Carte nationale d'identité.
    Cni,
    /// Passeport.
    Passport,
    /// Titre de séjour.
    TitreDeSejour,
    /// Permis de conduire (format européen).
    PermisDeConduire,
}

spelled_enum!(IdentityDocumentType, "identity document type", {
    Cni => "cni",
    Passport => "passport",
    TitreDeSejour => "titre-de-sejour",
    PermisDeConduire => "permis-de-conduire",
});

impl IdentityDocumentType {
    pub const ALL: [IdentityDocumentType; 4] = [
        IdentityDocumentType::Cni,
        IdentityDocumentType::Passport,
        IdentityDocumentType::TitreDeSejour,
        IdentityDocumentType::PermisDeConduire,
    ];
}

/// How the identity was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProofingMode {
    FaceToFace,
    Remote,
}

spelled_enum!(ProofingMode, "proofing mode", {
    FaceToFace => "face-to-face",
    Remote => "remote",
});

/// Number of an identity document: 1 to 32 ASCII letters and digits (spaces are dropped,
/// letters upper-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentNumber(String);

impl DocumentNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DocumentNumber {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "identity document number",
                "expected 1 to 32 letters and digits",
            ));
        }
        Ok(DocumentNumber(s))
    }
}

impl TryFrom<String> for DocumentNumber {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DocumentNumber> for String {
    fn from(v: DocumentNumber) -> String {
        v.0
    }
}

/// Record of the identity check made when a professional is registered. The document number
/// is kept in the registry but never copied into the audit journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProofing {
    pub document_type: IdentityDocumentType,
    pub document_number: DocumentNumber,
    pub mode: ProofingMode,
    pub checked_by: ActorId,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

/// Who performs an operation, and how they authenticated; recorded in every audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub id: ActorId,
    /// How the actor authenticated: `tls-client-cert`, `password+totp`, `system`, `ceremony`…
    pub auth_method: AuthMethod,
}

text_newtype!(
    /// Free-form name of an authentication method, chosen by the component that authenticated
    /// the actor.
    AuthMethod,
    "authentication method",
    64
);

impl Actor {
    pub fn new(id: &str, auth_method: &str) -> Result<Self> {
        Ok(Actor {
            id: id.parse()?,
            auth_method: auth_method.parse()?,
        })
    }

    /// An internal component acting on its own (auth method `system`).
    pub fn system(component: &str) -> Result<Self> {
        Actor::new(component, "system")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn names() {
        assert_eq!("  Dupont ".parse::<Name>().unwrap().as_str(), "Dupont");
        assert!("".parse::<Name>().is_err());
        assert!("   ".parse::<Name>().is_err());
        assert!("a\u{0}b".parse::<Name>().is_err());
        assert!("x".repeat(65).parse::<Name>().is_err());
        assert!("é".repeat(64).parse::<Name>().is_ok());
    }

    #[test]
    fn document_numbers() {
        assert_eq!(
            "x4rt 12 ab".parse::<DocumentNumber>().unwrap().as_str(),
            "X4RT12AB"
        );
        assert!("".parse::<DocumentNumber>().is_err());
        assert!("AB-12".parse::<DocumentNumber>().is_err());
        assert!("A".repeat(33).parse::<DocumentNumber>().is_err());
    }

    #[test]
    fn enums_round_trip() {
        for d in IdentityDocumentType::ALL {
            assert_eq!(d.as_str().parse::<IdentityDocumentType>().unwrap(), d);
        }
        for m in [ProofingMode::FaceToFace, ProofingMode::Remote] {
            assert_eq!(m.as_str().parse::<ProofingMode>().unwrap(), m);
        }
        for s in [ProfessionalStatus::Active, ProfessionalStatus::StruckOff] {
            assert_eq!(s.as_str().parse::<ProfessionalStatus>().unwrap(), s);
        }
        assert_eq!(
            serde_json::to_string(&IdentityDocumentType::TitreDeSejour).unwrap(),
            "\"titre-de-sejour\""
        );
    }
}
