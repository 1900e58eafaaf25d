//! Keeps the current DER of every CRL of every CA in memory, for the HTTP layer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use time::OffsetDateTime;

use super::{CrlScope, GeneratedCrl};
use crate::domain::{Actor, CaName};
use crate::error::{Error, Result};
use crate::issuance::{CertificateAuthority, CrlPolicy};

/// A published CRL (what `/crl/{file}` serves).
pub type PublishedCrl = GeneratedCrl;

type ScopeKey = (usize, CrlScope);

/// Per scope: when the last generation that completed had started.
type ScopeLock = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// Generates the CRLs of a set of CAs and keeps the latest of each in memory.
///
/// * [`regenerate_all`](Self::regenerate_all) on a schedule ([`run`](Self::run) does it every
///   `crl.regenerate_minutes`, and when another instance changed the revocation state);
/// * [`refresh_after_change`](Self::refresh_after_change) after a revocation, suspension or
///   reinstatement: the affected partitions and the full CRL. Concurrent requests for the
///   same CRL coalesce: a caller whose change committed before a generation started reuses
///   that generation instead of starting another;
/// * [`get`](Self::get) / [`current`](Self::current) / [`fetch`](Self::fetch) for serving.
///
/// A CRL replaces the one in memory only if its number is greater.
#[derive(Debug)]
pub struct CrlPublisher {
    cas: Vec<Arc<CertificateAuthority>>,
    actor: Actor,
    current: RwLock<HashMap<String, Arc<PublishedCrl>>>,
    locks: Mutex<HashMap<ScopeKey, ScopeLock>>,
    /// Revocation epoch of each CA as last seen by this instance.
    epochs: Mutex<HashMap<usize, u64>>,
}

fn poisoned() -> Error {
    Error::Task("CRL publisher state lock poisoned".into())
}

impl CrlPublisher {
    /// A publisher for these CAs (their URL names must differ).
    pub fn new(cas: Vec<Arc<CertificateAuthority>>) -> Result<Self> {
        for (i, ca) in cas.iter().enumerate() {
            if cas[..i].iter().any(|o| o.url_name() == ca.url_name()) {
                return Err(Error::Config(format!(
                    "two CAs publish under the URL name {:?}",
                    ca.url_name()
                )));
            }
            if cas[..i].iter().any(|o| o.name() == ca.name()) {
                return Err(Error::Config(format!("CA {} listed twice", ca.name())));
            }
        }
        Ok(CrlPublisher {
            cas,
            actor: Actor::system("crl-publisher")?,
            current: RwLock::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            epochs: Mutex::new(HashMap::new()),
        })
    }

    /// The CAs, in the order given.
    pub fn authorities(&self) -> &[Arc<CertificateAuthority>] {
        &self.cas
    }

    /// A CA by name.
    pub fn authority(&self, name: &CaName) -> Option<&Arc<CertificateAuthority>> {
        self.cas.iter().find(|c| c.name() == name)
    }

    fn index_of(&self, name: &CaName) -> Result<usize> {
        self.cas
            .iter()
            .position(|c| c.name() == name)
            .ok_or_else(|| Error::UnknownCa {
                name: name.to_string(),
            })
    }

    /// The CRL currently served under `/crl/{file_name}`.
    pub fn get(&self, file_name: &str) -> Option<Arc<PublishedCrl>> {
        self.current.read().ok()?.get(file_name).cloned()
    }

    /// DER of the current full CRL (`partition = None`) or partition CRL of a CA.
    pub fn current(&self, ca: &CaName, partition: Option<u32>) -> Option<Bytes> {
        let ca = self.authority(ca)?;
        self.get(&ca.crl_file_name(partition))
            .map(|c| c.der.clone())
    }

    /// Every CRL in memory.
    pub fn list(&self) -> Vec<Arc<PublishedCrl>> {
        let mut v: Vec<_> = self
            .current
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        v
    }

    /// Like [`get`](Self::get), but a partition CRL not in memory is generated when the name
    /// is a partition of a known CA that may still hold a valid certificate; `None` for any
    /// other name (so arbitrary names cannot make the CA sign).
    pub async fn fetch(&self, file_name: &str) -> Result<Option<Arc<PublishedCrl>>> {
        if let Some(c) = self.get(file_name) {
            return Ok(Some(c));
        }
        for (i, ca) in self.cas.iter().enumerate() {
            let Some(scope) = ca.parse_crl_file_name(file_name) else {
                continue;
            };
            if let CrlScope::Partition(p) = scope {
                let (lo, hi) = ca.possible_partitions(OffsetDateTime::now_utc())?;
                if p < lo || p > hi {
                    return Ok(None);
                }
            }
            let done = self.generate(i, &[scope], false, Instant::now()).await?;
            return Ok(done.into_iter().next());
        }
        Ok(None)
    }

    /// Regenerates one CRL of a CA now.
    pub async fn regenerate(
        &self,
        ca: &CaName,
        partition: Option<u32>,
    ) -> Result<Arc<PublishedCrl>> {
        let i = self.index_of(ca)?;
        let scope = partition.map_or(CrlScope::Full, CrlScope::Partition);
        let mut out = self.generate(i, &[scope], false, Instant::now()).await?;
        out.pop()
            .or_else(|| self.get(&self.cas[i].crl_file_name(partition)))
            .ok_or_else(|| Error::Task(format!("CRL {scope} of {ca} was not generated")))
    }

    /// After a change of revocation state of certificates in `partitions` of `ca`:
    /// regenerates those partitions and the full CRL, and bumps the CA's revocation epoch so
    /// that other instances regenerate theirs. Returns the CRLs that are now current.
    pub async fn refresh_after_change(
        &self,
        ca: &CaName,
        partitions: &[u32],
    ) -> Result<Vec<Arc<PublishedCrl>>> {
        let requested = Instant::now();
        let i = self.index_of(ca)?;
        let mut scopes = vec![CrlScope::Full];
        scopes.extend(partitions.iter().copied().map(CrlScope::Partition));
        scopes.sort();
        scopes.dedup();
        self.generate(i, &scopes, true, requested).await?;
        let ca = &self.cas[i];
        Ok(scopes
            .iter()
            .filter_map(|s| self.get(&ca.crl_file_name(s.partition())))
            .collect())
    }

    /// Regenerates every live CRL of every CA (see [`crate::crl`]). Stops at the first
    /// failure (the CRLs already generated stay published).
    pub async fn regenerate_all(&self) -> Result<Vec<Arc<PublishedCrl>>> {
        let mut out = Vec::new();
        let now = OffsetDateTime::now_utc();
        for i in 0..self.cas.len() {
            let epoch = self.cas[i].store().crl_epoch(self.cas[i].name()).await?;
            let scopes = self.cas[i].live_scopes(now).await?;
            out.extend(self.generate(i, &scopes, false, Instant::now()).await?);
            self.note_epoch(i, epoch)?;
            // Retire what is no longer live (partitions generated on demand stay while
            // they may hold a valid certificate).
            let ca = &self.cas[i];
            let keep: Vec<String> = scopes
                .iter()
                .map(|s| ca.crl_file_name(s.partition()))
                .collect();
            let (lo, hi) = ca.possible_partitions(now)?;
            let mut cur = self.current.write().map_err(|_| poisoned())?;
            cur.retain(|file, crl| {
                crl.ca != *ca.name()
                    || keep.contains(file)
                    || matches!(crl.scope, CrlScope::Partition(p) if p >= lo && p <= hi)
            });
        }
        Ok(out)
    }

    /// Records an epoch this instance produced by its own bump: only if it is the direct
    /// successor of the last one seen. Otherwise another instance changed something in
    /// between, possibly in partitions this instance did not regenerate, and the next
    /// [`poll_changes`](Self::poll_changes) must regenerate everything.
    fn note_own_epoch(&self, i: usize, epoch: u64) -> Result<()> {
        let mut e = self.epochs.lock().map_err(|_| poisoned())?;
        let slot = e.entry(i).or_insert(0);
        if epoch == *slot + 1 {
            *slot = epoch;
        }
        Ok(())
    }

    fn note_epoch(&self, i: usize, epoch: u64) -> Result<()> {
        let mut e = self.epochs.lock().map_err(|_| poisoned())?;
        let slot = e.entry(i).or_insert(0);
        *slot = (*slot).max(epoch);
        Ok(())
    }

    /// Checks whether another instance changed the revocation state of a CA since this one
    /// last looked, and regenerates that CA's CRLs if so. Returns how many were regenerated.
    pub async fn poll_changes(&self) -> Result<usize> {
        let mut n = 0;
        for i in 0..self.cas.len() {
            let epoch = self.cas[i].store().crl_epoch(self.cas[i].name()).await?;
            let seen = self
                .epochs
                .lock()
                .map_err(|_| poisoned())?
                .get(&i)
                .copied()
                .unwrap_or(0);
            if epoch > seen {
                let scopes = self.cas[i].live_scopes(OffsetDateTime::now_utc()).await?;
                n += self
                    .generate(i, &scopes, false, Instant::now())
                    .await?
                    .len();
                self.note_epoch(i, epoch)?;
            }
        }
        Ok(n)
    }

    /// Runs the schedule until `shutdown` completes: everything at once, then every
    /// `crl.regenerate_minutes` (the shortest of the CAs), and every `crl.poll_seconds` a
    /// check for changes made by other instances. Failures are logged and retried at the
    /// next tick.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send) {
        // Each period is the shortest among the CAs.
        let shortest = |period: fn(&CrlPolicy) -> u32, default: u32| {
            self.cas
                .iter()
                .map(|c| period(&c.policy().crl))
                .min()
                .unwrap_or(default)
        };
        let regen = shortest(|crl| crl.regenerate_minutes, 60);
        let poll = shortest(|crl| crl.poll_seconds, 10);
        let mut regen = tokio::time::interval(Duration::from_secs(u64::from(regen) * 60));
        let mut poll = tokio::time::interval(Duration::from_secs(u64::from(poll)));
        regen.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = regen.tick() => {
                    match self.regenerate_all().await {
                        Ok(v) => tracing::info!(crls = v.len(), "CRLs regenerated"),
                        Err(e) => tracing::error!(error = %e, "scheduled CRL regeneration failed"),
                    }
                }
                _ = poll.tick() => {
                    match self.poll_changes().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(crls = n, "CRLs regenerated after a change on another instance"),
                        Err(e) => tracing::warn!(error = %e, "checking for CRL changes failed"),
                    }
                }
            }
        }
    }

    fn scope_lock(&self, key: ScopeKey) -> Result<ScopeLock> {
        let mut locks = self.locks.lock().map_err(|_| poisoned())?;
        Ok(locks.entry(key).or_default().clone())
    }

    /// Generates `scopes` (sorted, distinct) of CA `i`, skipping those whose last generation
    /// started after `requested`. Numbers for all of them are allocated in one batch.
    async fn generate(
        &self,
        i: usize,
        scopes: &[CrlScope],
        changed: bool,
        requested: Instant,
    ) -> Result<Vec<Arc<PublishedCrl>>> {
        let ca = &self.cas[i];
        let mut sorted = scopes.to_vec();
        sorted.sort();
        sorted.dedup();
        // Lock in a global order (scope order), so concurrent generations cannot deadlock.
        let mut guards = Vec::with_capacity(sorted.len());
        for scope in sorted {
            let lock = self.scope_lock((i, scope))?;
            let guard = lock.lock_owned().await;
            if guard.is_some_and(|started| started >= requested) {
                continue; // a generation that started after the request has completed
            }
            guards.push((scope, guard));
        }
        if guards.is_empty() {
            if changed {
                // Our CRLs were regenerated by a generation that started after the change;
                // other instances still have to hear about it.
                let epoch = ca.store().bump_crl_epoch(ca.name(), &self.actor).await?;
                self.note_own_epoch(i, epoch)?;
            }
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let count = u32::try_from(guards.len())
            .map_err(|_| Error::Task("too many CRLs in one batch".into()))?;
        let numbers = ca
            .store()
            .allocate_crl_numbers(ca.name(), count, changed, &self.actor)
            .await?;
        if changed {
            self.note_own_epoch(i, numbers.epoch)?;
        }
        let mut out = Vec::with_capacity(guards.len());
        for (k, (scope, mut guard)) in guards.into_iter().enumerate() {
            let number = numbers
                .get(u32::try_from(k).unwrap_or(u32::MAX))
                .ok_or_else(|| Error::Task("CRL number block too small".into()))?;
            let t = Instant::now();
            let crl = Arc::new(ca.generate_crl(scope, number).await?);
            tracing::debug!(
                ca = %ca.name(), scope = %scope, number, entries = crl.entries,
                bytes = crl.der.len(), elapsed_ms = t.elapsed().as_millis() as u64,
                "CRL generated"
            );
            self.publish(crl.clone())?;
            *guard = Some(started);
            out.push(crl);
        }
        Ok(out)
    }

    fn publish(&self, crl: Arc<PublishedCrl>) -> Result<()> {
        let mut cur = self.current.write().map_err(|_| poisoned())?;
        match cur.get(&crl.file_name) {
            Some(old) if old.number >= crl.number => {}
            _ => {
                cur.insert(crl.file_name.clone(), crl);
            }
        }
        Ok(())
    }
}
