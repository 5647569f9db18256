//! Zero heap allocations per message and per wait, measured with a counting global
//! allocator: 100,000 messages through a capacity-1 channel (so nearly every operation
//! parks and is woken) with 4 producers and 2 consumers, on
//! - tokio's multi-thread runtime (2 workers),
//! - the allocation-free `block_on` of `tests/common`, one per OS thread, with several
//!   futures joined on each,
//! - the blocking API (`send_blocking` / `recv_blocking`) on plain threads.
//!
//! Only allocations made during the measured window by the threads doing the work are
//! counted (a thread-local opt-in flag, set on tokio's workers by `on_thread_start`), so the
//! test harness and the watchdog do not pollute the count. Every task and thread is spawned,
//! and every channel made, before the window opens; a start gate releases them inside it.
//! The window covers the executor's own wakeups too: a non-zero count can come from the
//! executor, which is why the same workload also runs on `mini::block_on`.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]
#![cfg(not(miri))]

mod common;

use common::{mini, watchdog};
use sluicebox::bounded;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

struct Counting;

/// Whether the measured window is open.
static WINDOW: AtomicBool = AtomicBool::new(false);
/// Allocations (alloc, alloc_zeroed, realloc) by counted threads inside the window.
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread does the measured work. `const` and `Drop`-free, so reading it
    /// from the allocator never allocates or registers a destructor.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn note_alloc() {
    if WINDOW.load(Ordering::Relaxed) && COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` unchanged; counting touches only atomics and a
// `const` thread-local `Cell<bool>`, none of which allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests share the window: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const MESSAGES: u64 = 100_000;
const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 2;
const PER_PRODUCER: u64 = MESSAGES / PRODUCERS;

fn count_this_thread() {
    COUNTED.with(|c| c.set(true));
}

/// Counts the test thread's own allocations until dropped. It must be dropped before the
/// test releases `SERIAL` (declare it after the `SERIAL` guard): after a test function
/// returns, libtest allocates on the same thread to report the result, and a thread still
/// counted would put those allocations into the next test's window.
struct CountedTestThread;

impl CountedTestThread {
    fn start() -> Self {
        count_this_thread();
        CountedTestThread
    }
}

impl Drop for CountedTestThread {
    fn drop(&mut self) {
        COUNTED.with(|c| c.set(false));
    }
}

fn open_window() {
    ALLOCS.store(0, Ordering::SeqCst);
    WINDOW.store(true, Ordering::SeqCst);
}

fn close_window() -> usize {
    WINDOW.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

/// Waits (sleeping, which does not allocate) until `n` workers report done. Meanwhile
/// samples how many senders and receivers are parked on `rx`'s channel (`rx` itself
/// never receives); returns the most
/// seen, so a test can show that its window really contained waits.
fn wait_done(done: &AtomicUsize, n: usize, rx: &sluicebox::Receiver<u64>) -> usize {
    let start = Instant::now();
    let mut most_waiting = 0;
    while done.load(Ordering::SeqCst) < n {
        assert!(
            start.elapsed() < Duration::from_secs(50),
            "workers did not finish"
        );
        let s = rx.stats();
        most_waiting = most_waiting.max(s.senders_waiting + s.receivers_waiting);
        std::thread::sleep(Duration::from_micros(200));
    }
    most_waiting
}

/// What the consumers saw, checked after the window.
#[derive(Default)]
struct Received {
    count: AtomicU64,
    sum: AtomicU64,
}

impl Received {
    fn add(&self, count: u64, sum: u64) {
        self.count.fetch_add(count, Ordering::SeqCst);
        self.sum.fetch_add(sum, Ordering::SeqCst);
    }

    fn check(&self) {
        let expected_sum: u64 = (0..MESSAGES).sum();
        assert_eq!(self.count.load(Ordering::SeqCst), MESSAGES, "message count");
        assert_eq!(self.sum.load(Ordering::SeqCst), expected_sum, "checksum");
    }
}

fn report(what: &str, allocs: usize, most_waiting: usize) {
    println!(
        "{what}: {allocs} heap allocations for {MESSAGES} messages (capacity 1, 4:2; up to \
         {most_waiting} parked at a sample)"
    );
    assert_eq!(
        allocs, 0,
        "{what}: the measured window allocated {allocs} times"
    );
    assert!(
        most_waiting > 0,
        "{what}: nobody was ever seen parked: the window measured no wait"
    );
}

#[test]
fn zero_allocations_tokio_multi_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watchdog("zero_allocations_tokio_multi_thread", 50, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .on_thread_start(count_this_thread)
            .build()
            .unwrap();
        let (tx, rx) = bounded::<u64>(1);
        // The start gate is a sluicebox channel too: its waits are measured as well.
        let (gate_tx, gate_rx) = bounded::<()>(8);
        let done = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Received::default());
        for p in 0..PRODUCERS {
            let (tx, gate, done) = (tx.clone(), gate_rx.clone(), done.clone());
            rt.spawn(async move {
                gate.recv().await.unwrap();
                for i in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                    tx.send(i).await.unwrap();
                }
                drop(tx);
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        for _ in 0..CONSUMERS {
            let (rx, gate, done, received) =
                (rx.clone(), gate_rx.clone(), done.clone(), received.clone());
            rt.spawn(async move {
                gate.recv().await.unwrap();
                let (mut count, mut sum) = (0, 0);
                while let Some(v) = rx.recv().await {
                    count += 1;
                    sum += v;
                }
                received.add(count, sum);
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        drop(tx); // keep `rx` (idle) to sample the channel's stats
                  // Let every task park at the gate.
        let start = Instant::now();
        while gate_rx.stats().receivers_waiting < PRODUCERS as usize + CONSUMERS {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tasks did not park"
            );
            std::thread::sleep(Duration::from_millis(1));
        }

        count_this_thread();
        open_window();
        for _ in 0..PRODUCERS as usize + CONSUMERS {
            gate_tx.try_send(()).unwrap();
        }
        let most_waiting = wait_done(&done, PRODUCERS as usize + CONSUMERS, &rx);
        let allocs = close_window();

        received.check();
        report("tokio multi-thread (2 workers)", allocs, most_waiting);
        drop(rt);
    });
}

#[test]
fn zero_allocations_mini_block_on_threads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watchdog("zero_allocations_mini_block_on_threads", 50, || {
        let (tx, rx) = bounded::<u64>(1);
        let received = Arc::new(Received::default());
        let done = Arc::new(AtomicUsize::new(0));
        let parks = Arc::new(AtomicU64::new(0));
        // One thread joins the 4 producers in one `mini::block_on`, another joins the 2
        // consumers: every hand-off crosses threads, so both sides park and are woken.
        let start = Arc::new(Barrier::new(3));
        let end = Arc::new(Barrier::new(3));
        let worker = |job: Box<dyn FnOnce() + Send>| {
            let (done, parks, start, end) =
                (done.clone(), parks.clone(), start.clone(), end.clone());
            std::thread::spawn(move || {
                mini::parker(); // its one-time allocation, before the window
                count_this_thread();
                start.wait();
                let parks_before = mini::parks();
                job();
                parks.fetch_add(mini::parks() - parks_before, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                end.wait();
            })
        };
        let produce = |tx: sluicebox::Sender<u64>, p: u64| async move {
            for i in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                tx.send(i).await.unwrap();
            }
        };
        let consume = |rx: sluicebox::Receiver<u64>| async move {
            let (mut count, mut sum) = (0, 0);
            while let Some(v) = rx.recv().await {
                count += 1;
                sum += v;
            }
            (count, sum)
        };
        let producers = {
            let (p0, p1) = (produce(tx.clone(), 0), produce(tx.clone(), 1));
            let (p2, p3) = (produce(tx.clone(), 2), produce(tx.clone(), 3));
            worker(Box::new(move || {
                mini::block_on(async { futures::join!(p0, p1, p2, p3) });
            }))
        };
        let consumers = {
            let (c0, c1) = (consume(rx.clone()), consume(rx.clone()));
            let received = received.clone();
            worker(Box::new(move || {
                let (a, b) = mini::block_on(async { futures::join!(c0, c1) });
                received.add(a.0 + b.0, a.1 + b.1);
            }))
        };
        drop(tx); // keep `rx` (idle) to sample the channel's stats

        count_this_thread();
        open_window();
        start.wait();
        let most_waiting = wait_done(&done, 2, &rx);
        let allocs = close_window();
        end.wait();
        producers.join().unwrap();
        consumers.join().unwrap();

        received.check();
        report(
            "mini::block_on on 2 threads (4 producers joined on one, 2 consumers on the other)",
            allocs,
            most_waiting,
        );
        let parks = parks.load(Ordering::SeqCst);
        println!("mini::block_on parked its threads {parks} times in the window");
        assert!(
            parks > 100,
            "the joined futures hardly ever waited ({parks} parks)"
        );
    });
}

#[test]
fn zero_allocations_blocking_api() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watchdog("zero_allocations_blocking_api", 50, || {
        let (tx, rx) = bounded::<u64>(1);
        let received = Arc::new(Received::default());
        let done = Arc::new(AtomicUsize::new(0));
        let workers = PRODUCERS as usize + CONSUMERS;
        let start = Arc::new(Barrier::new(workers + 1));
        // The consumers start once a producer is seen parked, so the window surely
        // contains a wait (sampling alone can miss every one on a fast run).
        let consumers_go = Arc::new(Barrier::new(CONSUMERS + 1));
        let end = Arc::new(Barrier::new(workers + 1));
        let mut handles = Vec::new();
        for p in 0..PRODUCERS {
            let (tx, done, start, end) = (tx.clone(), done.clone(), start.clone(), end.clone());
            handles.push(std::thread::spawn(move || {
                count_this_thread();
                start.wait();
                for i in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                    tx.send_blocking(i).unwrap();
                }
                drop(tx);
                done.fetch_add(1, Ordering::SeqCst);
                end.wait();
            }));
        }
        for _ in 0..CONSUMERS {
            let (rx, received, done) = (rx.clone(), received.clone(), done.clone());
            let (start, end, go) = (start.clone(), end.clone(), consumers_go.clone());
            handles.push(std::thread::spawn(move || {
                count_this_thread();
                start.wait();
                go.wait();
                let (mut count, mut sum) = (0, 0);
                while let Ok(v) = rx.recv_blocking() {
                    count += 1;
                    sum += v;
                }
                received.add(count, sum);
                done.fetch_add(1, Ordering::SeqCst);
                end.wait();
            }));
        }
        drop(tx); // keep `rx` (idle) to sample the channel's stats

        count_this_thread();
        open_window();
        start.wait();
        // With no consumer yet, a capacity-1 channel holds one item and the next send
        // parks.
        let parked_before = loop {
            let waiting = rx.stats().senders_waiting;
            if waiting > 0 {
                break waiting;
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        consumers_go.wait();
        let most_waiting = wait_done(&done, workers, &rx).max(parked_before);
        let allocs = close_window();
        end.wait();
        for h in handles {
            h.join().unwrap();
        }

        received.check();
        report("blocking API on 6 threads", allocs, most_waiting);
    });
}

/// The counter itself works: an allocation inside the window is seen (so a 0 above means
/// something).
#[test]
fn allocation_counter_counts() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _counted = CountedTestThread::start();
    open_window();
    let v = std::hint::black_box(Vec::<u64>::with_capacity(8));
    let allocs = close_window();
    drop(v);
    assert_eq!(allocs, 1, "the counting allocator missed an allocation");
    // A heap channel allocates when it is made (that is outside every window above).
    open_window();
    let ch = std::hint::black_box(bounded::<u64>(1));
    let allocs = close_window();
    drop(ch);
    assert!(allocs >= 1, "making a heap channel allocates its slots");
}

/// Erasing a heap channel's monitor converts its `Arc` (no allocation), and reading an
/// `AnyMonitor` allocates nothing; the timed blocking calls allocate nothing either.
#[test]
fn zero_allocations_any_monitor_and_timed_calls() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = sluicebox::bounded::<u64>(4);
    let (tx_s, _rx_s) = sluicebox::bounded::<String>(2);
    let _counted = CountedTestThread::start();
    open_window();
    let gauges = [tx.monitor().erase(), tx_s.monitor().erase()];
    let mut total = 0;
    for i in 0..1_000u64 {
        tx.send_timeout(i, std::time::Duration::from_secs(1))
            .unwrap();
        total += gauges.iter().map(|g| g.stats().len).sum::<usize>();
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(1)), Ok(i));
    }
    // Timeouts that expire, with the thread parked until the deadline.
    assert!(rx
        .recv_timeout(std::time::Duration::from_millis(2))
        .is_err());
    let allocs = close_window();
    assert_eq!(total, 1_000);
    assert_eq!(allocs, 0, "AnyMonitor reads and timed calls allocated");
}
