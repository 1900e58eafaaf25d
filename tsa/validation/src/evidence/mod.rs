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
