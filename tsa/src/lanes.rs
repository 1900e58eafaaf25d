//! Signing lanes: at most N blocking tasks (`tokio::task::spawn_blocking`)
//! that drain one shared queue of signing jobs.
//!
//! A lane is started only when a job arrives and fewer than N lanes run;
//! it takes jobs until the queue is empty, then ends. Under load the lanes
//! never go idle, so a token costs a queue push and the wake-up of its
//! request — not a `spawn_blocking` hand-off, a semaphore release and a
//! thread wake-up each. N bounds the HSM sessions used at once.
//!
//! A lane hands its results over in small groups: while more jobs wait, it
//! holds finished results as long as it has fewer than [`MAX_HELD`] and
//! the oldest would not be older than [`MAX_HOLD`] after one more job as
//! long as the last one; it hands everything over as soon as the queue is
//! empty. Short jobs (EC signatures) are thus handed over by the handful,
//! long ones (RSA) one by one. The request tasks are then woken together,
//! which keeps the runtime's workers busy on a run of replies instead of
//! waking one for each (less CPU per token at saturation:
//! `docs/BENCHMARKS.md`).
//! Under light load nothing is held. A signature that hangs also delays the
//! results held before it (at most `MAX_HELD - 1`), as it delays everything
//! queued behind it.
//!
//! **Threads that sign their own requests.** A thread of the TSA's
//! dedicated listener ([`crate::listener`]) runs a current-thread runtime
//! that serves its own connections; it installs a [`LocalSigner`], and a
//! job submitted on that thread goes to the thread's queue instead of the
//! shared one. The signer task, woken by the first job, yields once so that
//! every connection that is ready is read and queues its job, then signs the
//! queue inline and completes it; the replies go out together when it
//! yields again. No hand-off between threads, no wake-up per token: closer
//! to the raw signing rate (`docs/BENCHMARKS.md`). The bound on waiting
//! jobs applies per thread,
//! and the queue timeout counts from the moment the job is queued on the
//! thread (as on the shared queue, time before the handler runs is not
//! counted). The thread's connections wait while it signs, which is the
//! point — the thread is one signing lane — and also the cost: a signature
//! that hangs stalls every connection of that thread, where a hung lane
//! holds only its own job and the few results it holds back.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

/// Runs the work (or refuses it for waiting too long) and returns the
/// delivery of its result, which the lane may hold back a little.
type Job = Box<dyn FnOnce(Option<Duration>) -> Delivery + Send>;
/// Hands a result to the waiting request (wakes its task).
type Delivery = Box<dyn FnOnce() + Send>;

/// Results a lane may hold back before handing them over together.
const MAX_HELD: usize = 8;
/// How long a lane may hold back a finished result.
const MAX_HOLD: Duration = Duration::from_micros(500);

#[derive(Default)]
struct Queue {
    jobs: VecDeque<(Instant, Job)>,
    running: usize,
}

pub(crate) struct Lanes {
    queue: Mutex<Queue>,
    /// Jobs queued on threads with a local signer, since the start.
    local_jobs: std::sync::atomic::AtomicU64,
    max_lanes: usize,
    max_queued: usize,
    max_wait: Duration,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes")
            .field("max_lanes", &self.max_lanes)
            .field("max_queued", &self.max_queued)
            .finish_non_exhaustive()
    }
}

/// Why a job did not run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotRun {
    /// Too many jobs queued already.
    QueueFull,
    /// The job waited longer than the limit for a lane.
    Waited(Duration),
    /// The lane ended without running it (panic in an earlier job).
    Lost,
}

impl Lanes {
    pub(crate) fn new(max_lanes: usize, max_queued: usize, max_wait: Duration) -> Arc<Self> {
        Arc::new(Lanes {
            queue: Mutex::new(Queue::default()),
            local_jobs: std::sync::atomic::AtomicU64::new(0),
            max_lanes: max_lanes.max(1),
            max_queued,
            max_wait,
        })
    }

    /// Lanes that may run at once.
    pub(crate) fn max_lanes(&self) -> usize {
        self.max_lanes
    }

    /// Jobs queued on threads with a local signer (run there), so far.
    pub(crate) fn local_jobs(&self) -> u64 {
        self.local_jobs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` on a lane and returns its result. A job that waited longer
    /// than `max_wait` in the queue is not run. Once queued, the job runs
    /// (or is refused for waiting) even if the returned future is dropped.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, NotRun>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |waited: Option<Duration>| {
            let out = match waited {
                Some(w) => Err(NotRun::Waited(w)),
                None => Ok(f()),
            };
            Box::new(move || {
                let _ = tx.send(out);
            })
        });
        let job = match LocalSigner::push(job, self.max_queued, self.max_wait) {
            Local::Queued => {
                self.local_jobs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return rx.await.unwrap_or(Err(NotRun::Lost));
            }
            Local::Full(job) => {
                // Dropped here, outside the thread's queue borrow.
                drop(job);
                return Err(NotRun::QueueFull);
            }
            Local::NotHere(job) => job,
        };
        let start_lane = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.jobs.len() >= self.max_queued {
                return Err(NotRun::QueueFull);
            }
            q.jobs.push_back((Instant::now(), job));
            if q.running < self.max_lanes {
                q.running += 1;
                true
            } else {
                false
            }
        };
        if start_lane {
            let lanes = self.clone();
            tokio::task::spawn_blocking(move || lanes.drain());
        }
        rx.await.unwrap_or(Err(NotRun::Lost))
    }

    fn drain(self: Arc<Self>) {
        // If a job panics, this guard delivers the results already held,
        // then gives the lane back, or hands it to a new lane when jobs are
        // still waiting, so that none is stranded.
        struct Release {
            lanes: Arc<Lanes>,
            held: Vec<Delivery>,
            held_since: Option<Instant>,
            ended: bool,
        }
        impl Release {
            fn deliver(&mut self) {
                self.held_since = None;
                for d in self.held.drain(..) {
                    d();
                }
            }
        }
        impl Drop for Release {
            fn drop(&mut self) {
                self.deliver();
                if self.ended {
                    return;
                }
                let mut q = self.lanes.queue.lock().unwrap_or_else(|p| p.into_inner());
                let handle = tokio::runtime::Handle::try_current();
                match handle {
                    Ok(h) if !q.jobs.is_empty() => {
                        drop(q);
                        let lanes = self.lanes.clone();
                        h.spawn_blocking(move || lanes.drain());
                    }
                    _ => q.running -= 1,
                }
            }
        }
        let mut guard = Release {
            lanes: self.clone(),
            held: Vec::with_capacity(MAX_HELD),
            held_since: None,
            ended: false,
        };
        loop {
            let next = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                match q.jobs.pop_front() {
                    Some(j) => j,
                    None => {
                        // Decided under the lock that also admits jobs: a
                        // job queued after this sees one lane fewer and
                        // starts its own.
                        q.running -= 1;
                        guard.ended = true;
                        drop(q);
                        guard.deliver();
                        return;
                    }
                }
            };
            let (queued, job) = next;
            let started = Instant::now();
            let waited = started.saturating_duration_since(queued);
            guard
                .held
                .push(job((waited > self.max_wait).then_some(waited)));
            let done = Instant::now();
            let since = *guard.held_since.get_or_insert(done);
            // Holding on means waiting for one more job; judge it by this one.
            let after_next_job = done.saturating_duration_since(since) + (done - started);
            if guard.held.len() >= MAX_HELD || after_next_job > MAX_HOLD {
                guard.deliver();
            }
        }
    }
}

impl Drop for LocalSigner {
    fn drop(&mut self) {
        // Stops routing jobs to this thread; the jobs still queued are
        // dropped (their requests see `Lost`) outside the borrow.
        // `try_with`: the thread may be exiting.
        if std::thread::current().id() == self.thread {
            let _ = LOCAL.try_with(|l| l.borrow_mut().take());
        }
    }
}

/// A job waiting on a listener thread.
struct LocalJob {
    queued: Instant,
    max_wait: Duration,
    job: Job,
}

/// The queue of the thread's [`LocalSigner`].
struct LocalQueue {
    jobs: Vec<LocalJob>,
    work: Arc<Notify>,
}

thread_local! {
    static LOCAL: RefCell<Option<LocalQueue>> = const { RefCell::new(None) };
}

enum Local {
    Queued,
    Full(Job),
    NotHere(Job),
}

/// Signs, on the thread that installed it, the jobs submitted on that
/// thread (see the module documentation). Install it on a thread that runs
/// a current-thread Tokio runtime, then spawn [`LocalSigner::run`] on that
/// runtime.
#[derive(Debug)]
pub(crate) struct LocalSigner {
    work: Arc<Notify>,
    // `run` is spawned with `tokio::spawn`, which wants a `Send` future:
    // the thread is checked at run time instead of by the type.
    thread: std::thread::ThreadId,
}

impl LocalSigner {
    /// Routes the jobs submitted on this thread to this thread's queue,
    /// until the signer is dropped (with the task running it, or unused).
    pub(crate) fn install() -> LocalSigner {
        let work = Arc::new(Notify::new());
        LOCAL.with(|l| {
            *l.borrow_mut() = Some(LocalQueue {
                jobs: Vec::new(),
                work: work.clone(),
            });
        });
        LocalSigner {
            work,
            thread: std::thread::current().id(),
        }
    }

    fn push(job: Job, max_queued: usize, max_wait: Duration) -> Local {
        // Only the queue operation runs under the borrow: dropping a refused
        // job (its record reservation, its result channel) and waking the
        // signer stay outside it.
        let pushed = LOCAL.with(|l| match l.borrow_mut().as_mut() {
            None => Err(Local::NotHere(job)),
            Some(q) if q.jobs.len() >= max_queued => Err(Local::Full(job)),
            Some(q) => {
                q.jobs.push(LocalJob {
                    queued: Instant::now(),
                    max_wait,
                    job,
                });
                Ok(q.work.clone())
            }
        });
        match pushed {
            Ok(work) => {
                work.notify_one();
                Local::Queued
            }
            Err(not_queued) => not_queued,
        }
    }

    /// Signs the thread's queue whenever jobs arrive, until dropped (with
    /// the runtime). Jobs still queued then are dropped: their requests see
    /// [`NotRun::Lost`] if they still wait.
    pub(crate) async fn run(self) {
        if std::thread::current().id() != self.thread {
            tracing::error!("a local signer must run on the thread that installed it");
            return;
        }
        loop {
            self.work.notified().await;
            // Let every connection that is ready be read and queue its job
            // first (a yield lets the runtime poll its I/O driver).
            tokio::task::yield_now().await;
            loop {
                let jobs = LOCAL.with(|l| {
                    l.borrow_mut()
                        .as_mut()
                        .map(|q| std::mem::take(&mut q.jobs))
                        .unwrap_or_default()
                });
                if jobs.is_empty() {
                    break;
                }
                for LocalJob {
                    queued,
                    max_wait,
                    job,
                } in jobs
                {
                    let waited = queued.elapsed();
                    let late = (waited > max_wait).then_some(waited);
                    // A panicking job drops its result channel (its request
                    // sees `Lost`); the others and this task carry on.
                    let ran =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || job(late)));
                    if let Ok(deliver) = ran {
                        // Wakes a task of this thread: it runs once this
                        // task yields, with the other replies of the batch.
                        deliver();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Lanes end when there is nothing left to do (bounded wait).
    async fn idle(lanes: &Lanes) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while lanes.queue.lock().unwrap().running != 0 {
            assert!(Instant::now() < deadline, "a lane stays alive without work");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bounded_concurrency_and_waiting() {
        let lanes = Lanes::new(2, 100, Duration::from_secs(5));
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (lanes, now, peak) = (lanes.clone(), now.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                lanes
                    .run(move || {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        now.fetch_sub(1, Ordering::SeqCst);
                        i * 2
                    })
                    .await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), Ok(i * 2));
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        // A lane hands back its last result before it ends: wait (bounded) for it to end.
        idle(&lanes).await;

        // Too long in the queue: not run. Queue full: refused at once.
        let slow = Lanes::new(1, 2, Duration::from_millis(50));
        let s2 = slow.clone();
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (st, rel) = (started.clone(), release.clone());
        let blocker = tokio::spawn(async move {
            s2.run(move || {
                st.store(true, Ordering::SeqCst);
                // Holds the only lane until the test lets go (at most 10 s).
                let until = Instant::now() + Duration::from_secs(10);
                while !rel.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .await
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while !started.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "blocker never started");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let queued = |n: usize| {
            let slow = slow.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(5);
                while slow.queue.lock().unwrap().jobs.len() < n {
                    assert!(Instant::now() < deadline, "job not queued");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        let s3 = slow.clone();
        let waiting = tokio::spawn(async move { s3.run(|| 1).await });
        queued(1).await;
        let s4 = slow.clone();
        let second = tokio::spawn(async move { s4.run(|| 2).await });
        queued(2).await;
        assert_eq!(slow.run(|| 3).await, Err(NotRun::QueueFull));
        // Both queued jobs now wait longer than the 50 ms limit.
        tokio::time::sleep(Duration::from_millis(80)).await;
        release.store(true, Ordering::SeqCst);
        assert_eq!(blocker.await.unwrap(), Ok(()));
        assert!(matches!(waiting.await.unwrap(), Err(NotRun::Waited(_))));
        assert!(matches!(second.await.unwrap(), Err(NotRun::Waited(_))));
        // And the lane is usable again.
        assert_eq!(slow.run(|| 4).await, Ok(4));
    }

    /// Results held back for a group are handed over even when a later job
    /// of the group panics.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn held_results_survive_a_panicking_job() {
        let lanes = Lanes::new(1, 10, Duration::from_secs(5));
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rel = release.clone();
        let l2 = lanes.clone();
        let blocker = tokio::spawn(async move {
            l2.run(move || {
                let until = Instant::now() + Duration::from_secs(10);
                while !rel.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .await
        });
        // Queue a quick job and a panicking one behind the blocker, so that
        // the lane runs them back to back and holds the first result.
        let deadline = Instant::now() + Duration::from_secs(5);
        while lanes.queue.lock().unwrap().running == 0 {
            assert!(Instant::now() < deadline, "blocker never started");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let l3 = lanes.clone();
        let quick = tokio::spawn(async move { l3.run(|| 7).await });
        let l4 = lanes.clone();
        let boom = tokio::spawn(async move { l4.run(|| -> u8 { panic!("boom") }).await });
        while lanes.queue.lock().unwrap().jobs.len() < 2 {
            assert!(Instant::now() < deadline, "jobs not queued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        release.store(true, Ordering::SeqCst);
        assert_eq!(blocker.await.unwrap(), Ok(()));
        assert_eq!(quick.await.unwrap(), Ok(7));
        assert_eq!(boom.await.unwrap(), Err(NotRun::Lost));
        assert_eq!(lanes.run(|| 8).await, Ok(8));
        idle(&lanes).await;
    }

    /// On a thread with a local signer, jobs run on that thread, under the
    /// same bound and queue timeout; a panicking job loses only its own
    /// result. Elsewhere they go to the shared lanes.
    #[test]
    fn local_signer_signs_on_its_own_thread() {
        let lanes = Lanes::new(4, 3, Duration::from_millis(50));
        let l2 = lanes.clone();
        let worker = std::thread::spawn(move || {
            let signer = LocalSigner::install();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let me = std::thread::current().id();
            // Bounded: a lost wake-up fails the test instead of hanging it.
            let bounded = Duration::from_secs(30);
            rt.block_on(async move {
                tokio::time::timeout(bounded, async move {
                    tokio::spawn(signer.run());
                    // Three jobs queued at once: they run here, one batch.
                    let ran_on = |l: Arc<Lanes>| {
                        tokio::spawn(async move { l.run(|| std::thread::current().id()).await })
                    };
                    let tasks: Vec<_> = (0..3).map(|_| ran_on(l2.clone())).collect();
                    // A fourth one finds the queue full (bound 3): the signer
                    // has not run yet, the spawned tasks have queued theirs.
                    tokio::task::yield_now().await;
                    assert_eq!(l2.run(move || me).await, Err(NotRun::QueueFull));
                    for t in tasks {
                        assert_eq!(t.await.unwrap(), Ok(me));
                    }
                    // A job that waits longer than the limit is not run.
                    let slow = {
                        let l = l2.clone();
                        tokio::spawn(async move {
                            l.run(|| std::thread::sleep(Duration::from_millis(80)))
                                .await
                        })
                    };
                    let late = {
                        let l = l2.clone();
                        tokio::spawn(async move { l.run(|| 1).await })
                    };
                    assert_eq!(slow.await.unwrap(), Ok(()));
                    assert!(matches!(late.await.unwrap(), Err(NotRun::Waited(_))));
                    // A panic loses that job's result only.
                    let boom = {
                        let l = l2.clone();
                        tokio::spawn(async move { l.run(|| -> u8 { panic!("boom") }).await })
                    };
                    let after = {
                        let l = l2.clone();
                        tokio::spawn(async move { l.run(|| 9u8).await })
                    };
                    assert_eq!(boom.await.unwrap(), Err(NotRun::Lost));
                    assert_eq!(after.await.unwrap(), Ok(9));
                    assert_eq!(l2.run(|| 10u8).await, Ok(10));
                })
                .await
            })
            .expect("the local signer test hung");
            me
        });
        let worker_id = worker.join().unwrap();
        // No lane was started for any of it; the jobs queued there counted.
        assert_eq!(lanes.queue.lock().unwrap().running, 0);
        assert_eq!(lanes.local_jobs(), 8);
        // Another thread (no local signer): a shared lane runs the job.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let here = std::thread::current().id();
        let ran = rt
            .block_on(lanes.run(|| std::thread::current().id()))
            .unwrap();
        assert_ne!(ran, here);
        assert_ne!(ran, worker_id);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_does_not_strand_the_others() {
        let lanes = Lanes::new(1, 10, Duration::from_secs(5));
        let l2 = lanes.clone();
        // The panicking job holds the only lane while another one waits.
        let first = tokio::spawn(async move {
            l2.run(|| -> u8 {
                std::thread::sleep(Duration::from_millis(100));
                panic!("boom")
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiting = lanes.run(|| 6);
        let waiting = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(waiting.expect("stranded"), Ok(6));
        assert_eq!(first.await.unwrap(), Err(NotRun::Lost));
        assert_eq!(lanes.run(|| 5).await, Ok(5));
        idle(&lanes).await;
    }
}
