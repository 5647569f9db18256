//! Multi-threaded MPMC stress on the non-blocking API only: `try_send` / `try_recv`,
//! spinning with `yield_now` on Full / Empty.
//!
//! P producers x C consumers for (P, C) in (1,1), (4,1), (1,4), (4,4), at capacities 1, 2
//! and 64, on heap and static channels. Each producer sends `id << 32 | seq`. Checked:
//! - exactly-once delivery: the count, the sum and the xor of everything received, and a
//!   per-value seen map (no loss, no duplicate);
//! - FIFO per producer per consumer: each consumer sees each producer's `seq` increasing;
//! - `Stats` snapshots taken concurrently by a monitor thread: `len <= capacity`,
//!   `sent - received == len`, totals never go backwards;
//! - the end: closed by the last producer, every item received, `sent == received`.
//!
//! Every run is under a watchdog, so a lost item or a spin fails instead of hanging.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]

mod try_support;

use sluicebox::{ChannelRef, Receiver, Sender, StaticChannel, TryRecvError, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering};
use try_support::{watchdog, WATCHDOG_SECS};

/// Items per run, split between the producers.
#[cfg(not(miri))]
const ITEMS: usize = 50_000;
#[cfg(miri)]
const ITEMS: usize = 24;

const SHAPES: [(usize, usize); 4] = [(1, 1), (4, 1), (1, 4), (4, 4)];

fn value(producer: usize, seq: usize) -> u64 {
    (producer as u64) << 32 | seq as u64
}

/// One run: `producers` x `consumers` threads over the channel `tx`/`rx`, `per_producer`
/// items each. Panics on any violation.
fn stress<R>(
    tx: Sender<u64, R>,
    rx: Receiver<u64, R>,
    producers: usize,
    consumers: usize,
    per_producer: usize,
) where
    R: ChannelRef<u64> + Send + Sync,
{
    let cap = tx.capacity();
    let what = format!("P={producers} C={consumers} cap={cap}");
    // Kept by the main thread, never receiving: reads stats after the run.
    let monitor = rx.clone();
    let done = AtomicBool::new(false);
    let received: Vec<Vec<u64>> = std::thread::scope(|s| {
        // Concurrent stats snapshots.
        let stats_checker = s.spawn(|| {
            let (mut last_sent, mut last_received, mut snapshots) = (0u64, 0u64, 0u64);
            while !done.load(Ordering::SeqCst) {
                let st = monitor.stats();
                assert!(st.len <= cap, "{what}: len {} > capacity", st.len);
                assert_eq!(st.sent - st.received, st.len as u64, "{what}: {st:?}");
                assert!(
                    st.sent >= last_sent && st.received >= last_received,
                    "{what}"
                );
                (last_sent, last_received) = (st.sent, st.received);
                assert!(monitor.len() <= cap);
                snapshots += 1;
                std::thread::yield_now();
            }
            snapshots
        });
        let consumer_handles: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match rx.try_recv() {
                            Ok(v) => got.push(v),
                            Err(TryRecvError::Empty) => std::thread::yield_now(),
                            Err(TryRecvError::Closed) => return got,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                })
            })
            .collect();
        for p in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                for seq in 0..per_producer {
                    let mut v = value(p, seq);
                    loop {
                        match tx.try_send(v) {
                            Ok(()) => break,
                            Err(TrySendError::Full(back)) => {
                                assert_eq!(back, v, "Full must hand back the same value");
                                v = back;
                                std::thread::yield_now();
                            }
                            Err(TrySendError::Closed(_)) => panic!("closed while sending"),
                        }
                    }
                }
                // Dropping `tx` here: the last producer's drop closes the channel.
            });
        }
        // Only the producers' clones (and the monitor) keep the channel going.
        drop(tx);
        drop(rx);
        let received = consumer_handles
            .into_iter()
            .map(|h| h.join().expect("consumer panicked"))
            .collect();
        done.store(true, Ordering::SeqCst);
        assert!(stats_checker.join().expect("stats checker") > 0);
        received
    });

    // Exactly once: count, sum, xor, and a seen map.
    let total = producers * per_producer;
    let all = received.iter().flatten();
    let (mut count, mut sum, mut xor) = (0usize, 0u64, 0u64);
    let mut seen = vec![false; total];
    for &v in all {
        let (p, seq) = ((v >> 32) as usize, (v & 0xFFFF_FFFF) as usize);
        assert!(
            p < producers && seq < per_producer,
            "{what}: bogus value {v:#x}"
        );
        let slot = &mut seen[p * per_producer + seq];
        assert!(
            !*slot,
            "{what}: duplicate delivery of producer {p} seq {seq}"
        );
        *slot = true;
        count += 1;
        sum = sum.wrapping_add(v);
        xor ^= v;
    }
    let (mut want_sum, mut want_xor) = (0u64, 0u64);
    for p in 0..producers {
        for seq in 0..per_producer {
            want_sum = want_sum.wrapping_add(value(p, seq));
            want_xor ^= value(p, seq);
        }
    }
    assert_eq!(count, total, "{what}: count");
    assert_eq!(sum, want_sum, "{what}: sum");
    assert_eq!(xor, want_xor, "{what}: xor");
    assert!(seen.iter().all(|&b| b), "{what}: lost items");

    // FIFO per producer, per consumer.
    for (c, got) in received.iter().enumerate() {
        let mut last = vec![None::<u64>; producers];
        for &v in got {
            let (p, seq) = ((v >> 32) as usize, v & 0xFFFF_FFFF);
            if let Some(prev) = last[p] {
                assert!(
                    seq > prev,
                    "{what}: consumer {c} saw producer {p}: {prev} then {seq}"
                );
            }
            last[p] = Some(seq);
        }
    }

    // The end state.
    let st = monitor.stats();
    assert!(st.closed, "{what}: closed by the last producer");
    assert_eq!(
        (st.len, st.sent, st.received),
        (0, total as u64, total as u64),
        "{what}"
    );
    assert_eq!((st.senders, st.receivers), (0, 1), "{what}");
    assert_eq!(monitor.try_recv(), Err(TryRecvError::Closed));
}

fn heap_runs(cap: usize, start_lap: usize) {
    for (p, c) in SHAPES {
        let name = format!("heap P={p} C={c} cap={cap} lap={start_lap}");
        watchdog(&name, WATCHDOG_SECS, move || {
            let (tx, rx) = sluicebox::bounded_starting_at_lap(cap, start_lap);
            stress(tx, rx, p, c, ITEMS / p);
        });
    }
}

macro_rules! static_runs {
    ($n:literal) => {
        for (p, c) in SHAPES {
            let name = format!("static P={p} C={c} cap={}", $n);
            watchdog(&name, WATCHDOG_SECS, move || {
                let ch = StaticChannel::<u64, $n>::new();
                let (tx, rx) = ch.split();
                stress(tx, rx, p, c, ITEMS / p);
            });
        }
    };
}

#[test]
fn stress_heap_cap_1() {
    heap_runs(1, 0);
}

#[test]
fn stress_heap_cap_2() {
    heap_runs(2, 0);
}

#[test]
fn stress_heap_cap_64() {
    heap_runs(64, 0);
}

/// Starting two laps before the positions wrap: the first laps cross `usize::MAX` under
/// contention.
#[test]
fn stress_heap_cap_2_near_wrap() {
    let one_lap = (2usize + 1).next_power_of_two() * 8;
    heap_runs(2, usize::MAX / one_lap - 1);
}

#[test]
fn stress_static_cap_1() {
    static_runs!(1);
}

#[test]
fn stress_static_cap_2() {
    static_runs!(2);
}

#[test]
fn stress_static_cap_64() {
    static_runs!(64);
}
