//! The CA's domain: identifiers, professions and Orders, professionals and structures,
//! certificate vocabulary. Pure data and rules; no I/O except loading reference tables.

mod certificates;
mod identifiers;
mod people;
mod professions;

pub use certificates::{CertStatus, Profile, RequestStatus, RevocationReason, Serial, SubjectKind};
pub use identifiers::{Adeli, Departement, Finess, IdNatPs, IdNatStruct, Rpps, Siren, Siret};
pub use people::{
    Actor, ActorId, AuthMethod, CaName, DocumentNumber, IdentityDocumentType, IdentityProofing,
    Name, Professional, ProfessionalStatus, ProofingMode, Structure,
};
pub use professions::{
    DocumentType, Order, Profession, ProfessionCategory, ProfessionCode, ProfessionTable,
    RegistrationAuthority, SigningDecision, SigningRule, SigningRules,
};
