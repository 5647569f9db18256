//! Shared test support: one executor abstraction ([`Rt`]) so a single behavioural suite runs
//! on every executor, an allocation-free `block_on` ([`mini`]), a watchdog that turns a hang
//! into a failure, and small helpers (counting wakers, drop counters, a PRNG, exactly-once
//! accounting).
//!
//! Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use futures::future::{BoxFuture, FutureExt, RemoteHandle};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// The executor abstraction
// ---------------------------------------------------------------------------------------

/// An executor the suite can run on.
///
/// `block_on` drives the scenario's main future on the calling thread; `spawn` starts a
/// `Send + 'static` task (on the executor's pool, or on a fresh OS thread for [`Mini`]), and
/// returns a [`RemoteHandle`] to join it (a panic in the task resumes at the join).
pub trait Rt {
    /// For messages.
    const NAME: &'static str;

    fn new() -> Self
    where
        Self: Sized;

    fn block_on<F: Future>(&self, f: F) -> F::Output;

    fn spawn_boxed(&self, f: BoxFuture<'static, ()>);

    fn spawn<F>(&self, f: F) -> RemoteHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (remote, handle) = f.remote_handle();
        self.spawn_boxed(remote.boxed());
        handle
    }

    /// A real timer: the executor's own where it has one. Must be created inside the
    /// executor's context (inside `block_on` or a spawned task).
    fn sleep(d: Duration) -> BoxFuture<'static, ()>;

    /// A short timer for cancellation: `n` wake-yourself polls (the common case) or, once in
    /// a while, a real sub-millisecond timer where the executor has one.
    fn short_timer(n: u64) -> BoxFuture<'static, ()> {
        AfterPolls::new((n % 4) as u32).boxed()
    }
}

/// tokio, current-thread runtime (with time).
pub struct TokioCurrent(tokio::runtime::Runtime);

impl Rt for TokioCurrent {
    const NAME: &'static str = "tokio current-thread";

    fn new() -> Self {
        Self(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
        )
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }

    fn spawn_boxed(&self, f: BoxFuture<'static, ()>) {
        drop(self.0.spawn(f));
    }

    fn sleep(d: Duration) -> BoxFuture<'static, ()> {
        tokio::time::sleep(d).boxed()
    }

    fn short_timer(n: u64) -> BoxFuture<'static, ()> {
        if n % 16 == 0 {
            tokio::time::sleep(Duration::from_micros(n % 200)).boxed()
        } else {
            AfterPolls::new((n % 4) as u32).boxed()
        }
    }
}

/// tokio, multi-thread runtime with two workers (with time).
pub struct TokioMulti(tokio::runtime::Runtime);

impl Rt for TokioMulti {
    const NAME: &'static str = "tokio multi-thread";

    fn new() -> Self {
        Self(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime"),
        )
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }

    fn spawn_boxed(&self, f: BoxFuture<'static, ()>) {
        drop(self.0.spawn(f));
    }

    fn sleep(d: Duration) -> BoxFuture<'static, ()> {
        tokio::time::sleep(d).boxed()
    }

    fn short_timer(n: u64) -> BoxFuture<'static, ()> {
        TokioCurrent::short_timer(n)
    }
}

/// async-std's global executor.
pub struct AsyncStd;

impl Rt for AsyncStd {
    const NAME: &'static str = "async-std";

    fn new() -> Self {
        Self
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        async_std::task::block_on(f)
    }

    fn spawn_boxed(&self, f: BoxFuture<'static, ()>) {
        drop(async_std::task::spawn(f));
    }

    fn sleep(d: Duration) -> BoxFuture<'static, ()> {
        async_std::task::sleep(d).boxed()
    }

    fn short_timer(n: u64) -> BoxFuture<'static, ()> {
        if n % 16 == 0 {
            async_std::task::sleep(Duration::from_micros(n % 200)).boxed()
        } else {
            AfterPolls::new((n % 4) as u32).boxed()
        }
    }
}

/// A `smol::Executor` run by two dedicated threads (shared by every test of a binary);
/// `block_on` is `smol::block_on` on the calling thread.
pub struct Smol(&'static smol::Executor<'static>);

impl Rt for Smol {
    const NAME: &'static str = "smol (2-thread Executor)";

    fn new() -> Self {
        static EXECUTOR: std::sync::OnceLock<&'static smol::Executor<'static>> =
            std::sync::OnceLock::new();
        Self(EXECUTOR.get_or_init(|| {
            let ex: &'static smol::Executor<'static> = Box::leak(Box::new(smol::Executor::new()));
            for i in 0..2 {
                std::thread::Builder::new()
                    .name(format!("smol-worker-{i}"))
                    .spawn(move || smol::block_on(ex.run(std::future::pending::<()>())))
                    .expect("spawn smol worker");
            }
            ex
        }))
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }

    fn spawn_boxed(&self, f: BoxFuture<'static, ()>) {
        self.0.spawn(f).detach();
    }

    fn sleep(d: Duration) -> BoxFuture<'static, ()> {
        smol::Timer::after(d).map(drop).boxed()
    }

    fn short_timer(n: u64) -> BoxFuture<'static, ()> {
        if n % 16 == 0 {
            smol::Timer::after(Duration::from_micros(n % 200))
                .map(drop)
                .boxed()
        } else {
            AfterPolls::new((n % 4) as u32).boxed()
        }
    }
}

/// `futures::executor::block_on` plus a two-thread `futures::executor::ThreadPool`.
pub struct FuturesPool(futures::executor::ThreadPool);

impl Rt for FuturesPool {
    const NAME: &'static str = "futures block_on + ThreadPool";

    fn new() -> Self {
        Self(
            futures::executor::ThreadPool::builder()
                .pool_size(2)
                .create()
                .expect("thread pool"),
        )
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    fn spawn_boxed(&self, f: BoxFuture<'static, ()>) {
        self.0.spawn_ok(f);
    }

    fn sleep(d: Duration) -> BoxFuture<'static, ()> {
        ThreadSleep::new(d).boxed()
    }
}

/// `futures::executor::LocalPool`: single-threaded, spawned tasks run only while the main
/// future waits (like tokio's current-thread runtime, without a timer).
pub struct FuturesLocal {
    pool: std::cell::RefCell<futures::executor::LocalPool>,
    spawner: futures::executor::LocalSpawner,
}

impl Rt for FuturesLocal {
    const NAME: &'static str = "futures LocalPool";

    fn new() -> Self {
        let pool = futures::executor::LocalPool::new();
        let spawner = pool.spawner();
        Self {
            pool: std::cell::RefCell::new(pool),
            spawner,
        }
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.pool.borrow_mut().run_until(f)
    }

    fn spawn_boxed(&self, f: BoxFuture<'static, ()>) {
        use futures::task::LocalSpawnExt;
        self.spawner.spawn_local(f).expect("LocalPool spawn");
    }

    fn sleep(d: Duration) -> BoxFuture<'static, ()> {
        ThreadSleep::new(d).boxed()
    }
}

/// The allocation-free [`mini::block_on`]; `spawn` runs the task on a new OS thread under
/// its own `mini::block_on` (so cross-thread wakeups of the thread-parking waker are
/// exercised too).
pub struct Mini;

impl Rt for Mini {
    const NAME: &'static str = "mini block_on (threads)";

    fn new() -> Self {
        Self
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        mini::block_on(f)
    }

    fn spawn_boxed(&self, f: BoxFuture<'static, ()>) {
        std::thread::Builder::new()
            .name("mini-task".into())
            .spawn(move || mini::block_on(f))
            .expect("spawn thread");
    }

    fn sleep(d: Duration) -> BoxFuture<'static, ()> {
        ThreadSleep::new(d).boxed()
    }
}

// ---------------------------------------------------------------------------------------
// An allocation-free block_on
// ---------------------------------------------------------------------------------------

pub mod mini {
    //! `block_on` with a thread-parking waker and no allocation per call or per wake.
    //!
    //! Soundness: a `Waker` can be cloned and outlive the `block_on` call that made it (a
    //! timer or a channel may keep a clone), so its data pointer cannot point into
    //! `block_on`'s stack frame. It points to this thread's [`Parker`], leaked once per
    //! thread on first use (one allocation per thread, ever) and so valid for `'static`.
    //! A late wake merely sets a flag and unparks a thread that tolerates spurious unparks.

    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
    use std::thread::Thread;

    pub struct Parker {
        thread: Thread,
        notified: AtomicBool,
    }

    thread_local! {
        /// How many times `block_on` parked this thread (`const`: reading it never
        /// allocates).
        static PARKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// How many times `block_on` has parked the current thread.
    pub fn parks() -> u64 {
        PARKS.with(|p| p.get())
    }

    thread_local! {
        static PARKER: &'static Parker = Box::leak(Box::new(Parker {
            thread: std::thread::current(),
            notified: AtomicBool::new(false),
        }));
    }

    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

    /// # Safety
    /// `data` is a `&'static Parker` (see the module docs).
    unsafe fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, &VTABLE)
    }

    /// # Safety
    /// As for `clone`.
    unsafe fn wake(data: *const ()) {
        // SAFETY: `data` was made from a `&'static Parker` in `block_on`.
        let parker = unsafe { &*data.cast::<Parker>() };
        // Release: the waker's writes before `wake` are seen by the poll that follows.
        parker.notified.store(true, Ordering::Release);
        parker.thread.unpark();
    }

    unsafe fn drop_waker(_: *const ()) {}

    /// This thread's parker (allocated on first use: call once before a measured window).
    pub fn parker() -> &'static Parker {
        PARKER.with(|p| *p)
    }

    /// Polls `f` on this thread until it completes, parking while it is pending.
    pub fn block_on<F: Future>(f: F) -> F::Output {
        let parker = parker();
        let raw = RawWaker::new((parker as *const Parker).cast(), &VTABLE);
        // SAFETY: the vtable's functions uphold the `RawWaker` contract: the data pointer
        // is a `&'static Parker` (Send + Sync: a `Thread` and an atomic), valid forever, so
        // clones and wakes from any thread at any time are sound.
        let waker = unsafe { Waker::from_raw(raw) };
        let mut cx = Context::from_waker(&waker);
        let mut f = pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            // Acquire: pairs with the Release in `wake`.
            while !parker.notified.swap(false, Ordering::Acquire) {
                PARKS.with(|p| p.set(p.get() + 1));
                std::thread::park();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------------------

/// Runs `f` on its own thread and panics (failing the test) if it does not finish within
/// `secs` seconds: a lost wakeup or a deadlock fails instead of hanging the run. A panic in
/// `f` is propagated with its message.
pub fn watchdog<F: FnOnce() + Send + 'static>(name: &str, secs: u64, f: F) {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name(format!("scenario {name}"))
        .spawn(move || {
            f();
            let _ = done_tx.send(());
        })
        .expect("spawn scenario thread");
    match done_rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => handle.join().expect("scenario thread"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The scenario panicked before sending: re-raise its panic here.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
            unreachable!("scenario thread ended without reporting");
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
            "WATCHDOG: scenario `{name}` did not finish within {secs} s — a lost wakeup \
             or a deadlock (the stuck thread is left behind)"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Small futures
// ---------------------------------------------------------------------------------------

/// Ready after it has returned `Pending` `n` times; wakes itself each time (a timer made of
/// polls, for executors without one, and a "yield now" for `n == 1`).
pub struct AfterPolls {
    left: u32,
}

impl AfterPolls {
    pub fn new(n: u32) -> Self {
        Self { left: n }
    }
}

impl Future for AfterPolls {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.left == 0 {
            return Poll::Ready(());
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Returns `Pending` once (waking itself): lets other tasks on this executor run.
pub fn yield_now() -> AfterPolls {
    AfterPolls::new(1)
}

/// A timer for executors without one: a helper thread sleeps, then wakes the task.
pub struct ThreadSleep {
    d: Duration,
    state: Option<Arc<(AtomicBool, futures::task::AtomicWaker)>>,
}

impl ThreadSleep {
    pub fn new(d: Duration) -> Self {
        Self { d, state: None }
    }
}

impl Future for ThreadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let d = self.d;
        let state = self.state.get_or_insert_with(|| {
            let state = Arc::new((AtomicBool::new(false), futures::task::AtomicWaker::new()));
            let st = state.clone();
            std::thread::spawn(move || {
                std::thread::sleep(d);
                st.0.store(true, Ordering::Release);
                st.1.wake();
            });
            state
        });
        state.1.register(cx.waker());
        if state.0.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Waits (yielding) until `cond` holds; panics after 20 s with `what`.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        yield_now().await;
    }
}

/// Polls `f` once with `waker`.
pub fn poll_with<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

// ---------------------------------------------------------------------------------------
// Wakers and counters
// ---------------------------------------------------------------------------------------

/// A waker that counts its wakes.
#[derive(Default)]
pub struct WakeCounter {
    wakes: AtomicUsize,
}

impl WakeCounter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn count(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    pub fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(self.clone())
    }
}

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// `n` counting wakers.
pub fn counters(n: usize) -> Vec<Arc<WakeCounter>> {
    (0..n).map(|_| WakeCounter::new()).collect()
}

/// The wake counts of `counters`.
pub fn counts(counters: &[Arc<WakeCounter>]) -> Vec<usize> {
    counters.iter().map(|c| c.count()).collect()
}

/// Counts live values: `Tracked` increments `made` when created and `dropped` when dropped.
#[derive(Default, Debug)]
pub struct DropCounter {
    pub made: AtomicUsize,
    pub dropped: AtomicUsize,
}

impl DropCounter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn track(self: &Arc<Self>, v: u64) -> Tracked {
        self.made.fetch_add(1, Ordering::SeqCst);
        Tracked(v, self.clone())
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    pub fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    pub fn live(&self) -> usize {
        self.made() - self.dropped()
    }
}

/// A value whose drop is counted.
#[derive(Debug)]
pub struct Tracked(pub u64, pub Arc<DropCounter>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------
// PRNG and exactly-once accounting
// ---------------------------------------------------------------------------------------

/// xorshift64*: small, deterministic, no crate.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The value producer `p` sends as its `seq`-th item.
pub fn enc(p: u64, seq: u64) -> u64 {
    (p << 32) | seq
}

pub fn producer_of(v: u64) -> u64 {
    v >> 32
}

pub fn seq_of(v: u64) -> u64 {
    v & 0xFFFF_FFFF
}

/// A checksum term: splitmix64 of the value, so a lost value and a duplicated one cannot
/// cancel out the way they could in a plain sum.
pub fn mix(v: u64) -> u64 {
    let mut z = v.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Checks that `received` (one vector per consumer, in the order each consumer got them)
/// holds every `enc(p, s)` for `p < producers`, `s < per_producer` exactly once (count,
/// checksum, and a seen-set), and that each consumer saw each producer's items in order.
pub fn check_delivery(what: &str, received: &[Vec<u64>], producers: u64, per_producer: u64) {
    let expected_count = producers * per_producer;
    let expected_sum = (0..producers)
        .flat_map(|p| (0..per_producer).map(move |s| mix(enc(p, s))))
        .fold(0u64, u64::wrapping_add);
    let count: u64 = received.iter().map(|v| v.len() as u64).sum();
    let sum = received
        .iter()
        .flatten()
        .map(|&v| mix(v))
        .fold(0u64, u64::wrapping_add);
    let mut seen = vec![false; expected_count as usize];
    for (c, items) in received.iter().enumerate() {
        let mut last = vec![None::<u64>; producers as usize];
        for &v in items {
            let (p, s) = (producer_of(v), seq_of(v));
            assert!(
                p < producers && s < per_producer,
                "{what}: consumer {c} got a value never sent: {v:#x}"
            );
            let idx = (p * per_producer + s) as usize;
            assert!(
                !seen[idx],
                "{what}: value {v:#x} (producer {p}, seq {s}) delivered twice"
            );
            seen[idx] = true;
            if let Some(prev) = last[p as usize] {
                assert!(
                    s > prev,
                    "{what}: FIFO per producer broken: consumer {c} got producer {p}'s seq {s} \
                     after seq {prev}"
                );
            }
            last[p as usize] = Some(s);
        }
    }
    let missing = seen.iter().filter(|s| !**s).count();
    assert_eq!(
        count, expected_count,
        "{what}: received {count} items, expected {expected_count} ({missing} missing)"
    );
    assert_eq!(sum, expected_sum, "{what}: checksum mismatch");
    assert_eq!(missing, 0, "{what}: {missing} values never delivered");
}

/// A mutex-guarded log for tasks to append to.
pub type Log = Arc<Mutex<Vec<u64>>>;
