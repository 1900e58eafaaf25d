//! Recording issued tokens for later proof.
//!
//! Every issued token's serial, genTime, policy and imprint (plus the
//! instance id and a SHA-256 of the token) go to a [`TokenRecorder`] — the
//! CA storage in production ([`StoreRecorder`]) — through a bounded queue
//! drained by one task ([`TokenLog`]).
//!
//! **Batching.** The drain task takes the first waiting token, waits
//! `linger` (50 ms by default) for more, then takes everything queued (up
//! to `batch_max`) and hands the batch to the recorder at once (group
//! commit). Replies never wait for this: they are sent before the record is
//! committed. The linger bounds the commits — each a disk flush — to about
//! twenty a second under load; without it, a fast database made batches of
//! a few tokens (≈ 600 commits a second with SQLite at saturation), which
//! cost more CPU than the rows themselves (`docs/BENCHMARKS.md`).
//!
//! **Failing closed.** A slot in the queue is reserved *before* a token is
//! signed, and a request is refused (`systemFailure`) when
//! - the recorder's last call failed (it is retried with back-off, the
//!   batch is never dropped), or
//! - the oldest token not yet recorded is older than `max_lag` (≤ 1 s), or
//! - no queue slot frees up within the queue timeout.
//!
//! **What a crash can lose.** The reply is sent before the record is
//! committed (that is what makes batching pay). A crash of the process (or
//! of the database before it commits) loses the records of the tokens in
//! the queue and in the batch being written (or lingering): tokens
//! delivered during at most the last `max_lag` (1 s by default), in
//! practice the last `linger` plus one write — those tokens remain valid
//! and verifiable, only the TSA's own record of them is missing. If the
//! database had stopped taking writes before the crash, the TSA had been
//! refusing requests since the oldest unrecorded token turned `max_lag`
//! old: what is lost is then what was delivered in the `max_lag` before
//! that, plus the requests already admitted then (delivered up to the queue
//! timeout later). A clean shutdown ([`TokenLog::shutdown`]) records everything
//! queued. Measured through `igc serve` killed under load
//! (`tests/tsa_serve.rs`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use const_oid::ObjectIdentifier;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{mpsc, Notify};

use crate::config::RecorderConfig;
use crate::error::{Error, Result};

/// What is kept about each issued token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// The instance that issued it (also the first field of the serial).
    pub instance_id: u16,
    /// The serial number: big-endian octets of the positive INTEGER, as in
    /// the token.
    pub serial: Vec<u8>,
    /// genTime, as in the token (truncated to the configured precision).
    pub gen_time: OffsetDateTime,
    /// The policy under which it was issued.
    pub policy: ObjectIdentifier,
    /// The imprint's hash algorithm.
    pub imprint_algorithm: ObjectIdentifier,
    /// The imprint (the hash of the time-stamped data).
    pub imprint: Vec<u8>,
    /// SHA-256 of the DER TimeStampToken (ContentInfo) returned.
    pub token_sha256: [u8; 32],
}

impl IssuedToken {
    /// The serial as lower-case hex (what logs and databases show).
    pub fn serial_hex(&self) -> String {
        ca::storage::lower_hex(&self.serial)
    }
}

/// Where issued tokens are recorded (the CA storage implements it).
///
/// `record` gets a batch of one or more tokens and must store all of them
/// atomically (one transaction): on `Err` the whole batch is retried, so a
/// partial write must not be left behind (or must be idempotent, e.g. with
/// the serial as a unique key and `ON CONFLICT DO NOTHING`).
pub trait TokenRecorder: Send + Sync + 'static {
    /// Stores the batch durably, or fails.
    fn record(&self, batch: &[IssuedToken]) -> impl Future<Output = Result<()>> + Send;
}

/// A recorder keeping tokens in memory: for tests, benchmarks and
/// development setups without a database.
#[derive(Clone, Debug, Default)]
pub struct MemoryRecorder {
    tokens: Arc<Mutex<Vec<IssuedToken>>>,
    fail: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
}

impl MemoryRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of what was recorded so far.
    pub fn tokens(&self) -> Vec<IssuedToken> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Number of recorder calls so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Makes every later call fail (to simulate a database outage).
    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::Relaxed);
    }

    /// Makes every later call take this long (to simulate a slow database).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

impl TokenRecorder for MemoryRecorder {
    async fn record(&self, batch: &[IssuedToken]) -> Result<()> {
        let delay = self.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.fail.load(Ordering::Relaxed) {
            return Err(Error::Recorder("memory recorder set to fail".into()));
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(batch);
        Ok(())
    }
}

/// Records tokens in the CA database (`timestamp_tokens`): what
/// `igc serve` uses.
#[derive(Clone, Debug)]
pub struct StoreRecorder(ca::storage::Store);

impl StoreRecorder {
    /// Records into `store`.
    pub fn new(store: ca::storage::Store) -> Self {
        StoreRecorder(store)
    }
}

impl TokenRecorder for StoreRecorder {
    async fn record(&self, batch: &[IssuedToken]) -> Result<()> {
        // A batch has one policy and a few imprint algorithms: format each
        // OID once per batch, not twice per token.
        let mut dotted: Vec<(ObjectIdentifier, String)> = Vec::new();
        let mut text = |oid: ObjectIdentifier| match dotted.iter().find(|(o, _)| *o == oid) {
            Some((_, s)) => s.clone(),
            None => {
                let s = oid.to_string();
                dotted.push((oid, s.clone()));
                s
            }
        };
        let rows: Vec<_> = batch
            .iter()
            .map(|t| ca::storage::TimestampTokenRecord {
                serial_hex: t.serial_hex(),
                instance_id: t.instance_id,
                gen_time: t.gen_time,
                policy: text(t.policy),
                imprint_algorithm: text(t.imprint_algorithm),
                imprint: t.imprint.clone(),
                token_sha256: t.token_sha256,
            })
            .collect();
        self.0
            .record_timestamp_tokens(&rows)
            .await
            .map_err(|e| Error::Recorder(e.to_string()))
    }
}

/// The recorder's state, for status pages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecorderStatus {
    /// False while the recorder fails or lags: no token is issued then.
    pub healthy: bool,
    /// Tokens issued and not yet recorded.
    pub pending: u64,
    /// Tokens recorded since start.
    pub recorded: u64,
    /// Failed recorder calls since start.
    pub failures: u64,
    /// Age of the oldest token not yet recorded, if any is being written.
    pub lag_seconds: Option<f64>,
    /// The last failure.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Pending {
    token: IssuedToken,
    at: Instant,
}

#[derive(Debug)]
struct Shared {
    base: Instant,
    max_lag: Duration,
    batch_max: usize,
    linger: Duration,
    failing: AtomicBool,
    /// Monotonic nanoseconds since `base` (+1) of the oldest token of the
    /// batch being written; 0 when idle.
    inflight_since: AtomicU64,
    pending: AtomicU64,
    recorded: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    shutdown: Notify,
    done: Notify,
    finished: AtomicBool,
}

impl Shared {
    fn mono(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_nanos() as u64 + 1
    }

    fn lag(&self) -> Option<Duration> {
        match self.inflight_since.load(Ordering::Acquire) {
            0 => None,
            since => {
                let now = self.mono(Instant::now());
                Some(Duration::from_nanos(now.saturating_sub(since)))
            }
        }
    }
}

/// The queue of issued tokens and its drain task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TokenLog {
    tx: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
}

/// A reserved queue slot for one token.
#[derive(Debug)]
pub(crate) struct Slot {
    permit: mpsc::OwnedPermit<Pending>,
    shared: Arc<Shared>,
}

impl Slot {
    /// Queues the token (cannot fail: the slot was reserved).
    pub(crate) fn send(self, token: IssuedToken) {
        self.shared.pending.fetch_add(1, Ordering::Relaxed);
        self.permit.send(Pending {
            token,
            at: Instant::now(),
        });
    }

    /// Binds the token to the slot; it is queued when the returned value is
    /// dropped, wherever that happens (so it can travel back to the request
    /// task and be queued there, or be queued by whoever drops it if the
    /// request went away).
    pub(crate) fn hold(self, token: IssuedToken) -> HeldRecord {
        HeldRecord(Some((self, token)))
    }
}

/// A token bound to its queue slot, queued on drop.
#[derive(Debug)]
pub(crate) struct HeldRecord(Option<(Slot, IssuedToken)>);

impl Drop for HeldRecord {
    fn drop(&mut self) {
        if let Some((slot, token)) = self.0.take() {
            slot.send(token);
        }
    }
}

impl TokenLog {
    /// Starts the drain task on the current Tokio runtime.
    pub fn start<R: TokenRecorder>(recorder: R, cfg: &RecorderConfig) -> Result<Self> {
        cfg.validate()?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Internal("the token log needs a Tokio runtime".into()))?;
        let (tx, rx) = mpsc::channel(cfg.capacity);
        let shared = Arc::new(Shared {
            base: Instant::now(),
            max_lag: Duration::from_millis(cfg.max_lag_ms),
            batch_max: cfg.batch_max,
            linger: Duration::from_millis(cfg.linger_ms),
            failing: AtomicBool::new(false),
            inflight_since: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            shutdown: Notify::new(),
            done: Notify::new(),
            finished: AtomicBool::new(false),
        });
        handle.spawn(drain(recorder, rx, shared.clone()));
        Ok(TokenLog { tx, shared })
    }

    /// Whether a new token may be issued now (the recorder works and keeps up).
    pub(crate) fn admit(&self) -> Result<()> {
        if self.shared.finished.load(Ordering::Acquire) || self.tx.is_closed() {
            return Err(Error::Recorder("the token log is shut down".into()));
        }
        if self.shared.failing.load(Ordering::Acquire) {
            let last = self
                .shared
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_default();
            return Err(Error::Recorder(format!(
                "recording issued tokens fails: {last}"
            )));
        }
        if let Some(lag) = self.shared.lag() {
            if lag > self.shared.max_lag {
                return Err(Error::Recorder(format!(
                    "recording issued tokens lags by {:.3} s",
                    lag.as_secs_f64()
                )));
            }
        }
        Ok(())
    }

    /// Reserves a queue slot, waiting at most `timeout`.
    pub(crate) async fn reserve(&self, timeout: Duration) -> Result<Slot> {
        // The queue is almost never full: try without arming a timer first.
        match self.tx.clone().try_reserve_owned() {
            Ok(permit) => {
                return Ok(Slot {
                    permit,
                    shared: self.shared.clone(),
                })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(Error::Recorder("the token log is shut down".into()))
            }
            Err(mpsc::error::TrySendError::Full(_)) => {}
        }
        match tokio::time::timeout(timeout, self.tx.clone().reserve_owned()).await {
            Ok(Ok(permit)) => Ok(Slot {
                permit,
                shared: self.shared.clone(),
            }),
            Ok(Err(_)) => Err(Error::Recorder("the token log is shut down".into())),
            Err(_) => Err(Error::Recorder(format!(
                "the recording queue stayed full for {timeout:?}"
            ))),
        }
    }

    /// The recorder's state.
    pub fn status(&self) -> RecorderStatus {
        RecorderStatus {
            healthy: self.admit().is_ok(),
            pending: self.shared.pending.load(Ordering::Relaxed),
            recorded: self.shared.recorded.load(Ordering::Relaxed),
            failures: self.shared.failures.load(Ordering::Relaxed),
            lag_seconds: self.shared.lag().map(|d| d.as_secs_f64()),
            last_error: self
                .shared
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Stops accepting tokens, records everything queued, and returns when
    /// done or after `within` (then the unrecorded count is in the error).
    pub async fn shutdown(&self, within: Duration) -> Result<()> {
        let done = self.shared.done.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        self.shared.shutdown.notify_one();
        if self.shared.finished.load(Ordering::Acquire) {
            return Ok(());
        }
        match tokio::time::timeout(within, done).await {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::Recorder(format!(
                "{} issued token(s) not recorded at shutdown",
                self.shared.pending.load(Ordering::Relaxed)
            ))),
        }
    }
}

async fn drain<R: TokenRecorder>(
    recorder: R,
    mut rx: mpsc::Receiver<Pending>,
    shared: Arc<Shared>,
) {
    let mut closing = false;
    loop {
        let first = if closing {
            rx.recv().await
        } else {
            tokio::select! {
                m = rx.recv() => m,
                _ = shared.shutdown.notified() => {
                    closing = true;
                    rx.close();
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        // From here the first token counts as in flight: the lag (and the
        // refusals past `max_lag`) include the lingering below.
        shared
            .inflight_since
            .store(shared.mono(first.at), Ordering::Release);
        if !closing && !shared.linger.is_zero() && rx.len() + 1 < shared.batch_max {
            let until = tokio::time::Instant::from_std(first.at + shared.linger);
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = shared.shutdown.notified() => {
                    closing = true;
                    rx.close();
                }
            }
        }
        let mut batch = vec![first.token];
        while batch.len() < shared.batch_max {
            match rx.try_recv() {
                Ok(p) => batch.push(p.token),
                Err(_) => break,
            }
        }
        write_batch(&recorder, &batch, &shared).await;
        let n = batch.len() as u64;
        shared.inflight_since.store(0, Ordering::Release);
        shared.pending.fetch_sub(n, Ordering::Relaxed);
        shared.recorded.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("tsa_recorder_tokens_total").increment(n);
        metrics::counter!("tsa_recorder_batches_total").increment(1);
        metrics::gauge!("tsa_recorder_pending").set(shared.pending.load(Ordering::Relaxed) as f64);
    }
    shared.finished.store(true, Ordering::Release);
    shared.done.notify_waiters();
    shared.done.notify_one();
}

/// Writes one batch, retrying with back-off until it is recorded.
async fn write_batch<R: TokenRecorder>(recorder: &R, batch: &[IssuedToken], shared: &Shared) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match recorder.record(batch).await {
            Ok(()) => {
                if shared.failing.swap(false, Ordering::AcqRel) {
                    tracing::info!("recording issued tokens works again");
                    metrics::gauge!("tsa_recorder_healthy").set(1.0);
                }
                return;
            }
            Err(e) => {
                shared.failures.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("tsa_recorder_failures_total").increment(1);
                let text = e.to_string();
                if !shared.failing.swap(true, Ordering::AcqRel) {
                    tracing::error!(error = %text, tokens = batch.len(), "recording issued tokens failed; refusing new requests until it works");
                    metrics::gauge!("tsa_recorder_healthy").set(0.0);
                }
                *shared.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn token(n: u8) -> IssuedToken {
        IssuedToken {
            instance_id: 1,
            serial: vec![n],
            gen_time: OffsetDateTime::UNIX_EPOCH,
            policy: ObjectIdentifier::new_unwrap("1.2.3"),
            imprint_algorithm: const_oid::db::rfc5912::ID_SHA_256,
            imprint: vec![0; 32],
            token_sha256: [0; 32],
        }
    }

    /// The CA-store recorder writes every field as given, whatever mix of
    /// policies and imprint algorithms a batch holds.
    #[tokio::test]
    async fn store_recorder_writes_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("ca.db").display());
        let store = ca::storage::Store::connect(&url).await.unwrap();
        let other_policy = ObjectIdentifier::new_unwrap("1.2.3.4");
        let batch: Vec<IssuedToken> = (0..6u8)
            .map(|n| IssuedToken {
                instance_id: 3,
                serial: vec![3, n + 1],
                gen_time: OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(n.into()),
                policy: if n % 2 == 0 {
                    token(0).policy
                } else {
                    other_policy
                },
                imprint_algorithm: if n < 3 {
                    const_oid::db::rfc5912::ID_SHA_256
                } else {
                    const_oid::db::rfc5912::ID_SHA_512
                },
                imprint: vec![n; 32],
                token_sha256: [n; 32],
            })
            .collect();
        StoreRecorder::new(store.clone())
            .record(&batch)
            .await
            .unwrap();
        for t in &batch {
            let row = store
                .timestamp_token(&t.serial_hex())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.instance_id, t.instance_id);
            assert_eq!(row.gen_time, t.gen_time);
            assert_eq!(row.policy, t.policy.to_string());
            assert_eq!(row.imprint_algorithm, t.imprint_algorithm.to_string());
            assert_eq!(row.imprint, t.imprint);
            assert_eq!(row.token_sha256, t.token_sha256);
        }
    }

    /// Tokens arriving within `linger` of the first go in one batch, which
    /// is not written before the linger ends; a clean shutdown does not
    /// wait for it.
    #[tokio::test]
    async fn batches_linger_for_more_tokens() {
        let mem = MemoryRecorder::new();
        let cfg = RecorderConfig {
            linger_ms: 300,
            ..RecorderConfig::default()
        };
        let log = TokenLog::start(mem.clone(), &cfg).unwrap();
        let first = Instant::now();
        for n in 0..3 {
            log.reserve(Duration::from_secs(1))
                .await
                .unwrap()
                .send(token(n));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while mem.tokens().len() < 3 {
            assert!(Instant::now() < deadline, "not recorded");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            first.elapsed() >= Duration::from_millis(300),
            "written before the linger ended"
        );
        assert_eq!(
            mem.batches(),
            1,
            "three tokens within the linger, one write"
        );
        // Lingering counts as lag: the status shows the token waiting.
        log.reserve(Duration::from_secs(1))
            .await
            .unwrap()
            .send(token(9));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(log.status().lag_seconds.is_some_and(|l| l >= 0.04));
        // Shutdown cuts the linger short and records the rest.
        let asked = Instant::now();
        log.shutdown(Duration::from_secs(5)).await.unwrap();
        assert!(
            asked.elapsed() < Duration::from_millis(200),
            "shutdown waited for the linger"
        );
        assert_eq!(mem.tokens().len(), 4);
    }

    #[tokio::test]
    async fn records_fail_closed_and_recover() {
        let mem = MemoryRecorder::new();
        let cfg = RecorderConfig {
            capacity: 4,
            batch_max: 16,
            max_lag_ms: 200,
            linger_ms: 0,
        };
        let log = TokenLog::start(mem.clone(), &cfg).unwrap();
        log.admit().unwrap();
        for n in 0..3 {
            log.reserve(Duration::from_secs(1))
                .await
                .unwrap()
                .send(token(n));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while mem.tokens().len() < 3 {
            assert!(Instant::now() < deadline, "not recorded");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // A failing recorder: the batch is retried, new tokens are refused.
        mem.set_failing(true);
        log.reserve(Duration::from_secs(1))
            .await
            .unwrap()
            .send(token(9));
        let deadline = Instant::now() + Duration::from_secs(5);
        while log.admit().is_ok() {
            assert!(Instant::now() < deadline, "failure not noticed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!log.status().healthy);
        assert_eq!(log.status().pending, 1);
        mem.set_failing(false);
        let deadline = Instant::now() + Duration::from_secs(5);
        while log.admit().is_err() {
            assert!(Instant::now() < deadline, "did not recover");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(mem.tokens().len(), 4);
        assert!(log.status().failures >= 1);

        // A slow recorder: refused once the oldest unrecorded token is
        // older than max_lag.
        mem.set_delay(Duration::from_millis(800));
        let sent = Instant::now();
        log.reserve(Duration::from_secs(1))
            .await
            .unwrap()
            .send(token(10));
        let deadline = Instant::now() + Duration::from_secs(5);
        let refused = loop {
            if let Err(e) = log.admit() {
                break e;
            }
            assert!(Instant::now() < deadline, "lag not noticed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert!(refused.to_string().contains("lags"), "{refused}");
        assert!(
            sent.elapsed() >= Duration::from_millis(200),
            "refused before max_lag"
        );
        mem.set_delay(Duration::ZERO);

        // The queue is bounded: with capacity 4 and a stuck recorder, the
        // fifth reservation times out.
        let deadline = Instant::now() + Duration::from_secs(5);
        while log.status().pending > 0 {
            assert!(Instant::now() < deadline, "token 10 never recorded");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        mem.set_delay(Duration::from_secs(3));
        log.reserve(Duration::from_secs(1))
            .await
            .unwrap()
            .send(token(11));
        // Token 11 is taken out of the queue into a (3 s) write.
        let deadline = Instant::now() + Duration::from_secs(5);
        while log.status().lag_seconds.is_none() {
            assert!(Instant::now() < deadline, "token 11 never taken");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut slots = Vec::new();
        for _ in 0..4 {
            slots.push(log.reserve(Duration::from_millis(100)).await.unwrap());
        }
        assert!(log.reserve(Duration::from_millis(100)).await.is_err());
        mem.set_delay(Duration::ZERO);
        for (i, s) in slots.into_iter().enumerate() {
            s.send(token(20 + i as u8));
        }
        log.shutdown(Duration::from_secs(10)).await.unwrap();
        assert_eq!(mem.tokens().len(), 10);
        assert!(log.admit().is_err());
    }
}
