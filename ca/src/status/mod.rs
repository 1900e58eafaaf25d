//! Status changes of certificates, and the publications that must follow them.
//!
//! When a certificate is issued, suspended, reinstated or revoked, what relying parties read
//! must follow: the CRLs that list it are signed again, and the OCSP responder drops its
//! cached answers for it and signs new ones. Each of those publications is a [`StatusSink`],
//! handed to the code that makes status changes when it is constructed
//! ([`Revocations::new`], [`crate::workflow::Workflow::new`]): nobody fires it by hand after
//! the change. The binary wires the CRL publisher and the OCSP responder of its instance
//! ([`StatusSinks`]); other instances learn of the change from the journal (their pollers).

mod revocations;
mod sinks;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::crl::PublishedCrl;
use crate::domain::{CaName, RevocationReason, Serial};
use crate::error::Error;

pub use revocations::{RevocationOutcome, Revocations};
pub use sinks::StatusSinks;

/// What happened to the certificates of a [`StatusChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Issued: good from now on.
    Issued,
    /// Suspended (certificateHold).
    Suspended,
    /// A suspension lifted: good again.
    Reinstated,
    /// Revoked for this reason.
    Revoked(RevocationReason),
}

/// A committed change of status of one or more certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub kind: ChangeKind,
    /// The certificates whose status changed, in the order the change listed them.
    pub serials: Vec<Serial>,
    /// The CRL partitions that list them, by issuing CA (empty for an issuance: no CRL lists
    /// a new certificate). A certificate whose record could not be read is missing here.
    pub partitions: BTreeMap<CaName, Vec<u32>>,
}

/// What the sinks published after a change.
#[derive(Debug, Default)]
pub struct SinkReport {
    /// The CRLs signed again (now served).
    pub crls: Vec<Arc<PublishedCrl>>,
    /// When a CRL could not be signed again (HSM unavailable, …): the error. The change is
    /// committed all the same, and the scheduled regeneration retries.
    pub crl_error: Option<Error>,
}

impl SinkReport {
    /// Adds what another sink published; the later error is kept.
    pub fn merge(&mut self, other: SinkReport) {
        self.crls.extend(other.crls);
        if other.crl_error.is_some() {
            self.crl_error = other.crl_error;
        }
    }
}

/// The future a sink returns.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = SinkReport> + Send + 'a>>;

/// What hears of every status change, once it is committed.
///
/// Implemented by the CRL publisher (signs the CRLs that list the certificates again) and by
/// the OCSP responder (drops its cached answers for them and signs new ones); [`StatusSinks`]
/// tells several. A sink does not fail the change: it reports what it could not publish.
pub trait StatusSink: Send + Sync + fmt::Debug {
    fn status_changed<'a>(&'a self, change: &'a StatusChange) -> SinkFuture<'a>;
}
