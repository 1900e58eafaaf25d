//! A holder's declaration of loss or theft, shared by the public page and the API: rate
//! limits per source address and per professional before anything else (the login's
//! buckets, so that guessing codes and guessing passwords draw on one allowance per
//! address), the code checked by argon2 on the blocking pool within the login's bound, then
//! the workflow suspends or counts the wrong code (and locks after too many).

use ca::domain::IdNatPs;
use ca::storage::LossChannel;
use ca::workflow::LossDeclared;

use crate::error::{PortalError, PortalResult};
use crate::forms::parse_idnat;
use crate::login::{login_busy_message, login_throttled_message, retry_after_secs};
use crate::login_guard::{self, Throttle};
use crate::messages::french;
use crate::state::PortalState;

/// Why a declaration was not made.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The identifier is not an IdNat or RPPS (field message).
    Identifier(String),
    /// Too many attempts from this address or for this professional, or every hashing slot
    /// taken: retry after this many seconds.
    Throttled {
        message: String,
        retry_after: u64,
        busy: bool,
    },
    /// Wrong code or unknown professional (one message for both).
    Refused(String),
    /// Too many wrong codes in a row: locked.
    Locked(String),
}

/// The key of a professional in the login guard's per-login buckets.
fn bucket_key(idnat: &IdNatPs) -> String {
    format!("perte-ou-vol:{idnat}")
}

pub(crate) async fn declare(
    state: &PortalState,
    peer: Option<std::net::SocketAddr>,
    identifier: &str,
    code: &str,
    channel: LossChannel,
) -> PortalResult<Result<LossDeclared, Refusal>> {
    let guard = state.login_guard();
    let store = state.store();
    let address = peer.map(login_guard::address_key);
    let idnat = match parse_idnat(identifier) {
        Ok(id) => id,
        Err(e) => return Ok(Err(Refusal::Identifier(french(&e)))),
    };
    let key = bucket_key(&idnat);
    let throttled = |why: Throttle, wait: std::time::Duration| {
        guard.throttled(store, why, &key, address);
        let secs = retry_after_secs(wait);
        let busy = why == Throttle::Busy;
        Ok(Err(Refusal::Throttled {
            message: if busy {
                login_busy_message(secs)
            } else {
                login_throttled_message(secs)
            },
            retry_after: secs,
            busy,
        }))
    };
    if let Err((why, wait)) = guard.admit(address, &key) {
        return throttled(why, wait);
    }
    let workflow = state.workflow();
    let codes = workflow.loss_codes(&idnat).await?;
    let typed = code.to_owned();
    let Ok(check) = guard.hash(move || codes.check(&typed)).await else {
        return throttled(Throttle::Busy, guard.busy_retry_after());
    };
    let address = address.map(|a| a.to_string());
    match workflow
        .declare_loss(
            check,
            channel,
            address.as_deref(),
            &state.config().loss_policy(),
        )
        .await
    {
        Ok(declared) => Ok(Ok(declared)),
        Err(e @ ca::Error::LossCodeRefused) => Ok(Err(Refusal::Refused(french(&e)))),
        Err(e @ ca::Error::LossDeclarationLocked { .. }) => Ok(Err(Refusal::Locked(french(&e)))),
        Err(e) => Err(e.into()),
    }
}

/// The `{declaration}` of a route's path (a page or the API); not a number: not found.
pub(crate) fn declaration_id(
    params: &std::collections::HashMap<String, String>,
) -> PortalResult<i64> {
    params
        .get("declaration")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| PortalError::NotFound("Déclaration introuvable.".into()))
}
