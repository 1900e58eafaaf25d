//! Open-loop load: requests scheduled at a fixed rate whatever the server does, latency
//! measured from the *scheduled* time (a stall delays every request scheduled during it, and
//! they all count it: no coordinated omission); results kept per phase and per service.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What is measured: the legitimate services, and what each attack achieves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Svc {
    Ocsp,
    Tsa,
    Login,
    Issuance,
    AtkCms,
    AtkLoginForm,
    AtkLoginApi,
    AtkOcsp,
}

impl Svc {
    pub fn name(self) -> &'static str {
        match self {
            Svc::Ocsp => "OCSP GET",
            Svc::Tsa => "TSA",
            Svc::Login => "portal login",
            Svc::Issuance => "issuance",
            Svc::AtkCms => "hostile CMS (attacker)",
            Svc::AtkLoginForm => "login flood, form (attacker)",
            Svc::AtkLoginApi => "login flood, API (attacker)",
            Svc::AtkOcsp => "OCSP flood (attacker)",
        }
    }

    pub fn legit(self) -> bool {
        matches!(self, Svc::Ocsp | Svc::Tsa | Svc::Login | Svc::Issuance)
    }

    /// The p99 ceiling for a legitimate service.
    pub fn p99_ceiling(self) -> Duration {
        match self {
            Svc::Ocsp | Svc::Tsa => Duration::from_millis(50),
            _ => Duration::from_secs(1),
        }
    }
}

/// Samples of one service in one phase.
#[derive(Default, Debug, Clone)]
pub struct Stats {
    /// Requests sent (scheduled); more than answered when an attack is cut short.
    pub sent: u64,
    /// Latency of the successful requests, microseconds.
    pub ok_us: Vec<u64>,
    /// Failures by kind ("HTTP 503", "timeout", "connect: ConnectionRefused", …).
    pub errors: BTreeMap<String, u64>,
    /// Successful requests slower than the service's p99 ceiling, by the second of the phase
    /// they were scheduled in: when in an attack the tail happens.
    pub slow_by_second: BTreeMap<u64, u64>,
}

impl Stats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn count(&self) -> u64 {
        self.ok_us.len() as u64 + self.error_count()
    }

    /// Percentile `p` (0..=100) of the successful latencies; `ok_us` sorted by [`finish`].
    pub fn pct(&self, p: f64) -> Option<Duration> {
        if self.ok_us.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * self.ok_us.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.ok_us.len()) - 1;
        Some(Duration::from_micros(self.ok_us[i]))
    }
}

/// Resource figures of a phase.
#[derive(Default, Debug, Clone)]
pub struct PhaseRes {
    pub rss_max_kib: u64,
    pub rss_start_kib: u64,
    pub threads_max: u64,
    pub server_cpu_s: f64,
    pub harness_cpu_s: f64,
    pub wall_s: f64,
}

#[derive(Debug)]
pub struct Phase {
    pub name: String,
    pub start: Instant,
    pub stats: BTreeMap<Svc, Stats>,
    pub res: PhaseRes,
    /// Free-form lines (attack counters, recovery times).
    pub notes: Vec<String>,
    cpu_at_start: (f64, f64),
}

/// Where every outcome goes, attributed to the phase its *scheduled* time falls in.
pub struct Recorder {
    pub phases: Mutex<Vec<Phase>>,
    pub server_pid: u32,
}

/// utime + stime of a process in seconds (`/proc/<pid>/stat`, fields 14 and 15).
pub fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on Linux for every architecture we run on.
    ticks / 100.0
}

/// (VmRSS KiB, Threads) of a process.
pub fn rss_and_threads(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("Threads:")?))
}

impl Recorder {
    pub fn new(server_pid: u32) -> Arc<Recorder> {
        Arc::new(Recorder {
            phases: Mutex::new(Vec::new()),
            server_pid,
        })
    }

    /// Closes the current phase (its resource figures) and opens `name`.
    pub fn begin(&self, name: &str) {
        let now = Instant::now();
        let cpu = (
            cpu_seconds(&self.server_pid.to_string()),
            cpu_seconds("self"),
        );
        let rss = rss_and_threads(self.server_pid).map_or(0, |r| r.0);
        let mut phases = self.phases.lock().unwrap();
        if let Some(last) = phases.last_mut() {
            close(last, now, cpu);
        }
        phases.push(Phase {
            name: name.to_owned(),
            start: now,
            stats: BTreeMap::new(),
            res: PhaseRes {
                rss_start_kib: rss,
                rss_max_kib: rss,
                ..PhaseRes::default()
            },
            notes: Vec::new(),
            cpu_at_start: cpu,
        });
    }

    /// Closes the last phase.
    pub fn end(&self) {
        let cpu = (
            cpu_seconds(&self.server_pid.to_string()),
            cpu_seconds("self"),
        );
        if let Some(last) = self.phases.lock().unwrap().last_mut() {
            close(last, Instant::now(), cpu);
        }
        for p in self.phases.lock().unwrap().iter_mut() {
            for s in p.stats.values_mut() {
                s.ok_us.sort_unstable();
            }
        }
    }

    pub fn note(&self, line: String) {
        if let Some(p) = self.phases.lock().unwrap().last_mut() {
            p.notes.push(line);
        }
    }

    pub fn record(&self, svc: Svc, scheduled: Instant, outcome: Result<Duration, String>) {
        let mut phases = self.phases.lock().unwrap();
        let Some(i) = phases.iter().rposition(|p| p.start <= scheduled) else {
            return;
        };
        let second = scheduled
            .saturating_duration_since(phases[i].start)
            .as_secs();
        let s = phases[i].stats.entry(svc).or_default();
        match outcome {
            Ok(d) => {
                s.ok_us.push(d.as_micros() as u64);
                if d > svc.p99_ceiling() {
                    *s.slow_by_second.entry(second).or_default() += 1;
                }
            }
            Err(kind) => *s.errors.entry(kind).or_default() += 1,
        }
    }

    /// Counts a request sent (scheduled) at `scheduled`.
    pub fn sent(&self, svc: Svc, scheduled: Instant) {
        let mut phases = self.phases.lock().unwrap();
        if let Some(p) = phases.iter_mut().rev().find(|p| p.start <= scheduled) {
            p.stats.entry(svc).or_default().sent += 1;
        }
    }

    fn sample(&self) {
        if let Some((rss, threads)) = rss_and_threads(self.server_pid) {
            if let Some(p) = self.phases.lock().unwrap().last_mut() {
                p.res.rss_max_kib = p.res.rss_max_kib.max(rss);
                p.res.threads_max = p.res.threads_max.max(threads);
            }
        }
    }
}

fn close(p: &mut Phase, now: Instant, cpu: (f64, f64)) {
    if p.res.wall_s == 0.0 {
        p.res.wall_s = (now - p.start).as_secs_f64();
        p.res.server_cpu_s = cpu.0 - p.cpu_at_start.0;
        p.res.harness_cpu_s = cpu.1 - p.cpu_at_start.1;
    }
}

/// Samples the server's RSS every 100 ms until `stop`.
pub async fn sample_memory(rec: Arc<Recorder>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        rec.sample();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `op(i)` at `rate` per second from now until `stop`, each call bounded by `timeout`
/// and at most `max_in_flight` at once (beyond, the request counts as failed: "client
/// saturated"). The outcome of each call is recorded for `svc`, its latency from the time it
/// was scheduled.
pub async fn open_loop<F, Fut>(
    rec: Arc<Recorder>,
    svc: Svc,
    rate: f64,
    timeout: Duration,
    max_in_flight: usize,
    stop: Arc<AtomicBool>,
    op: F,
) where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        rec.sent(svc, scheduled);
        // Reap what has finished, so the set does not grow over a long run.
        while let Some(r) = tasks.try_join_next() {
            rethrow(r);
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            rec.record(svc, scheduled, Err("client saturated".into()));
            continue;
        };
        let fut = op(i);
        let rec = rec.clone();
        tasks.spawn(async move {
            let out = match tokio::time::timeout(timeout, fut).await {
                Ok(Ok(())) => Ok(scheduled.elapsed()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("timeout".to_owned()),
            };
            rec.record(svc, scheduled, out);
            drop(permit);
        });
    }
    // Requests still in flight finish (each bounded by `timeout`).
    while let Some(r) = tasks.join_next().await {
        rethrow(r);
    }
}

/// A request that panicked is a bug of the harness: it must fail the run, not vanish.
fn rethrow(r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}
