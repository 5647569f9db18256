//! The work-queue pattern: at most `N` jobs in flight, on real executors and threads.
//!
//! - `work_queue_*`: 200 jobs, `N = 5`, on tokio (multi-thread), smol (a 3-thread executor),
//!   async-std, and plain threads with the blocking API. A high-water counter proves the
//!   bound held *and* was reached; count, checksum and a per-job flag prove every job ran
//!   exactly once. The `_mixed_sizes` variants take `acquire_many(1..=N)`, borrowed and owned.
//! - `stress_*`: random cancellation (a timer wins a `select`, poll-once-then-drop,
//!   poll-then-drop-after-a-yield so a grant can land on a future that is never polled
//!   again) mixed with `try_acquire`, plain waits and blocking threads. At the end every
//!   permit is back (`available_permits() == N`), nobody is queued, and nothing hung.
//! - `stress_register_race_*` (PITFALLS `register-race`): an acquirer's first poll racing
//!   a release, checked every round (a pending, never-woken acquire beside a free permit
//!   fails with the round number).
//!
//! Every test runs under a [`Watchdog`]: a lost wakeup or a deadlock aborts the test binary
//! after 20 s with the semaphore's state, instead of hanging the suite (a panic on a side
//! thread could not stop a hung test).
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]

use std::future::Future;
use std::io::Write as _;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures::future::{select, Either};
use sluicebox::{AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// Maximum jobs (permits) in flight.
const N: usize = 5;
/// Jobs per work-queue run.
const JOBS: usize = 200;
/// How long a hung test may run before the watchdog aborts.
const WATCHDOG: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Aborts the process if not dropped within `WATCHDOG`, printing `diag()` first.
struct Watchdog(Option<mpsc::Sender<()>>, Option<thread::JoinHandle<()>>);

fn watchdog(name: &'static str, diag: impl Fn() -> String + Send + 'static) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG) {
            // Straight to stderr: `eprintln!` is captured by the test harness and
            // would be lost with the abort.
            let _ = writeln!(
                std::io::stderr(),
                "watchdog: `{name}` still running after {WATCHDOG:?}: deadlock or lost \
                 wakeup. State: {}",
                diag()
            );
            std::process::abort();
        }
    });
    Watchdog(Some(tx), Some(handle))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

fn sem_watchdog(name: &'static str, sem: &Arc<Semaphore>) -> Watchdog {
    let sem = sem.clone();
    watchdog(name, move || format!("{sem:?}"))
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `1..=n`.
    fn size(&mut self, n: usize) -> usize {
        1 + self.below(n as u64) as usize
    }
}

/// Returns `Pending` once (waking itself), then `Ready`: an executor-agnostic yield.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

async fn yield_n(n: u64) {
    for _ in 0..n {
        YieldNow(false).await;
    }
}

/// Either kind of guard, so borrowed and owned permits share one job body.
#[allow(dead_code)] // the guards are held for their `Drop`
enum Held<'a> {
    Borrowed(SemaphorePermit<'a>),
    Owned(OwnedSemaphorePermit),
}

impl Held<'_> {
    fn permits(&self) -> usize {
        match self {
            Held::Borrowed(p) => p.permits(),
            Held::Owned(p) => p.permits(),
        }
    }
}

/// In-flight accounting shared by every job of a run.
struct Stats {
    /// Permits held by running jobs.
    in_flight: AtomicUsize,
    high: AtomicUsize,
    /// Running jobs (for the mixed-size runs: proves jobs did overlap).
    jobs_in_flight: AtomicUsize,
    jobs_high: AtomicUsize,
    violations: AtomicUsize,
    done: AtomicUsize,
    id_sum: AtomicU64,
    id_sq_sum: AtomicU64,
    seen: Vec<AtomicBool>,
}

impl Stats {
    fn new(jobs: usize) -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            high: AtomicUsize::new(0),
            jobs_in_flight: AtomicUsize::new(0),
            jobs_high: AtomicUsize::new(0),
            violations: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            id_sum: AtomicU64::new(0),
            id_sq_sum: AtomicU64::new(0),
            seen: (0..jobs).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// A job holding `k` permits starts its work.
    fn enter(&self, k: usize) {
        let now = self.in_flight.fetch_add(k, SeqCst) + k;
        if now > N {
            self.violations.fetch_add(1, SeqCst);
        }
        self.high.fetch_max(now, SeqCst);
        let jobs = self.jobs_in_flight.fetch_add(1, SeqCst) + 1;
        self.jobs_high.fetch_max(jobs, SeqCst);
    }

    /// ...and ends it, *before* it drops its permits.
    fn leave(&self, k: usize) {
        self.jobs_in_flight.fetch_sub(1, SeqCst);
        self.in_flight.fetch_sub(k, SeqCst);
    }

    fn finish(&self, id: usize) {
        if self.seen[id].swap(true, SeqCst) {
            self.violations.fetch_add(1, SeqCst); // ran twice
        }
        self.done.fetch_add(1, SeqCst);
        let id = id as u64 + 1;
        self.id_sum.fetch_add(id, SeqCst);
        self.id_sq_sum.fetch_add(id * id, SeqCst);
    }

    fn violation(&self) {
        self.violations.fetch_add(1, SeqCst);
    }

    #[track_caller]
    fn check(&self, jobs: usize, sem: &Semaphore) {
        let n = jobs as u64;
        assert_eq!(
            self.violations.load(SeqCst),
            0,
            "bound exceeded or job repeated"
        );
        assert_eq!(self.done.load(SeqCst), jobs, "every job finished");
        assert_eq!(
            self.id_sum.load(SeqCst),
            n * (n + 1) / 2,
            "checksum of job ids"
        );
        assert_eq!(
            self.id_sq_sum.load(SeqCst),
            n * (n + 1) * (2 * n + 1) / 6,
            "checksum of squared job ids"
        );
        assert!(self.seen.iter().all(|s| s.load(SeqCst)), "every id ran");
        assert_eq!(self.in_flight.load(SeqCst), 0);
        let high = self.high.load(SeqCst);
        assert!(high <= N, "in flight reached {high} > {N}");
        assert_eq!(
            high, N,
            "the bound was never reached: the limiter under-admits"
        );
        assert_eq!(sem.available_permits(), N, "all permits back");
        assert_eq!(sem.waiting(), 0);
    }
}

/// Job sizes: all 1 (`acquire`), or a random mix of `1..=N`.
fn sizes(mixed: bool, seed: u64) -> Arc<Vec<usize>> {
    let mut rng = Rng::new(seed);
    Arc::new(
        (0..JOBS)
            .map(|_| if mixed { rng.size(N) } else { 1 })
            .collect(),
    )
}

/// One job: take `size` permits (borrowed or owned, `acquire` or `acquire_many`), work,
/// release.
async fn job<F, S>(sem: Arc<Semaphore>, stats: Arc<Stats>, id: usize, size: usize, work: F)
where
    F: FnOnce() -> S,
    S: Future<Output = ()>,
{
    let held = match (size, id % 2) {
        (1, 0) => Held::Borrowed(sem.acquire().await.unwrap()),
        (1, _) => Held::Owned(sem.clone().acquire_owned().await.unwrap()),
        (k, 0) => Held::Borrowed(sem.acquire_many(k).await.unwrap()),
        (k, _) => Held::Owned(sem.clone().acquire_many_owned(k).await.unwrap()),
    };
    if held.permits() != size {
        stats.violation();
    }
    stats.enter(size);
    work().await;
    stats.leave(size);
    drop(held);
    stats.finish(id);
}

fn check_mixed_overlap(stats: &Stats) {
    let jobs_high = stats.jobs_high.load(SeqCst);
    assert!(
        jobs_high >= 2,
        "jobs never overlapped (max {jobs_high} at once)"
    );
}

// ---------------------------------------------------------------------------------------
// Work queue on each executor
// ---------------------------------------------------------------------------------------

fn run_tokio(mixed: bool) -> Arc<Stats> {
    let sem = Arc::new(Semaphore::new(N));
    let _wd = sem_watchdog("work_queue_tokio", &sem);
    let stats = Arc::new(Stats::new(JOBS));
    let sizes = sizes(mixed, 0x70C10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let handles: Vec<_> = (0..JOBS)
            .map(|id| {
                let work = || tokio::time::sleep(Duration::from_millis(1));
                tokio::spawn(job(sem.clone(), stats.clone(), id, sizes[id], work))
            })
            .collect();
        for h in handles {
            h.await.expect("job panicked");
        }
    });
    stats.check(JOBS, &sem);
    stats
}

#[test]
fn work_queue_tokio_multi_thread() {
    run_tokio(false);
}

#[test]
fn work_queue_tokio_multi_thread_mixed_sizes() {
    check_mixed_overlap(&run_tokio(true));
}

fn run_smol(mixed: bool) -> Arc<Stats> {
    let sem = Arc::new(Semaphore::new(N));
    let _wd = sem_watchdog("work_queue_smol", &sem);
    let stats = Arc::new(Stats::new(JOBS));
    let sizes = sizes(mixed, 0x5A01);
    let ex = smol::Executor::new();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| smol::block_on(ex.run(stopped.recv())));
        }
        smol::block_on(async {
            let tasks: Vec<_> = (0..JOBS)
                .map(|id| {
                    let work = || async {
                        smol::Timer::after(Duration::from_millis(1)).await;
                    };
                    ex.spawn(job(sem.clone(), stats.clone(), id, sizes[id], work))
                })
                .collect();
            for t in tasks {
                t.await;
            }
        });
        drop(stop);
    });
    stats.check(JOBS, &sem);
    stats
}

#[test]
fn work_queue_smol() {
    run_smol(false);
}

#[test]
fn work_queue_smol_mixed_sizes() {
    check_mixed_overlap(&run_smol(true));
}

fn run_async_std(mixed: bool) -> Arc<Stats> {
    let sem = Arc::new(Semaphore::new(N));
    let _wd = sem_watchdog("work_queue_async_std", &sem);
    let stats = Arc::new(Stats::new(JOBS));
    let sizes = sizes(mixed, 0xA5D);
    async_std::task::block_on(async {
        let handles: Vec<_> = (0..JOBS)
            .map(|id| {
                let work = || async_std::task::sleep(Duration::from_millis(1));
                async_std::task::spawn(job(sem.clone(), stats.clone(), id, sizes[id], work))
            })
            .collect();
        for h in handles {
            h.await;
        }
    });
    stats.check(JOBS, &sem);
    stats
}

#[test]
fn work_queue_async_std() {
    run_async_std(false);
}

#[test]
fn work_queue_async_std_mixed_sizes() {
    check_mixed_overlap(&run_async_std(true));
}

/// Threads with the blocking API, on a `static` semaphore (the `const fn` constructor).
fn run_blocking(sem: &'static Semaphore, mixed: bool) -> Stats {
    let _wd = watchdog("work_queue_blocking", move || format!("{sem:?}"));
    let stats = Stats::new(JOBS);
    let sizes = sizes(mixed, 0xB10C);
    let next = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..12 {
            s.spawn(|| loop {
                let id = next.fetch_add(1, SeqCst);
                if id >= JOBS {
                    return;
                }
                let size = sizes[id];
                let permit = if size == 1 {
                    sem.acquire_blocking()
                } else {
                    sem.acquire_many_blocking(size)
                }
                .unwrap();
                if permit.permits() != size {
                    stats.violation();
                }
                stats.enter(size);
                thread::sleep(Duration::from_micros(300));
                stats.leave(size);
                drop(permit);
                stats.finish(id);
            });
        }
    });
    stats.check(JOBS, sem);
    stats
}

#[test]
fn work_queue_blocking_threads() {
    static SEM: Semaphore = Semaphore::new(N);
    run_blocking(&SEM, false);
}

#[test]
fn work_queue_blocking_threads_mixed_sizes() {
    static SEM: Semaphore = Semaphore::new(N);
    check_mixed_overlap(&run_blocking(&SEM, true));
}

// ---------------------------------------------------------------------------------------
// Stress with random cancellation
// ---------------------------------------------------------------------------------------

/// Outcome counters of a chaos run. Every iteration ends in exactly one outcome.
#[derive(Default)]
struct Chaos {
    in_flight: AtomicUsize,
    high: AtomicUsize,
    violations: AtomicUsize,
    acquired: AtomicUsize,
    cancelled: AtomicUsize,
    try_failed: AtomicUsize,
    closed: AtomicUsize,
}

impl Chaos {
    fn hold_start(&self, k: usize, permits: usize) {
        self.acquired.fetch_add(1, SeqCst);
        let now = self.in_flight.fetch_add(k, SeqCst) + k;
        if now > N || permits != k {
            self.violations.fetch_add(1, SeqCst);
        }
        self.high.fetch_max(now, SeqCst);
    }

    fn hold_end(&self, k: usize) {
        self.in_flight.fetch_sub(k, SeqCst);
    }

    fn outcomes(&self) -> usize {
        self.acquired.load(SeqCst)
            + self.cancelled.load(SeqCst)
            + self.try_failed.load(SeqCst)
            + self.closed.load(SeqCst)
    }

    #[track_caller]
    fn check(&self, iterations: usize, sem: &Semaphore) {
        eprintln!(
            "chaos: {iterations} iterations: {} acquired, {} cancelled, {} try failed, {} closed",
            self.acquired.load(SeqCst),
            self.cancelled.load(SeqCst),
            self.try_failed.load(SeqCst),
            self.closed.load(SeqCst)
        );
        assert_eq!(
            self.violations.load(SeqCst),
            0,
            "bound exceeded or wrong size"
        );
        assert_eq!(self.outcomes(), iterations, "every iteration finished");
        assert_eq!(self.in_flight.load(SeqCst), 0);
        assert!(self.high.load(SeqCst) <= N);
        assert_eq!(sem.waiting(), 0, "nobody left queued");
        assert_eq!(
            sem.available_permits(),
            N,
            "a permit leaked through cancellation"
        );
    }
}

/// Holds `held` for a few yields, with in-flight accounting.
async fn hold(chaos: &Chaos, rng: &mut Rng, k: usize, held: Held<'_>) {
    chaos.hold_start(k, held.permits());
    yield_n(rng.below(3)).await;
    chaos.hold_end(k);
    drop(held);
}

/// Random acquires, most of them cancelled one way or another.
async fn chaos_task<F, S>(sem: Arc<Semaphore>, chaos: Arc<Chaos>, seed: u64, iters: usize, sleep: F)
where
    F: Fn(Duration) -> S,
    S: Future<Output = ()>,
{
    let mut rng = Rng::new(seed);
    for _ in 0..iters {
        let k = rng.size(N);
        match rng.below(7) {
            // Race the acquire against a timer.
            0 => {
                let timer = pin!(sleep(Duration::from_micros(rng.below(400))));
                match select(pin!(sem.acquire_many(k)), timer).await {
                    Either::Left((r, _)) => {
                        hold(&chaos, &mut rng, k, Held::Borrowed(r.unwrap())).await
                    }
                    Either::Right(_) => {
                        chaos.cancelled.fetch_add(1, SeqCst);
                    }
                }
            }
            // The same, owned.
            1 => {
                let timer = pin!(sleep(Duration::from_micros(rng.below(400))));
                let acquire = pin!(sem.clone().acquire_many_owned(k));
                match select(acquire, timer).await {
                    Either::Left((r, _)) => {
                        hold(&chaos, &mut rng, k, Held::Owned(r.unwrap())).await
                    }
                    Either::Right(_) => {
                        chaos.cancelled.fetch_add(1, SeqCst);
                    }
                }
            }
            // Poll once, then drop.
            2 => {
                let mut acquire = pin!(sem.acquire_many(k));
                match futures::poll!(acquire.as_mut()) {
                    Poll::Ready(r) => {
                        let held = Held::Borrowed(r.unwrap());
                        hold(&chaos, &mut rng, k, held).await;
                    }
                    Poll::Pending => {
                        chaos.cancelled.fetch_add(1, SeqCst);
                    }
                }
            }
            // Poll once, let others run (a grant may land meanwhile), drop unpolled.
            3 => {
                let mut acquire = pin!(sem.acquire_many(k));
                match futures::poll!(acquire.as_mut()) {
                    Poll::Ready(r) => {
                        let held = Held::Borrowed(r.unwrap());
                        hold(&chaos, &mut rng, k, held).await;
                    }
                    Poll::Pending => {
                        yield_n(1 + rng.below(3)).await;
                        chaos.cancelled.fetch_add(1, SeqCst);
                    }
                }
            }
            // Race against a few yields.
            4 => {
                let yields = pin!(yield_n(1 + rng.below(6)));
                match select(pin!(sem.acquire_many(k)), yields).await {
                    Either::Left((r, _)) => {
                        hold(&chaos, &mut rng, k, Held::Borrowed(r.unwrap())).await
                    }
                    Either::Right(_) => {
                        chaos.cancelled.fetch_add(1, SeqCst);
                    }
                }
            }
            5 => match sem.try_acquire_many(k) {
                Ok(p) => hold(&chaos, &mut rng, k, Held::Borrowed(p)).await,
                Err(_) => {
                    chaos.try_failed.fetch_add(1, SeqCst);
                }
            },
            _ => {
                let p = sem.acquire_many(k).await.unwrap();
                hold(&chaos, &mut rng, k, Held::Borrowed(p)).await;
            }
        }
    }
}

/// A thread taking permits with the blocking API alongside the tasks.
fn chaos_thread(sem: &Semaphore, chaos: &Chaos, seed: u64, iters: usize) {
    let mut rng = Rng::new(seed);
    for _ in 0..iters {
        let k = rng.size(N);
        let p = sem.acquire_many_blocking(k).unwrap();
        chaos.hold_start(k, p.permits());
        for _ in 0..rng.below(3) {
            thread::yield_now();
        }
        chaos.hold_end(k);
        drop(p);
    }
}

#[test]
fn stress_random_cancellation_tokio_with_blocking_threads() {
    const TASKS: usize = 48;
    const ITERS: usize = 2000;
    const THREADS: usize = 2;
    let sem = Arc::new(Semaphore::new(N));
    let _wd = sem_watchdog("stress_random_cancellation_tokio", &sem);
    let chaos = Arc::new(Chaos::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_time()
        .build()
        .unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (sem, chaos) = (&sem, &chaos);
            s.spawn(move || chaos_thread(sem, chaos, 1000 + t as u64, ITERS));
        }
        rt.block_on(async {
            let handles: Vec<_> = (0..TASKS)
                .map(|i| {
                    let sleep = tokio::time::sleep;
                    tokio::spawn(chaos_task(
                        sem.clone(),
                        chaos.clone(),
                        i as u64,
                        ITERS,
                        sleep,
                    ))
                })
                .collect();
            for h in handles {
                h.await.expect("chaos task panicked");
            }
        });
    });
    chaos.check((TASKS + THREADS) * ITERS, &sem);
    assert!(chaos.cancelled.load(SeqCst) > 0, "nothing was cancelled");
    assert!(chaos.acquired.load(SeqCst) > 0);
}

#[test]
fn stress_random_cancellation_smol() {
    const TASKS: usize = 32;
    const ITERS: usize = 1500;
    let sem = Arc::new(Semaphore::new(N));
    let _wd = sem_watchdog("stress_random_cancellation_smol", &sem);
    let chaos = Arc::new(Chaos::default());
    let ex = smol::Executor::new();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| smol::block_on(ex.run(stopped.recv())));
        }
        smol::block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let sleep = |d| async move {
                        smol::Timer::after(d).await;
                    };
                    ex.spawn(chaos_task(
                        sem.clone(),
                        chaos.clone(),
                        77 + i as u64,
                        ITERS,
                        sleep,
                    ))
                })
                .collect();
            for t in tasks {
                t.await;
            }
        });
        drop(stop);
    });
    chaos.check(TASKS * ITERS, &sem);
    assert!(chaos.cancelled.load(SeqCst) > 0, "nothing was cancelled");
}

#[test]
fn stress_random_cancellation_async_std() {
    const TASKS: usize = 32;
    const ITERS: usize = 1500;
    let sem = Arc::new(Semaphore::new(N));
    let _wd = sem_watchdog("stress_random_cancellation_async_std", &sem);
    let chaos = Arc::new(Chaos::default());
    async_std::task::block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let sleep = async_std::task::sleep;
                async_std::task::spawn(chaos_task(
                    sem.clone(),
                    chaos.clone(),
                    555 + i as u64,
                    ITERS,
                    sleep,
                ))
            })
            .collect();
        for h in handles {
            h.await;
        }
    });
    chaos.check(TASKS * ITERS, &sem);
    assert!(chaos.cancelled.load(SeqCst) > 0, "nothing was cancelled");
}

/// Close in the middle of a cancellation storm: every task and thread ends with `Closed`,
/// and every permit (held, or partially assigned to a waiter) comes back.
#[test]
fn stress_close_midway_returns_every_permit() {
    const TASKS: usize = 32;
    const THREADS: usize = 2;
    let sem = Arc::new(Semaphore::new(N));
    let _wd = sem_watchdog("stress_close_midway", &sem);
    let chaos = Arc::new(Chaos::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_time()
        .build()
        .unwrap();

    async fn until_closed(sem: Arc<Semaphore>, chaos: Arc<Chaos>, seed: u64) -> usize {
        let mut rng = Rng::new(seed);
        let mut iterations = 0;
        loop {
            iterations += 1;
            let k = rng.size(N);
            let timer = pin!(tokio::time::sleep(Duration::from_micros(rng.below(300))));
            match select(pin!(sem.acquire_many(k)), timer).await {
                Either::Left((Ok(p), _)) => hold(&chaos, &mut rng, k, Held::Borrowed(p)).await,
                Either::Left((Err(e), _)) => {
                    assert_eq!(e, AcquireError::Closed);
                    chaos.closed.fetch_add(1, SeqCst);
                    return iterations;
                }
                Either::Right(_) => {
                    chaos.cancelled.fetch_add(1, SeqCst);
                }
            }
        }
    }

    let total = thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (sem, chaos) = (&sem, &chaos);
                s.spawn(move || {
                    let mut rng = Rng::new(9000 + t as u64);
                    let mut iterations = 0;
                    loop {
                        iterations += 1;
                        let k = rng.size(N);
                        match sem.acquire_many_blocking(k) {
                            Ok(p) => {
                                chaos.hold_start(k, p.permits());
                                thread::yield_now();
                                chaos.hold_end(k);
                                drop(p);
                            }
                            Err(e) => {
                                assert_eq!(e, AcquireError::Closed);
                                chaos.closed.fetch_add(1, SeqCst);
                                return iterations;
                            }
                        }
                    }
                })
            })
            .collect();
        let tasks_total = rt.block_on(async {
            let handles: Vec<_> = (0..TASKS)
                .map(|i| tokio::spawn(until_closed(sem.clone(), chaos.clone(), i as u64)))
                .collect();
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert!(sem.close());
            let mut total = 0;
            for h in handles {
                total += h.await.expect("task panicked");
            }
            total
        });
        tasks_total
            + threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .sum::<usize>()
    });
    assert_eq!(
        chaos.closed.load(SeqCst),
        TASKS + THREADS,
        "each one ended with Closed"
    );
    assert!(
        chaos.acquired.load(SeqCst) > 0,
        "the close came too early to test much"
    );
    chaos.check(total, &sem);
}

/// Threads parked in `acquire_blocking` are woken by `close` and fail with `Closed`; one
/// that was partially assigned gives its permits back.
#[test]
fn blocking_close_wakes_parked_threads() {
    let sem = Arc::new(Semaphore::new(3));
    let _wd = sem_watchdog("blocking_close_wakes_parked_threads", &sem);
    let hold = sem.try_acquire_many(2).unwrap();
    thread::scope(|s| {
        let big = s.spawn(|| sem.acquire_many_blocking(3).map(|p| p.permits()));
        wait_for(|| sem.waiting() == 1, "the big acquire to park");
        assert_eq!(sem.available_permits(), 0, "1 free permit assigned to it");
        let small: Vec<_> = (0..3)
            .map(|_| s.spawn(|| sem.acquire_blocking().map(|p| p.permits())))
            .collect();
        wait_for(|| sem.waiting() == 4, "all threads to park");
        assert!(sem.close());
        assert_eq!(big.join().unwrap(), Err(AcquireError::Closed));
        for t in small {
            assert_eq!(t.join().unwrap(), Err(AcquireError::Closed));
        }
    });
    assert_eq!(
        sem.available_permits(),
        1,
        "the partial assignment came back"
    );
    drop(hold);
    assert_eq!(sem.available_permits(), 3);
}

/// Threads parked in `acquire_blocking` are served in FIFO order by releases from another
/// thread.
#[test]
fn blocking_waiters_are_served_in_fifo_order() {
    let sem = Arc::new(Semaphore::new(1));
    let _wd = sem_watchdog("blocking_waiters_are_served_in_fifo_order", &sem);
    let order = std::sync::Mutex::new(Vec::new());
    let hold = sem.try_acquire().unwrap();
    thread::scope(|s| {
        for i in 0..4 {
            let (sem, order) = (&sem, &order);
            s.spawn(move || {
                let p = sem.acquire_blocking().unwrap();
                order.lock().unwrap().push(i);
                drop(p);
            });
            wait_for(|| sem.waiting() == i + 1, "the thread to park");
        }
        drop(hold);
    });
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3]);
    assert_eq!(sem.available_permits(), 1);
}

#[track_caller]
fn wait_for(cond: impl Fn() -> bool, what: &str) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------
// register-race (PITFALLS): a release racing an acquirer's "try, then queue"
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct WakeCounter(AtomicUsize);

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Spins until `cond`, yielding now and then (other tests share the CPUs).
fn spin_until(cond: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !cond() {
        spins += 1;
        if spins % 64 == 0 {
            thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// One thread polls a fresh `acquire()` on an empty semaphore while another calls
/// `add_permits(1)` at the same instant, with a sweeping offset between them. Whenever
/// the poll returns `Pending`, the release (complete by then) must have woken it: a
/// `Pending` acquire that was never woken while a permit sits free is a lost wakeup
/// (invariant 3 of `semaphore.rs`; PITFALLS `register-race`). Checked every round, so a
/// lost wakeup fails with the round number instead of hanging.
fn register_race(sem: &Semaphore, rounds: usize) -> usize {
    let go = AtomicUsize::new(0);
    let released = AtomicUsize::new(0);
    // Set when the polling side returns or panics, so the releaser never spins forever.
    let stop = AtomicBool::new(false);
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let mut raced = 0;
    thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng::new(42);
            for r in 1..=rounds {
                spin_until(|| go.load(SeqCst) >= r || stop.load(SeqCst));
                if stop.load(SeqCst) {
                    return;
                }
                for _ in 0..rng.below(64) {
                    std::hint::spin_loop();
                }
                sem.add_permits(1);
                released.store(r, SeqCst);
            }
        });
        let _stop = Stop(&stop);
        let mut rng = Rng::new(7);
        for r in 1..=rounds {
            let counter = Arc::new(WakeCounter::default());
            let waker = Waker::from(counter.clone());
            let mut cx = Context::from_waker(&waker);
            let mut acquire = pin!(sem.acquire());
            go.store(r, SeqCst);
            for _ in 0..rng.below(64) {
                std::hint::spin_loop();
            }
            match acquire.as_mut().poll(&mut cx) {
                Poll::Ready(p) => p.unwrap().forget(),
                Poll::Pending => {
                    raced += 1;
                    spin_until(|| released.load(SeqCst) >= r);
                    assert!(
                        counter.0.load(SeqCst) > 0,
                        "lost wakeup in round {r}: the acquire is pending, the release is \
                         done and nobody woke it; {sem:?}"
                    );
                    match acquire.as_mut().poll(&mut cx) {
                        Poll::Ready(p) => p.unwrap().forget(),
                        Poll::Pending => panic!("woken but still pending in round {r}; {sem:?}"),
                    }
                }
            }
            spin_until(|| released.load(SeqCst) >= r);
            assert_eq!(sem.available_permits(), 0, "round {r}");
            assert_eq!(sem.waiting(), 0, "round {r}");
        }
    });
    raced
}

#[test]
fn stress_register_race_acquire_vs_add_permits() {
    const ROUNDS: usize = 100_000;
    let sem = Arc::new(Semaphore::new(0));
    let _wd = sem_watchdog("stress_register_race_acquire_vs_add_permits", &sem);
    let raced = register_race(&sem, ROUNDS);
    eprintln!("register race: {raced} of {ROUNDS} rounds went Pending");
    assert!(
        raced > 0,
        "the acquire never had to wait: the race was not exercised"
    );
}
