//! Certification authority core: the domain (professionals, professions, Orders, identifiers),
//! the storage layer (the only module of the project that speaks SQL), end-entity issuance,
//! CRLs and OCSP, the status changes of certificates and the sinks that publish them
//! ([`status`]), what is published to relying parties over HTTP ([`publication`]: CA
//! certificates, CRLs, the directory), and the RA's workflow ([`workflow`]: every operation of
//! the Orders' operators, with role, Order scope and four eyes decided once for the portal, its
//! API and the CLI). The X.509 building blocks (names, profiles, CSRs, the CRL encoder,
//! verification) are the `pkix` crate's. The closed vocabularies stored as text (profiles,
//! states, revocation reasons) sit at the bottom, in [`vocabulary`], below the crate's error.
//!
//! No PKCS#11 here: signing is generic over the RustCrypto signer traits, so the HSM adapter
//! of `hsm-config` plugs in from the binary and the RA portal can use this crate without
//! linking the HSM layer.
#![forbid(unsafe_code)]

pub mod credentials;
pub mod crl;
pub mod domain;
mod error;
pub mod issuance;
pub mod limits;
pub mod ocsp;
pub mod publication;
pub mod sealing;
pub mod status;
pub mod storage;
pub mod vocabulary;
pub mod workflow;

pub use error::{Error, IdKind, Result};
