//! The home page, by role: lost or stolen cards whose suspension waits for a decision
//! (whoever sees professionals), requests waiting for a decision (approvers, registration office),
//! the operator's own requests (whoever files), the latest journal entries and the anchoring
//! (auditors), accounts to confirm or locked (administrators).

use time::OffsetDateTime;

use super::rows::{audit_row, fmt_time, summary_row};
use super::{html, layout_counted, Page};
use crate::auth::{self, Permission};
use crate::state::Acting;
use crate::views::{AccountRow, AnchoringView, HomePage};

/// Journal entries on the auditor's home page.
const HOME_JOURNAL_ENTRIES: u32 = 20;

pub async fn home(Acting { state, ctx }: Acting) -> Page {
    let (workflow, me) = (state.workflow(), ctx.me()?);
    let allow = |p| auth::role_allows(ctx.operator.role, p);
    let now = OffsetDateTime::now_utc();
    let mut page = HomePage {
        layout: layout_counted(&state, &ctx, "Accueil").await?,
        sees_losses: allow(Permission::ViewProfessionals),
        losses: Vec::new(),
        can_decide: allow(Permission::Decide),
        pending_count: 0,
        pending: Vec::new(),
        more_pending: false,
        can_file: allow(Permission::FileRequest),
        mine: Vec::new(),
        more_mine: false,
        auditor: allow(Permission::ReadJournal),
        entries: Vec::new(),
        anchoring: AnchoringView::default(),
        administrator: allow(Permission::ManageOperators),
        awaiting: Vec::new(),
        locked: Vec::new(),
    };
    if page.sees_losses {
        for d in workflow.open_loss_declarations(me).await? {
            page.losses.push(super::loss::row(&state, &d).await?);
        }
    }
    if page.can_decide {
        let pending = workflow.pending_requests(me, 1).await?;
        page.pending_count = workflow.pending_count(me).await?;
        page.pending = pending.items.iter().map(|r| summary_row(r, now)).collect();
        page.more_pending = pending.has_next;
    }
    if page.can_file {
        let mine = workflow.my_requests(me, 1).await?;
        page.mine = mine.items.iter().map(|r| summary_row(r, now)).collect();
        page.more_mine = mine.has_next;
    }
    if page.auditor {
        let overview = workflow.journal_overview(me, HOME_JOURNAL_ENTRIES).await?;
        page.entries = overview.entries.iter().map(audit_row).collect();
        page.anchoring = match overview.last_anchor {
            Some((seq, at)) => AnchoringView {
                head: overview.head,
                last_anchor: format!("entrée n° {seq}, horodatée le {}", fmt_time(at)),
                unanchored: overview.head.saturating_sub(seq),
            },
            None => AnchoringView {
                head: overview.head,
                last_anchor: String::new(),
                unanchored: overview.head,
            },
        };
    }
    if page.administrator {
        let accounts = workflow.accounts_to_attend(me).await?;
        page.awaiting = accounts
            .awaiting_confirmation
            .iter()
            .map(|o| AccountRow {
                login: o.login.to_string(),
                name: o.display_name.clone(),
                detail: format!(
                    "créé ou réinitialisé par {}",
                    o.awaiting_confirmation_by.as_deref().unwrap_or("—")
                ),
            })
            .collect();
        page.locked = accounts
            .locked
            .iter()
            .map(|o| AccountRow {
                login: o.login.to_string(),
                name: o.display_name.clone(),
                detail: format!("verrouillé jusqu'au {}", fmt_time(o.locked_until)),
            })
            .collect();
    }
    html(&page)
}
