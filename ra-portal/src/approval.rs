//! Approval from the portal's pages and its API: the workflow decides (role, Order, four
//! eyes) and issues; a four-eyes refusal seen by the portal is also journaled, as the portal
//! always has (the command line, which refuses before anything is written, journals none).

use ca::issuance::IssuedCertificate;
use ca::storage::Outcome;
use ca::workflow::IssueOptions;

use crate::error::PortalResult;
use crate::state::{Ctx, PortalState};

/// Approves the route's request as the session's operator and issues its certificate.
pub(crate) async fn approve_and_issue(
    state: &PortalState,
    ctx: &Ctx,
) -> PortalResult<IssuedCertificate> {
    let id = ctx.request()?.id;
    let outcome = state
        .workflow()
        .approve_and_issue(ctx.me()?, id, IssueOptions::default())
        .await;
    if let Err(ca::Error::SelfApproval { .. }) = &outcome {
        let _ = state
            .store()
            .record_event(
                &ctx.actor,
                "request.approve",
                &format!("request:{id}"),
                Outcome::Denied,
                &serde_json::json!({ "why": "four-eyes" }),
            )
            .await;
    }
    Ok(outcome?)
}
