//! The readiness probe of the HSM: one object, shared by every listener's `/readyz`, that
//! makes a probe signature at most once per [`PROBE_INTERVAL`] however many callers ask.
//!
//! `/readyz` is public (load balancers call it, and so can anyone who reaches the port): were
//! each call to sign, the public could keep HSM sessions busy that issuance and time-stamping
//! need. So a caller gets the last probe's result while it is younger than the interval; the
//! first caller after that makes the next probe, and callers arriving while it runs get the
//! last result at once instead of queueing behind it — unless the probe has been running for
//! the interval or longer, which is itself the answer (a hung HSM). Every report says which
//! probe it reports ([`ProbeReport::checked_unix_ms`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long a probe's result stands.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What a readiness check reports about the HSM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// `Err` carries why the HSM is not ready.
    pub outcome: Result<(), String>,
    /// Unix time, in milliseconds, at which the probe reported finished; `None` before the
    /// first probe finishes.
    pub checked_unix_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct Checked {
    at: Instant,
    unix_ms: u64,
    error: Option<String>,
}

impl Checked {
    fn report(&self) -> ProbeReport {
        ProbeReport {
            outcome: self.error.clone().map_or(Ok(()), Err),
            checked_unix_ms: Some(self.unix_ms),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    last: Option<Checked>,
    /// When the probe in progress, if any, started.
    started: Option<Instant>,
}

type SignFn = dyn Fn() -> Result<(), String> + Send + Sync;

/// A probe signature, made at most once per interval (see the module documentation). Share
/// it with an [`Arc`].
pub struct SignerProbe {
    sign: Box<SignFn>,
    interval: Duration,
    state: Mutex<State>,
    signatures: AtomicU64,
}

impl std::fmt::Debug for SignerProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerProbe")
            .field("interval", &self.interval)
            .field("signatures", &self.signatures())
            .finish_non_exhaustive()
    }
}

enum Claim {
    Answer(ProbeReport),
    Probe,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // Every update is a plain assignment: a panic cannot leave the state inconsistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SignerProbe {
    /// A probe whose signature is `sign` (blocking: it is run on a blocking thread by
    /// [`SignerProbe::check`]), made at most once per `interval`.
    pub fn new(
        interval: Duration,
        sign: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        SignerProbe {
            sign: Box::new(sign),
            interval,
            state: Mutex::new(State::default()),
            signatures: AtomicU64::new(0),
        }
    }

    /// Probe signatures made so far.
    pub fn signatures(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }

    /// The answer standing now, or the right (and duty) to probe.
    fn claim(&self) -> Claim {
        let mut st = lock(&self.state);
        if let Some(last) = &st.last {
            if last.at.elapsed() < self.interval {
                return Claim::Answer(last.report());
            }
        }
        if let Some(since) = st.started {
            let waited = since.elapsed();
            if waited >= self.interval {
                return Claim::Answer(ProbeReport {
                    outcome: Err(format!(
                        "the HSM has not answered a probe signature for {:.1} s",
                        waited.as_secs_f64()
                    )),
                    checked_unix_ms: st.last.as_ref().map(|l| l.unix_ms),
                });
            }
            return Claim::Answer(match &st.last {
                Some(l) => l.report(),
                None => ProbeReport {
                    outcome: Err("the first HSM probe signature is under way".into()),
                    checked_unix_ms: None,
                },
            });
        }
        st.started = Some(Instant::now());
        Claim::Probe
    }

    /// Makes the probe signature claimed by [`Self::claim`] (blocking).
    fn run(&self) -> ProbeReport {
        // Clears the mark even if the signer panics.
        struct Done<'a>(&'a Mutex<State>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                lock(self.0).started = None;
            }
        }
        let _done = Done(&self.state);
        self.signatures.fetch_add(1, Ordering::Relaxed);
        let error = (self.sign)().err();
        let unix_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let checked = Checked {
            at: Instant::now(),
            unix_ms,
            error,
        };
        let report = checked.report();
        let mut st = lock(&self.state);
        st.last = Some(checked);
        st.started = None;
        report
    }

    /// The HSM's readiness, signing on the calling thread when a probe is due.
    pub fn check_blocking(&self) -> ProbeReport {
        match self.claim() {
            Claim::Answer(r) => r,
            Claim::Probe => self.run(),
        }
    }

    /// The HSM's readiness, signing on a blocking thread of the current Tokio runtime when a
    /// probe is due. The probe completes (and its result stands for the others) even if the
    /// caller goes away meanwhile.
    pub async fn check(self: &Arc<Self>) -> ProbeReport {
        match self.claim() {
            Claim::Answer(r) => r,
            Claim::Probe => {
                let probe = self.clone();
                tokio::task::spawn_blocking(move || probe.run())
                    .await
                    .unwrap_or_else(|e| ProbeReport {
                        outcome: Err(format!("the probe signature failed: {e}")),
                        checked_unix_ms: None,
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn counting(delay: Duration, fail: bool) -> Arc<SignerProbe> {
        Arc::new(SignerProbe::new(Duration::from_millis(200), move || {
            std::thread::sleep(delay);
            if fail {
                Err("token removed".into())
            } else {
                Ok(())
            }
        }))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_signature() {
        let probe = counting(Duration::from_millis(20), false);
        let first = probe.check().await;
        assert_eq!(first.outcome, Ok(()));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let p = probe.clone();
            tasks.spawn(async move { p.check().await });
        }
        while let Some(r) = tasks.join_next().await {
            let r = r.unwrap();
            assert_eq!(r, first, "within the interval: the same probe");
        }
        assert_eq!(probe.signatures(), 1);
        // Once the interval has passed, a crowd makes one more signature.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let p = probe.clone();
            tasks.spawn(async move { p.check().await });
        }
        while let Some(r) = tasks.join_next().await {
            assert_eq!(r.unwrap().outcome, Ok(()));
        }
        assert_eq!(probe.signatures(), 2);
    }

    #[test]
    fn failures_and_a_hung_hsm_are_reported() {
        let probe = counting(Duration::ZERO, true);
        let r = probe.check_blocking();
        assert_eq!(r.outcome, Err("token removed".into()));
        assert!(r.checked_unix_ms.is_some());
        assert_eq!(probe.check_blocking(), r, "the failure stands too");

        let slow = counting(Duration::from_millis(600), false);
        let s2 = slow.clone();
        let t = std::thread::spawn(move || s2.check_blocking());
        std::thread::sleep(Duration::from_millis(50));
        let r = slow.check_blocking();
        assert!(r.outcome.unwrap_err().contains("under way"));
        std::thread::sleep(Duration::from_millis(250));
        let r = slow.check_blocking();
        assert!(
            r.outcome.unwrap_err().contains("has not answered"),
            "a probe running longer than the interval is the answer"
        );
        assert_eq!(t.join().unwrap().outcome, Ok(()));
        assert_eq!(slow.signatures(), 1);
    }
}
