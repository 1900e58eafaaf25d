//! Certificate requests: file, renew, approve (four eyes), reject, issue.

use std::sync::Arc;

use super::rules::{allow, check_distinct, Duty};
use super::{AuthenticatedOperator, Object, Workflow};
use crate::credentials::RevocationCode;
use crate::domain::{CaName, IdentityProofing, Professional, Profile, RequestStatus, Serial};
use crate::error::{Error, Result};
use crate::issuance::{CertificateAuthority, IssuancePreview, IssueRequest, IssuedCertificate};
use crate::storage::{
    CertificateRecord, CertificateRequest, CertificateStatus, NewRequest, RequestId, RequestSubject,
};

/// How to issue an approved request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueOptions {
    /// The issuing CA; by default the first that issues the request's profile.
    pub issuer: Option<CaName>,
    /// Server profile only: the approved DNS names (the first one is the CN).
    pub dns_names: Vec<String>,
    /// The certificate this one replaces; by default the one the request was filed to renew,
    /// if any.
    pub renewal_of: Option<Serial>,
}

/// A certificate `who` may renew ([`Workflow::renewable`]), for [`Workflow::renew`].
#[derive(Debug, Clone)]
pub struct Renewal {
    certificate: CertificateRecord,
    subject: RequestSubject,
}

impl Renewal {
    /// The certificate to renew.
    pub fn certificate(&self) -> &CertificateRecord {
        &self.certificate
    }
}

/// A request as its approver sees it.
#[derive(Debug)]
pub struct RequestDossier {
    pub request: CertificateRequest,
    pub professional: Professional,
    /// The professional's identity checks, oldest first.
    pub proofings: Vec<IdentityProofing>,
    /// The certificate issued for it, once issued.
    pub certificate: Option<Serial>,
    /// The certificate it renews, if it is a renewal.
    pub renewal_of: Option<Serial>,
    /// Until it is issued: what the CA would sign if it were issued now (the approver
    /// approves exactly this), or why it would not.
    pub preview: Option<Result<IssuancePreview, Error>>,
}

impl Workflow {
    /// The CA that issues `profile`: the one named, or the first that issues it.
    fn issuer(
        &self,
        profile: Profile,
        name: Option<&CaName>,
    ) -> Result<&Arc<CertificateAuthority>> {
        self.issuers()
            .iter()
            .find(|ca| ca.issues(profile) && name.is_none_or(|n| ca.name() == n))
            .ok_or(Error::NoIssuer { profile })
    }

    /// Request `id` with what its approver needs to see, if `who` may see it.
    pub async fn request(
        &self,
        who: &AuthenticatedOperator,
        id: RequestId,
    ) -> Result<RequestDossier> {
        let located = self.locate(who, &Object::Request(id)).await?;
        let request = located.request.ok_or(Error::RequestNotFound { id: id.0 })?;
        let professional = located.professional;
        let store = self.store();
        let certificate = if request.status == RequestStatus::Issued {
            store
                .certificates_of(&professional.idnat)
                .await?
                .into_iter()
                .find(|c| c.request == Some(request.id))
                .map(|c| c.serial)
        } else {
            None
        };
        let renewal_of = store.renewal_of(request.id).await?;
        let preview = if request.status == RequestStatus::Issued {
            None
        } else {
            Some(self.preview(&request).await?)
        };
        Ok(RequestDossier {
            proofings: store.identity_proofings_of(&professional.idnat).await?,
            request,
            professional,
            certificate,
            renewal_of,
            preview,
        })
    }

    /// What the CA would sign for request `r` if issued now, or why it would not; a failure
    /// of the system is the outer error.
    async fn preview(&self, r: &CertificateRequest) -> Result<Result<IssuancePreview, Error>> {
        let ca = match self.issuer(r.profile, None) {
            Ok(ca) => ca,
            Err(e) => return Ok(Err(e)),
        };
        match ca.preview(r).await {
            Ok(p) => Ok(Ok(p)),
            Err(e) if e.is_system_failure() => Err(e),
            Err(e) => Ok(Err(e)),
        }
    }

    /// May `filer` file a request about `subject`?
    pub async fn check_file(
        &self,
        filer: &AuthenticatedOperator,
        subject: &RequestSubject,
    ) -> Result<()> {
        allow(filer, Duty::File, self.authority_of(subject).await?)
    }

    /// Files `request` as `filer`.
    pub async fn file(
        &self,
        filer: &AuthenticatedOperator,
        request: &NewRequest,
    ) -> Result<RequestId> {
        self.check_file(filer, &request.subject).await?;
        self.store().file_request(request, &filer.actor()?).await
    }

    /// Certificate `serial`, if `who` may file its renewal: a professional's certificate of
    /// their scope, not revoked ([`Error::RevokedNotRenewable`]).
    pub async fn renewable(&self, who: &AuthenticatedOperator, serial: &Serial) -> Result<Renewal> {
        let certificate = self.certificate_record(serial).await?;
        let idnat = certificate
            .professional
            .clone()
            .ok_or_else(|| Object::Certificate(serial.clone()).not_found())?;
        let subject = RequestSubject::Professional(idnat);
        self.check_file(who, &subject).await?;
        if matches!(certificate.status, CertificateStatus::Revoked { .. }) {
            return Err(Error::RevokedNotRenewable {
                serial: serial.to_string(),
            });
        }
        Ok(Renewal {
            certificate,
            subject,
        })
    }

    /// Files the renewal of a certificate (same profile and subject, the new key of
    /// `csr_der`) as `who`.
    pub async fn renew(
        &self,
        who: &AuthenticatedOperator,
        renewal: Renewal,
        csr_der: Vec<u8>,
    ) -> Result<RequestId> {
        self.check_file(who, &renewal.subject).await?;
        self.store()
            .file_renewal_request(
                &NewRequest {
                    profile: renewal.certificate.profile,
                    subject: renewal.subject,
                    csr_der,
                },
                &renewal.certificate.serial,
                &who.actor()?,
            )
            .await
    }

    /// May `decider` approve (`approving`) or reject request `r`? Four eyes: never its
    /// filer's approval ([`Error::SelfApproval`]).
    pub async fn check_decide(
        &self,
        decider: &AuthenticatedOperator,
        r: &CertificateRequest,
        approving: bool,
    ) -> Result<()> {
        allow(decider, Duty::Decide, self.authority_of(&r.subject).await?)?;
        if approving && &r.filed_by == decider.login() {
            return Err(Error::SelfApproval {
                id: r.id.0,
                actor: decider.login().to_string(),
            });
        }
        Ok(())
    }

    /// Approves request `id` as `approver` (never its filer).
    pub async fn approve(&self, approver: &AuthenticatedOperator, id: RequestId) -> Result<()> {
        let r = self.request_record(id).await?;
        self.check_decide(approver, &r, true).await?;
        self.store().approve_request(id, &approver.actor()?).await
    }

    /// Rejects request `id` as `decider`, with a reason (the filer may withdraw their own).
    pub async fn reject(
        &self,
        decider: &AuthenticatedOperator,
        id: RequestId,
        reason: &str,
    ) -> Result<()> {
        let r = self.request_record(id).await?;
        self.check_decide(decider, &r, false).await?;
        self.store()
            .reject_request(id, reason, &decider.actor()?)
            .await
    }

    /// Issues approved request `id` as `who` (an operator who may decide it), and tells the
    /// status sink.
    pub async fn issue(
        &self,
        who: &AuthenticatedOperator,
        id: RequestId,
        options: IssueOptions,
    ) -> Result<IssuedCertificate> {
        let r = self.request_record(id).await?;
        allow(who, Duty::Decide, self.authority_of(&r.subject).await?)?;
        if r.status != RequestStatus::Approved {
            return Err(Error::RequestNotInState {
                id: r.id.0,
                expected: RequestStatus::Approved,
                found: r.status,
            });
        }
        let ca = self.issuer(r.profile, options.issuer.as_ref())?;
        let renewal_of = match options.renewal_of {
            Some(s) => Some(s),
            None => self.store().renewal_of(id).await?,
        };
        let actor = who.actor()?;
        // A professional's certificate comes with the code that suspends it if the card is
        // lost; its hash is stored before the certificate is signed.
        let code = match &r.subject {
            RequestSubject::Professional(idnat) => {
                let code = RevocationCode::generate();
                let hashed = code.clone();
                let hash = tokio::task::spawn_blocking(move || hashed.hash())
                    .await
                    .map_err(|e| Error::Task(format!("revocation code hashing: {e}")))??;
                self.store()
                    .record_revocation_code(id, idnat, &hash, &actor)
                    .await?;
                Some(code)
            }
            RequestSubject::Structure(_) | RequestSubject::Operator(_) => None,
        };
        let mut issued = ca
            .issue(
                IssueRequest {
                    request: id,
                    dns_names: options.dns_names,
                    renewal_of,
                },
                &actor,
            )
            .await?;
        issued.revocation_code = code;
        self.inner.revocations.issued(&issued.serial).await;
        Ok(issued)
    }

    /// Approves request `id` as `approver` and issues it at once.
    pub async fn approve_and_issue(
        &self,
        approver: &AuthenticatedOperator,
        id: RequestId,
        options: IssueOptions,
    ) -> Result<IssuedCertificate> {
        self.approve(approver, id).await?;
        self.issue(approver, id, options).await
    }

    /// Checks, before anything is written, that `filer` may file about `subject` and
    /// `approver`, another operator, may approve it.
    pub async fn check_file_and_approve(
        &self,
        filer: &AuthenticatedOperator,
        approver: &AuthenticatedOperator,
        subject: &RequestSubject,
    ) -> Result<()> {
        check_distinct(filer.login().as_str(), approver.login().as_str())?;
        let authority = self.authority_of(subject).await?;
        allow(filer, Duty::File, authority)?;
        allow(approver, Duty::Decide, authority)
    }

    /// Files `request` as `filer` and approves it as `approver` (both present), after
    /// [`check_file_and_approve`](Self::check_file_and_approve).
    pub async fn file_and_approve(
        &self,
        filer: &AuthenticatedOperator,
        approver: &AuthenticatedOperator,
        request: &NewRequest,
    ) -> Result<RequestId> {
        self.check_file_and_approve(filer, approver, &request.subject)
            .await?;
        let id = self.store().file_request(request, &filer.actor()?).await?;
        self.approve(approver, id).await?;
        Ok(id)
    }
}
