//! Certificates: suspend, reinstate, revoke — each told to the status sink.

use super::rules::{allow, Duty};
use super::{AuthenticatedOperator, Workflow};
use crate::domain::{RegistrationAuthority, RevocationReason, Serial};
use crate::error::Result;
use crate::status::RevocationOutcome;
use crate::storage::{CertificateRecord, RequestSubject};

impl Workflow {
    /// Certificate `serial`, if `who` may perform `duty` on it. A professional's certificate
    /// belongs to the professional's Order; others (structures, RA operators) to the
    /// registration office.
    async fn certificate_for(
        &self,
        who: &AuthenticatedOperator,
        serial: &Serial,
        duty: Duty,
    ) -> Result<CertificateRecord> {
        let cert = self.certificate_record(serial).await?;
        let authority = match &cert.professional {
            Some(idnat) => {
                self.authority_of(&RequestSubject::Professional(idnat.clone()))
                    .await?
            }
            None => RegistrationAuthority::RegistrationOffice,
        };
        allow(who, duty, authority)?;
        Ok(cert)
    }

    /// Certificate `serial`, if `who` may see it.
    pub async fn certificate(
        &self,
        who: &AuthenticatedOperator,
        serial: &Serial,
    ) -> Result<CertificateRecord> {
        self.certificate_for(who, serial, Duty::View).await
    }

    /// May `who` suspend, reinstate or revoke certificate `serial`?
    pub async fn check_manage_certificate(
        &self,
        who: &AuthenticatedOperator,
        serial: &Serial,
    ) -> Result<()> {
        self.certificate_for(who, serial, Duty::ManageCertificates)
            .await
            .map(drop)
    }

    /// Suspends certificate `serial` (certificateHold) as `who`.
    pub async fn suspend(
        &self,
        who: &AuthenticatedOperator,
        serial: &Serial,
    ) -> Result<RevocationOutcome> {
        self.check_manage_certificate(who, serial).await?;
        self.inner.revocations.suspend(serial, &who.actor()?).await
    }

    /// Lifts the suspension of certificate `serial` as `who`.
    pub async fn reinstate(
        &self,
        who: &AuthenticatedOperator,
        serial: &Serial,
    ) -> Result<RevocationOutcome> {
        self.check_manage_certificate(who, serial).await?;
        self.inner
            .revocations
            .reinstate(serial, &who.actor()?)
            .await
    }

    /// Revokes certificate `serial` as `who`, with an RFC 5280 reason (not certificateHold:
    /// that is [`suspend`](Self::suspend)).
    pub async fn revoke(
        &self,
        who: &AuthenticatedOperator,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<RevocationOutcome> {
        self.check_manage_certificate(who, serial).await?;
        self.inner
            .revocations
            .revoke(serial, reason, &who.actor()?)
            .await
    }
}
