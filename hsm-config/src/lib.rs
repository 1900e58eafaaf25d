//! The only crate of the project that links PKCS#11.
//!
//! - [`token`]: a loaded module, a logged-in token, a bounded session pool
//!   with recovery after the token goes away;
//! - [`keys`]: key generation inside the token, public-key export;
//! - [`sealer`]: AES-256-GCM sealing with a key that never leaves the token;
//! - [`signer`]: one signer adapter for rcgen and the RustCrypto builders;
//! - [`ceremony`]: the key-ceremony engine (one YAML file per ceremony).
// One audited `unsafe` block: passing the module's initialisation string to C_Initialize
// (token.rs); everything else stays safe.
#![deny(unsafe_code)]

pub mod ceremony;
pub mod check;
pub mod config;
pub mod error;
pub mod keys;
pub mod sealer;
pub mod signer;
pub mod token;

pub use config::{HsmConfig, ModuleLocation};
pub use error::{Error, Result};
pub use keys::{KeyInfo, KeySpec};
pub use sealer::HsmSealer;
pub use signer::{HsmSignature, HsmSigner, SignMechanism, SignatureScheme};
pub use token::{Module, PoolOptions, Token};

/// Re-exported so that tests and tools can name PKCS#11 types without a
/// direct dependency.
pub use cryptoki;
