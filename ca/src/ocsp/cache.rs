//! In-memory store of pre-signed responses.
//!
//! Keyed by (CA, serial); each slot holds up to four signed responses, one per CertID form
//! (SHA-1 or SHA-256, hash parameters NULL or absent: clients compare the whole CertID, so the
//! response must repeat the form they sent). Sharded read-write locks keep lookups contention
//! free; nothing is signed while a lock is held.
//!
//! # Ordering with status changes
//!
//! A response is only as fresh as the database read it was built from. Every read takes a
//! ticket from a global counter *before* reading; every status change (local
//! `notify_status_change` or the poller) takes a newer ticket and stamps it on the slot, or on
//! the shard when the serial has no slot. An insert whose ticket is older than the stamp is
//! refused, so a response built from a read that raced with a revocation can never overwrite
//! (or outlive) the revocation.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::OnceCell;

const SHARDS: usize = 64;
/// Largest serial content length (20 octets + a sign octet).
pub(crate) const MAX_SERIAL: usize = 21;
/// Response forms per serial (2 hash algorithms × 2 parameter encodings).
pub(crate) const VARIANTS: usize = 4;

/// (CA index, serial content octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SerialKey {
    ca: u8,
    len: u8,
    octets: [u8; MAX_SERIAL],
}

impl SerialKey {
    /// `None` when the serial cannot be cached (longer than 21 octets, or too many CAs).
    pub(crate) fn new(ca: usize, serial: &[u8]) -> Option<Self> {
        if serial.len() > MAX_SERIAL {
            return None;
        }
        let mut octets = [0u8; MAX_SERIAL];
        octets[..serial.len()].copy_from_slice(serial);
        Some(SerialKey {
            ca: u8::try_from(ca).ok()?,
            len: u8::try_from(serial.len()).ok()?,
            octets,
        })
    }

    pub(crate) fn ca(&self) -> usize {
        usize::from(self.ca)
    }

    pub(crate) fn serial(&self) -> &[u8] {
        &self.octets[..usize::from(self.len)]
    }

    fn shard(&self) -> usize {
        let mut h = DefaultHasher::new();
        self.hash(&mut h);
        // Truncation intended: only the low bits pick the shard.
        (h.finish() as usize) % SHARDS
    }
}

/// A signed response ready to serve.
#[derive(Debug)]
pub(crate) struct Cached {
    /// tbsResponseData ‖ signatureAlgorithm ‖ signature (see `response`).
    pub(crate) core: Box<[u8]>,
    pub(crate) this_update: u64,
    pub(crate) next_update: u64,
    /// When to re-sign (before nextUpdate, with jitter so that entries signed together are
    /// not all due together).
    pub(crate) refresh_at: u64,
    pub(crate) etag: u64,
    /// Ticket of the database read this response was built from.
    pub(crate) ticket: u64,
    /// Served from the cache since it was signed (a cold entry is dropped at its refresh time
    /// instead of being re-signed).
    pub(crate) hot: AtomicBool,
    /// Picked by the refresher, being re-signed.
    pub(crate) refreshing: AtomicBool,
}

#[derive(Debug, Default)]
struct Slot {
    /// Ticket of the last status change seen for this serial.
    changed: u64,
    variants: [Option<Arc<Cached>>; VARIANTS],
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.variants.iter().all(Option::is_none)
    }
}

/// Why a signing attempt gave no response: every waiter answers `tryLater`, and the next
/// request tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The database or the HSM failed.
    Failed,
    /// The HSM signed, but the signature did not verify: it was not sent.
    BadSignature,
    /// The answer needed a fresh signature and the fresh-signing budget was spent.
    OverBudget,
}

/// A signing attempt shared by concurrent requests for the same response.
pub(crate) type Flight = Arc<OnceCell<Result<Arc<Cached>, Miss>>>;

#[derive(Debug, Default)]
struct Shard {
    slots: HashMap<SerialKey, Slot>,
    /// Ticket of the newest change applied to (or slot evicted from) this shard for a serial
    /// that has no slot: inserts creating a slot need a ticket at least this recent.
    floor: u64,
}

/// Work for the refresher.
#[derive(Debug)]
pub(crate) struct Due {
    pub(crate) key: SerialKey,
    pub(crate) variant: usize,
    pub(crate) entry: Arc<Cached>,
}

/// Counters for monitoring and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Serials with at least one cached response.
    pub serials: usize,
    /// Cached responses.
    pub responses: usize,
    /// Octets of signed data held (cores only; the shared certificates are not counted).
    pub core_bytes: usize,
}

#[derive(Debug)]
pub(crate) struct Cache {
    shards: Vec<RwLock<Shard>>,
    flights: Vec<Mutex<HashMap<(SerialKey, usize), Flight>>>,
    tickets: AtomicU64,
    per_shard: usize,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panic while holding the lock cannot leave a shard inconsistent (every update is a
    // single map operation): keep serving.
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            flights: (0..SHARDS).map(|_| Mutex::default()).collect(),
            tickets: AtomicU64::new(1),
            per_shard: (capacity / SHARDS).max(1),
        }
    }

    /// A ticket to take before reading the database.
    pub(crate) fn ticket(&self) -> u64 {
        self.tickets.load(Ordering::SeqCst)
    }

    /// A cached response still valid at `now`.
    pub(crate) fn get(&self, key: &SerialKey, variant: usize, now: u64) -> Option<Arc<Cached>> {
        let shard = read(&self.shards[key.shard()]);
        let entry = shard.slots.get(key)?.variants.get(variant)?.as_ref()?;
        if entry.next_update <= now {
            return None;
        }
        if !entry.hot.load(Ordering::Relaxed) {
            entry.hot.store(true, Ordering::Relaxed);
        }
        Some(entry.clone())
    }

    /// Caches `entry` unless a status change newer than its ticket was seen. Returns whether
    /// it was stored.
    pub(crate) fn insert(&self, key: SerialKey, variant: usize, entry: Arc<Cached>) -> bool {
        if variant >= VARIANTS {
            return false;
        }
        let mut shard = write(&self.shards[key.shard()]);
        if let Some(slot) = shard.slots.get_mut(&key) {
            if entry.ticket < slot.changed {
                return false;
            }
            slot.variants[variant] = Some(entry);
            return true;
        }
        if entry.ticket < shard.floor {
            return false;
        }
        if shard.slots.len() >= self.per_shard {
            evict(&mut shard, self.per_shard);
        }
        let mut slot = Slot::default();
        slot.variants[variant] = Some(entry);
        shard.slots.insert(key, slot);
        true
    }

    /// Records a status change of a serial: its cached responses are dropped at once (nothing
    /// stale is served from here on) and older in-flight reads can no longer be cached.
    /// Returns the new ticket and the response forms that were cached, with whether they were
    /// in use (to be re-signed).
    pub(crate) fn invalidate(&self, key: &SerialKey) -> (u64, Vec<(usize, bool)>) {
        let ticket = self.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let mut shard = write(&self.shards[key.shard()]);
        match shard.slots.get_mut(key) {
            Some(slot) => {
                slot.changed = ticket;
                let forms = (0..VARIANTS)
                    .filter_map(|v| {
                        let old = slot.variants[v].take()?;
                        Some((v, old.hot.load(Ordering::Relaxed)))
                    })
                    .collect();
                (ticket, forms)
            }
            None => {
                shard.floor = shard.floor.max(ticket);
                (ticket, Vec::new())
            }
        }
    }

    /// Drops expired and cold entries; returns the hot ones due for re-signing (marked as
    /// being refreshed).
    pub(crate) fn sweep(&self, now: u64) -> Vec<Due> {
        let mut due = Vec::new();
        for lock in &self.shards {
            let mut shard = write(lock);
            let mut floor = shard.floor;
            shard.slots.retain(|key, slot| {
                for (variant, v) in slot.variants.iter_mut().enumerate() {
                    let Some(entry) = v else { continue };
                    if entry.next_update <= now {
                        *v = None;
                    } else if entry.refresh_at <= now {
                        if !entry.hot.load(Ordering::Relaxed) {
                            *v = None;
                        } else if !entry.refreshing.swap(true, Ordering::Relaxed) {
                            due.push(Due {
                                key: *key,
                                variant,
                                entry: entry.clone(),
                            });
                        }
                    }
                }
                if slot.is_empty() {
                    floor = floor.max(slot.changed);
                    false
                } else {
                    true
                }
            });
            shard.floor = floor;
        }
        due
    }

    /// The flight for (key, variant): the first caller signs, the others wait for it.
    pub(crate) fn flight(&self, key: &SerialKey, variant: usize) -> Flight {
        lock(&self.flights[key.shard()])
            .entry((*key, variant))
            .or_default()
            .clone()
    }

    /// Forgets a finished flight (only if it is still the one given).
    pub(crate) fn land(&self, key: &SerialKey, variant: usize, flight: &Flight) {
        let mut flights = lock(&self.flights[key.shard()]);
        if flights
            .get(&(*key, variant))
            .is_some_and(|f| Arc::ptr_eq(f, flight))
        {
            flights.remove(&(*key, variant));
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let mut s = CacheStats::default();
        for lock in &self.shards {
            let shard = read(lock);
            for slot in shard.slots.values() {
                let mut any = false;
                for e in slot.variants.iter().flatten() {
                    any = true;
                    s.responses += 1;
                    s.core_bytes += e.core.len();
                }
                s.serials += usize::from(any);
            }
        }
        s
    }
}

/// Random eviction of about 1/8 of a full shard (hash-map iteration order is unrelated to
/// insertion order); the newest change ticket of what is evicted moves to the shard's floor.
fn evict(shard: &mut Shard, per_shard: usize) {
    let n = (per_shard / 8).max(1);
    let victims: Vec<SerialKey> = shard.slots.keys().take(n).copied().collect();
    for k in victims {
        if let Some(slot) = shard.slots.remove(&k) {
            shard.floor = shard.floor.max(slot.changed);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn entry(ticket: u64, next_update: u64, refresh_at: u64) -> Arc<Cached> {
        Arc::new(Cached {
            core: vec![1, 2, 3].into_boxed_slice(),
            this_update: 0,
            next_update,
            refresh_at,
            etag: 7,
            ticket,
            hot: AtomicBool::new(false),
            refreshing: AtomicBool::new(false),
        })
    }

    #[test]
    fn stale_reads_never_overwrite_a_change() {
        let c = Cache::new(1024);
        let k = SerialKey::new(0, &[1, 2, 3]).unwrap();
        let t0 = c.ticket();
        assert!(c.insert(k, 0, entry(t0, 100, 50)));
        assert!(c.get(&k, 0, 10).is_some());
        assert!(c.get(&k, 1, 10).is_none());
        // A read starts, then the certificate is revoked.
        let racing = c.ticket();
        let (t1, forms) = c.invalidate(&k);
        assert_eq!(forms, vec![(0, true)], "served once: in use");
        assert!(t1 > racing);
        assert!(c.get(&k, 0, 10).is_none(), "dropped at once");
        assert!(
            !c.insert(k, 0, entry(racing, 100, 50)),
            "stale read refused"
        );
        assert!(c.insert(k, 0, entry(c.ticket(), 100, 50)));
        // Same for a serial without a slot (shard floor).
        let k2 = SerialKey::new(0, &[9]).unwrap();
        let racing = c.ticket();
        let (_, forms) = c.invalidate(&k2);
        assert!(forms.is_empty());
        assert!(!c.insert(k2, 2, entry(racing, 100, 50)));
        assert!(c.insert(k2, 2, entry(c.ticket(), 100, 50)));
    }

    #[test]
    fn expiry_sweep_and_hotness() {
        let c = Cache::new(1024);
        let hot = SerialKey::new(1, &[1]).unwrap();
        let cold = SerialKey::new(1, &[2]).unwrap();
        let expired = SerialKey::new(1, &[3]).unwrap();
        let t = c.ticket();
        c.insert(hot, 0, entry(t, 100, 50));
        c.insert(cold, 0, entry(t, 100, 50));
        c.insert(expired, 3, entry(t, 20, 10));
        assert!(c.get(&hot, 0, 30).is_some());
        assert!(
            c.get(&expired, 3, 30).is_none(),
            "expired entries are not served"
        );
        let due = c.sweep(60);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].key, hot);
        assert!(c.sweep(60).is_empty(), "already being refreshed");
        let s = c.stats();
        assert_eq!((s.serials, s.responses), (1, 1));
    }

    #[test]
    fn capacity_is_bounded() {
        let c = Cache::new(SHARDS * 16);
        for i in 0..10_000u32 {
            let k = SerialKey::new(0, &i.to_be_bytes()).unwrap();
            c.insert(k, 0, entry(c.ticket(), 100, 50));
        }
        assert!(c.stats().serials <= SHARDS * 16);
        assert!(c.stats().serials >= SHARDS * 8);
        assert!(SerialKey::new(0, &[0; 22]).is_none());
        assert!(SerialKey::new(300, &[1]).is_none());
    }
}
