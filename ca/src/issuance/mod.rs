//! Issuance of end-entity certificates (DESIGN.md §3, §5): typed profiles, subject names from
//! the registry, CSR checks (proof of possession, key policy), lint before signing, one
//! transaction for certificate + request + audit.
//!
//! Entry points: [`CertificateAuthority::issue`], [`check_csr`]; CRLs are in [`crate::crl`],
//! revocation in [`crate::status`].

mod authority;
mod commit;
pub mod config;
pub mod lint;
pub mod profile;
mod signer;
pub mod subject;

pub use authority::{
    check_csr, subject_text, CertificateAuthority, IssuancePreview, IssueRequest, IssuedCertificate,
};
pub use config::{CrlPolicy, PolicyConfig, ProfilePolicies, ProfilePolicy};
pub use signer::CaSigner;
