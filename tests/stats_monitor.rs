//! `stats()` snapshots and the `Monitor` handle: invariants under concurrent load, exact
//! when quiet, and the monitor's lifetime rules.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]

use sluicebox::{bounded, Monitor, StaticChannel, Stats, TrySendError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

/// Checks one snapshot against the previous one from the same observer.
fn check(prev: &Stats, s: &Stats) {
    assert!(
        s.len <= s.capacity,
        "len {} > capacity {}",
        s.len,
        s.capacity
    );
    assert_eq!(
        s.sent - s.received,
        s.len as u64,
        "sent - received != len in one snapshot: {s:?}"
    );
    assert!(
        s.sent >= prev.sent,
        "sent went backwards: {prev:?} -> {s:?}"
    );
    assert!(
        s.received >= prev.received,
        "received went backwards: {prev:?} -> {s:?}"
    );
    assert!(
        s.rejected >= prev.rejected,
        "rejected went backwards: {prev:?} -> {s:?}"
    );
    assert!(
        s.evicted >= prev.evicted,
        "evicted went backwards: {prev:?} -> {s:?}"
    );
    assert!(!prev.closed || s.closed, "closed went back to open");
}

/// Polls `monitor` in a tight loop until `stop`, checking every snapshot; returns how
/// many snapshots it took and the largest `len` it saw.
///
/// Returns only once the watcher has taken its first snapshot, so the load a test starts
/// next is observed from its start: on a busy 2-core machine a thread that was merely
/// spawned may not run before a short load is over.
fn watch<T: Send + 'static>(
    monitor: Monitor<T>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<(u64, usize)> {
    let started = Arc::new(std::sync::Barrier::new(2));
    let handle = thread::spawn({
        let started = started.clone();
        move || {
            let mut prev = monitor.stats();
            let (mut reads, mut peak) = (1u64, prev.len);
            started.wait();
            while !stop.load(Ordering::Relaxed) {
                let s = monitor.stats();
                check(&prev, &s);
                let len = monitor.len();
                assert!(len <= monitor.capacity(), "len() {len} out of range");
                peak = peak.max(s.len);
                prev = s;
                reads += 1;
            }
            (reads, peak)
        }
    });
    started.wait();
    handle
}

#[test]
fn stats_invariants_hold_under_load_blocking() {
    const PER_PRODUCER: u64 = 20_000;
    for cap in [1, 4, 64] {
        let (tx, rx) = bounded::<u64>(cap);
        let stop = Arc::new(AtomicBool::new(false));
        let watchers: Vec<_> = (0..2).map(|_| watch(tx.monitor(), stop.clone())).collect();
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..PER_PRODUCER {
                        tx.send_blocking(p * PER_PRODUCER + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let sum = Arc::new(AtomicU64::new(0));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let (rx, sum) = (rx.clone(), sum.clone());
                thread::spawn(move || {
                    let mut n = 0u64;
                    while let Ok(v) = rx.recv_blocking() {
                        sum.fetch_add(v, Ordering::Relaxed);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let received: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        for w in watchers {
            let (reads, peak) = w.join().unwrap();
            assert!(
                peak <= cap,
                "peak len {peak} > capacity {cap} ({reads} snapshots)"
            );
        }
        let total = 2 * PER_PRODUCER;
        assert_eq!(received, total);
        assert_eq!(sum.load(Ordering::Relaxed), total * (total - 1) / 2);
        // Quiet now: exact.
        let s = rx.stats();
        assert_eq!(
            (s.sent, s.received, s.len),
            (total, total, 0),
            "cap {cap}: {s:?}"
        );
        assert_eq!((s.senders, s.receivers, s.closed), (0, 1, true));
        assert_eq!((s.senders_waiting, s.receivers_waiting), (0, 0));
    }
}

#[test]
fn stats_rejected_and_evicted_match_what_callers_saw() {
    const TRIES: u64 = 20_000;
    let (tx, rx) = bounded::<u64>(2);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(rx.monitor(), stop.clone());
    let senders: Vec<_> = (0..2)
        .map(|who| {
            let tx = tx.clone();
            thread::spawn(move || {
                let (mut sent, mut full, mut evicted) = (0u64, 0u64, 0u64);
                for i in 0..TRIES {
                    if who == 0 {
                        match tx.try_send(i) {
                            Ok(()) => sent += 1,
                            Err(TrySendError::Full(_)) => full += 1,
                            Err(TrySendError::Closed(_)) => unreachable!(),
                        }
                    } else {
                        match tx.force_send(i) {
                            Ok(None) => sent += 1,
                            Ok(Some(_)) => {
                                sent += 1;
                                evicted += 1;
                            }
                            // Only a held permit can refuse a force_send; none here.
                            Err(e) => panic!("force_send failed: {e}"),
                        }
                    }
                }
                (sent, full, evicted)
            })
        })
        .collect();
    let receiver = thread::spawn(move || {
        let mut n = 0u64;
        while let Ok(_v) = rx.recv_blocking() {
            n += 1;
        }
        (n, rx)
    });
    let mut totals = (0, 0, 0);
    for s in senders {
        let (a, b, c) = s.join().unwrap();
        totals = (totals.0 + a, totals.1 + b, totals.2 + c);
    }
    drop(tx);
    let (got, rx) = receiver.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let s = rx.stats();
    let (sent, full, evicted) = totals;
    assert_eq!(s.rejected, full, "{s:?}");
    // `force_send` can evict more than it hands back (racing senders refill the freed
    // slot; documented), never less.
    assert!(s.evicted >= evicted, "{s:?} vs {evicted} seen");
    assert_eq!(s.sent, sent, "{s:?}");
    assert_eq!(
        got + s.evicted,
        sent,
        "every accepted item was received or evicted"
    );
    assert_eq!(s.received, sent);
}

#[test]
fn stats_invariants_hold_under_async_load() {
    const PER_PRODUCER: u64 = 10_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (tx, rx) = bounded::<u64>(8);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(tx.monitor(), stop.clone());
    let sum = rt.block_on(async move {
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..PER_PRODUCER {
                        tx.send(p * PER_PRODUCER + i).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let (mut n, mut sum) = (0u64, 0u64);
                    while let Some(v) = rx.recv().await {
                        n += 1;
                        sum += v;
                    }
                    (n, sum)
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        let mut total = (0, 0);
        for c in consumers {
            let (n, s) = c.await.unwrap();
            total = (total.0 + n, total.1 + s);
        }
        let s = rx.stats();
        assert_eq!((s.sent, s.received, s.len), (total.0, total.0, 0));
        total
    });
    stop.store(true, Ordering::Relaxed);
    let (reads, peak) = watcher.join().unwrap();
    assert!(
        peak <= 8,
        "peak len {peak} > capacity 8 ({reads} snapshots)"
    );
    let n = 4 * PER_PRODUCER;
    assert_eq!(sum, (n, n * (n - 1) / 2));
}

#[test]
fn monitor_does_not_count_or_keep_the_channel_open() {
    let (tx, rx) = bounded::<String>(4);
    let gauge = tx.monitor();
    let gauge2 = gauge.clone();
    assert_eq!((gauge.sender_count(), gauge.receiver_count()), (1, 1));
    tx.try_send("a".into()).unwrap();
    drop(tx);
    // The monitor is not a sender: the channel closed with the last sender.
    assert!(gauge.is_closed());
    assert_eq!(rx.try_recv().as_deref(), Ok("a"));
    assert_eq!(rx.try_recv(), Err(sluicebox::TryRecvError::Closed));
    drop(rx);
    // The channel is gone; the monitors report its final state.
    let s = gauge2.stats();
    assert_eq!(
        (s.len, s.sent, s.received, s.senders, s.receivers, s.closed),
        (0, 1, 1, 0, 0, true)
    );
    assert!(gauge.same_channel(&gauge2));
    assert!(format!("{gauge:?}").contains("Monitor"));
}

#[test]
fn monitor_does_not_keep_items_alive() {
    let item = Arc::new(());
    let (tx, rx) = bounded::<Arc<()>>(4);
    let gauge = rx.monitor();
    tx.try_send(item.clone()).unwrap();
    drop(rx);
    // The last receiver's drop drained the queue although a monitor lives.
    assert_eq!(Arc::strong_count(&item), 1);
    assert!(gauge.stats().closed);
    assert!(tx.try_send(item.clone()).unwrap_err().is_closed());
}

#[test]
fn monitor_is_send_sync_clone_debug() {
    fn assert_traits<M: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    assert_traits::<Monitor<u64>>();
    assert_traits::<sluicebox::StaticMonitor<'static, u64, 4>>();
}

#[test]
fn monitor_of_a_static_channel() {
    static CH: StaticChannel<u32, 3> = StaticChannel::new();
    let gauge = CH.monitor();
    let (tx, rx) = CH.split();
    let gauge_tx = tx.monitor();
    assert!(gauge.same_channel(&gauge_tx));
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert!(tx.try_send(3).is_ok());
    assert!(tx.try_send(4).is_err());
    let s = gauge.stats();
    assert_eq!((s.len, s.capacity, s.sent, s.rejected), (3, 3, 3, 1));
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx);
    assert!(gauge.is_closed());
    assert_eq!((gauge.sender_count(), gauge.receiver_count()), (0, 1));
    let s = gauge_tx.stats();
    assert_eq!((s.len, s.received, s.senders), (2, 1, 0));
}

#[test]
fn stats_waiting_counts_are_exact_when_quiet() {
    let (tx, rx) = bounded::<u8>(1);
    tx.try_send(0).unwrap();
    let gauge = rx.monitor();
    let senders: Vec<_> = (1..=3u8)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || tx.send_blocking(i).unwrap())
        })
        .collect();
    // Wait until all three are parked (bounded wait; the counts come from the wait list).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while gauge.stats().senders_waiting < 3 {
        assert!(std::time::Instant::now() < deadline, "{:?}", gauge.stats());
        thread::yield_now();
    }
    assert_eq!(gauge.stats().senders_waiting, 3);
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(rx.recv_blocking().unwrap());
    }
    for s in senders {
        s.join().unwrap();
    }
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3]);
    let s = gauge.stats();
    assert_eq!((s.senders_waiting, s.receivers_waiting, s.len), (0, 0, 0));
}
