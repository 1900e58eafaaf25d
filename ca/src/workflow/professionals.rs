//! Professionals: where an object belongs and who sees it, registration (one by one or by
//! import), the dossier and journal of a professional.

use time::OffsetDateTime;

use super::rules::{allow, allow_role, Duty};
use super::{AuthenticatedOperator, Workflow};
use crate::domain::{IdNatPs, IdentityProofing, Profession, ProfessionCode, Professional, Serial};
use crate::error::{Error, Result};
use crate::storage::{
    AuditEntry, CertificateRecord, CertificateRequest, ImportJobRecord, ImportRow, NewImportJob,
    RequestId, RequestSubject,
};

/// An object of the RA, as a page or a command names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Professional(IdNatPs),
    Request(RequestId),
    Certificate(Serial),
}

impl Object {
    /// The workflow's error for an object that does not exist (or is not a professional's).
    pub(super) fn not_found(&self) -> Error {
        match self {
            Object::Professional(idnat) => Error::ProfessionalNotFound {
                idnat: idnat.to_string(),
            },
            Object::Request(id) => Error::RequestNotFound { id: id.0 },
            Object::Certificate(serial) => Error::CertificateNotFound {
                serial: serial.to_string(),
            },
        }
    }
}

/// An object found in the operator's scope, with the professional it belongs to.
#[derive(Debug, Clone)]
pub struct Located {
    pub professional: Professional,
    /// The request, when the object is one.
    pub request: Option<CertificateRequest>,
    /// The certificate, when the object is one.
    pub certificate: Option<CertificateRecord>,
}

/// What to look for.
#[derive(Debug, Clone, Copy)]
pub enum Search<'a> {
    IdNat(&'a IdNatPs),
    /// A whole surname (case and accents ignored).
    Name(&'a str),
    /// Part of a surname (case and accents ignored), or of the given names.
    NamePart(&'a str),
    /// The professional a certificate (by serial) was issued to.
    Serial(&'a Serial),
}

/// Everything known of a professional: identity checks (oldest first), requests,
/// certificates.
#[derive(Debug, Clone)]
pub struct Dossier {
    pub professional: Professional,
    pub proofings: Vec<IdentityProofing>,
    pub requests: Vec<CertificateRequest>,
    pub certificates: Vec<CertificateRecord>,
}

/// Most professionals [`Workflow::search`] returns.
const SEARCH_LIMIT: u32 = 100;
/// Most journal entries shown per object of a professional.
const JOURNAL_PER_OBJECT: u32 = 500;

impl Workflow {
    /// Whether `who` sees `p`: their scope covers its profession.
    pub(super) fn sees(&self, who: &AuthenticatedOperator, p: &Professional) -> bool {
        self.professions()
            .registration_authority(&p.profession)
            .is_ok_and(|a| who.scope().covers(a))
    }

    /// The object `object` names and the professional it belongs to, if `who` may see it.
    /// An unknown object, and a request or certificate that is not a professional's, is
    /// [`Error::ProfessionalNotFound`], [`Error::RequestNotFound`] or
    /// [`Error::CertificateNotFound`]; an object outside the operator's scope is
    /// [`Error::NotPermitted`] (the portal answers both alike: "not found").
    pub async fn locate(&self, who: &AuthenticatedOperator, object: &Object) -> Result<Located> {
        let (idnat, request, certificate) = match object {
            Object::Professional(idnat) => (idnat.clone(), None, None),
            Object::Request(id) => {
                let r = self.request_record(*id).await?;
                match &r.subject {
                    RequestSubject::Professional(p) => (p.clone(), Some(r), None),
                    _ => return Err(object.not_found()),
                }
            }
            Object::Certificate(serial) => {
                let c = self.certificate_record(serial).await?;
                let idnat = c.professional.clone().ok_or_else(|| object.not_found())?;
                (idnat, None, Some(c))
            }
        };
        let professional = self.professional_record(&idnat).await?;
        let authority = self
            .professions()
            .registration_authority(&professional.profession)?;
        allow(who, Duty::View, authority)?;
        Ok(Located {
            professional,
            request,
            certificate,
        })
    }

    /// The professionals found, in the operator's scope only (the first ones, in IdNat
    /// order; [`search_page`](Self::search_page) reads them page by page).
    pub async fn search(
        &self,
        who: &AuthenticatedOperator,
        search: Search<'_>,
    ) -> Result<Vec<Professional>> {
        self.search_in_scope(who, search, SEARCH_LIMIT).await
    }

    /// The professions `who` registers (their scope's).
    pub fn professions_in_scope<'a>(
        &'a self,
        who: &'a AuthenticatedOperator,
    ) -> impl Iterator<Item = &'a Profession> + 'a {
        self.professions()
            .iter()
            .filter(move |p| who.scope().covers(p.registration_authority()))
    }

    /// A professional's identity checks, requests and certificates.
    pub async fn dossier(&self, who: &AuthenticatedOperator, idnat: &IdNatPs) -> Result<Dossier> {
        let Located { professional, .. } = self
            .locate(who, &Object::Professional(idnat.clone()))
            .await?;
        let store = self.store();
        Ok(Dossier {
            proofings: store.identity_proofings_of(idnat).await?,
            requests: store.requests_of(idnat).await?,
            certificates: store.certificates_of(idnat).await?,
            professional,
        })
    }

    /// The journal entries about a professional, their requests and their certificates.
    pub async fn journal_of(
        &self,
        who: &AuthenticatedOperator,
        idnat: &IdNatPs,
    ) -> Result<Vec<AuditEntry>> {
        self.locate(who, &Object::Professional(idnat.clone()))
            .await?;
        let store = self.store();
        let requests = store.requests_of(idnat).await?;
        let certificates = store.certificates_of(idnat).await?;
        let objects: Vec<String> = std::iter::once(format!("professional:{idnat}"))
            .chain(requests.iter().map(|r| format!("request:{}", r.id)))
            .chain(
                certificates
                    .iter()
                    .map(|c| format!("certificate:{}", c.serial)),
            )
            .collect();
        store
            .audit_entries_about(&objects, JOURNAL_PER_OBJECT)
            .await
    }

    /// May `who` register a professional of `profession`? An unknown profession is
    /// [`Error::UnknownProfession`]; one outside the operator's scope [`Error::NotPermitted`].
    pub fn check_register(
        &self,
        who: &AuthenticatedOperator,
        profession: &ProfessionCode,
    ) -> Result<()> {
        let authority = self.professions().registration_authority(profession)?;
        allow(who, Duty::Register, authority)
    }

    /// Registers `professional` with the identity proofing `who` did.
    pub async fn register(
        &self,
        who: &AuthenticatedOperator,
        professional: &Professional,
        proofing: &IdentityProofing,
    ) -> Result<()> {
        self.check_register(who, &professional.profession)?;
        self.store()
            .register_professional(professional, proofing, &who.actor()?)
            .await
    }

    // ----- imports -------------------------------------------------------------------------

    /// Import jobs being worked on (changed at or after `active_since`): all of them, and
    /// those of `who`.
    pub async fn running_imports(
        &self,
        who: &AuthenticatedOperator,
        active_since: OffsetDateTime,
    ) -> Result<(u64, u64)> {
        allow_role(who, Duty::Register)?;
        self.store()
            .running_import_jobs(active_since, who.login().as_str())
            .await
    }

    /// Starts an import job of `who` (see [`Store::create_import_job`](crate::storage::Store::create_import_job)).
    pub async fn start_import(
        &self,
        who: &AuthenticatedOperator,
        job: &NewImportJob,
        forget_before: OffsetDateTime,
        active_since: OffsetDateTime,
    ) -> Result<()> {
        allow_role(who, Duty::Register)?;
        self.store()
            .create_import_job(job, forget_before, active_since, &who.actor()?)
            .await
    }

    /// Registers the professional of line `line` of import job `job_id`, with the rules of
    /// [`register`](Self::register), and reports the line as registered.
    pub async fn import_row(
        &self,
        who: &AuthenticatedOperator,
        job_id: &str,
        line: u64,
        professional: &Professional,
        proofing: &IdentityProofing,
    ) -> Result<()> {
        self.check_register(who, &professional.profession)?;
        self.store()
            .register_imported_professional(job_id, line, professional, proofing, &who.actor()?)
            .await
    }

    /// Reports a line of import job `job_id` that was not registered, and why.
    pub async fn refuse_import_row(
        &self,
        who: &AuthenticatedOperator,
        job_id: &str,
        row: &ImportRow,
    ) -> Result<()> {
        self.store()
            .report_refused_import_row(job_id, row, &who.actor()?)
            .await
    }

    /// Marks import job `job_id` finished.
    pub async fn finish_import(&self, job_id: &str) -> Result<()> {
        self.store().finish_import_job(job_id).await
    }

    /// Import job `id` and its report: only the operator who started it sees it (its rows
    /// are of their scope); anyone else gets [`Error::ImportJobNotFound`].
    pub async fn import_job(
        &self,
        who: &AuthenticatedOperator,
        id: &str,
    ) -> Result<ImportJobRecord> {
        let not_found = || Error::ImportJobNotFound { id: id.to_owned() };
        let job = self.store().import_job(id).await?.ok_or_else(not_found)?;
        if job.login != who.login().as_str() {
            return Err(not_found());
        }
        Ok(job)
    }
}
