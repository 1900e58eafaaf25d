//! Revocation evidence for long-term signatures (EN 319 122-1 B-LT/B-LTA) and for online
//! validation (ETSI EN 319 102-1 §5.2.5).
//!
//! - [`fetch`]: OCSP responses and CRLs fetched from the AIA and CDP of certificates, within a
//!   [`FetchPolicy`] (allow-listed hosts, time and size bounds, plain http://).
//! - [`ocsp`]: OCSP requests, and the checks of a response as a relying party.
//! - [`EvidenceRevocationSource`]: the evidence a signature carries, offline;
//!   [`OnlineRevocationSource`]: the evidence fetched, cached until nextUpdate;
//!   [`collect_evidence`]: verified evidence for embedding.
//!
//! Freshness (EN 319 102-1 §5.2.5.4, [`is_fresh`]): evidence answers for the time of
//! interest `at` when issued no earlier than `at` minus its validity period (nextUpdate −
//! thisUpdate), or, without nextUpdate, at or after `at`; the most recent such evidence
//! decides.

pub mod fetch;
pub mod ocsp;
mod source;

pub use fetch::{ca_issuers_url, crl_urls, ocsp_url, FetchError, FetchPolicy, Fetcher};
pub use ocsp::{check_ocsp_response, ocsp_request, OcspEvidence, OcspStatus};
pub use source::{
    collect_evidence, is_fresh, Evidence, EvidenceRevocationSource, OnlineRevocationSource,
    ONLINE_CACHE_DEFAULT,
};

/// Signature checks already passed, process-wide and bounded: the same OCSP responses and
/// CRLs come back in every long-term signature of a period. Keyed by a SHA-256 over what was
/// signed, the signature and the signer's certificate; successes only.
pub(crate) struct VerifiedSignatures {
    set: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>>,
    max: usize,
}

impl VerifiedSignatures {
    /// An empty set that starts afresh beyond `max` entries.
    pub(crate) const fn new(max: usize) -> Self {
        VerifiedSignatures {
            set: std::sync::OnceLock::new(),
            max,
        }
    }

    /// `Ok` when `key` was verified before, else the result of `verify` (remembered when
    /// `Ok`). A `None` key (the parts could not be encoded) is never remembered.
    pub(crate) fn check(
        &self,
        key: Option<[u8; 32]>,
        verify: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let set = self.set.get_or_init(Default::default);
        let lock = || set.lock().unwrap_or_else(|p| p.into_inner());
        if key.is_some_and(|k| lock().contains(&k)) {
            return Ok(());
        }
        verify()?;
        if let Some(k) = key {
            let mut s = lock();
            if s.len() >= self.max {
                s.clear();
            }
            s.insert(k);
        }
        Ok(())
    }
}
