//! Revocation evidence for long-term signatures (EN 319 122-1 B-LT/B-LTA) and for online
//! validation (ETSI EN 319 102-1 §5.2.5): fetching OCSP responses and CRLs from the AIA and
//! CDP of certificates within a [`fetch::FetchPolicy`].

pub mod fetch;

pub use fetch::{ca_issuers_url, crl_urls, ocsp_url, FetchError, FetchPolicy, Fetcher};
