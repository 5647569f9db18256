//! `docs/pitfalls.md`, "Ring and capacity" (and the ring-side entries of the other sections):
//! one test per tag, the tag in the test name, so `cargo test --test pitfalls_ring <tag>` runs
//! that entry's tests (tags are spelled with `_` here: `false_full`, `skip_hang`, ...).
//!
//! | tag | what is checked |
//! |---|---|
//! | `wrap` | positions wrapping past `usize::MAX` keep len / empty / full / order / totals |
//! | `false_full` | `try_send` reports Full only when the ring is (or may be, mid-pop) full |
//! | `skip_hang` | a full-check never spins without bound, even next to an in-flight slot |
//! | `drop_once` | every item dropped exactly once: teardown, eviction, drain, threads |
//! | `panic_drop` | a `Drop` that panics leaves every other item dropped exactly once |
//! | `real_bound` | cloning senders never adds capacity |
//! | `forget_handle` | a forgotten handle never deadlocks a close from the other side |
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]

mod try_support;

use sluicebox::{ChannelRef, Receiver, Sender, StaticChannel, TryRecvError, TrySendError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use try_support::{watchdog, Ledger, Rng, Token, WATCHDOG_SECS};

/// How long a single non-blocking call may take before it counts as a hang. A correct one
/// takes microseconds (a bounded backoff); the margin covers a loaded CI machine and miri.
const PROMPT_SECS: u64 = if cfg!(miri) { 20 } else { 2 };

/// Scales iteration counts down under miri.
const fn sized(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}

/// Asserts `len`, `is_empty`, `is_full` on both handles, and the stats totals.
#[track_caller]
fn assert_state<T, R: ChannelRef<T>>(
    tx: &Sender<T, R>,
    rx: &Receiver<T, R>,
    len: usize,
    sent: u64,
    received: u64,
) {
    let cap = tx.capacity();
    assert_eq!(tx.len(), len, "tx.len()");
    assert_eq!(rx.len(), len, "rx.len()");
    assert_eq!(rx.is_empty(), len == 0, "is_empty() with len {len}");
    assert_eq!(tx.is_full(), len == cap, "is_full() with len {len}/{cap}");
    let s = rx.stats();
    assert_eq!(s.len, len, "stats.len");
    assert_eq!(s.sent, sent, "stats.sent");
    assert_eq!(s.received, received, "stats.received");
    assert_eq!(
        s.sent.wrapping_sub(s.received),
        s.len as u64,
        "sent - received == len"
    );
}

/// Runs `op` on a helper thread; panics if it has not returned after `secs` seconds.
/// Before panicking it calls `unstick`, which must make a stuck `op` return (drop the
/// permit it is spinning on), so no spinning thread outlives the test.
#[track_caller]
fn promptly<T: Send>(
    what: &str,
    secs: u64,
    op: impl FnOnce() -> T + Send,
    unstick: impl FnOnce(),
) -> T {
    std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let h = s.spawn(move || {
            let r = op();
            let _ = done_tx.send(());
            r
        });
        match done_rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(()) => h.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(_) => unreachable!("the helper returned without reporting"),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                unstick();
                let _ = h.join();
                panic!("skip-hang: {what} did not return within {secs} s (spinning)")
            }
        }
    })
}

// =======================================================================================
// wrap
// =======================================================================================

/// The ring's lap length for `cap` (see `ring.rs`).
const fn one_lap(cap: usize) -> usize {
    (cap + 1).next_power_of_two() * 8
}

/// The start lap two laps before positions wrap past `usize::MAX`.
const fn near_wrap_lap(cap: usize) -> usize {
    usize::MAX / one_lap(cap) - 1
}

/// Start laps to try: two laps before the wrap, the very last lap, and `usize::MAX` (the
/// origin wraps in the multiplication itself). Under miri, only the first.
fn wrap_starts(cap: usize) -> Vec<usize> {
    let all = [near_wrap_lap(cap), near_wrap_lap(cap) + 1, usize::MAX];
    all[..sized(3, 1)].to_vec()
}

/// Fills to `k` items, then moves the window (push+pop, or pop+push when full) over four
/// laps, across the wrap, checking every observer and the FIFO order after each step;
/// then drains, and closes after the wrap.
fn cross_wrap_at_len<R: ChannelRef<u64>>(tx: Sender<u64, R>, rx: Receiver<u64, R>, k: usize) {
    let cap = tx.capacity();
    let mut model = VecDeque::new();
    let (mut next, mut popped) = (0u64, 0u64);
    let push = |model: &mut VecDeque<u64>, next: &mut u64| {
        assert_eq!(
            tx.try_send(*next),
            Ok(()),
            "send #{next} (len {})",
            model.len()
        );
        model.push_back(*next);
        *next += 1;
    };
    let pop = |model: &mut VecDeque<u64>, popped: &mut u64| {
        assert_eq!(
            rx.try_recv().ok(),
            model.pop_front(),
            "FIFO after {popped} pops"
        );
        *popped += 1;
    };
    for _ in 0..k {
        push(&mut model, &mut next);
        assert_state(&tx, &rx, model.len(), next, popped);
    }
    for _ in 0..4 * cap + 3 {
        if model.len() < cap {
            push(&mut model, &mut next);
            assert_state(&tx, &rx, model.len(), next, popped);
            if model.len() == cap {
                assert!(
                    tx.try_send(u64::MAX).unwrap_err().is_full(),
                    "full at the wrap"
                );
            }
            pop(&mut model, &mut popped);
        } else {
            assert!(
                tx.try_send(u64::MAX).unwrap_err().is_full(),
                "full at the wrap"
            );
            pop(&mut model, &mut popped);
            assert_state(&tx, &rx, model.len(), next, popped);
            push(&mut model, &mut next);
        }
        assert_state(&tx, &rx, model.len(), next, popped);
    }
    while !model.is_empty() {
        pop(&mut model, &mut popped);
        assert_state(&tx, &rx, model.len(), next, popped);
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    // The close mark on a wrapped tail.
    tx.try_send(next).unwrap();
    assert!(rx.close());
    assert!(tx.is_closed() && rx.stats().closed);
    assert_eq!(tx.try_send(0), Err(TrySendError::Closed(0)));
    assert_state(&tx, &rx, 1, next + 1, popped);
    assert_eq!(rx.try_recv(), Ok(next));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_state(&tx, &rx, 0, next + 1, popped + 1);
}

#[test]
fn wrap_heap_every_fill_level() {
    let caps: &[usize] = if cfg!(miri) {
        &[1, 3, 4]
    } else {
        &[1, 2, 3, 4, 5, 7, 8, 9]
    };
    for &cap in caps {
        for start in wrap_starts(cap) {
            for k in 0..=cap {
                let (tx, rx) = sluicebox::bounded_starting_at_lap(cap, start);
                cross_wrap_at_len(tx, rx, k);
            }
        }
    }
}

macro_rules! wrap_static {
    ($($name:ident: $n:literal;)*) => {
        $(
            #[test]
            fn $name() {
                for start in wrap_starts($n) {
                    for k in 0..=$n {
                        let ch = StaticChannel::<u64, $n>::starting_at_lap(start);
                        let (tx, rx) = ch.split();
                        cross_wrap_at_len(tx, rx, k);
                    }
                }
            }
        )*
    };
}

wrap_static! {
    wrap_static_cap_1: 1;
    wrap_static_cap_2: 2;
    wrap_static_cap_3: 3;
    wrap_static_cap_4: 4;
    wrap_static_cap_7: 7;
}

/// A real `static`, its start lap computed in a const context.
#[test]
fn wrap_static_item_const_start() {
    static WRAP: StaticChannel<u64, 3> = StaticChannel::starting_at_lap(near_wrap_lap(3));
    cross_wrap_at_len(WRAP.sender(), WRAP.receiver(), 2);
}

/// Random sends, force-sends and receives over many laps starting right before the wrap,
/// against a model (every observer, every step).
#[test]
fn wrap_heap_random_ops_with_force_send() {
    for cap in [1, 2, 3, 6] {
        let (tx, rx) = sluicebox::bounded_starting_at_lap::<u64>(cap, near_wrap_lap(cap));
        let mut rng = Rng::new(cap as u64 * 31);
        let mut model = VecDeque::new();
        let (mut sent, mut received, mut evicted) = (0u64, 0u64, 0u64);
        for step in 0..sized(40 * cap, 20 * cap) {
            match rng.below(3) {
                0 => match tx.try_send(step as u64) {
                    Ok(()) => {
                        model.push_back(step as u64);
                        sent += 1;
                    }
                    Err(e) => {
                        assert!(e.is_full() && model.len() == cap, "step {step}: {e:?}");
                    }
                },
                1 => {
                    let got = tx.force_send(step as u64).unwrap();
                    if model.len() == cap {
                        assert_eq!(got, model.pop_front(), "step {step}: evicts the oldest");
                        received += 1;
                        evicted += 1;
                    } else {
                        assert_eq!(got, None);
                    }
                    model.push_back(step as u64);
                    sent += 1;
                }
                _ => {
                    let got = rx.try_recv().ok();
                    assert_eq!(got, model.pop_front(), "step {step}: FIFO");
                    received += got.is_some() as u64;
                }
            }
            assert_state(&tx, &rx, model.len(), sent, received);
            assert_eq!(rx.stats().evicted, evicted);
        }
    }
}

/// Close at every offset around the wrap: the mark bit must never be mistaken for a lap or
/// an index bit.
#[test]
fn wrap_heap_close_at_every_offset() {
    for cap in [1, 2, 3, 4] {
        for offset in 0..=3 * cap + 1 {
            let (tx, rx) = sluicebox::bounded_starting_at_lap::<usize>(cap, near_wrap_lap(cap));
            for i in 0..offset {
                tx.try_send(i).unwrap();
                assert_eq!(rx.try_recv(), Ok(i));
            }
            let queued = cap.min(2);
            for i in 0..queued {
                tx.try_send(offset + i).unwrap();
            }
            drop(tx); // last sender: closes
            assert!(rx.is_closed(), "cap {cap} offset {offset}");
            assert_eq!(rx.len(), queued, "cap {cap} offset {offset}");
            for i in 0..queued {
                assert_eq!(rx.try_recv(), Ok(offset + i));
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
            let s = rx.stats();
            assert_eq!(
                (s.sent, s.received, s.len),
                ((offset + queued) as u64, (offset + queued) as u64, 0)
            );
        }
    }
}

// =======================================================================================
// false_full
// =======================================================================================
//
// The ring's documented rule (ring.rs, invariant 4): `try_send` can report Full while the
// oldest slot is *mid-pop* on another thread (claimed, not yet released), after a bounded
// backoff. It must never report Full when no pop is in flight and a slot is free. Single
// threaded, that means: Full exactly when len == capacity. With one producer and one
// consumer it means: once the consumer has *finished* enough pops that fewer than
// `capacity` items can be queued, the producer's next try_send must succeed.

fn false_full_single_thread<R: ChannelRef<u32>>(tx: Sender<u32, R>, rx: Receiver<u32, R>) {
    let cap = tx.capacity();
    let mut rng = Rng::new(0xFA15E + cap as u64);
    let mut len = 0usize;
    for step in 0..sized(3_000, 150) {
        if rng.below(2) == 0 {
            match tx.try_send(step as u32) {
                Ok(()) => len += 1,
                Err(TrySendError::Full(_)) => {
                    assert_eq!(len, cap, "step {step}: Full with {len} of {cap} queued")
                }
                Err(e) => panic!("{e:?}"),
            }
        } else if rx.try_recv().is_ok() {
            len -= 1;
        } else {
            assert_eq!(len, 0, "step {step}: Empty with {len} queued");
        }
        assert_eq!(tx.is_full(), len == cap);
    }
}

#[test]
fn false_full_single_thread_only_when_len_is_capacity() {
    for cap in [1, 2, 3, 4, 5] {
        let (tx, rx) = sluicebox::bounded(cap);
        false_full_single_thread(tx, rx);
        let (tx, rx) = sluicebox::bounded_starting_at_lap(cap, near_wrap_lap(cap));
        false_full_single_thread(tx, rx);
    }
    let ch = StaticChannel::<u32, 4>::new();
    let (tx, rx) = ch.split();
    false_full_single_thread(tx, rx);
}

/// Counts of one SPSC run.
#[derive(Debug, Default)]
struct SpscReport {
    /// Full although the consumer had finished enough pops that a slot was free.
    false_full: usize,
    /// Empty although the producer had finished sending the next item.
    false_empty: usize,
    full: usize,
    empty: usize,
}

/// One producer, one consumer, hammering. Each side publishes how many operations it has
/// *completed* (SeqCst counter bumped after the call returns); the other side reads it
/// before each call. A Full (Empty) while the counter proves a free slot (a published item)
/// is a false verdict: the ring's stamps make those impossible in SPSC, so the count must
/// be zero. Full with a pop merely in flight is allowed (and counted in `full`).
fn spsc_false_verdicts<R>(tx: Sender<u64, R>, rx: Receiver<u64, R>, items: u64) -> SpscReport
where
    R: ChannelRef<u64> + Send + Sync,
{
    let cap = tx.capacity() as u64;
    let sent_done = AtomicUsize::new(0);
    let recv_done = AtomicUsize::new(0);
    let mut report = SpscReport::default();
    std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            let (mut false_empty, mut empty) = (0, 0);
            let mut r = 0u64;
            while r < items {
                let published = sent_done.load(Ordering::SeqCst) as u64;
                match rx.try_recv() {
                    Ok(v) => {
                        assert_eq!(v, r, "SPSC FIFO");
                        r += 1;
                        recv_done.store(r as usize, Ordering::SeqCst);
                    }
                    Err(TryRecvError::Empty) => {
                        empty += 1;
                        if published > r {
                            false_empty += 1;
                        }
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("consumer: unexpected {e:?}"),
                }
            }
            (false_empty, empty)
        });
        let mut s_count = 0u64;
        while s_count < items {
            let popped = recv_done.load(Ordering::SeqCst) as u64;
            match tx.try_send(s_count) {
                Ok(()) => {
                    s_count += 1;
                    sent_done.store(s_count as usize, Ordering::SeqCst);
                }
                Err(TrySendError::Full(_)) => {
                    report.full += 1;
                    // Items possibly queued: sent minus *finished* pops.
                    if s_count - popped < cap {
                        report.false_full += 1;
                    }
                    std::thread::yield_now();
                }
                Err(TrySendError::Closed(_)) => panic!("closed early"),
            }
        }
        (report.false_empty, report.empty) = consumer.join().unwrap();
    });
    let s = tx.stats();
    assert_eq!((s.sent, s.received, s.len), (items, items, 0));
    assert_eq!(
        s.rejected, report.full as u64,
        "every Full is counted as rejected"
    );
    report
}

#[test]
fn false_full_spsc_cap4_never_full_with_a_free_slot() {
    let items = sized(100_000, 150) as u64;
    watchdog("false_full spsc heap", WATCHDOG_SECS, move || {
        for start in [0, near_wrap_lap(4)] {
            let (tx, rx) = sluicebox::bounded_starting_at_lap(4, start);
            let r = spsc_false_verdicts(tx, rx, items);
            assert_eq!(
                (r.false_full, r.false_empty),
                (0, 0),
                "start lap {start}: {r:?}"
            );
        }
    });
}

#[test]
fn false_full_spsc_static_cap4_never_full_with_a_free_slot() {
    let items = sized(100_000, 150) as u64;
    watchdog("false_full spsc static", WATCHDOG_SECS, move || {
        let ch = StaticChannel::<u64, 4>::new();
        let (tx, rx) = ch.split();
        let r = spsc_false_verdicts(tx, rx, items);
        assert_eq!((r.false_full, r.false_empty), (0, 0), "{r:?}");
    });
}

/// Many producers (and consumers) on a channel that can never fill: at most `capacity`
/// items are sent in all, so no slot is ever reused and no slot can be mid-pop at the
/// tail. Any Full is false, whatever the contention between producers (a stale tail after
/// a lost CAS race must be retried, not reported as Full).
fn never_full_with_room<R>(tx: Sender<u32, R>, rx: Receiver<u32, R>)
where
    R: ChannelRef<u32> + Send + Sync,
{
    let per = tx.capacity() / 4;
    let start = AtomicBool::new(false);
    std::thread::scope(|s| {
        for p in 0..4u32 {
            let tx = tx.clone();
            let start = &start;
            s.spawn(move || {
                while !start.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
                for i in 0..per as u32 {
                    if let Err(e) = tx.try_send(p << 16 | i) {
                        panic!("false Full: {e} with at most capacity items ever sent");
                    }
                }
            });
        }
        for _ in 0..2 {
            let rx = rx.clone();
            let start = &start;
            s.spawn(move || {
                while !start.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
                for _ in 0..per {
                    let _ = rx.try_recv();
                }
            });
        }
        start.store(true, Ordering::SeqCst);
    });
    let st = rx.stats();
    assert_eq!((st.sent, st.rejected), (4 * per as u64, 0));
}

#[test]
fn false_full_many_producers_with_room_never_full() {
    watchdog("false_full with room", WATCHDOG_SECS, || {
        for _ in 0..sized(50, 1) {
            let (tx, rx) = sluicebox::bounded(sized(1024, 32));
            never_full_with_room(tx, rx);
        }
        for _ in 0..sized(50, 1) {
            let ch = StaticChannel::<u32, 256>::new();
            let (tx, rx) = ch.split();
            never_full_with_room(tx, rx);
        }
    });
}

// =======================================================================================
// skip_hang
// =======================================================================================

/// Senders hammering a full channel whose receiver makes no progress: every call returns
/// Full, promptly, and nothing is disturbed.
fn hammer_full<R: ChannelRef<u64> + Send>(tx: Sender<u64, R>, rx: Receiver<u64, R>) {
    let cap = tx.capacity();
    for i in 0..cap as u64 {
        tx.try_send(i).unwrap();
    }
    let per_thread = sized(100_000, 200);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..per_thread as u64 {
                    match tx.try_send(t << 32 | i) {
                        Err(TrySendError::Full(v)) => assert_eq!(v, t << 32 | i),
                        other => panic!("expected Full, got {other:?}"),
                    }
                }
            });
        }
    });
    let s = rx.stats();
    assert_eq!(s.rejected, 4 * per_thread as u64);
    assert_eq!((s.len, s.sent, s.received), (cap, cap as u64, 0));
    for i in 0..cap as u64 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
}

#[test]
fn skip_hang_full_channel_4_threads_heap() {
    watchdog("skip_hang heap", WATCHDOG_SECS, || {
        let (tx, rx) = sluicebox::bounded(4);
        hammer_full(tx, rx);
        let (tx, rx) = sluicebox::bounded_starting_at_lap(1, near_wrap_lap(1) + 1);
        hammer_full(tx, rx);
    });
}

#[test]
fn skip_hang_full_channel_4_threads_static() {
    watchdog("skip_hang static", WATCHDOG_SECS, || {
        let ch = StaticChannel::<u64, 4>::new();
        let (tx, rx) = ch.split();
        hammer_full(tx, rx);
    });
}

/// A held permit holds room, never a slot the receivers wait at: `try_recv` from many
/// threads at once returns every ready item exactly once, then Empty, promptly; the
/// permit's item queues when it is sent.
#[test]
fn skip_hang_try_recv_beside_held_permit() {
    let (tx, rx) = sluicebox::bounded::<u32>(3);
    let mut permit = Some(tx.try_reserve().unwrap());
    tx.try_send(2).unwrap();
    tx.try_send(3).unwrap();
    let calls = sized(1_000, 10);
    let got = std::sync::Mutex::new(Vec::new());
    promptly(
        "4 threads x try_recv beside a held permit",
        WATCHDOG_SECS,
        || {
            std::thread::scope(|s| {
                for _ in 0..4 {
                    let rx = rx.clone();
                    let got = &got;
                    s.spawn(move || {
                        for _ in 0..calls {
                            match rx.try_recv() {
                                Ok(v) => got.lock().unwrap().push(v),
                                Err(e) => assert_eq!(e, TryRecvError::Empty),
                            }
                        }
                    });
                }
            })
        },
        || drop(permit.take()),
    );
    let mut got = got.into_inner().unwrap();
    got.sort_unstable();
    assert_eq!(got, [2, 3], "each ready item exactly once");
    permit.take().unwrap().send(1);
    assert_eq!(rx.try_recv(), Ok(1), "queued when sent");
    // A permit dropped unused gives its room back at once.
    let p = tx.try_reserve().unwrap();
    tx.try_send(4).unwrap();
    tx.try_send(5).unwrap();
    assert!(tx.try_send(6).unwrap_err().is_full());
    drop(p);
    tx.try_send(6).unwrap();
    for expect in 4..=6 {
        assert_eq!(rx.try_recv(), Ok(expect));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// The full check on a channel whose room is held partly by a permit: the channel is
/// full, so `try_send` must say Full at once, not spin until the permit is used.
fn try_send_full_beside_held_permit<R: ChannelRef<u32> + Sync>(
    tx: Sender<u32, R>,
    rx: Receiver<u32, R>,
) {
    let cap = tx.capacity();
    // Move the head off index 0 so the permit is not at the ring's first slot.
    tx.try_send(100).unwrap();
    assert_eq!(rx.try_recv(), Ok(100));
    let mut permit = Some(tx.try_reserve().unwrap());
    for i in 1..cap as u32 {
        tx.try_send(i).unwrap();
    }
    assert!(tx.is_full());
    let got = promptly(
        "try_send on a full channel whose room is held partly by a permit",
        PROMPT_SECS,
        || tx.try_send(99),
        || drop(permit.take()),
    );
    assert_eq!(got, Err(TrySendError::Full(99)));
    permit.take().unwrap().send(0);
    for i in (1..cap as u32).chain([0]) {
        assert_eq!(rx.try_recv(), Ok(i));
    }
}

#[test]
fn skip_hang_try_send_beside_held_permit_heap() {
    for cap in [1, 2, 3] {
        let (tx, rx) = sluicebox::bounded(cap);
        try_send_full_beside_held_permit(tx, rx);
    }
}

#[test]
fn skip_hang_try_send_beside_held_permit_static() {
    let ch = StaticChannel::<u32, 2>::new();
    let (tx, rx) = ch.split();
    try_send_full_beside_held_permit(tx, rx);
}

/// `try_reserve` on a full channel whose only slot is reserved (the case in
/// `Sender::try_reserve`'s own doc example).
#[test]
fn skip_hang_try_reserve_beside_held_permit() {
    let (tx, _rx) = sluicebox::bounded::<u8>(1);
    let mut permit = Some(tx.try_reserve().unwrap());
    let full = promptly(
        "second try_reserve on capacity 1",
        PROMPT_SECS,
        || tx.try_reserve().map(drop).unwrap_err().is_full(),
        || drop(permit.take()),
    );
    assert!(full);
}

/// `force_send` cannot take a held permit's room; its docs promise Full, never a wait.
#[test]
fn skip_hang_force_send_beside_held_permit() {
    let (tx, rx) = sluicebox::bounded::<u8>(2);
    let mut permit = Some(tx.try_reserve().unwrap());
    tx.try_send(2).unwrap();
    let got = promptly(
        "force_send on a full channel whose room is held partly by a permit",
        PROMPT_SECS,
        || tx.force_send(3),
        || drop(permit.take()),
    );
    assert_eq!(got, Err(TrySendError::Full(3)));
    assert_eq!(rx.stats().evicted, 0);
    permit.take().unwrap().send(1);
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(1));
}

// =======================================================================================
// drop_once
// =======================================================================================

/// Queue `k` tokens, tear the handles down in the given order; every token dropped once,
/// at the documented moment.
fn teardown<R: ChannelRef<Token>>(
    tx: Sender<Token, R>,
    rx: Receiver<Token, R>,
    k: usize,
    senders_first: bool,
) {
    let ledger = Ledger::new(k);
    for id in 0..k {
        tx.try_send(ledger.token(id)).unwrap();
    }
    if senders_first {
        drop(tx);
        assert_eq!(
            ledger.total(),
            0,
            "closing by the senders keeps items receivable"
        );
        assert_eq!(rx.len(), k);
        drop(rx);
    } else {
        drop(rx);
        ledger.assert_all_once("dropped at the last receiver's drop");
        assert_eq!(tx.len(), 0);
        drop(tx);
    }
    ledger.assert_all_once("teardown");
}

#[test]
fn drop_once_teardown_heap() {
    for cap in [1, 2, 5] {
        for k in 0..=cap {
            for senders_first in [true, false] {
                let (tx, rx) = sluicebox::bounded(cap);
                teardown(tx, rx, k, senders_first);
                let (tx, rx) = sluicebox::bounded_starting_at_lap(cap, near_wrap_lap(cap));
                teardown(tx, rx, k, senders_first);
            }
        }
    }
}

#[test]
fn drop_once_teardown_static() {
    for k in 0..=3 {
        for senders_first in [true, false] {
            let ch = StaticChannel::<Token, 3>::new();
            let (tx, rx) = ch.split();
            teardown(tx, rx, k, senders_first);
        }
    }
}

/// Items still queued when the channel itself is dropped (no drain ran: the receiver was
/// forgotten, or never existed) are dropped by the channel's own `Drop`, once.
#[test]
fn drop_once_queued_at_static_channel_drop() {
    let ledger = Ledger::new(6);
    {
        let ch = StaticChannel::<Token, 3>::new();
        let tx = ch.sender();
        for id in 0..3 {
            tx.try_send(ledger.token(id)).unwrap();
        }
        drop(tx);
        assert_eq!(ledger.total(), 0);
    }
    ledger.assert_range(0..3, 1, "never-received items at channel drop");
    {
        let ch = StaticChannel::<Token, 3>::new();
        let (tx, rx) = ch.split();
        tx.try_send(ledger.token(3)).unwrap();
        tx.try_send(ledger.token(4)).unwrap();
        std::mem::forget(rx); // no last-receiver drain will ever run
        drop(tx);
        assert_eq!(ledger.drops(3) + ledger.drops(4), 0);
        assert_eq!(ch.len(), 2);
        let rx = ch.receiver();
        assert_eq!(rx.try_recv().map(|t| t.id), Ok(3));
        std::mem::forget(rx);
    }
    ledger.assert_range(3..5, 1, "after a forgotten receiver");
}

/// Heap: a weak sender keeps the allocation alive but not the items: they go at the last
/// receiver's drop.
#[test]
fn drop_once_weak_sender_outlives_items() {
    let ledger = Ledger::new(2);
    let (tx, rx) = sluicebox::bounded(2);
    tx.try_send(ledger.token(0)).unwrap();
    tx.try_send(ledger.token(1)).unwrap();
    let weak = tx.downgrade();
    drop(tx);
    drop(rx);
    ledger.assert_all_once("before the weak sender goes");
    drop(weak);
    ledger.assert_all_once("after");
}

#[test]
fn drop_once_force_send_evictions() {
    let n = sized(500, 60);
    for cap in [1, 2, 3] {
        let ledger = Ledger::new(n);
        let (tx, rx) = sluicebox::bounded(cap);
        let mut rng = Rng::new(cap as u64);
        let mut expect_evicted = 0;
        for id in 0..n {
            let full = tx.is_full();
            match tx.force_send(ledger.token(id)).unwrap() {
                Some(old) => {
                    assert!(full);
                    assert_eq!(ledger.drops(old.id), 0, "handed back alive");
                    expect_evicted += 1;
                }
                None => assert!(!full),
            }
            if rng.below(4) == 0 {
                drop(rx.try_recv());
            }
        }
        assert_eq!(rx.stats().evicted, expect_evicted);
        let queued = rx.len();
        assert_eq!(ledger.total(), n - queued);
        drop((tx, rx));
        ledger.assert_all_once("force_send");
    }
}

/// Producers (try_send and force_send) and consumers on threads; some consumers quit early,
/// in one variant all of them do, so the last-receiver drain races live producers. Every
/// token is dropped exactly once by the time the channel is gone.
fn drop_once_threads<R>(tx: Sender<Token, R>, rx: Receiver<Token, R>, all_quit_early: bool)
where
    R: ChannelRef<Token> + Send,
{
    const PRODUCERS: usize = 3;
    let per = sized(20_000, 24);
    let ledger = Ledger::new(PRODUCERS * per);
    std::thread::scope(|s| {
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            let ledger = &ledger;
            s.spawn(move || {
                for id in p * per..(p + 1) * per {
                    let mut token = ledger.token(id);
                    loop {
                        let res = if id % 5 == 0 {
                            tx.force_send(token).map(drop)
                        } else {
                            tx.try_send(token)
                        };
                        match res {
                            Ok(()) => break,
                            Err(TrySendError::Full(t)) => {
                                token = t;
                                std::thread::yield_now();
                            }
                            Err(TrySendError::Closed(t)) => {
                                drop(t);
                                break;
                            }
                        }
                    }
                }
            });
        }
        for c in 0..2 {
            let rx = rx.clone();
            let quota = if c == 0 && !all_quit_early {
                usize::MAX
            } else {
                per / 2
            };
            s.spawn(move || {
                let mut got = 0;
                while got < quota {
                    match rx.try_recv() {
                        Ok(t) => {
                            assert_eq!(t.value(), t.id);
                            got += 1;
                        }
                        Err(TryRecvError::Empty) => std::thread::yield_now(),
                        Err(_) => break, // Closed
                    }
                }
            });
        }
        drop(tx);
        drop(rx);
    });
    ledger.assert_all_once("threads");
}

#[test]
fn drop_once_threads_heap() {
    watchdog("drop_once threads heap", WATCHDOG_SECS, || {
        for all_quit_early in [false, true] {
            let (tx, rx) = sluicebox::bounded(4);
            drop_once_threads(tx, rx, all_quit_early);
        }
    });
}

#[test]
fn drop_once_threads_static() {
    watchdog("drop_once threads static", WATCHDOG_SECS, || {
        for all_quit_early in [false, true] {
            let ch = StaticChannel::<Token, 2>::new();
            let (tx, rx) = ch.split();
            drop_once_threads(tx, rx, all_quit_early);
        }
    });
}

// =======================================================================================
// panic_drop
// =======================================================================================

/// Runs `f`, expects it to panic with the bomb's message.
#[track_caller]
fn expect_bomb(f: impl FnOnce()) {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .expect_err("the bomb's Drop should have panicked");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("bomb"), "unexpected panic: {msg}");
}

/// Queues 5 tokens, the one at `bomb` panicking on drop.
fn load_bombs<R: ChannelRef<Token>>(tx: &Sender<Token, R>, ledger: &Ledger, bomb: usize) {
    for id in 0..5 {
        let t = if id == bomb {
            ledger.bomb(id)
        } else {
            ledger.token(id)
        };
        tx.try_send(t).unwrap();
    }
}

/// Heap: senders gone, then the last receiver drops; its drain hits the bomb. The panic
/// escapes once, and the channel (freed during the unwind) drops the rest, once.
#[test]
fn panic_drop_last_receiver_drain_heap() {
    for bomb in [0, 2, 4] {
        let ledger = Ledger::new(5);
        let (tx, rx) = sluicebox::bounded(5);
        load_bombs(&tx, &ledger, bomb);
        drop(tx);
        expect_bomb(|| drop(rx));
        ledger.assert_all_once("after a panicking drop in the drain");
    }
}

/// Heap, a sender still alive: the drain panics part-way; the channel stays consistent
/// (closed, the rest still queued, stats add up) and drops the rest with the last handle.
#[test]
fn panic_drop_drain_with_live_sender_heap() {
    let ledger = Ledger::new(6);
    let (tx, rx) = sluicebox::bounded(5);
    load_bombs(&tx, &ledger, 2);
    expect_bomb(|| drop(rx));
    ledger.assert_range(0..3, 1, "drained before and at the bomb");
    assert!(tx.is_closed());
    let s = tx.stats();
    assert_eq!(s.sent - s.received, s.len as u64);
    assert!(s.len <= 2);
    assert_eq!(ledger.total(), 5 - s.len, "queued + dropped == all");
    let back = tx.try_send(ledger.token(5)).unwrap_err();
    assert!(back.is_closed());
    drop(back);
    drop(tx);
    ledger.assert_all_once("after the last sender");
}

/// Static (local) channel: the last receiver's drain panics; the rest stay queued until
/// the channel is dropped, then go once.
#[test]
fn panic_drop_last_receiver_drain_static() {
    let ledger = Ledger::new(5);
    {
        let ch = StaticChannel::<Token, 5>::new();
        let (tx, rx) = ch.split();
        load_bombs(&tx, &ledger, 1);
        drop(tx);
        expect_bomb(|| drop(rx));
        ledger.assert_range(0..2, 1, "drained before and at the bomb");
        assert!(ch.is_closed());
        assert_eq!(ch.len() + ledger.total(), 5);
    }
    ledger.assert_all_once("after channel drop");
}

/// The channel's own `Drop` (no receiver ever, so no drain ran) hits the bomb: its guard
/// drops everything after it, once.
#[test]
fn panic_drop_channel_teardown_static() {
    for bomb in [0, 2, 4] {
        let ledger = Ledger::new(5);
        let ch = StaticChannel::<Token, 5>::new();
        let tx = ch.sender();
        load_bombs(&tx, &ledger, bomb);
        drop(tx);
        assert_eq!(ledger.total(), 0);
        expect_bomb(|| drop(ch));
        ledger.assert_all_once("channel drop with a panicking item");
    }
}

/// A bomb evicted by `force_send` is handed back, not dropped inside the channel.
#[test]
fn panic_drop_evicted_bomb_is_handed_back() {
    let ledger = Ledger::new(3);
    let (tx, rx) = sluicebox::bounded(1);
    tx.try_send(ledger.bomb(0)).unwrap();
    let evicted = tx.force_send(ledger.token(1)).unwrap().unwrap();
    assert_eq!((evicted.id, ledger.total()), (0, 0));
    expect_bomb(|| drop(evicted));
    // The channel is unaffected.
    assert_eq!(rx.try_recv().map(|t| t.id), Ok(1));
    tx.try_send(ledger.token(2)).unwrap();
    drop((tx, rx));
    ledger.assert_all_once("eviction");
}

// =======================================================================================
// real_bound
// =======================================================================================

fn bound_with_clones<R: ChannelRef<usize>>(tx: Sender<usize, R>, rx: Receiver<usize, R>) {
    let cap = tx.capacity();
    let mut senders: Vec<_> = (0..10).map(|_| tx.clone()).collect();
    // Weak senders upgraded add handles, not slots.
    senders.push(tx.downgrade().upgrade().unwrap());
    assert_eq!(tx.sender_count(), 12);
    let mut ok = 0;
    for round in 0..3 {
        for (i, s) in senders.iter().enumerate() {
            match s.try_send(round * 100 + i) {
                Ok(()) => ok += 1,
                Err(e) => assert!(e.is_full()),
            }
        }
    }
    assert_eq!(
        ok, cap,
        "exactly capacity sends succeed, whatever the sender count"
    );
    assert_eq!((tx.len(), tx.stats().capacity), (cap, cap));
    for s in &senders {
        assert!(s.try_send(0).unwrap_err().is_full());
        assert!(s.is_full());
    }
    // Free k slots: exactly k more fit.
    let k = cap.div_ceil(2);
    for _ in 0..k {
        rx.try_recv().unwrap();
    }
    let ok = senders.iter().filter(|s| s.try_send(1).is_ok()).count();
    assert_eq!(ok, k);
    // force_send from every clone never grows the queue.
    for s in &senders {
        s.force_send(2).unwrap();
        assert_eq!(rx.len(), cap);
    }
}

#[test]
fn real_bound_cloned_senders_heap() {
    for cap in [1, 2, 7] {
        let (tx, rx) = sluicebox::bounded(cap);
        bound_with_clones(tx, rx);
    }
}

#[test]
fn real_bound_cloned_senders_static() {
    let ch = StaticChannel::<usize, 3>::new();
    let (tx, rx) = ch.split();
    bound_with_clones(tx, rx);
}

/// Ten threads, each with its own clone, race to fill the channel: exactly `capacity`
/// sends succeed in total.
#[test]
fn real_bound_ten_sender_threads() {
    watchdog("real_bound threads", WATCHDOG_SECS, || {
        for cap in [1, 4] {
            for _ in 0..sized(20, 2) {
                let (tx, rx) = sluicebox::bounded::<usize>(cap);
                let go = AtomicBool::new(false);
                let accepted = AtomicUsize::new(0);
                std::thread::scope(|s| {
                    for t in 0..10 {
                        let tx = tx.clone();
                        let (go, accepted) = (&go, &accepted);
                        s.spawn(move || {
                            while !go.load(Ordering::SeqCst) {
                                std::hint::spin_loop();
                            }
                            for i in 0..cap + 2 {
                                if tx.try_send(t * 100 + i).is_ok() {
                                    accepted.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        });
                    }
                    go.store(true, Ordering::SeqCst);
                });
                assert_eq!(accepted.load(Ordering::SeqCst), cap);
                assert_eq!(rx.len(), cap);
            }
        }
    });
}

// =======================================================================================
// forget_handle
// =======================================================================================

/// `mem::forget` for heap handles. Under miri the handle is instead released when the
/// returned closure runs (at the very end of the test, after every assertion), so miri's
/// leak check stays quiet; while the assertions run, it has been forgotten all the same.
#[cfg(not(miri))]
fn forget_heap<T>(handle: T) -> impl FnOnce() {
    std::mem::forget(handle);
    || ()
}

#[cfg(miri)]
fn forget_heap<T>(handle: T) -> impl FnOnce() {
    let handle = std::mem::ManuallyDrop::new(handle);
    move || drop(std::mem::ManuallyDrop::into_inner(handle))
}

/// A sender is forgotten (its count never goes down): dropping the others cannot close the
/// channel, but `close` from the receiver side does, promptly, and sends fail.
fn forgotten_sender_then_close<R: ChannelRef<u8>>(
    tx: Sender<u8, R>,
    rx: Receiver<u8, R>,
    forget: impl FnOnce(Sender<u8, R>),
) {
    tx.try_send(1).unwrap();
    forget(tx.clone());
    let other = tx.clone();
    drop(tx);
    assert_eq!(rx.sender_count(), 2, "the forgotten sender still counts");
    assert!(!rx.is_closed());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Empty),
        "not closed: a sender lives"
    );
    assert!(rx.close());
    assert_eq!(other.try_send(2), Err(TrySendError::Closed(2)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert!(other.downgrade().upgrade().is_none());
}

/// A receiver is forgotten: dropping every sender still closes the channel (the other
/// receiver drains, then sees Closed); with *only* the forgotten receiver, the senders see
/// a full channel (not a hang) and can close it.
fn forgotten_receiver<R: ChannelRef<u8>>(
    tx: Sender<u8, R>,
    rx: Receiver<u8, R>,
    forget: &mut dyn FnMut(Receiver<u8, R>),
) {
    forget(rx.clone());
    tx.try_send(1).unwrap();
    let tx2 = tx.clone();
    drop(tx);
    drop(tx2);
    assert!(
        rx.is_closed(),
        "last sender dropped: closed despite a forgotten receiver"
    );
    assert_eq!(rx.receiver_count(), 2);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

fn only_receiver_forgotten<R: ChannelRef<u8>>(
    tx: Sender<u8, R>,
    rx: Receiver<u8, R>,
    forget: impl FnOnce(Receiver<u8, R>),
) {
    let cap = tx.capacity();
    forget(rx);
    assert!(!tx.is_closed(), "a forgotten receiver still counts");
    for i in 0..cap as u8 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    assert!(tx.close());
    assert_eq!(tx.try_send(9), Err(TrySendError::Closed(9)));
    assert_eq!(tx.force_send(9), Err(TrySendError::Closed(9)));
}

#[test]
fn forget_handle_heap() {
    watchdog("forget_handle heap", WATCHDOG_SECS, || {
        let mut releases: Vec<Box<dyn FnOnce()>> = Vec::new();
        let (tx, rx) = sluicebox::bounded(2);
        forgotten_sender_then_close(tx, rx, |s| releases.push(Box::new(forget_heap(s))));
        let (tx, rx) = sluicebox::bounded(2);
        forgotten_receiver(tx, rx, &mut |r| releases.push(Box::new(forget_heap(r))));
        let (tx, rx) = sluicebox::bounded(2);
        only_receiver_forgotten(tx, rx, |r| releases.push(Box::new(forget_heap(r))));
        // Under miri, release the "forgotten" handles now (a no-op natively).
        releases.into_iter().for_each(|release| release());
    });
}

#[test]
fn forget_handle_static() {
    watchdog("forget_handle static", WATCHDOG_SECS, || {
        let ch = StaticChannel::<u8, 2>::new();
        let (tx, rx) = ch.split();
        forgotten_sender_then_close(tx, rx, std::mem::forget);
        let ch = StaticChannel::<u8, 2>::new();
        let (tx, rx) = ch.split();
        forgotten_receiver(tx, rx, &mut |r| std::mem::forget(r));
        let ch = StaticChannel::<u8, 2>::new();
        let (tx, rx) = ch.split();
        only_receiver_forgotten(tx, rx, std::mem::forget);
    });
}

/// The same on a real `static`: a sender forgotten at start-up (the documented way to keep
/// a static channel open forever); the receiver closes it.
#[test]
fn forget_handle_static_item_receiver_closes() {
    static CH: StaticChannel<u8, 2> = StaticChannel::new();
    std::mem::forget(CH.sender());
    let rx = CH.receiver();
    let tx = CH.sender();
    tx.try_send(1).unwrap();
    drop(tx);
    assert!(!CH.is_closed(), "kept open by the forgotten sender");
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(rx.close());
    assert_eq!(CH.sender().try_send(2), Err(TrySendError::Closed(2)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}
