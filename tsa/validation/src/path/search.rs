//! Path building: a depth-first search from the end entity towards the trust anchors that
//! explores every candidate issuer and backtracks when a branch leads nowhere, so that the
//! result does not depend on the order in which certificates arrive.
//!
//! Bounded: at most [`MAX_DEPTH`] certificates per path, [`Budget::max_candidates`] candidate
//! issuers per certificate, one unit of the budget per candidate examined and one per
//! signature verified (a link verified once is not verified again, in this search or later:
//! [`LinkCache`]). Candidates whose subject key identifier contradicts the authority key
//! identifier sought are not candidates; among the others, key-identifier matches and
//! certificates valid at the time of interest are tried first.

use std::collections::HashSet;

use pkix::name_compare::names_equivalent;
use time::OffsetDateTime;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
use x509_cert::Certificate;

use super::{classify, subject, LinkCache, LinkError, PathError};
use crate::limits::{Budget, LimitExceeded};
use crate::report::SubIndication;

/// Longest path tried (end entity, intermediates, anchor).
pub const MAX_DEPTH: usize = 8;

/// What the caller makes of a complete path (its last certificate a trust anchor).
pub enum PathVerdict {
    /// Valid: the search stops here.
    Valid,
    /// Valid except for a certificate outside its validity period at the time of interest:
    /// kept, in case no better path exists (the caller then reports the dates).
    OutOfValidity,
    /// Refused by RFC 5280 §6.1 processing.
    Refused(PathError),
}

/// Where the search ended.
pub struct Found {
    pub chain: Vec<Certificate>,
    /// `true` when the path is valid, `false` when it is only [`PathVerdict::OutOfValidity`].
    pub within_validity: bool,
}

struct Search<'a, F> {
    pool: &'a [&'a Certificate],
    anchors: &'a [Certificate],
    links: &'a LinkCache,
    budget: &'a Budget,
    at: Option<OffsetDateTime>,
    judge: F,
    /// (subject, issuer) pairs whose link did not verify in this search.
    failed: HashSet<(*const Certificate, *const Certificate)>,
    /// The last link that did not verify, to explain a missing path.
    link_error: Option<(SubIndication, String)>,
    /// The first complete path refused, to explain why no path is valid.
    refused: Option<PathError>,
    /// The first complete path valid but for dates.
    out_of_validity: Option<Vec<Certificate>>,
    /// A known CA was skipped because it was already in the path.
    looped: bool,
}

enum Step {
    Done(Vec<Certificate>),
    Continue,
}

/// Searches a path from `ee` through `pool` to one of `anchors`, calling `judge` on each
/// complete path until one is [`PathVerdict::Valid`].
pub fn search<F>(
    ee: &Certificate,
    pool: &[&Certificate],
    anchors: &[Certificate],
    links: &LinkCache,
    budget: &Budget,
    at: Option<OffsetDateTime>,
    judge: F,
) -> Result<Found, PathError>
where
    F: FnMut(&[Certificate]) -> PathVerdict,
{
    let mut s = Search {
        pool,
        anchors,
        links,
        budget,
        at,
        judge,
        failed: HashSet::new(),
        link_error: None,
        refused: None,
        out_of_validity: None,
        looped: false,
    };
    let mut chain = vec![ee.clone()];
    if anchors.iter().any(|a| a == ee) {
        // The end entity is itself trusted: a path of one certificate.
        match (s.judge)(&chain) {
            PathVerdict::Valid => {
                return Ok(Found {
                    chain,
                    within_validity: true,
                })
            }
            PathVerdict::OutOfValidity => {
                return Ok(Found {
                    chain,
                    within_validity: false,
                })
            }
            PathVerdict::Refused(e) => return Err(e),
        }
    }
    match s.extend(&mut chain)? {
        Step::Done(chain) => Ok(Found {
            chain,
            within_validity: true,
        }),
        Step::Continue => s.conclude(ee, chain),
    }
}

impl<'a, F> Search<'a, F>
where
    F: FnMut(&[Certificate]) -> PathVerdict,
{
    fn limited(&self, chain: &[Certificate], e: LimitExceeded) -> PathError {
        PathError {
            sub: SubIndication::Generic,
            detail: format!("path building stopped: {e}"),
            partial: chain.to_vec(),
            limit: Some(e),
            checks: Vec::new(),
        }
    }

    /// The issuers of the last certificate of `chain`, tried one after the other.
    fn extend(&mut self, chain: &mut Vec<Certificate>) -> Result<Step, PathError> {
        let Some(cur) = chain.last().cloned() else {
            return Ok(Step::Continue);
        };
        let candidates = self.candidates(&cur, chain);
        for (n, (cand, is_anchor)) in candidates.into_iter().enumerate() {
            if n >= self.budget.max_candidates() {
                let e = self.budget.exceed(LimitExceeded::Candidates {
                    issuer: pkix::name_to_string(&cur.tbs_certificate.issuer),
                    max: self.budget.max_candidates(),
                });
                return Err(self.limited(chain, e));
            }
            self.budget.spend(1).map_err(|e| self.limited(chain, e))?;
            if !self.link(&cur, cand, is_anchor, chain)? {
                continue;
            }
            chain.push(cand.clone());
            if is_anchor {
                match (self.judge)(chain) {
                    PathVerdict::Valid => return Ok(Step::Done(chain.clone())),
                    PathVerdict::OutOfValidity => {
                        if self.out_of_validity.is_none() {
                            self.out_of_validity = Some(chain.clone());
                        }
                    }
                    PathVerdict::Refused(e) => {
                        if self.refused.is_none() {
                            self.refused = Some(e);
                        }
                    }
                }
            } else if chain.len() < MAX_DEPTH {
                if let Step::Done(found) = self.extend(chain)? {
                    return Ok(Step::Done(found));
                }
            }
            chain.pop();
        }
        Ok(Step::Continue)
    }

    /// Whether `cand` signed `cur`; a failure is remembered for this search and explains a
    /// missing path.
    fn link(
        &mut self,
        cur: &Certificate,
        cand: &Certificate,
        is_anchor: bool,
        chain: &[Certificate],
    ) -> Result<bool, PathError> {
        let key = (cur as *const Certificate, cand as *const Certificate);
        if self.failed.contains(&key) {
            return Ok(false);
        }
        match self.links.verify_within(cur, cand, self.budget) {
            Ok(()) => Ok(true),
            Err(LinkError::Limit(e)) => Err(self.limited(chain, e)),
            Err(LinkError::Verify(e)) => {
                self.failed.insert(key);
                self.link_error = Some((
                    classify(&e),
                    format!(
                        "{} is not validly signed by {}{}: {e}",
                        subject(cur),
                        if is_anchor { "the trust anchor " } else { "" },
                        subject(cand)
                    ),
                ));
                Ok(false)
            }
        }
    }

    /// Certificates that may have issued `cur`: the subject is `cur`'s issuer and the key
    /// identifiers do not contradict each other. Trust anchors first, then key-identifier
    /// matches, then those valid at the time of interest; otherwise in arrival order.
    fn candidates(
        &mut self,
        cur: &Certificate,
        chain: &[Certificate],
    ) -> Vec<(&'a Certificate, bool)> {
        let wanted = &cur.tbs_certificate.issuer;
        let aki = authority_key_id(cur);
        let mut found: Vec<(u8, &'a Certificate, bool)> = Vec::new();
        let anchors: &'a [Certificate] = self.anchors;
        for a in anchors {
            if names_equivalent(&a.tbs_certificate.subject, wanted) {
                if let Some(rank) = self.rank(&aki, a) {
                    found.push((rank, a, true));
                }
            }
        }
        let pool: &'a [&'a Certificate] = self.pool;
        let mut seen: HashSet<(&[u8], &[u8])> = HashSet::new();
        for &c in pool {
            if !names_equivalent(&c.tbs_certificate.subject, wanted)
                || anchors.iter().any(|a| a == c)
            {
                continue;
            }
            if chain.iter().any(|x| x == c) {
                self.looped = true;
                continue;
            }
            // The same certificate twice in the pool (equal certificates have equal serials
            // and signatures; a hash set keeps a large pool linear).
            if !seen.insert((
                c.tbs_certificate.serial_number.as_bytes(),
                c.signature.raw_bytes(),
            )) {
                continue;
            }
            if let Some(rank) = self.rank(&aki, c) {
                found.push((rank + 4, c, false));
            }
        }
        // Stable: arrival order within a rank.
        found.sort_by_key(|(rank, _, _)| *rank);
        found.into_iter().map(|(_, c, a)| (c, a)).collect()
    }

    /// 0..=3, lower first; `None` when `cand`'s key identifier contradicts `aki`.
    fn rank(&self, aki: &Option<Vec<u8>>, cand: &Certificate) -> Option<u8> {
        let key_rank = match (aki, subject_key_id(cand)) {
            (Some(a), Some(s)) if *a == s => 0,
            (Some(_), Some(_)) => return None,
            _ => 1,
        };
        let valid = match self.at {
            Some(t) => super::first_invalid_at(std::slice::from_ref(cand), t).is_none(),
            None => true,
        };
        Some(key_rank * 2 + u8::from(!valid))
    }

    fn conclude(self, ee: &Certificate, chain: Vec<Certificate>) -> Result<Found, PathError> {
        if let Some(chain) = self.out_of_validity {
            return Ok(Found {
                chain,
                within_validity: false,
            });
        }
        if let Some(e) = self.refused {
            return Err(e);
        }
        let issuer = pkix::name_to_string(&ee.tbs_certificate.issuer);
        let (sub, detail) = match self.link_error {
            Some((SubIndication::NoCertificateChainFound, _)) | None => (
                SubIndication::NoCertificateChainFound,
                if self.looped {
                    format!(
                        "no chain from {} to a trust anchor: its issuers form a loop",
                        subject(ee)
                    )
                } else {
                    format!(
                        "no chain from {} to a trust anchor: no certificate of {issuer} leads to a trust anchor",
                        subject(ee)
                    )
                },
            ),
            Some((sub, d)) => (sub, d),
        };
        Err(PathError {
            sub,
            detail,
            partial: chain,
            limit: None,
            checks: Vec::new(),
        })
    }
}

fn authority_key_id(c: &Certificate) -> Option<Vec<u8>> {
    match c.tbs_certificate.get::<AuthorityKeyIdentifier>() {
        Ok(Some((_, aki))) => aki.key_identifier.map(|k| k.as_bytes().to_vec()),
        _ => None,
    }
}

fn subject_key_id(c: &Certificate) -> Option<Vec<u8>> {
    match c.tbs_certificate.get::<SubjectKeyIdentifier>() {
        Ok(Some((_, ski))) => Some(ski.0.as_bytes().to_vec()),
        _ => None,
    }
}
