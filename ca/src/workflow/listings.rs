//! The listings of the operators' daily work, page by page: search, requests waiting for a
//! decision, the operator's own requests, certificates about to expire, accounts needing an
//! administrator, the journal's latest entries and anchoring. Each checks the operator's role
//! and hands the professions of their scope to the store, which applies them in SQL.

use serde_json::json;
use time::OffsetDateTime;

use super::professionals::Search;
use super::rules::{allow_role, Duty};
use super::{AuthenticatedOperator, Workflow};
use crate::domain::{ProfessionCode, Professional};
use crate::error::{Error, Result};
use crate::storage::{
    AuditEntry, ExpiringCertificate, LockedOperator, Operator, Outcome, ProfessionalKey,
    RequestSummary,
};

/// Rows on one page of a listing.
pub const PAGE_SIZE: u32 = 25;
/// Most certificates one export of the expiring certificates holds.
pub const EXPORT_LIMIT: u32 = 10_000;
/// The expiry horizons (in days) an operator may ask for.
pub const EXPIRY_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

/// One page of a listing (pages are numbered from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub page: u32,
    /// Whether a next page has rows.
    pub has_next: bool,
}

impl<T> Listing<T> {
    /// The first [`PAGE_SIZE`] of `rows` (read one beyond, to know whether there is more).
    fn of(mut rows: Vec<T>, page: u32) -> Self {
        let has_next = rows.len() > PAGE_SIZE as usize;
        rows.truncate(PAGE_SIZE as usize);
        Listing {
            items: rows,
            page,
            has_next,
        }
    }
}

/// Where page `page` starts (page 0 is read as page 1).
fn offset_of(page: u32) -> u64 {
    u64::from(page.max(1) - 1) * u64::from(PAGE_SIZE)
}

/// What an administrator has to attend to.
#[derive(Debug, Clone)]
pub struct AccountsToAttend {
    /// Accounts created or reset, waiting for a second administrator's confirmation.
    pub awaiting_confirmation: Vec<Operator>,
    /// Accounts locked after failed logins.
    pub locked: Vec<LockedOperator>,
}

/// The journal as the auditor's home page shows it.
#[derive(Debug, Clone)]
pub struct JournalOverview {
    /// The latest entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// The sequence number of the last entry (0: empty journal).
    pub head: u64,
    /// The latest anchored entry and its time-stamp time, if the journal was ever anchored.
    pub last_anchor: Option<(u64, OffsetDateTime)>,
}

impl Workflow {
    /// The professions of `who`'s scope: the condition every listing applies in SQL.
    fn scope_professions(&self, who: &AuthenticatedOperator) -> Vec<ProfessionCode> {
        self.professions_in_scope(who)
            .map(|p| p.code.clone())
            .collect()
    }

    /// Page `page` of the professionals of `who`'s scope that `search` finds.
    pub async fn search_page(
        &self,
        who: &AuthenticatedOperator,
        search: Search<'_>,
        page: u32,
    ) -> Result<Listing<Professional>> {
        allow_role(who, Duty::View)?;
        let rows = self
            .store()
            .search_professionals(
                &self.scope_professions(who),
                search.key(),
                offset_of(page),
                PAGE_SIZE + 1,
            )
            .await?;
        Ok(Listing::of(rows, page.max(1)))
    }

    /// At most `limit` professionals of `who`'s scope that `search` finds.
    pub(super) async fn search_in_scope(
        &self,
        who: &AuthenticatedOperator,
        search: Search<'_>,
        limit: u32,
    ) -> Result<Vec<Professional>> {
        allow_role(who, Duty::View)?;
        self.store()
            .search_professionals(&self.scope_professions(who), search.key(), 0, limit)
            .await
    }

    /// Page `page` of the requests about professionals of `who`'s scope waiting for a
    /// decision, oldest first.
    pub async fn pending_requests(
        &self,
        who: &AuthenticatedOperator,
        page: u32,
    ) -> Result<Listing<RequestSummary>> {
        allow_role(who, Duty::View)?;
        let rows = self
            .store()
            .filed_requests(&self.scope_professions(who), offset_of(page), PAGE_SIZE + 1)
            .await?;
        Ok(Listing::of(rows, page.max(1)))
    }

    /// How many requests of `who`'s scope wait for a decision.
    pub async fn pending_count(&self, who: &AuthenticatedOperator) -> Result<u64> {
        allow_role(who, Duty::View)?;
        self.store()
            .count_filed_requests(&self.scope_professions(who))
            .await
    }

    /// Page `page` of the requests `who` filed (in their scope), newest first.
    pub async fn my_requests(
        &self,
        who: &AuthenticatedOperator,
        page: u32,
    ) -> Result<Listing<RequestSummary>> {
        allow_role(who, Duty::File)?;
        let rows = self
            .store()
            .requests_filed_by(
                who.login().as_str(),
                &self.scope_professions(who),
                offset_of(page),
                PAGE_SIZE + 1,
            )
            .await?;
        Ok(Listing::of(rows, page.max(1)))
    }

    /// The window of certificates expiring within `days` days of `now`.
    fn expiry_window(days: u32, now: OffsetDateTime) -> Result<(OffsetDateTime, OffsetDateTime)> {
        if !EXPIRY_DAYS.contains(&days) {
            return Err(Error::invalid(
                "expiry horizon",
                format!(
                    "{days} days, expected {} to {}",
                    EXPIRY_DAYS.start(),
                    EXPIRY_DAYS.end()
                ),
            ));
        }
        Ok((now, now + time::Duration::days(i64::from(days))))
    }

    /// Page `page` of the certificates of `who`'s scope, good or on hold, expiring within
    /// `days` days (1 to 3650), soonest first.
    pub async fn expiring(
        &self,
        who: &AuthenticatedOperator,
        days: u32,
        page: u32,
    ) -> Result<Listing<ExpiringCertificate>> {
        allow_role(who, Duty::View)?;
        let (from, until) = Self::expiry_window(days, OffsetDateTime::now_utc())?;
        let rows = self
            .store()
            .expiring_certificates(
                &self.scope_professions(who),
                from,
                until,
                offset_of(page),
                PAGE_SIZE + 1,
            )
            .await?;
        Ok(Listing::of(rows, page.max(1)))
    }

    /// The certificates of [`expiring`](Self::expiring), all pages (at most
    /// [`EXPORT_LIMIT`]), for an export. A list of professionals leaving the RA is journaled
    /// (`certificate.export-expiring`, with the horizon and the number of rows).
    pub async fn expiring_export(
        &self,
        who: &AuthenticatedOperator,
        days: u32,
    ) -> Result<Vec<ExpiringCertificate>> {
        allow_role(who, Duty::View)?;
        let (from, until) = Self::expiry_window(days, OffsetDateTime::now_utc())?;
        let store = self.store();
        let rows = store
            .expiring_certificates(&self.scope_professions(who), from, until, 0, EXPORT_LIMIT)
            .await?;
        store
            .record_event(
                &who.actor()?,
                "certificate.export-expiring",
                &format!("scope:{}", who.scope().label()),
                Outcome::Success,
                &json!({ "days": days, "rows": rows.len() }),
            )
            .await?;
        Ok(rows)
    }

    /// Accounts waiting for a second administrator's confirmation, and locked accounts.
    pub async fn accounts_to_attend(
        &self,
        who: &AuthenticatedOperator,
    ) -> Result<AccountsToAttend> {
        allow_role(who, Duty::ManageOperators)?;
        let store = self.store();
        let awaiting_confirmation = store
            .operators()
            .await?
            .into_iter()
            .filter(|o| o.awaiting_confirmation_by.is_some())
            .collect();
        Ok(AccountsToAttend {
            awaiting_confirmation,
            locked: store.locked_operators(OffsetDateTime::now_utc()).await?,
        })
    }

    /// The latest `count` journal entries, newest first, and how far the journal is anchored
    /// (without checking the chain: the journal page does that).
    pub async fn journal_overview(
        &self,
        who: &AuthenticatedOperator,
        count: u32,
    ) -> Result<JournalOverview> {
        allow_role(who, Duty::ReadJournal)?;
        let store = self.store();
        let (head, _) = store.audit_head().await?;
        let mut entries = store
            .audit_entries(head.saturating_sub(u64::from(count)), count)
            .await?;
        entries.reverse();
        Ok(JournalOverview {
            entries,
            head,
            last_anchor: store.last_audit_anchor().await?,
        })
    }
}

impl Search<'_> {
    /// What the store looks for.
    fn key(&self) -> ProfessionalKey<'_> {
        match *self {
            Search::IdNat(idnat) => ProfessionalKey::IdNat(idnat),
            Search::Name(name) => ProfessionalKey::Surname(name),
            Search::NamePart(part) => ProfessionalKey::NamePart(part),
            Search::Serial(serial) => ProfessionalKey::Serial(serial),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pages_start_at_one() {
        assert_eq!(offset_of(0), 0);
        assert_eq!(offset_of(1), 0);
        assert_eq!(offset_of(3), 2 * u64::from(PAGE_SIZE));
        let l = Listing::of((0..=PAGE_SIZE).collect::<Vec<_>>(), 1);
        assert!(l.has_next);
        assert_eq!(l.items.len(), PAGE_SIZE as usize);
        let l = Listing::of((0..PAGE_SIZE).collect::<Vec<_>>(), 2);
        assert!(!l.has_next);
    }

    #[test]
    fn expiry_horizon_is_bounded() {
        let now = OffsetDateTime::now_utc();
        assert!(Workflow::expiry_window(0, now).is_err());
        assert!(Workflow::expiry_window(3651, now).is_err());
        let (from, until) = Workflow::expiry_window(60, now).unwrap();
        assert_eq!(until - from, time::Duration::days(60));
    }
}
