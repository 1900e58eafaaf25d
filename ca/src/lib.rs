//! Certification authority core: the domain (professionals, professions, Orders, identifiers)
//! and the storage layer (the only module of the project that speaks SQL).
//!
//! No HSM and no X.509 here: issuance code records the certificates it produced through
//! [`storage::Store`], and reads professionals, requests and revocation state back from it.
#![forbid(unsafe_code)]

pub mod domain;
mod error;
pub mod storage;

pub use error::{Error, IdKind, Result};
