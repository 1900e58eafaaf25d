//! What a password login may cost the service (issue 20, finding 3).
//!
//! Every argon2 hash or verification runs on Tokio's blocking pool, never on the async workers
//! that every service of `igc serve` shares, and at most `login_max_concurrent_hashes` at
//! once; at most `login_max_waiting_hashes` more wait for a slot, each at most
//! `login_hash_wait_ms`: past that the login is refused at once (503), so a flood never queues
//! without bound nor holds memory (argon2 takes its memory per hash).
//!
//! Before any hashing and before the database is read, attempts are limited per source
//! address and per login by token buckets (a burst of N, then N per minute), in memory, with a
//! bounded number of tracked keys. The login's bucket exists whether or not the account does,
//! so a refusal tells nothing of the account.
//!
//! Refusals that name no account (unknown logins) and refusals by these limits are counted in
//! memory and journaled in aggregate, one entry per kind and per period, by a background flush
//! (and at shutdown, [`crate::PortalState::flush_login_refusals`]): a flood costs no database
//! write per attempt. Refusals of existing accounts keep their own entry and their lockout
//! counting (`handlers::password_login`).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ca::domain::Actor;
use ca::storage::{Outcome, Store};
use serde_json::json;
use sha2::Digest as _;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::config::PortalConfig;

/// Journal action of the aggregated refusals of unknown logins (wrong login, password checked
/// against a dummy hash all the same).
pub const ACTION_REFUSED_UNKNOWN: &str = "auth.login-refused-unknown";
/// Journal action of the aggregated refusals by the rate limits and the hashing bound.
pub const ACTION_THROTTLED: &str = "auth.login-throttled";
/// Distinct logins (with the address of their first attempt) kept per aggregated entry.
pub const SAMPLE_SIZE: usize = 20;
/// Distinct source addresses counted by name per aggregated entry (the rest in one number).
pub const ADDRESS_SAMPLE_SIZE: usize = 20;
/// Longest login kept in a sample (characters).
const SAMPLE_LOGIN_CHARS: usize = 64;

/// Why an attempt was refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Throttle {
    /// Too many attempts from this source address (429).
    Address,
    /// Too many attempts for this login (429).
    Login,
    /// Every hashing slot is taken and the wait is full or too long (503).
    Busy,
}

impl Throttle {
    /// The reason counted in `igc_http_refused_total` and written in the journal.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Throttle::Address => "login_rate_address",
            Throttle::Login => "login_rate_login",
            Throttle::Busy => "login_busy",
        }
    }
}

/// The hashing bound refused: every slot taken, and the wait full or too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// The key of a source address: an IPv6 client commonly holds a whole /64, so it counts as
/// one; an IPv4-mapped address is its IPv4 address.
pub(crate) fn address_key(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The key of a login: a digest, so that a tracked key costs the same whatever was typed.
fn login_key(login: &str) -> [u8; 32] {
    sha2::Sha256::digest(login.as_bytes()).into()
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key: `burst` tokens, refilled at `per_minute` per minute; at most
/// `max_keys` tracked.
#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    burst: f64,
    per_second: f64,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(per_minute: u32, max_keys: usize) -> Self {
        Buckets {
            map: HashMap::new(),
            burst: f64::from(per_minute),
            per_second: f64::from(per_minute) / 60.0,
            max_keys: max_keys.max(1),
        }
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// Takes one token of `key`; `Err(wait)` when there is none, with the time until one.
    fn take(&mut self, key: K, now: Instant) -> Result<(), Duration> {
        if !self.map.contains_key(&key) && self.map.len() >= self.max_keys {
            self.evict(now);
        }
        let tokens = match self.map.get(&key) {
            Some(b) => self.refilled(b, now),
            None => self.burst,
        };
        let (left, answer) = if tokens >= 1.0 {
            (tokens - 1.0, Ok(()))
        } else {
            let wait = (1.0 - tokens) / self.per_second;
            (
                tokens,
                Err(Duration::from_secs_f64(wait.clamp(0.0, 86_400.0))),
            )
        };
        self.map.insert(
            key,
            Bucket {
                tokens: left,
                at: now,
            },
        );
        answer
    }

    /// Makes room for one key: a bucket refilled to the full burst is as good as untracked,
    /// so those go first; when none is, the fullest goes (it remembers the least).
    fn evict(&mut self, now: Instant) {
        let (burst, per_second) = (self.burst, self.per_second);
        let refilled = |b: &Bucket| {
            (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second).min(burst)
        };
        self.map.retain(|_, b| refilled(b) < burst);
        if self.map.len() >= self.max_keys {
            let fullest = self
                .map
                .iter()
                .max_by(|a, b| refilled(a.1).total_cmp(&refilled(b.1)))
                .map(|(k, _)| k.clone());
            if let Some(k) = fullest {
                self.map.remove(&k);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Refusals of one kind since the last flush.
#[derive(Debug, Default)]
struct Tally {
    count: u64,
    since: Option<OffsetDateTime>,
    reasons: BTreeMap<&'static str, u64>,
    /// (login, address of its first attempt), distinct logins, at most [`SAMPLE_SIZE`].
    sample: Vec<(String, String)>,
    addresses: BTreeMap<String, u64>,
    other_addresses: u64,
}

impl Tally {
    fn add(&mut self, reason: &'static str, login: &str, address: Option<IpAddr>) {
        self.count += 1;
        self.since.get_or_insert_with(OffsetDateTime::now_utc);
        *self.reasons.entry(reason).or_default() += 1;
        let address = address.map_or_else(|| "?".to_owned(), |a| a.to_string());
        let login: String = login
            .chars()
            .filter(|c| !c.is_control())
            .take(SAMPLE_LOGIN_CHARS)
            .collect();
        if self.sample.len() < SAMPLE_SIZE && !self.sample.iter().any(|(l, _)| *l == login) {
            self.sample.push((login, address.clone()));
        }
        if let Some(n) = self.addresses.get_mut(&address) {
            *n += 1;
        } else if self.addresses.len() < ADDRESS_SAMPLE_SIZE {
            self.addresses.insert(address, 1);
        } else {
            self.other_addresses += 1;
        }
    }

    /// The journal details of this tally (`None` when nothing was refused).
    fn details(&self, until: OffsetDateTime) -> Option<serde_json::Value> {
        if self.count == 0 {
            return None;
        }
        let fmt = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        Some(json!({
            "count": self.count,
            "from": self.since.map(fmt),
            "until": fmt(until),
            "reasons": self.reasons,
            "sample": self.sample.iter().map(|(l, a)| json!({ "login": l, "address": a }))
                .collect::<Vec<_>>(),
            "addresses": self.addresses,
            "other_addresses": self.other_addresses,
        }))
    }
}

#[derive(Debug, Default)]
struct Refusals {
    unknown: Tally,
    throttled: Tally,
}

/// The limits of password logins and the aggregated journal of their refusals; one per
/// portal (in [`crate::PortalState`]).
#[derive(Debug)]
pub(crate) struct LoginGuard {
    by_address: Mutex<Buckets<IpAddr>>,
    by_login: Mutex<Buckets<[u8; 32]>>,
    /// Slots of running plus waiting hashes: taken without waiting, or refused.
    admission: Semaphore,
    /// Slots of running hashes (the blocking pool threads busy with argon2).
    running: Arc<Semaphore>,
    wait: Duration,
    refusals: Mutex<Refusals>,
    flush_every: Duration,
    flusher_started: AtomicBool,
    /// How long a password check takes here, waiting for a slot included (a moving average, in
    /// microseconds; 0 until the first one): what a refusal without a check waits instead.
    check_micros: AtomicU64,
}

/// A poisoned lock only means another thread panicked while counting: the counts are still
/// usable, and a login must not fail because of it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LoginGuard {
    pub(crate) fn new(config: &PortalConfig) -> Self {
        let running = config.login_max_concurrent_hashes.max(1);
        LoginGuard {
            by_address: Mutex::new(Buckets::new(
                config.login_attempts_per_address_per_minute,
                config.login_tracked_keys,
            )),
            by_login: Mutex::new(Buckets::new(
                config.login_attempts_per_login_per_minute,
                config.login_tracked_keys,
            )),
            admission: Semaphore::new(running + config.login_max_waiting_hashes),
            running: Arc::new(Semaphore::new(running)),
            wait: Duration::from_millis(config.login_hash_wait_ms),
            refusals: Mutex::new(Refusals::default()),
            flush_every: Duration::from_secs(config.login_refusals_journal_secs.max(1)),
            flusher_started: AtomicBool::new(false),
            check_micros: AtomicU64::new(0),
        }
    }

    /// Takes one attempt from the address's bucket (when the address is known) and then the
    /// login's; `Err` names the limit and how long until the next attempt may pass.
    pub(crate) fn admit(
        &self,
        address: Option<IpAddr>,
        login: &str,
    ) -> Result<(), (Throttle, Duration)> {
        let now = Instant::now();
        if let Some(a) = address {
            lock(&self.by_address)
                .take(a, now)
                .map_err(|wait| (Throttle::Address, wait))?;
        }
        lock(&self.by_login)
            .take(login_key(login), now)
            .map_err(|wait| (Throttle::Login, wait))
    }

    /// How long a client refused as busy should wait before trying again.
    pub(crate) fn busy_retry_after(&self) -> Duration {
        self.wait.max(Duration::from_secs(1))
    }

    /// Takes as long as a password check, without making one, for a login that has none to
    /// check (unknown, or locked): the answer's time does not tell it apart from a wrong
    /// password, and a flood of made-up logins costs no argon2 at all, so that it cannot take
    /// the hashing slots the operators' real logins need. The first time, with no measure
    /// yet, `check` runs (a dummy verification) and gives it.
    pub(crate) async fn as_long_as_a_check(
        &self,
        check: impl FnOnce() + Send + 'static,
    ) -> Result<(), Busy> {
        let micros = self.check_micros.load(Ordering::Relaxed);
        if micros == 0 {
            return self.hash(check).await;
        }
        // A little jitter, as the real checks have.
        let jitter = rand::random::<u64>() % (micros / 10 + 1);
        tokio::time::sleep(Duration::from_micros(micros - micros / 20 + jitter)).await;
        Ok(())
    }

    /// Runs `f` (an argon2 hash or verification) on the blocking pool within the bound.
    pub(crate) async fn hash<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let started = Instant::now();
        let Ok(_admitted) = self.admission.try_acquire() else {
            return Err(Busy);
        };
        let running =
            match tokio::time::timeout(self.wait, self.running.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => return Err(Busy),
            };
        // The slot goes with the work: a client that gives up does not free it before the
        // hash it started has finished.
        let job = tokio::task::spawn_blocking(move || {
            let _running = running;
            f()
        });
        let done = job.await.map_err(|e| {
            tracing::error!(error = %e, "password hashing task failed");
            Busy
        })?;
        self.record_check(started.elapsed());
        Ok(done)
    }

    /// Folds one check's time into the moving average (weight 1/8).
    fn record_check(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .check_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    took
                } else {
                    old - old / 8 + took / 8
                })
            });
    }

    /// Counts a refused unknown login (its password was checked against the dummy hash).
    pub(crate) fn refused_unknown(
        self: &Arc<Self>,
        store: &Store,
        login: &str,
        address: Option<IpAddr>,
    ) {
        lock(&self.refusals)
            .unknown
            .add("unknown-login", login, address);
        self.start_flusher(store);
    }

    /// Counts an attempt refused by a limit.
    pub(crate) fn throttled(
        self: &Arc<Self>,
        store: &Store,
        why: Throttle,
        login: &str,
        address: Option<IpAddr>,
    ) {
        ca::limits::count_refused(ca::limits::LISTENER_PORTAL, why.reason());
        lock(&self.refusals)
            .throttled
            .add(why.reason(), login, address);
        self.start_flusher(store);
    }

    /// Starts the periodic flush once, on the first refusal counted (then a Tokio runtime
    /// runs). It holds the guard weakly and ends with the portal.
    fn start_flusher(self: &Arc<Self>, store: &Store) {
        if self.flusher_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.flusher_started.store(false, Ordering::SeqCst);
            return;
        };
        let guard = Arc::downgrade(self);
        let store = store.clone();
        let every = self.flush_every;
        runtime.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(guard) = guard.upgrade() else {
                    return;
                };
                guard.flush(&store).await;
            }
        });
    }

    /// Writes the aggregated entries of the refusals counted since the last flush (none when
    /// nothing was refused). A failed write is logged and its counts are lost: they are in
    /// the refusal counter all the same.
    pub(crate) async fn flush(&self, store: &Store) {
        let taken = std::mem::take(&mut *lock(&self.refusals));
        let until = OffsetDateTime::now_utc();
        let entries = [
            (ACTION_REFUSED_UNKNOWN, taken.unknown.details(until)),
            (ACTION_THROTTLED, taken.throttled.details(until)),
        ];
        for (action, details) in entries {
            let Some(details) = details else { continue };
            let written = match Actor::system("ra-portal-login-guard") {
                Ok(actor) => {
                    store
                        .record_event(&actor, action, "operator:?", Outcome::Denied, &details)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::error!(error = %e, action, "cannot journal aggregated login refusals");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_bucket_passes_its_burst_then_refills() {
        let mut b = Buckets::new(3, 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.take("k", t0).is_ok());
        }
        let wait = b.take("k", t0).unwrap_err();
        // 3 per minute: one token every 20 s.
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
        assert!(b.take("other", t0).is_ok());
        assert!(b.take("k", t0 + Duration::from_secs(20)).is_ok());
        assert!(b.take("k", t0 + Duration::from_secs(21)).is_err());
    }

    #[test]
    fn tracked_keys_are_bounded_and_the_fullest_go_first() {
        let mut b = Buckets::new(2, 3);
        let t0 = Instant::now();
        b.take(1, t0).unwrap();
        b.take(1, t0).unwrap();
        b.take(2, t0).unwrap();
        b.take(3, t0).unwrap();
        assert_eq!(b.len(), 3);
        // Full: a new key evicts one of those with a token left, never the exhausted one.
        b.take(4, t0).unwrap();
        assert_eq!(b.len(), 3);
        assert!(b.take(1, t0).is_err(), "the exhausted key was forgotten");
        for k in 5..1000 {
            let _ = b.take(k, t0);
            assert!(b.len() <= 3);
        }
        // Refilled buckets are dropped first.
        let later = t0 + Duration::from_secs(120);
        b.take(2000, later).unwrap();
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn ipv6_clients_count_by_64_and_mapped_ipv4_as_ipv4() {
        let a: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:ffff::1]:1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        let m: SocketAddr = "[::ffff:192.0.2.7]:1".parse().unwrap();
        assert_eq!(address_key(m).to_string(), "192.0.2.7");
    }

    #[test]
    fn a_tally_keeps_a_bounded_sample() {
        let mut t = Tally::default();
        for i in 0..1000 {
            let addr: IpAddr = format!("10.0.{}.{}", i / 250, i % 250).parse().unwrap();
            t.add("unknown-login", &format!("x{i}\n"), Some(addr));
            t.add("unknown-login", "x0\n", None);
        }
        let d = t.details(OffsetDateTime::now_utc()).unwrap();
        assert_eq!(d["count"], 2000);
        assert_eq!(d["sample"].as_array().unwrap().len(), SAMPLE_SIZE);
        assert_eq!(d["sample"][0]["login"], "x0");
        assert_eq!(
            d["addresses"].as_object().unwrap().len(),
            ADDRESS_SAMPLE_SIZE
        );
        assert_eq!(d["reasons"]["unknown-login"], 2000);
        let named: u64 = d["addresses"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(named + d["other_addresses"].as_u64().unwrap(), 2000);
        assert!(Tally::default()
            .details(OffsetDateTime::now_utc())
            .is_none());
    }
}
