//! Certification authority core: the domain (professionals, professions, Orders, identifiers),
//! the storage layer (the only module of the project that speaks SQL), and X.509 construction
//! and checking ([`x509`], [`verify`]).
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
pub mod sealing;
pub mod storage;
pub mod verify;
pub mod workflow;
pub mod x509;

pub use error::{Error, IdKind, Result};
