//! Revocation, suspension and reinstatement, each followed by the status sink: the CRLs it
//! affects (the certificate's partition and the full CRL of its CA) are signed again, and
//! OCSP, when the binary wired it, answers the new status at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;

use super::{ChangeKind, StatusChange, StatusSink};
use crate::crl::PublishedCrl;
use crate::domain::{Actor, CaName, IdNatPs, RevocationReason, Serial};
use crate::error::{Error, Result};
use crate::storage::Store;

/// What a revocation operation changed.
#[derive(Debug)]
pub struct RevocationOutcome {
    /// Certificates whose state changed, sorted.
    pub serials: Vec<Serial>,
    /// The CRLs regenerated afterwards (now served).
    pub crls: Vec<Arc<PublishedCrl>>,
    /// When the state change was committed but a CRL could not be regenerated (HSM
    /// unavailable, …): the error. The scheduled regeneration retries.
    pub crl_error: Option<Error>,
}

/// Status changes of certificates on top of the store, each told to the sink given at
/// construction (the CRL publisher; in `igc serve`, the OCSP responder too).
#[derive(Debug, Clone)]
pub struct Revocations {
    store: Store,
    sink: Arc<dyn StatusSink>,
}

impl Revocations {
    /// `sink` hears of every change made here once it is committed: usually the CRL
    /// publisher, or [`StatusSinks`](super::StatusSinks) of the publisher and the OCSP
    /// responder.
    pub fn new(store: Store, sink: Arc<dyn StatusSink>) -> Self {
        Revocations { store, sink }
    }

    pub fn sink(&self) -> &Arc<dyn StatusSink> {
        &self.sink
    }

    /// Revokes a certificate with an RFC 5280 reason (`certificateHold` is refused: use
    /// [`suspend`](Self::suspend)). A held certificate can be revoked; revoking a revoked one
    /// is [`Error::AlreadyRevoked`] and changes nothing.
    pub async fn revoke(
        &self,
        serial: &Serial,
        reason: RevocationReason,
        actor: &Actor,
    ) -> Result<RevocationOutcome> {
        if reason == RevocationReason::CertificateHold {
            return Err(Error::invalid(
                "revocation reason",
                "certificateHold suspends a certificate: use suspend, which can be undone",
            ));
        }
        self.store
            .revoke(serial, reason, OffsetDateTime::now_utc(), actor)
            .await?;
        Ok(self
            .changed(ChangeKind::Revoked(reason), vec![serial.clone()])
            .await)
    }

    /// Suspends a certificate (certificateHold): listed on the CRLs with reason
    /// certificateHold until reinstated or revoked.
    pub async fn suspend(&self, serial: &Serial, actor: &Actor) -> Result<RevocationOutcome> {
        self.store
            .revoke(
                serial,
                RevocationReason::CertificateHold,
                OffsetDateTime::now_utc(),
                actor,
            )
            .await?;
        Ok(self
            .changed(ChangeKind::Suspended, vec![serial.clone()])
            .await)
    }

    /// Lifts a suspension: the certificate is good again and leaves the next CRLs.
    pub async fn reinstate(&self, serial: &Serial, actor: &Actor) -> Result<RevocationOutcome> {
        self.store.reinstate(serial, actor).await?;
        Ok(self
            .changed(ChangeKind::Reinstated, vec![serial.clone()])
            .await)
    }

    /// Revokes every certificate of a professional that is good or on hold.
    pub async fn revoke_all_of_professional(
        &self,
        idnat: &IdNatPs,
        reason: RevocationReason,
        actor: &Actor,
    ) -> Result<RevocationOutcome> {
        let serials = self
            .store
            .revoke_all_of_professional(idnat, reason, OffsetDateTime::now_utc(), actor)
            .await?;
        Ok(self.changed(ChangeKind::Revoked(reason), serials).await)
    }

    /// Strikes a professional off (radiation): no new certificate, and every certificate
    /// still good or on hold revoked with affiliationChanged, in one transaction.
    pub async fn strike_off(&self, idnat: &IdNatPs, actor: &Actor) -> Result<RevocationOutcome> {
        let serials = self
            .store
            .strike_off_professional(idnat, OffsetDateTime::now_utc(), actor)
            .await?;
        Ok(self
            .changed(
                ChangeKind::Revoked(RevocationReason::AffiliationChanged),
                serials,
            )
            .await)
    }

    /// Tells the sink that `serial` was just issued (no CRL lists it: OCSP only).
    pub async fn issued(&self, serial: &Serial) {
        let change = StatusChange {
            kind: ChangeKind::Issued,
            serials: vec![serial.clone()],
            partitions: BTreeMap::new(),
        };
        // An issuance touches no CRL: nothing to report.
        let _ = self.sink.status_changed(&change).await;
    }

    /// Tells the sink of a change of `serials` committed elsewhere in the crate (a loss
    /// declaration and its decision change several certificates in their own transaction).
    pub(crate) async fn announce(
        &self,
        kind: ChangeKind,
        serials: Vec<Serial>,
    ) -> RevocationOutcome {
        self.changed(kind, serials).await
    }

    /// Tells the sink of a committed change of `serials`, with the CRL partitions that list
    /// them.
    async fn changed(&self, kind: ChangeKind, serials: Vec<Serial>) -> RevocationOutcome {
        let mut partitions: BTreeMap<CaName, Vec<u32>> = BTreeMap::new();
        let mut lookup_error = None;
        for serial in &serials {
            match self.store.certificate(serial).await {
                Ok(Some(rec)) => partitions
                    .entry(rec.issuer)
                    .or_default()
                    .push(rec.crl_partition),
                Ok(None) => {}
                Err(e) => lookup_error = Some(e),
            }
        }
        let change = StatusChange {
            kind,
            serials,
            partitions,
        };
        let report = self.sink.status_changed(&change).await;
        RevocationOutcome {
            serials: change.serials,
            crls: report.crls,
            crl_error: report.crl_error.or(lookup_error),
        }
    }
}
