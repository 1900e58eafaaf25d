//! The CA's domain: identifiers, professions and Orders, professionals and structures,
//! certificate vocabulary. Pure data and rules; no I/O except loading reference tables.

/// The string plumbing of a newtype over its canonical text, `struct T(String)` built only
/// through `FromStr` (written by hand: that is where the value is checked): `as_str`,
/// `Display`, `AsRef<str>`, `From<T> for String` and `TryFrom<String>` (for serde's
/// `try_from = "String"`).
macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            /// The canonical text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }

        impl TryFrom<String> for $t {
            type Error = $crate::Error;
            fn try_from(s: String) -> $crate::Result<Self> {
                s.parse()
            }
        }
    };
}

mod certificates;
mod identifiers;
mod people;
mod professions;

pub use crate::vocabulary::{
    CertStatus, LossChannel, LossStatus, Profile, RequestStatus, RevocationReason, SubjectKind,
};
pub use certificates::Serial;
pub use identifiers::{Adeli, Departement, Finess, IdNatPs, IdNatStruct, Rpps, Siren, Siret};
pub use people::{
    Actor, ActorId, AuthMethod, CaName, DocumentNumber, IdentityDocumentType, IdentityProofing,
    Name, Professional, ProfessionalStatus, ProofingMode, Structure,
};
pub use professions::{
    DocumentType, Order, Profession, ProfessionCategory, ProfessionCode, ProfessionTable,
    RegistrationAuthority, SigningDecision, SigningRule, SigningRules,
};
