//! Shared helpers for the loom models.
//!
//! - [`model`] runs a model with the environment's loom settings, defaulting the preemption
//!   bound to 2 (the CI bound) when `LOOM_MAX_PREEMPTIONS` is unset.
//! - [`Ledger`] / [`Item`]: values that count their own drops per id and carry a
//!   `loom::alloc::Track`, so a leaked item fails the model (loom's leak check) and a double
//!   drop or a lost item fails our end-of-model accounting.
//! - [`poll_once`] with a [`CountWaker`]: hand-polled futures for cancellation models.
//! - [`Gate`]: explicit interleaving points between API calls, and [`Outcomes`]: a check,
//!   after the model ran, that the interleavings the model is about were explored.
//!
//! # Why `Gate` and `Outcomes` exist (a loom 0.7.3 blind spot)
//!
//! loom's DPOR remembers only the *last* access to each atomic. When a thread loads an
//! atomic and then writes it (every ring operation: load `tail`, load the stamp, CAS
//! `tail`), its own load hides every earlier load by other threads, so loom never tries
//! running the writer *before* those loads (tokio-rs/loom#392 reports a related case).
//! Measured here: a producer doing two `try_send`s against a consumer doing two
//! `try_recv`s never produced the outcome "consumer got both items", at any preemption
//! bound, until each call was preceded by an RMW on a shared `Gate` and both sides ran in
//! spawned threads (a thread that has not run yet has no pending operation for DPOR to
//! race against, so the main thread only spawns and joins).
//!
//! So: actors run in spawned threads, every API call in an actor is preceded by
//! `gate.point()` (a `Relaxed` RMW: it creates no happens-before, so it cannot hide an
//! ordering bug, but RMW-vs-RMW is always a race to DPOR, which makes it explore the
//! API-call-level interleavings), and models record outcomes and assert afterwards that
//! the interesting ones were reached — a model that silently stops exploring fails.
//!
//! The ledger and the waker use `std` atomics on purpose: they are the test's bookkeeping,
//! not part of the code under test, and loom runs every modelled thread on one OS thread,
//! so a `SeqCst` std atomic is simply "what happened so far in this execution".
#![allow(dead_code)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::SeqCst};
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

/// Runs `f` under loom (`loom::model`, so `LOOM_LOG`, `LOOM_LOCATION`, `LOOM_CHECKPOINT_FILE`
/// and the other `LOOM_*` variables work). Without `LOOM_MAX_PREEMPTIONS`, uses the CI
/// bound of 2 rather than loom's unbounded default.
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    static DEFAULT_BOUND: std::sync::Once = std::sync::Once::new();
    // Every model passes through this `Once` before loom reads the environment, so no
    // thread reads it while it is being written.
    DEFAULT_BOUND.call_once(|| {
        if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
            std::env::set_var("LOOM_MAX_PREEMPTIONS", "2");
        }
    });
    loom::model(f);
}

/// Per-id drop counts for one execution of a model.
pub struct Ledger {
    drops: Vec<StdAtomicUsize>,
    /// Items whose next drop panics (with [`TEST_PANIC`]) after counting it.
    panics: Vec<std::sync::atomic::AtomicBool>,
}

/// The payload of the panics the models raise on purpose (user code that panics).
pub const TEST_PANIC: &str = "test panic (user code, on purpose)";

impl Ledger {
    pub fn new(ids: usize) -> StdArc<Self> {
        StdArc::new(Self {
            drops: (0..ids).map(|_| StdAtomicUsize::new(0)).collect(),
            panics: (0..ids).map(|_| Default::default()).collect(),
        })
    }

    /// Item `id`'s next drop panics, once (after the drop is counted).
    pub fn panic_on_drop(&self, id: usize) {
        self.panics[id].store(true, SeqCst);
    }

    /// How many times item `id` has been dropped so far.
    pub fn drops(&self, id: usize) -> usize {
        self.drops[id].load(SeqCst)
    }

    /// Every item was dropped exactly once (call when every handle and item is gone).
    #[track_caller]
    pub fn assert_all_dropped_once(&self) {
        for (id, d) in self.drops.iter().enumerate() {
            assert_eq!(
                d.load(SeqCst),
                1,
                "item {id} dropped {} times",
                d.load(SeqCst)
            );
        }
    }

    /// No item was dropped more than once so far.
    #[track_caller]
    pub fn assert_no_double_drop(&self) {
        for (id, d) in self.drops.iter().enumerate() {
            assert!(
                d.load(SeqCst) <= 1,
                "item {id} dropped {} times",
                d.load(SeqCst)
            );
        }
    }
}

pub trait LedgerExt {
    fn item(&self, id: usize) -> Item;
}

impl LedgerExt for StdArc<Ledger> {
    /// A tracked item with this id.
    #[track_caller]
    fn item(&self, id: usize) -> Item {
        Item {
            id,
            ledger: self.clone(),
            _track: loom::alloc::Track::new(()),
        }
    }
}

/// A channel item: counts its drop in the ledger, and is tracked by loom for leaks.
pub struct Item {
    pub id: usize,
    ledger: StdArc<Ledger>,
    _track: loom::alloc::Track<()>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.ledger.drops[self.id].fetch_add(1, SeqCst);
        if self.ledger.panics[self.id].swap(false, SeqCst) {
            std::panic::panic_any(TEST_PANIC);
        }
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Item({})", self.id)
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// Takes the id of an item (dropping the item).
pub fn id(item: Item) -> usize {
    item.id
}

/// A waker that only counts its wakes: for futures polled by hand.
#[derive(Default)]
pub struct CountWaker(StdAtomicUsize);

impl CountWaker {
    pub fn new() -> (StdArc<Self>, Waker) {
        let counter = StdArc::new(Self::default());
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }

    pub fn wakes(&self) -> usize {
        self.0.load(SeqCst)
    }
}

impl Wake for CountWaker {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Polls a pinned future once with `waker`.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// A flag for "this happened" in a model (test bookkeeping, see the module docs).
#[derive(Default)]
pub struct Flag(std::sync::atomic::AtomicBool);

impl Flag {
    pub fn new() -> StdArc<Self> {
        StdArc::new(Self::default())
    }
    pub fn set(&self) {
        self.0.store(true, SeqCst);
    }
    pub fn get(&self) -> bool {
        self.0.load(SeqCst)
    }
}

/// A counter (test bookkeeping, see the module docs).
#[derive(Default)]
pub struct Counter(StdAtomicUsize);

impl Counter {
    pub fn new() -> StdArc<Self> {
        StdArc::new(Self::default())
    }
    pub fn inc(&self) -> usize {
        self.0.fetch_add(1, SeqCst) + 1
    }
    pub fn dec(&self) -> usize {
        self.0.fetch_sub(1, SeqCst) - 1
    }
    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
    pub fn add(&self, n: usize) -> usize {
        self.0.fetch_add(n, SeqCst) + n
    }
}

/// Explicit interleaving points (see the module docs): a `Relaxed` `fetch_add` on one
/// shared loom atomic. No happens-before is created; DPOR sees every pair of points in
/// different threads as a race and explores both orders.
#[derive(Clone)]
pub struct Gate(loom::sync::Arc<loom::sync::atomic::AtomicUsize>);

impl Gate {
    pub fn new() -> Self {
        Self(loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(
            0,
        )))
    }

    pub fn point(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Outcomes recorded across every execution of a model, checked after `model` returns.
pub struct Outcomes<T: Ord>(StdArc<std::sync::Mutex<std::collections::BTreeSet<T>>>);

impl<T: Ord> Clone for Outcomes<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Ord + fmt::Debug> Outcomes<T> {
    pub fn new() -> Self {
        Self(StdArc::new(std::sync::Mutex::new(Default::default())))
    }

    pub fn record(&self, outcome: T) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(outcome);
    }

    /// Asserts that `outcome` was reached in some execution. Skipped below the CI bound
    /// of 2 preemptions, where some interleavings are out of reach by design.
    #[track_caller]
    pub fn assert_seen(&self, outcome: T) {
        let bound: usize = std::env::var("LOOM_MAX_PREEMPTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        if bound < 2 {
            return;
        }
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            seen.contains(&outcome),
            "the model never reached {outcome:?} (loom did not explore it); seen: {seen:?}"
        );
    }
}

/// Wraps `fut` so every poll of it is counted: a count of 2 or more means the future
/// returned `Pending` (it parked) and was woken.
pub fn counting_polls<F: Future>(
    fut: F,
    polls: StdArc<Counter>,
) -> impl Future<Output = F::Output> {
    let mut fut = Box::pin(fut);
    std::future::poll_fn(move |cx| {
        polls.inc();
        fut.as_mut().poll(cx)
    })
}
