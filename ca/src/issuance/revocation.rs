//! Revocation, suspension and reinstatement, each followed by the regeneration of the CRLs
//! it affects (the certificate's partition and the full CRL of its CA).

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::crl::{CrlPublisher, PublishedCrl};
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

/// Revocation orchestration on top of the store and the CRL publisher.
#[derive(Debug, Clone)]
pub struct Revocations {
    store: Store,
    publisher: Arc<CrlPublisher>,
}

impl Revocations {
    pub fn new(store: Store, publisher: Arc<CrlPublisher>) -> Self {
        Revocations { store, publisher }
    }

    pub fn publisher(&self) -> &Arc<CrlPublisher> {
        &self.publisher
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
        self.refresh(vec![serial.clone()]).await
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
        self.refresh(vec![serial.clone()]).await
    }

    /// Lifts a suspension: the certificate is good again and leaves the next CRLs.
    pub async fn reinstate(&self, serial: &Serial, actor: &Actor) -> Result<RevocationOutcome> {
        self.store.reinstate(serial, actor).await?;
        self.refresh(vec![serial.clone()]).await
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
        self.refresh(serials).await
    }

    /// Strikes a professional off (radiation): no new certificate, and every certificate
    /// still good or on hold revoked with affiliationChanged, in one transaction.
    pub async fn strike_off(&self, idnat: &IdNatPs, actor: &Actor) -> Result<RevocationOutcome> {
        let serials = self
            .store
            .strike_off_professional(idnat, OffsetDateTime::now_utc(), actor)
            .await?;
        self.refresh(serials).await
    }

    /// Regenerates the CRLs of the certificates in `serials`.
    async fn refresh(&self, serials: Vec<Serial>) -> Result<RevocationOutcome> {
        let mut by_ca: BTreeMap<CaName, Vec<u32>> = BTreeMap::new();
        let mut lookup_error = None;
        for serial in &serials {
            match self.store.certificate(serial).await {
                Ok(Some(rec)) => by_ca.entry(rec.issuer).or_default().push(rec.crl_partition),
                Ok(None) => {}
                Err(e) => lookup_error = Some(e),
            }
        }
        let mut crls = Vec::new();
        let mut crl_error = lookup_error;
        for (ca, partitions) in by_ca {
            if self.publisher.authority(&ca).is_none() {
                crl_error = Some(Error::UnknownCa {
                    name: ca.to_string(),
                });
                continue;
            }
            match self.publisher.refresh_after_change(&ca, &partitions).await {
                Ok(v) => crls.extend(v),
                Err(e) => {
                    tracing::error!(ca = %ca, error = %e, "CRL regeneration after a revocation change failed");
                    crl_error = Some(e);
                }
            }
        }
        Ok(RevocationOutcome {
            serials,
            crls,
            crl_error,
        })
    }
}
