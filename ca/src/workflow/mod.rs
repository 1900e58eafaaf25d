//! The RA's workflow: every operation of the Orders' clerks — register a professional (one by
//! one or by import), file a request or a renewal, approve, reject, issue, suspend, reinstate,
//! revoke — and the administration of operator accounts, decided here once for the RA
//! portal's pages, its JSON API and the `igc` command line (DESIGN.md §5).
//!
//! Every operation takes the acting [`AuthenticatedOperator`], which exists only after an
//! authentication: a password and a TOTP code checked here
//! ([`AuthenticatedOperator::with_password_totp`]), or a full portal session opened by the
//! portal's own login ([`AuthenticatedOperator::from_session`]). The rules ([`rules`]):
//!
//! - the role must allow the duty ([`role_may`]): filing needs a clerk, an approver or the
//!   registration office, deciding an approver or the registration office; reading the
//!   journal an auditor; managing accounts an administrator;
//! - the object must be in the operator's [`Scope`]: a professional's Order for clerks and
//!   approvers of that Order, the professions without an Order for the registration office;
//!   structures (server certificates) and RA operators are registered by the registration
//!   office, so only it files and decides theirs. An operator sees nothing of another scope:
//!   [`Workflow::locate`] and the listings leave it out;
//! - four eyes: the approver is never the operator who filed; an account is confirmed by
//!   another administrator than the one who created or reset it, and nobody changes their own
//!   account. The SQL of [`Store::approve_request`] and [`Store::confirm_operator`] refuses the
//!   first two as well, as a second guard.
//!
//! Every status change made here (issuance, suspension, reinstatement, revocation) reaches the
//! [`StatusSink`] given to [`Workflow::new`]: the CRL publisher, and in `igc serve` the OCSP
//! responder.

mod administration;
mod certificates;
mod listings;
mod loss;
mod operator;
mod professionals;
mod requests;
pub mod rules;

use std::sync::Arc;

use crate::domain::{IdNatPs, ProfessionTable, Professional, RegistrationAuthority, Serial};
use crate::error::Result;
use crate::issuance::CertificateAuthority;
use crate::status::{Revocations, StatusSink};
use crate::storage::{CertificateRecord, CertificateRequest, RequestId, RequestSubject, Store};

pub use listings::{
    AccountsToAttend, JournalOverview, Listing, EXPIRY_DAYS, EXPORT_LIMIT, PAGE_SIZE,
};
pub use loss::{CodeCheck, LossCodes, LossDeclared, LossPolicy};
pub use operator::{AuthenticatedOperator, LockoutPolicy};
pub use professionals::{Dossier, Located, Object, Search};
pub use requests::{IssueOptions, Renewal, RequestDossier};
pub use rules::{check_distinct, role_may, scope_of, Duty, Scope};

/// The workflow over the store, the profession table (profession → Order), the issuing CAs
/// and the sink of status changes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Workflow {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    professions: Arc<ProfessionTable>,
    issuers: Vec<Arc<CertificateAuthority>>,
    revocations: Revocations,
}

impl Workflow {
    /// `issuers`: the CAs that issue end-entity certificates (a request goes to the first
    /// that issues its profile, unless the caller names one); `sink` hears of every status
    /// change made through this workflow once it is committed.
    pub fn new(
        store: Store,
        professions: Arc<ProfessionTable>,
        issuers: Vec<Arc<CertificateAuthority>>,
        sink: Arc<dyn StatusSink>,
    ) -> Self {
        let revocations = Revocations::new(store.clone(), sink);
        Workflow {
            inner: Arc::new(Inner {
                store,
                professions,
                issuers,
                revocations,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn professions(&self) -> &ProfessionTable {
        &self.inner.professions
    }

    pub fn issuers(&self) -> &[Arc<CertificateAuthority>] {
        &self.inner.issuers
    }

    // The records the operations act on, or the workflow's "not found" error for them. They
    // check nothing: the operations check `who` against what they find.

    async fn professional_record(&self, idnat: &IdNatPs) -> Result<Professional> {
        let found = self.store().find_professional(idnat).await?;
        found.ok_or_else(|| Object::Professional(idnat.clone()).not_found())
    }

    async fn request_record(&self, id: RequestId) -> Result<CertificateRequest> {
        let found = self.store().request(id).await?;
        found.ok_or_else(|| Object::Request(id).not_found())
    }

    async fn certificate_record(&self, serial: &Serial) -> Result<CertificateRecord> {
        let found = self.store().certificate(serial).await?;
        found.ok_or_else(|| Object::Certificate(serial.clone()).not_found())
    }

    /// Who registers the subject: a professional's Order (or the registration office for
    /// professions without one); the registration office for structures and RA operators.
    pub async fn authority_of(&self, subject: &RequestSubject) -> Result<RegistrationAuthority> {
        match subject {
            RequestSubject::Professional(idnat) => {
                let p = self.professional_record(idnat).await?;
                self.professions().registration_authority(&p.profession)
            }
            RequestSubject::Structure(_) | RequestSubject::Operator(_) => {
                Ok(RegistrationAuthority::RegistrationOffice)
            }
        }
    }
}
