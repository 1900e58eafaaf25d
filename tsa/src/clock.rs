//! The clock guard: the TSA issues a token only while its clock is known to
//! be within the declared accuracy of true time. It fails closed.
//!
//! **Rounds.** Every `poll_interval` (every `retry_interval` while not
//! trusted) all configured SNTP servers are queried at once. A round
//! passes when
//! - at least `quorum` servers give a usable reply,
//! - for every answering server, |θ| + δ/2 + rootdelay/2 + rootdisp — an
//!   upper bound of our clock's error according to that server — is within
//!   the accuracy, and
//! - the offsets of the answering servers are within the accuracy of each
//!   other (the sources agree).
//!
//! Any answering server beyond the accuracy fails the round: with two
//! sources disagreeing we cannot tell which one is right.
//!
//! **Between rounds.** A passed round leaves an *anchor*: the wall-clock
//! and monotonic readings at the start of the round and the round's error
//! bound. For every token, [`ClockGuard::now`] computes
//!
//! ```text
//! bound = anchor error + |step| + elapsed × max_drift_ppm
//! step  = (wall − anchor wall) − (monotonic − anchor monotonic)
//! ```
//!
//! where `step` detects a jump of the wall clock (CLOCK_MONOTONIC does not
//! jump; NTP slewing affects both clocks alike). The token is refused when
//! `bound` exceeds the accuracy or the anchor is older than
//! `max_staleness`; the guard then turns untrusted and polls at once. It
//! recovers by itself after the next passing round. A background
//! watchdog runs the same check a few times per second, so readiness and
//! metrics follow a jump even without traffic.
//!
//! The guard does not correct the time: genTime is the system clock, which
//! chrony/ntpd discipline; the guard only verifies it, independently.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::Notify;

use crate::config::ClockConfig;
use crate::error::{Error, Result};
use crate::sntp::{self, unix_nanos, Sample};
pub use crate::time_source::{SystemClock, TimeSource};

const NANOS: f64 = 1e9;

/// Why the clock is not trusted.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UntrustedReason {
    /// No round has completed yet.
    NotYetChecked,
    /// Fewer servers answered than the quorum.
    QuorumNotReached {
        /// Servers that gave a usable reply.
        answered: usize,
        /// Required.
        quorum: usize,
    },
    /// One server puts our clock's error beyond the declared accuracy.
    OffsetBeyondAccuracy {
        /// The server.
        source: String,
        /// Its offset θ (server − us).
        offset_seconds: f64,
        /// |θ| + δ/2 + root distance.
        error_bound_seconds: f64,
    },
    /// The servers' offsets differ by more than the accuracy.
    SourcesDisagree {
        /// Largest minus smallest offset.
        spread_seconds: f64,
    },
    /// The wall clock moved differently from the monotonic clock.
    ClockJump {
        /// How far it jumped (positive: forward).
        step_seconds: f64,
    },
    /// The uncertainty accumulated since the last round (drift allowance
    /// included) exceeds the accuracy.
    UncertaintyExceeded {
        /// The current error bound.
        error_bound_seconds: f64,
    },
    /// The last passing round is too old (poller stalled?).
    Stale {
        /// Since the last passing round.
        seconds_since_check: f64,
    },
}

impl UntrustedReason {
    /// Short stable name (metric label).
    pub fn kind(&self) -> &'static str {
        match self {
            UntrustedReason::NotYetChecked => "not_yet_checked",
            UntrustedReason::QuorumNotReached { .. } => "quorum_not_reached",
            UntrustedReason::OffsetBeyondAccuracy { .. } => "offset_beyond_accuracy",
            UntrustedReason::SourcesDisagree { .. } => "sources_disagree",
            UntrustedReason::ClockJump { .. } => "clock_jump",
            UntrustedReason::UncertaintyExceeded { .. } => "uncertainty_exceeded",
            UntrustedReason::Stale { .. } => "stale",
        }
    }
}

impl std::fmt::Display for UntrustedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UntrustedReason::NotYetChecked => f.write_str("no time source checked yet"),
            UntrustedReason::QuorumNotReached { answered, quorum } => write!(
                f,
                "only {answered} time source(s) answered, {quorum} required"
            ),
            UntrustedReason::OffsetBeyondAccuracy {
                source,
                offset_seconds,
                error_bound_seconds,
            } => write!(
                f,
                "time source {source} is {offset_seconds:+.6} s off (error bound {error_bound_seconds:.6} s) beyond the declared accuracy"
            ),
            UntrustedReason::SourcesDisagree { spread_seconds } => write!(
                f,
                "time sources disagree by {spread_seconds:.6} s, beyond the declared accuracy"
            ),
            UntrustedReason::ClockJump { step_seconds } => {
                write!(f, "the local clock jumped by {step_seconds:+.6} s")
            }
            UntrustedReason::UncertaintyExceeded {
                error_bound_seconds,
            } => write!(
                f,
                "clock uncertainty {error_bound_seconds:.6} s exceeds the declared accuracy"
            ),
            UntrustedReason::Stale {
                seconds_since_check,
            } => write!(
                f,
                "last successful time check was {seconds_since_check:.1} s ago"
            ),
        }
    }
}

/// One configured server as of the last round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceStatus {
    /// As configured.
    pub server: String,
    /// The address queried.
    pub address: Option<String>,
    /// Whether it gave a usable reply.
    pub answered: bool,
    /// θ: server minus local clock.
    pub offset_seconds: Option<f64>,
    /// δ: round-trip delay.
    pub delay_seconds: Option<f64>,
    /// The server's stratum.
    pub stratum: Option<u8>,
    /// |θ| + δ/2 + root distance.
    pub error_bound_seconds: Option<f64>,
    /// Why it gave no usable reply.
    pub error: Option<String>,
}

/// What the guard knows, for `/readyz`, status pages and logs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClockStatus {
    /// Whether tokens may be issued now.
    pub trusted: bool,
    /// Why not (empty when trusted).
    pub reasons: Vec<UntrustedReason>,
    /// The declared accuracy.
    pub accuracy_seconds: f64,
    /// The current error bound, when a round has passed.
    pub error_bound_seconds: Option<f64>,
    /// When the last round ran (RFC 3339).
    pub last_round: Option<String>,
    /// Rounds run since start.
    pub rounds: u64,
    /// Per-source results of the last round.
    pub sources: Vec<SourceStatus>,
}

#[derive(Clone, Copy, Debug)]
struct Anchor {
    wall_ns: i128,
    mono: Instant,
    error_ns: i128,
    /// Distinguishes anchors, so a late hot-path failure does not clear
    /// the trust a newer round established.
    round: u64,
}

#[derive(Debug)]
struct State {
    trusted: bool,
    anchor: Option<Anchor>,
    reasons: Vec<UntrustedReason>,
    sources: Vec<SourceStatus>,
    last_round: Option<SystemTime>,
    rounds: u64,
}

#[derive(Debug)]
struct Shared {
    cfg: ClockConfig,
    accuracy_ns: i128,
    time: Arc<dyn TimeSource>,
    state: RwLock<State>,
    wake: Notify,
}

/// Aborts the poller when the last [`ClockGuard`] clone goes away.
#[derive(Debug)]
struct Poller(tokio::task::JoinHandle<()>);

impl Drop for Poller {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The clock guard. Cheap to clone; the background poller stops when the
/// last clone is dropped.
#[derive(Clone, Debug)]
pub struct ClockGuard {
    shared: Arc<Shared>,
    _poller: Arc<Poller>,
}

/// Outcome of one evaluation of a round's results.
#[derive(Debug, PartialEq)]
pub(crate) struct Verdict {
    pub reasons: Vec<UntrustedReason>,
    pub error_ns: i128,
}

/// The rules of a round (pure; see the module documentation).
pub(crate) fn evaluate(
    results: &[(String, std::result::Result<Sample, String>)],
    quorum: usize,
    accuracy_ns: i128,
) -> Verdict {
    let samples: Vec<(&str, &Sample)> = results
        .iter()
        .filter_map(|(name, r)| r.as_ref().ok().map(|s| (name.as_str(), s)))
        .collect();
    let mut reasons = Vec::new();
    if samples.len() < quorum {
        reasons.push(UntrustedReason::QuorumNotReached {
            answered: samples.len(),
            quorum,
        });
    }
    let mut error_ns = 0;
    for (name, s) in &samples {
        let e = s.error_bound_ns();
        error_ns = error_ns.max(e);
        if e > accuracy_ns {
            reasons.push(UntrustedReason::OffsetBeyondAccuracy {
                source: (*name).to_owned(),
                offset_seconds: s.offset_ns as f64 / NANOS,
                error_bound_seconds: e as f64 / NANOS,
            });
        }
    }
    let min = samples.iter().map(|(_, s)| s.offset_ns).min();
    let max = samples.iter().map(|(_, s)| s.offset_ns).max();
    if let (Some(min), Some(max)) = (min, max) {
        if max - min > accuracy_ns {
            reasons.push(UntrustedReason::SourcesDisagree {
                spread_seconds: (max - min) as f64 / NANOS,
            });
        }
    }
    Verdict { reasons, error_ns }
}

fn parse_server(s: &str) -> String {
    let s = s.trim();
    // "host" or "[v6]" without a port: NTP's port.
    let has_port = match s.rfind(']') {
        Some(close) => s[close..].contains(':'),
        None => s.matches(':').count() == 1,
    };
    if has_port {
        s.to_owned()
    } else if s.contains(':') && !s.starts_with('[') {
        format!("[{s}]:123")
    } else {
        format!("{s}:123")
    }
}

impl ClockGuard {
    /// Starts a guard on the system clock; it is untrusted until the first
    /// round passes. Must be called within a Tokio runtime.
    pub fn start(cfg: ClockConfig, accuracy: Duration) -> Result<Self> {
        Self::start_with(cfg, accuracy, Arc::new(SystemClock))
    }

    /// Starts a guard reading the time from `time`.
    pub fn start_with(
        cfg: ClockConfig,
        accuracy: Duration,
        time: Arc<dyn TimeSource>,
    ) -> Result<Self> {
        cfg.validate()?;
        if accuracy.is_zero() {
            return Err(Error::config("the declared accuracy must be > 0"));
        }
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Internal("the clock guard needs a Tokio runtime".into()))?;
        let sources = cfg
            .servers
            .iter()
            .map(|s| SourceStatus {
                server: s.clone(),
                address: None,
                answered: false,
                offset_seconds: None,
                delay_seconds: None,
                stratum: None,
                error_bound_seconds: None,
                error: None,
            })
            .collect();
        let shared = Arc::new(Shared {
            accuracy_ns: accuracy.as_nanos() as i128,
            cfg,
            time,
            state: RwLock::new(State {
                trusted: false,
                anchor: None,
                reasons: vec![UntrustedReason::NotYetChecked],
                sources,
                last_round: None,
                rounds: 0,
            }),
            wake: Notify::new(),
        });
        metrics::gauge!("tsa_clock_trusted").set(0.0);
        let task = handle.spawn(poll_loop(shared.clone()));
        Ok(ClockGuard {
            shared,
            _poller: Arc::new(Poller(task)),
        })
    }

    /// The accuracy the guard enforces.
    pub fn accuracy(&self) -> Duration {
        Duration::from_nanos(self.shared.accuracy_ns as u64)
    }

    /// The time for a token: the wall clock, if it is trusted now.
    /// Otherwise the reason, and the guard turns untrusted.
    pub fn now(&self) -> std::result::Result<SystemTime, UntrustedReason> {
        self.shared.check()
    }

    /// Whether the clock is trusted now (same check as [`ClockGuard::now`]).
    pub fn is_trusted(&self) -> bool {
        self.shared.check().is_ok()
    }

    /// A snapshot for status pages.
    pub fn status(&self) -> ClockStatus {
        let now_check = self.shared.check();
        let (wall, mono) = self.shared.time.now();
        let st = self.shared.state.read().unwrap_or_else(|p| p.into_inner());
        let error_bound_seconds = st
            .anchor
            .map(|a| self.shared.bound(&a, wall, mono).0 as f64 / NANOS);
        ClockStatus {
            trusted: now_check.is_ok() && st.trusted,
            reasons: st.reasons.clone(),
            accuracy_seconds: self.shared.accuracy_ns as f64 / NANOS,
            error_bound_seconds,
            last_round: st.last_round.map(|t| {
                time::OffsetDateTime::from(t)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            }),
            rounds: st.rounds,
            sources: st.sources.clone(),
        }
    }

    /// Runs one round now (outside the schedule) and returns the status.
    pub async fn check_now(&self) -> ClockStatus {
        self.shared.round().await;
        self.status()
    }

    /// Waits until the guard's trust equals `trusted`, at most `within`.
    pub async fn wait_until(&self, trusted: bool, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.is_trusted() == trusted {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Shared {
    /// (error bound, |step| or 0, elapsed) at (wall, mono) for `a`.
    fn bound(&self, a: &Anchor, wall: SystemTime, mono: Instant) -> (i128, i128, Duration) {
        let elapsed = mono.saturating_duration_since(a.mono);
        let step = (unix_nanos(wall) - a.wall_ns) - elapsed.as_nanos() as i128;
        let drift = elapsed.as_nanos() as i128 * i128::from(self.cfg.max_drift_ppm) / 1_000_000;
        (a.error_ns + step.abs() + drift, step, elapsed)
    }

    fn check(&self) -> std::result::Result<SystemTime, UntrustedReason> {
        let (trusted, anchor) = {
            let st = self.state.read().unwrap_or_else(|p| p.into_inner());
            (st.trusted, st.anchor)
        };
        let anchor = match (trusted, anchor) {
            (true, Some(a)) => a,
            _ => {
                let st = self.state.read().unwrap_or_else(|p| p.into_inner());
                return Err(st
                    .reasons
                    .first()
                    .cloned()
                    .unwrap_or(UntrustedReason::NotYetChecked));
            }
        };
        let (wall, mono) = self.time.now();
        let (bound, step, elapsed) = self.bound(&anchor, wall, mono);
        let reason = if elapsed > self.cfg.max_staleness() {
            UntrustedReason::Stale {
                seconds_since_check: elapsed.as_secs_f64(),
            }
        } else if bound > self.accuracy_ns {
            if step.abs() * 2 > self.accuracy_ns - anchor.error_ns {
                UntrustedReason::ClockJump {
                    step_seconds: step as f64 / NANOS,
                }
            } else {
                UntrustedReason::UncertaintyExceeded {
                    error_bound_seconds: bound as f64 / NANOS,
                }
            }
        } else {
            return Ok(wall);
        };
        self.distrust(anchor.round, reason.clone());
        Err(reason)
    }

    /// Turns untrusted (unless a newer round replaced `round`'s anchor) and
    /// wakes the poller for an immediate round.
    fn distrust(&self, round: u64, reason: UntrustedReason) {
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        if !st.trusted || st.anchor.map(|a| a.round) != Some(round) {
            return;
        }
        st.trusted = false;
        st.reasons = vec![reason.clone()];
        drop(st);
        tracing::error!(%reason, "clock no longer trusted: refusing time-stamp requests");
        metrics::gauge!("tsa_clock_trusted").set(0.0);
        metrics::counter!("tsa_clock_untrusted_total", "reason" => reason.kind()).increment(1);
        self.wake.notify_one();
    }

    async fn query_one(
        &self,
        server: &str,
    ) -> (Option<SocketAddr>, std::result::Result<Sample, String>) {
        let timeout = Duration::from_millis(self.cfg.query_timeout_ms);
        let target = parse_server(server);
        let addr =
            match tokio::time::timeout(timeout, tokio::net::lookup_host(target.as_str())).await {
                Ok(Ok(mut addrs)) => addrs.next(),
                Ok(Err(e)) => return (None, Err(format!("cannot resolve {target}: {e}"))),
                Err(_) => return (None, Err(format!("cannot resolve {target}: timeout"))),
            };
        let Some(addr) = addr else {
            return (None, Err(format!("{target} resolves to no address")));
        };
        let r = sntp::query(addr, timeout, self.time.as_ref())
            .await
            .map_err(|e| e.to_string());
        (Some(addr), r)
    }

    async fn round(&self) {
        let (start_wall, start_mono) = self.time.now();
        let futures = self.cfg.servers.iter().map(|s| self.query_one(s));
        let results = futures_join_all(futures).await;
        let named: Vec<(String, std::result::Result<Sample, String>)> = self
            .cfg
            .servers
            .iter()
            .zip(results.iter())
            .map(|(s, (_, r))| (s.clone(), r.clone()))
            .collect();
        let verdict = evaluate(&named, self.cfg.quorum, self.accuracy_ns);

        let sources: Vec<SourceStatus> = self
            .cfg
            .servers
            .iter()
            .zip(results.iter())
            .map(|(server, (addr, r))| {
                let label = server.clone();
                match r {
                    Ok(s) => {
                        metrics::gauge!("tsa_clock_source_up", "source" => label.clone()).set(1.0);
                        metrics::gauge!("tsa_clock_offset_seconds", "source" => label.clone())
                            .set(s.offset_ns as f64 / NANOS);
                        metrics::gauge!("tsa_clock_delay_seconds", "source" => label)
                            .set(s.delay_ns as f64 / NANOS);
                        SourceStatus {
                            server: server.clone(),
                            address: addr.map(|a| a.to_string()),
                            answered: true,
                            offset_seconds: Some(s.offset_ns as f64 / NANOS),
                            delay_seconds: Some(s.delay_ns as f64 / NANOS),
                            stratum: Some(s.stratum),
                            error_bound_seconds: Some(s.error_bound_ns() as f64 / NANOS),
                            error: None,
                        }
                    }
                    Err(e) => {
                        metrics::gauge!("tsa_clock_source_up", "source" => label).set(0.0);
                        SourceStatus {
                            server: server.clone(),
                            address: addr.map(|a| a.to_string()),
                            answered: false,
                            offset_seconds: None,
                            delay_seconds: None,
                            stratum: None,
                            error_bound_seconds: None,
                            error: Some(e.clone()),
                        }
                    }
                }
            })
            .collect();
        let answered = sources.iter().filter(|s| s.answered).count();
        metrics::gauge!("tsa_clock_sources_answered").set(answered as f64);
        metrics::counter!("tsa_clock_rounds_total").increment(1);

        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        st.rounds += 1;
        st.last_round = Some(start_wall);
        st.sources = sources;
        let was_trusted = st.trusted;
        if verdict.reasons.is_empty() {
            st.trusted = true;
            st.reasons.clear();
            st.anchor = Some(Anchor {
                wall_ns: unix_nanos(start_wall),
                mono: start_mono,
                error_ns: verdict.error_ns,
                round: st.rounds,
            });
            drop(st);
            metrics::gauge!("tsa_clock_error_bound_seconds").set(verdict.error_ns as f64 / NANOS);
            if !was_trusted {
                tracing::info!(
                    error_bound_s = verdict.error_ns as f64 / NANOS,
                    "clock trusted: time sources agree within the declared accuracy"
                );
                metrics::gauge!("tsa_clock_trusted").set(1.0);
            }
            // A jump during the round shows at once.
            let _ = self.check();
        } else {
            st.trusted = false;
            st.reasons = verdict.reasons.clone();
            drop(st);
            metrics::gauge!("tsa_clock_trusted").set(0.0);
            if was_trusted {
                for r in &verdict.reasons {
                    metrics::counter!("tsa_clock_untrusted_total", "reason" => r.kind())
                        .increment(1);
                }
            }
            let text: Vec<String> = verdict.reasons.iter().map(|r| r.to_string()).collect();
            if was_trusted {
                tracing::error!(reasons = %text.join("; "), "clock no longer trusted: refusing time-stamp requests");
            } else {
                tracing::warn!(reasons = %text.join("; "), "clock still not trusted");
            }
        }
    }
}

/// Runs the futures concurrently and returns their outputs in order
/// (a tiny `join_all`, to avoid a dependency for one call).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

async fn poll_loop(shared: Arc<Shared>) {
    let watchdog = Duration::from_millis(250);
    loop {
        shared.round().await;
        let trusted = shared
            .state
            .read()
            .map(|s| s.trusted)
            .unwrap_or_else(|p| p.into_inner().trusted);
        let wait = Duration::from_millis(if trusted {
            shared.cfg.poll_interval_ms
        } else {
            shared.cfg.retry_interval_ms
        });
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            let tick = watchdog.min(deadline - now);
            tokio::select! {
                _ = tokio::time::sleep(tick) => {
                    // Readiness and metrics follow a jump without traffic.
                    if shared.check().is_err() && trusted {
                        break;
                    }
                }
                _ = shared.wake.notified() => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn s(offset_ms: i128, delay_ms: i128) -> std::result::Result<Sample, String> {
        Ok(Sample {
            offset_ns: offset_ms * 1_000_000,
            delay_ns: delay_ms * 1_000_000,
            stratum: 2,
            root_delay_ns: 0,
            root_dispersion_ns: 0,
        })
    }

    const ACC: i128 = 100_000_000; // 100 ms

    #[test]
    fn round_rules() {
        let r = |v: Vec<std::result::Result<Sample, String>>| {
            let named: Vec<_> = v
                .into_iter()
                .enumerate()
                .map(|(i, r)| (format!("s{i}"), r))
                .collect();
            evaluate(&named, 2, ACC)
        };
        let ok = r(vec![s(10, 4), s(-20, 6)]);
        assert!(ok.reasons.is_empty(), "{ok:?}");
        assert_eq!(ok.error_ns, 23_000_000);

        let quorum = r(vec![s(10, 4), Err("timeout".into())]);
        assert_eq!(
            quorum.reasons,
            vec![UntrustedReason::QuorumNotReached {
                answered: 1,
                quorum: 2
            }]
        );

        let drifted = r(vec![s(0, 2), s(500, 2)]);
        assert!(matches!(
            &drifted.reasons[..],
            [
                UntrustedReason::OffsetBeyondAccuracy { source, .. },
                UntrustedReason::SourcesDisagree { .. }
            ] if source == "s1"
        ));

        // Each within accuracy, but 160 ms apart.
        let disagree = r(vec![s(80, 0), s(-80, 0), s(0, 0)]);
        assert_eq!(disagree.reasons.len(), 1);
        assert!(matches!(
            disagree.reasons[0],
            UntrustedReason::SourcesDisagree { .. }
        ));

        // The delay counts: 90 ms offset + 30 ms / 2 > 100 ms.
        let slow = r(vec![s(90, 30), s(90, 0)]);
        assert!(matches!(
            slow.reasons[0],
            UntrustedReason::OffsetBeyondAccuracy { .. }
        ));
    }

    #[test]
    fn server_ports() {
        assert_eq!(parse_server("127.0.0.1"), "127.0.0.1:123");
        assert_eq!(parse_server("127.0.0.1:1234"), "127.0.0.1:1234");
        assert_eq!(parse_server("ntp.example"), "ntp.example:123");
        assert_eq!(parse_server("::1"), "[::1]:123");
        assert_eq!(parse_server("[::1]"), "[::1]:123");
        assert_eq!(parse_server("[::1]:9"), "[::1]:9");
    }
}
