//! Page models (askama templates under `templates/`).

use askama::Template;
use serde::Deserialize;

/// What every page shows: title, the operator and the logout form (with its CSRF token).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub title: String,
    pub operator: Option<String>,
    pub role: String,
    pub scope: String,
    pub csrf: String,
    pub nav: Vec<(String, String)>,
}

impl Layout {
    pub fn anonymous(title: &str) -> Self {
        Layout {
            title: title.to_owned(),
            ..Layout::default()
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct FieldErrors(pub Vec<(String, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_owned(), message.into()));
    }
    pub fn get(&self, field: &str) -> String {
        self.0
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Whether `field` has an error (its input is then `aria-invalid` and described by it).
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(f, _)| f == field)
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub message: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub login: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "enrolment.html")]
pub struct EnrolmentPage {
    pub layout: Layout,
    pub secret: String,
    pub qr_data_uri: String,
    pub uri: String,
    pub errors: FieldErrors,
}

#[derive(Debug, Clone)]
pub struct ProfessionalRow {
    pub idnat: String,
    pub surname: String,
    pub given_names: String,
    pub profession: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub layout: Layout,
    pub q: String,
    pub results: Vec<ProfessionalRow>,
    pub error: String,
    pub searched: bool,
    pub pager: Pager,
}

/// A registration as typed: read from the HTML form, a JSON body or a CSV row (a field left
/// out is empty), checked by [`crate::forms::validate_registration`], shown again with its
/// errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegisterForm {
    pub idnat: String,
    pub surname: String,
    pub given_names: String,
    pub profession: String,
    pub document_type: String,
    pub document_number: String,
    pub mode: String,
}

#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage {
    pub layout: Layout,
    pub form: RegisterForm,
    pub professions: Vec<(String, String)>,
    pub errors: FieldErrors,
}

#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: i64,
    pub profile: String,
    pub subject: String,
    pub status: String,
    pub filed_by: String,
    pub filed_at: String,
    pub decided_by: String,
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct CertRow {
    pub serial: String,
    pub profile: String,
    pub status: String,
    pub not_after: String,
}

#[derive(Debug, Clone)]
pub struct ProofingRow {
    pub document_type: String,
    pub document_number: String,
    pub mode: String,
    pub checked_by: String,
    pub checked_at: String,
}

#[derive(Template)]
#[template(path = "professional.html")]
pub struct ProfessionalPage {
    pub layout: Layout,
    pub p: ProfessionalRow,
    pub proofings: Vec<ProofingRow>,
    pub pending: Vec<RequestRow>,
    pub certificates: Vec<CertRow>,
    /// Whether the operator may suspend all of the professional's certificates.
    pub can_manage: bool,
    /// The professional's loss declarations, newest first (channel and state in `channel`).
    pub losses: Vec<LossRow>,
}

#[derive(Template)]
#[template(path = "file_request.html")]
pub struct FileRequestPage {
    pub layout: Layout,
    pub p: ProfessionalRow,
    pub action: String,
    pub renewal_of: String,
    pub fixed_profile: String,
    /// The profile chosen and the PEM text pasted, kept when the form comes back with errors.
    pub profile: String,
    pub csr_pem: String,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "request.html")]
pub struct RequestPage {
    pub layout: Layout,
    pub r: RequestRow,
    /// What the CA would sign if the request were approved now.
    pub preview: Option<ca::issuance::IssuancePreview>,
    /// Why it would not (French), when `preview` is absent for a request not yet issued.
    pub preview_error: String,
    /// The professional's identity checks, oldest first.
    pub proofings: Vec<ProofingRow>,
    pub idnat: String,
    pub can_decide: bool,
    pub can_issue: bool,
    pub own_request: bool,
    pub certificate: String,
    pub renewal_of: String,
}

#[derive(Template)]
#[template(path = "certificate.html")]
pub struct CertificatePage {
    pub layout: Layout,
    pub c: CertRow,
    pub idnat: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub pem: String,
    pub good: bool,
    pub on_hold: bool,
    pub revoked: bool,
    pub reasons: Vec<(String, String)>,
    pub notice: String,
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub auth_method: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "journal.html")]
pub struct JournalPage {
    pub layout: Layout,
    pub heading: String,
    pub entries: Vec<AuditRow>,
    pub chain: String,
}

#[derive(Debug, Clone)]
pub struct OperatorRow {
    pub login: String,
    pub name: String,
    pub role: String,
    pub scope: String,
    pub status: String,
    pub active: bool,
    pub enrolled: bool,
    /// Who created or reset the account, while it awaits confirmation (empty otherwise).
    pub awaiting_confirmation_by: String,
    /// Whether the viewing administrator may confirm it (not the one who asked, not oneself).
    pub can_confirm: bool,
}

#[derive(Template)]
#[template(path = "operators.html")]
pub struct OperatorsPage {
    pub layout: Layout,
    pub operators: Vec<OperatorRow>,
    pub roles: Vec<(String, String)>,
    pub orders: Vec<(String, String)>,
    pub errors: FieldErrors,
    pub notice: String,
    pub one_time_password: String,
}

#[derive(Template)]
#[template(path = "import.html")]
pub struct ImportPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub max_rows: usize,
}

#[derive(Template)]
#[template(path = "import_job.html")]
pub struct ImportJobPage {
    pub layout: Layout,
    pub file_name: String,
    pub total: usize,
    pub done: usize,
    pub imported: usize,
    pub refused: usize,
    pub finished: bool,
    pub interrupted: bool,
    /// Registered lines carry "enregistré" as their message here.
    pub rows: Vec<ca::storage::ImportRow>,
}

// ----- lost or stolen cards ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "loss_form.html")]
pub struct LossFormPage {
    pub layout: Layout,
    pub idnat: String,
    pub idnat_error: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "loss_done.html")]
pub struct LossDonePage {
    pub layout: Layout,
    pub id: i64,
    pub declared_at: String,
    pub suspended: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LossRow {
    pub id: i64,
    pub idnat: String,
    pub name: String,
    pub declared_at: String,
    pub channel: String,
    pub certificates: usize,
}

#[derive(Template)]
#[template(path = "losses.html")]
pub struct LossesPage {
    pub layout: Layout,
    pub declarations: Vec<LossRow>,
}

#[derive(Template)]
#[template(path = "loss.html")]
pub struct LossPage {
    pub layout: Layout,
    pub d: LossRow,
    pub status: String,
    /// Who decided, and when (empty while open).
    pub closed: String,
    pub open: bool,
    pub can_manage: bool,
    pub certificates: Vec<CertRow>,
    pub notice: String,
}

/// The page after an issuance: the certificate and, for a professional's, the revocation
/// code shown this once.
#[derive(Template)]
#[template(path = "issued.html")]
pub struct IssuedPage {
    pub layout: Layout,
    pub serial: String,
    pub profile: String,
    pub subject: String,
    pub revocation_code: String,
}

// ----- daily work (issue 25) -----------------------------------------------------------------

/// A request in a listing, with its professional's name and its age.
#[derive(Debug, Clone)]
pub struct SummaryRow {
    pub id: i64,
    pub profile: String,
    pub idnat: String,
    pub name: String,
    pub status: String,
    pub filed_by: String,
    pub filed_at: String,
    /// How long ago it was filed ("il y a 3 jours").
    pub age: String,
    pub rejected: bool,
    /// The reason of a rejection.
    pub note: String,
}

/// Links to the previous and next pages of a listing (empty when there is none).
#[derive(Debug, Clone, Default)]
pub struct Pager {
    pub page: u32,
    pub previous: String,
    pub next: String,
}

/// The anchoring of the journal, as the auditor's home page says it.
#[derive(Debug, Clone, Default)]
pub struct AnchoringView {
    pub head: u64,
    /// Empty when the journal was never anchored.
    pub last_anchor: String,
    pub unanchored: u64,
}

/// An operator account in the administrator's lists.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub login: String,
    pub name: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct HomePage {
    pub layout: Layout,
    /// Whether the operator sees the lost cards of their scope, and those still open.
    pub sees_losses: bool,
    pub losses: Vec<LossRow>,
    pub can_decide: bool,
    pub pending_count: u64,
    pub pending: Vec<SummaryRow>,
    pub more_pending: bool,
    pub can_file: bool,
    pub mine: Vec<SummaryRow>,
    pub more_mine: bool,
    pub auditor: bool,
    pub entries: Vec<AuditRow>,
    pub anchoring: AnchoringView,
    pub administrator: bool,
    pub awaiting: Vec<AccountRow>,
    pub locked: Vec<AccountRow>,
}

#[derive(Template)]
#[template(path = "requests.html")]
pub struct RequestsPage {
    pub layout: Layout,
    pub count: u64,
    pub rows: Vec<SummaryRow>,
    pub pager: Pager,
}

/// A certificate about to expire.
#[derive(Debug, Clone)]
pub struct ExpiringRow {
    pub serial: String,
    pub profile: String,
    pub idnat: String,
    pub name: String,
    pub profession: String,
    pub not_after: String,
    pub on_hold: bool,
    pub status: String,
}

#[derive(Template)]
#[template(path = "expiring.html")]
pub struct ExpiringPage {
    pub layout: Layout,
    /// The horizon as typed (shown again on error).
    pub days: String,
    pub error: String,
    pub rows: Vec<ExpiringRow>,
    pub pager: Pager,
    pub csv: String,
}

#[derive(Template)]
#[template(path = "revoke_confirm.html")]
pub struct RevokeConfirmPage {
    pub layout: Layout,
    pub c: CertRow,
    pub idnat: String,
    pub subject: String,
    pub revoked: bool,
    pub reasons: Vec<(String, String)>,
    /// The reason chosen on the certificate's page (its value), if any.
    pub reason: String,
    pub reason_label: String,
    pub error: String,
}
