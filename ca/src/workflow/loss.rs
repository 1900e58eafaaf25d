//! Lost or stolen cards ("déclaration de perte ou de vol"): the holder suspends all their
//! certificates at once with the revocation code given at issuance, or an operator of their
//! Order does it for them; an operator then decides each declaration — revocation
//! (keyCompromise) or reinstatement.
//!
//! A holder's declaration goes in two steps so that the caller bounds the cost of the code
//! check (argon2, run where the caller runs its password checks): [`Workflow::loss_codes`]
//! reads what the code is checked against, [`LossCodes::check`] checks it (a [`CodeCheck`]
//! is made nowhere else), [`Workflow::declare_loss`] acts on the result: suspends, or counts
//! the wrong code and locks declarations after [`LossPolicy::max_failures`] in a row. Every
//! attempt is journaled; the code never is.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::rules::{allow, allow_role, Duty};
use super::{AuthenticatedOperator, Object, Workflow};
use crate::credentials::check_revocation_code;
use crate::domain::{Actor, IdNatPs};
use crate::error::{Error, Result};
use crate::status::{ChangeKind, RevocationOutcome};
use crate::storage::{CodeFailure, LossChannel, LossCodeState, LossDeclaration, RequestSubject};

/// How many wrong codes lock declarations, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossPolicy {
    pub max_failures: u32,
    pub lock: Duration,
}

impl Default for LossPolicy {
    fn default() -> Self {
        LossPolicy {
            max_failures: 10,
            lock: Duration::from_secs(24 * 3600),
        }
    }
}

/// What a holder's code is checked against ([`Workflow::loss_codes`]).
#[derive(Debug, Clone)]
pub struct LossCodes {
    idnat: IdNatPs,
    state: LossCodeState,
}

impl LossCodes {
    /// Until when declarations for this professional are locked, if they are.
    pub fn locked_until(&self) -> Option<OffsetDateTime> {
        self.state
            .locked_until
            .filter(|t| *t > OffsetDateTime::now_utc())
    }

    /// Checks `typed` against the codes: one argon2 verification per code at most, one (a
    /// dummy) when there is none; none while locked. Slow on purpose: run it on a blocking
    /// thread, within the caller's bound.
    pub fn check(self, typed: &str) -> CodeCheck {
        let locked_until = self.locked_until();
        let matched = locked_until.is_none() && check_revocation_code(typed, &self.state.hashes);
        CodeCheck {
            idnat: self.idnat,
            known: self.state.known,
            locked_until,
            matched,
        }
    }
}

/// The result of [`LossCodes::check`], for [`Workflow::declare_loss`].
#[derive(Debug, Clone)]
pub struct CodeCheck {
    idnat: IdNatPs,
    known: bool,
    locked_until: Option<OffsetDateTime>,
    matched: bool,
}

/// A declaration made, and what its suspensions changed.
#[derive(Debug)]
pub struct LossDeclared {
    pub declaration: LossDeclaration,
    pub outcome: RevocationOutcome,
}

/// A lock's end as the refusal says it (UTC, to the minute).
fn shown(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The journal's actor of a holder's declaration.
fn holder(idnat: &IdNatPs) -> Result<Actor> {
    Actor::new(&format!("titulaire-{idnat}"), "revocation-code")
}

impl Workflow {
    /// What a declaration for `idnat` is checked against (anyone may ask: the holder is not
    /// an operator).
    pub async fn loss_codes(&self, idnat: &IdNatPs) -> Result<LossCodes> {
        let state = self
            .store()
            .loss_code_state(idnat, OffsetDateTime::now_utc())
            .await?;
        Ok(LossCodes {
            idnat: idnat.clone(),
            state,
        })
    }

    /// A holder's declaration, once its code is checked: suspends every certificate of the
    /// professional still good and records the declaration; a wrong code is counted
    /// ([`Error::LossCodeRefused`], or [`Error::LossDeclarationLocked`] at the limit); while
    /// locked, nothing is done. `address`: the source address, for the journal.
    pub async fn declare_loss(
        &self,
        check: CodeCheck,
        channel: LossChannel,
        address: Option<&str>,
        policy: &LossPolicy,
    ) -> Result<LossDeclared> {
        let actor = holder(&check.idnat)?;
        let details = json!({ "channel": channel.as_str(), "address": address });
        let store = self.store();
        if !check.known {
            store
                .record_event(
                    &actor,
                    "loss.declare",
                    &format!("professional:{}", check.idnat),
                    crate::storage::Outcome::Denied,
                    &json!({ "channel": channel.as_str(), "address": address, "why": "unknown" }),
                )
                .await?;
            return Err(Error::LossCodeRefused);
        }
        if let Some(until) = check.locked_until {
            let mut d = details.clone();
            d["why"] = json!("locked");
            store
                .record_event(
                    &actor,
                    "loss.declare",
                    &format!("professional:{}", check.idnat),
                    crate::storage::Outcome::Denied,
                    &d,
                )
                .await?;
            return Err(Error::LossDeclarationLocked {
                until: shown(until),
            });
        }
        if !check.matched {
            let lock = time::Duration::try_from(policy.lock).unwrap_or(time::Duration::DAY);
            let until = OffsetDateTime::now_utc() + lock;
            let mut d = details.clone();
            d["why"] = json!("wrong-code");
            return match store
                .record_loss_code_failure(&check.idnat, policy.max_failures, until, &actor, &d)
                .await?
            {
                CodeFailure::Counted { .. } => Err(Error::LossCodeRefused),
                CodeFailure::Locked { until } => Err(Error::LossDeclarationLocked {
                    until: shown(until),
                }),
            };
        }
        let declaration = store
            .declare_loss(&check.idnat, channel, &actor, &details)
            .await?;
        Ok(self.announce_declared(declaration).await)
    }

    /// An operator of the professional's Order suspends all their certificates (a holder who
    /// calls without their code, `igc cert suspend-all`): a declaration like the holder's,
    /// decided later the same way.
    pub async fn suspend_all(
        &self,
        who: &AuthenticatedOperator,
        idnat: &IdNatPs,
    ) -> Result<LossDeclared> {
        let authority = self
            .authority_of(&RequestSubject::Professional(idnat.clone()))
            .await?;
        allow(who, Duty::ManageCertificates, authority)?;
        let declaration = self
            .store()
            .declare_loss(
                idnat,
                LossChannel::Operator,
                &who.actor()?,
                &json!({ "channel": LossChannel::Operator.as_str() }),
            )
            .await?;
        Ok(self.announce_declared(declaration).await)
    }

    /// Tells the status sink (OCSP, CRLs) of the suspensions a declaration just committed.
    async fn announce_declared(&self, declaration: LossDeclaration) -> LossDeclared {
        let outcome = self
            .inner
            .revocations
            .announce(ChangeKind::Suspended, declaration.serials.clone())
            .await;
        LossDeclared {
            declaration,
            outcome,
        }
    }

    /// The declarations still open that `who` may see, oldest first.
    pub async fn open_loss_declarations(
        &self,
        who: &AuthenticatedOperator,
    ) -> Result<Vec<LossDeclaration>> {
        allow_role(who, Duty::View)?;
        let mut seen = Vec::new();
        for d in self.store().open_loss_declarations().await? {
            let p = self.professional_record(&d.professional).await?;
            if self.sees(who, &p) {
                seen.push(d);
            }
        }
        Ok(seen)
    }

    /// The declarations of `idnat`, newest first, if `who` may see the professional.
    pub async fn loss_declarations_of(
        &self,
        who: &AuthenticatedOperator,
        idnat: &IdNatPs,
    ) -> Result<Vec<LossDeclaration>> {
        self.locate(who, &Object::Professional(idnat.clone()))
            .await?;
        self.store().loss_declarations_of(idnat).await
    }

    /// Declaration `id` of professional `idnat`, if `who` may see it.
    pub async fn loss_declaration(
        &self,
        who: &AuthenticatedOperator,
        idnat: &IdNatPs,
        id: i64,
    ) -> Result<LossDeclaration> {
        self.locate(who, &Object::Professional(idnat.clone()))
            .await?;
        match self.store().loss_declaration(id).await? {
            Some(d) if &d.professional == idnat => Ok(d),
            _ => Err(Error::LossDeclarationNotFound { id }),
        }
    }

    /// Confirms declaration `id` of `idnat`: its certificates still on hold are revoked
    /// (keyCompromise).
    pub async fn confirm_loss(
        &self,
        who: &AuthenticatedOperator,
        idnat: &IdNatPs,
        id: i64,
    ) -> Result<RevocationOutcome> {
        self.close_loss(who, idnat, id, true).await
    }

    /// Lifts the suspensions of declaration `id` of `idnat` (the card was found).
    pub async fn reinstate_loss(
        &self,
        who: &AuthenticatedOperator,
        idnat: &IdNatPs,
        id: i64,
    ) -> Result<RevocationOutcome> {
        self.close_loss(who, idnat, id, false).await
    }

    async fn close_loss(
        &self,
        who: &AuthenticatedOperator,
        idnat: &IdNatPs,
        id: i64,
        revoke: bool,
    ) -> Result<RevocationOutcome> {
        let d = self.loss_declaration(who, idnat, id).await?;
        let authority = self
            .authority_of(&RequestSubject::Professional(d.professional.clone()))
            .await?;
        allow(who, Duty::ManageCertificates, authority)?;
        let changed = self
            .store()
            .close_loss_declaration(id, revoke, &who.actor()?)
            .await?;
        let kind = if revoke {
            ChangeKind::Revoked(crate::domain::RevocationReason::KeyCompromise)
        } else {
            ChangeKind::Reinstated
        };
        Ok(self.inner.revocations.announce(kind, changed).await)
    }
}
