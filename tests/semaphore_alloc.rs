//! The semaphore allocates nothing, even while tasks and threads wait.
//!
//! A counting `#[global_allocator]` counts allocations made on a thread while that thread's
//! window is open (a thread-local flag), so the test harness and tests running in parallel
//! are not counted, and setup (spawning, thread-local initialisation, the first
//! `thread::current()`) stays outside the window. Inside it: 10,000 contended
//! acquire/release cycles in which almost every acquire waits, and the count must be
//! exactly 0.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use sluicebox::Semaphore;

/// Contended acquire/release cycles per test.
const CYCLES: usize = 10_000;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc() {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    // Both locals are `const`-initialised and need no destructor, so touching them never
    // allocates (no recursion).
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Opens this thread's counting window.
fn start_counting() {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
}

/// Closes this thread's window; returns the allocations made in it.
fn stop_counting() -> usize {
    COUNTING.with(|on| on.set(false));
    ALLOCS.with(|n| n.get())
}

/// Aborts the test binary if a test hangs (a lost wakeup would park forever).
struct Watchdog(Option<mpsc::Sender<()>>, Option<thread::JoinHandle<()>>);

fn watchdog(name: &'static str) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(20)) {
            // Straight to stderr: `eprintln!` is captured by the test harness and
            // would be lost with the abort.
            let _ = writeln!(
                std::io::stderr(),
                "watchdog: `{name}` still running after 20 s (lost wakeup?); aborting"
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

/// Returns `Pending` once (waking itself), then `Ready`.
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

/// Counts the acquires that returned `Pending` at least once (that really waited).
struct CountWaits<'a, F> {
    fut: Pin<&'a mut F>,
    waited: bool,
    waits: &'a Cell<usize>,
}

impl<'a, F> CountWaits<'a, F> {
    fn new(fut: Pin<&'a mut F>, waits: &'a Cell<usize>) -> Self {
        Self {
            fut,
            waited: false,
            waits,
        }
    }
}

impl<F: Future> Future for CountWaits<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let poll = self.fut.as_mut().poll(cx);
        if poll.is_pending() {
            self.waited = true;
        } else if self.waited {
            self.waits.set(self.waits.get() + 1);
        }
        poll
    }
}

/// The counter itself works: one `Box` in the window is one allocation, and a window
/// closed before it is not charged.
#[test]
fn counter_counts_only_inside_the_window() {
    start_counting();
    let b = std::hint::black_box(Box::new(7u64));
    let v = std::hint::black_box(vec![1u8; 3]);
    let n = stop_counting();
    drop((b, v));
    assert_eq!(n, 2);
    let _outside = std::hint::black_box(Box::new(1u8));
    start_counting();
    assert_eq!(stop_counting(), 0);
}

/// 4 futures contend for 1 permit (and 2 of them for 2 permits at once), all driven by
/// one `block_on` through `join!`: every hand-off goes through the wait list.
#[test]
fn zero_allocations_async_contended_acquire_release() {
    let _wd = watchdog("zero_allocations_async_contended_acquire_release");
    let sem = Arc::new(Semaphore::new(1));
    let waits = Cell::new(0usize);
    let cycles = Cell::new(0usize);

    // Each worker: acquire (counting the waits), hold across a yield so the others queue
    // up behind, release.
    let worker = |id: usize| {
        let (sem, waits, cycles) = (&sem, &waits, &cycles);
        async move {
            for i in 0..CYCLES / 4 {
                let permit = match (id, i % 3) {
                    // Borrowed single permits.
                    (0 | 1, _) => {
                        let acquire = std::pin::pin!(sem.acquire());
                        CountWaits::new(acquire, waits).await.unwrap()
                    }
                    // Owned permits (the `async fn` front).
                    (2, _) => {
                        let acquire = std::pin::pin!(sem.clone().acquire_owned());
                        let p = CountWaits::new(acquire, waits).await.unwrap();
                        YieldNow(false).await;
                        drop(p);
                        cycles.set(cycles.get() + 1);
                        continue;
                    }
                    // `acquire_many(2)` after an `add_permits(1)`: partial assignment, then
                    // give one back with `forget` so the total stays 1.
                    (_, 0) => {
                        sem.add_permits(1);
                        let acquire = std::pin::pin!(sem.acquire_many(2));
                        let mut p = CountWaits::new(acquire, waits).await.unwrap();
                        p.split(1).unwrap().forget();
                        p
                    }
                    _ => {
                        let acquire = std::pin::pin!(sem.acquire());
                        CountWaits::new(acquire, waits).await.unwrap()
                    }
                };
                YieldNow(false).await;
                drop(permit);
                cycles.set(cycles.get() + 1);
            }
        }
    };

    let allocs = futures::executor::block_on(async {
        // Warm up the executor's and the semaphore's paths once, outside the window.
        drop(sem.acquire().await.unwrap());
        start_counting();
        futures::join!(worker(0), worker(1), worker(2), worker(3));
        stop_counting()
    });

    assert_eq!(cycles.get(), CYCLES);
    assert_eq!(sem.available_permits(), 1, "permits conserved");
    assert_eq!(sem.waiting(), 0);
    let waits = waits.get();
    eprintln!("async: {waits} of {CYCLES} acquires waited; {allocs} allocations");
    assert!(
        waits >= CYCLES * 9 / 10,
        "only {waits} of {CYCLES} acquires waited: the test did not exercise the wait list"
    );
    assert_eq!(
        allocs, 0,
        "heap allocations during {CYCLES} contended cycles"
    );
}

/// 4 threads contend for 1 permit with `acquire_blocking` (parking and unparking).
#[test]
fn zero_allocations_blocking_contended_acquire_release() {
    let _wd = watchdog("zero_allocations_blocking_contended_acquire_release");
    const THREADS: usize = 4;
    let sem = Semaphore::new(1);
    let barrier = Barrier::new(THREADS);
    let contended = AtomicUsize::new(0);
    let results: Vec<usize> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (sem, barrier, contended) = (&sem, &barrier, &contended);
                s.spawn(move || {
                    // Warm-up outside the window: `thread::current()`, the park path.
                    drop(sem.acquire_blocking().unwrap());
                    barrier.wait();
                    start_counting();
                    for i in 0..CYCLES / THREADS {
                        let p = if t == 0 && i % 2 == 0 {
                            sem.acquire_many_blocking(1).unwrap()
                        } else {
                            sem.acquire_blocking().unwrap()
                        };
                        if sem.waiting() > 0 {
                            contended.fetch_add(1, Ordering::Relaxed);
                        }
                        thread::yield_now();
                        drop(p);
                    }
                    stop_counting()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.waiting(), 0);
    let contended = contended.load(Ordering::Relaxed);
    eprintln!("blocking: others waiting in {contended} of {CYCLES} cycles; {results:?}");
    assert!(
        contended >= CYCLES / 10,
        "others were waiting in only {contended} of {CYCLES} cycles"
    );
    assert_eq!(results, [0; THREADS], "heap allocations per thread");
}
