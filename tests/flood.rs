//! The lesson's failure mode, measured: fast producers of 1 MiB messages and a slow
//! consumer. A counting global allocator tracks the heap bytes in use and their peak.
//!
//! Through a capacity-16 `sluicebox` channel the peak is bounded by what can be alive at
//! once: 16 queued messages, one per producer (built, then held while it waits in
//! `send_blocking`), and one in the consumer's hands. Through an unbounded queue
//! (`std::sync::mpsc::channel`), the same flood piles up in memory.
//!
//! Run: `cargo test --release --test flood -- --nocapture` (or `cargo test flood`).
#![cfg(all(feature = "std", not(miri)))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ---- Heap accounting -------------------------------------------------------------------

/// Heap bytes allocated and not yet freed.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// The most `CURRENT` has been since the last [`reset_peak`].
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Tracking;

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

fn shrank(by: usize) {
    CURRENT.fetch_sub(by, Ordering::SeqCst);
}

// SAFETY: every method forwards to `System` with the caller's arguments; the accounting
// only touches atomics, which never allocate. Sizes are counted only for successful calls.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// The tests share the heap counters: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Starts a measurement: returns the bytes in use now, and makes that the peak.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::SeqCst);
    PEAK.store(now, Ordering::SeqCst);
    now
}

// ---- The flood -------------------------------------------------------------------------

const MIB: usize = 1 << 20;
const CAPACITY: usize = 16;
const PRODUCERS: usize = 4;
const CONSUMERS: usize = 1;
const PER_PRODUCER: u64 = 50;
const MESSAGES: u64 = PRODUCERS as u64 * PER_PRODUCER;
/// What one message costs the consumer: ~2 s for the whole flood.
const CONSUME: Duration = Duration::from_millis(10);
/// Room for everything that is not a message: thread handles, the channels' own slots
/// and blocks, the harness. Each is a few hundred bytes; messages are 1 MiB.
const SLACK: usize = 256 << 10;

/// A 1 MiB message tagged with its producer and number: the tag in the first 8 bytes, a
/// fill byte derived from it everywhere else.
fn message(producer: usize, seq: u64) -> Box<[u8]> {
    let tag = producer as u64 * 1_000_000 + seq;
    let mut m = vec![(tag % 251) as u8; MIB].into_boxed_slice();
    m[..8].copy_from_slice(&tag.to_le_bytes());
    m
}

/// Checks a message's tag against its fill; returns the tag.
fn check(m: &[u8]) -> u64 {
    assert_eq!(m.len(), MIB);
    let tag = u64::from_le_bytes(m[..8].try_into().unwrap());
    assert_eq!(m[MIB - 1], (tag % 251) as u8, "message {tag} corrupted");
    tag
}

fn expected_checksum() -> u64 {
    (0..PRODUCERS)
        .flat_map(|p| (0..PER_PRODUCER).map(move |s| p as u64 * 1_000_000 + s))
        .sum()
}

/// What a flood measured.
struct Flood {
    peak_bytes: usize,
    leftover_bytes: usize,
    received: u64,
    checksum: u64,
    elapsed: Duration,
}

/// Runs `PRODUCERS` threads that call `send(message)` as fast as it returns, and one slow
/// consumer on this thread that calls `recv()` until it returns `None`.
fn flood<S>(send: S, recv: impl FnMut() -> Option<Box<[u8]>>) -> Flood
where
    S: Fn(Box<[u8]>) + Clone + Send + 'static,
{
    let mut recv = recv;
    let baseline = reset_peak();
    let start = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let send = send.clone();
            thread::spawn(move || {
                for seq in 0..PER_PRODUCER {
                    send(message(p, seq));
                }
            })
        })
        .collect();
    drop(send);

    let (mut received, mut checksum) = (0, 0);
    while let Some(m) = recv() {
        checksum += check(&m);
        received += 1;
        thread::sleep(CONSUME);
        drop(m); // before the next receive: the consumer holds at most one
    }
    for p in producers {
        p.join().unwrap();
    }
    let elapsed = start.elapsed();
    Flood {
        peak_bytes: PEAK.load(Ordering::SeqCst).saturating_sub(baseline),
        leftover_bytes: CURRENT.load(Ordering::SeqCst).saturating_sub(baseline),
        received,
        checksum,
        elapsed,
    }
}

#[test]
fn flood_bounded_channel_caps_heap_unbounded_queue_does_not() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Bounded: every message that can be alive at once, and nothing else but slack.
    let (tx, rx) = sluicebox::bounded::<Box<[u8]>>(CAPACITY);
    let monitor = tx.monitor();
    let bounded = flood(
        move |m| tx.send_blocking(m).expect("consumer alive"),
        || rx.recv_blocking().ok(),
    );
    let stats = monitor.stats();
    drop(monitor);
    let limit = (CAPACITY + PRODUCERS + CONSUMERS) * MIB + SLACK;
    println!(
        "bounded(16): {} messages in {:.2} s, peak heap {:.1} MiB = {} messages + {} B \
         (limit: (16 queued + {PRODUCERS} producers + {CONSUMERS} consumer) x 1 MiB + {} KiB)",
        bounded.received,
        bounded.elapsed.as_secs_f64(),
        bounded.peak_bytes as f64 / MIB as f64,
        bounded.peak_bytes / MIB,
        bounded.peak_bytes % MIB,
        SLACK >> 10
    );

    // Unbounded: the same flood through std's unbounded channel.
    let (utx, urx) = mpsc::channel::<Box<[u8]>>();
    let unbounded = flood(
        move |m| utx.send(m).expect("consumer alive"),
        || urx.recv().ok(),
    );
    println!(
        "unbounded:   {} messages in {:.2} s, peak heap {:.1} MiB ({:.1}x the bounded peak)",
        unbounded.received,
        unbounded.elapsed.as_secs_f64(),
        unbounded.peak_bytes as f64 / MIB as f64,
        unbounded.peak_bytes as f64 / bounded.peak_bytes as f64
    );

    for f in [&bounded, &unbounded] {
        assert_eq!(f.received, MESSAGES, "every message arrived");
        assert_eq!(f.checksum, expected_checksum(), "checksum");
        assert!(
            f.leftover_bytes < SLACK,
            "{} bytes still allocated after the flood",
            f.leftover_bytes
        );
    }
    assert_eq!((stats.sent, stats.received), (MESSAGES, MESSAGES));
    assert!(
        bounded.peak_bytes <= limit,
        "bounded peak {} B is over the limit {limit} B",
        bounded.peak_bytes
    );
    // At least the 16 queued messages were alive at once: the consumer is ~100x slower.
    assert!(
        bounded.peak_bytes >= CAPACITY * MIB,
        "bounded peak {} B: the flood never filled the channel?",
        bounded.peak_bytes
    );
    assert!(
        unbounded.peak_bytes > 4 * bounded.peak_bytes,
        "unbounded peak {} B is not more than 4x the bounded peak {} B",
        unbounded.peak_bytes,
        bounded.peak_bytes
    );
}

/// The same bound with async senders: a message waiting in `send(m).await` lives inside
/// the parked future, one per producer task, exactly as with a blocked thread.
#[test]
fn flood_async_senders_on_tokio_stay_bounded() {
    const PER_TASK: u64 = 30;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let baseline = reset_peak();
    let start = Instant::now();
    let (received, checksum, stats) = rt.block_on(async {
        let (tx, rx) = sluicebox::bounded::<Box<[u8]>>(CAPACITY);
        let monitor = tx.monitor();
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            tokio::spawn(async move {
                for seq in 0..PER_TASK {
                    tx.send(message(p, seq)).await.expect("consumer alive");
                }
            });
        }
        drop(tx);
        let (mut received, mut checksum) = (0u64, 0u64);
        while let Some(m) = rx.recv().await {
            checksum += check(&m);
            received += 1;
            tokio::time::sleep(CONSUME).await;
            drop(m);
        }
        (received, checksum, monitor.stats())
    });
    drop(rt);
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(baseline);
    // The runtime was built before the baseline; its tasks and timer entries are small
    // and fit in the slack.
    let limit = (CAPACITY + PRODUCERS + CONSUMERS) * MIB + SLACK;
    println!(
        "bounded(16), {PRODUCERS} tokio tasks: {received} messages in {:.2} s, peak heap \
         {:.1} MiB = {} messages + {} KiB (limit {:.2} MiB)",
        start.elapsed().as_secs_f64(),
        peak as f64 / MIB as f64,
        peak / MIB,
        (peak % MIB) >> 10,
        limit as f64 / MIB as f64
    );
    let expected: u64 = (0..PRODUCERS)
        .flat_map(|p| (0..PER_TASK).map(move |s| p as u64 * 1_000_000 + s))
        .sum();
    assert_eq!(
        received,
        PRODUCERS as u64 * PER_TASK,
        "every message arrived"
    );
    assert_eq!(checksum, expected, "checksum");
    assert_eq!((stats.sent, stats.received), (received, received));
    assert!(peak <= limit, "peak {peak} B is over the limit {limit} B");
    assert!(
        peak >= CAPACITY * MIB,
        "the flood never filled the channel?"
    );
}
