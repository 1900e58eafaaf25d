//! The journal: all of it (auditors), or a professional's (their Order's operators).

use super::rows::audit_row;
use super::{html, layout, layout_counted, Page};
use crate::state::Acting;
use crate::views::JournalPage;

/// Entries shown on the auditor's page.
const LAST_ENTRIES: u32 = 300;

pub async fn journal(Acting { state, ctx }: Acting) -> Page {
    let (entries, v) = state.workflow().journal(ctx.me()?, LAST_ENTRIES).await?;
    let chain = match &v.first_broken {
        None => format!(
            "Chaîne du journal intègre : {} entrées vérifiées.",
            v.entries_checked
        ),
        Some(b) => format!(
            "ALERTE : la chaîne du journal est rompue à l'entrée n° {} ({:?}).",
            b.seq, b.problem
        ),
    };
    html(&JournalPage {
        layout: layout(&ctx, "Journal d'audit"),
        heading: "Dernières entrées".into(),
        entries: entries.iter().map(audit_row).collect(),
        chain,
    })
}

pub async fn professional_journal(Acting { state, ctx }: Acting) -> Page {
    let p = ctx.professional()?;
    let entries = state.workflow().journal_of(ctx.me()?, &p.idnat).await?;
    html(&JournalPage {
        layout: layout_counted(&state, &ctx, "Journal du professionnel").await?,
        heading: format!("{} {} ({})", p.given_names, p.surname, p.idnat),
        entries: entries.iter().map(audit_row).collect(),
        chain: String::new(),
    })
}
