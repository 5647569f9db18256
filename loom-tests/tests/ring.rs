//! The stamped MPMC ring, through the non-blocking API (`try_send`, `try_recv`,
//! `force_send`, `len`, `close`).
//!
//! Every model checks exactly-once delivery: each item is received once, or handed back
//! (`Full`/`Closed`/evicted), or still queued and drained at the end — and, through the
//! ledger, dropped exactly once, with loom's `Track` catching leaks.
#![cfg(loom)]

mod common;

use common::*;
use loom::thread;
use sluicebox::{
    bounded, bounded_starting_at_lap, Receiver, StaticChannel, TryRecvError, TrySendError,
};

/// The lap that puts a ring of `cap` one lap before its position word wraps.
fn last_lap(cap: usize) -> usize {
    let one_lap = (cap + 1).next_power_of_two() * 8;
    usize::MAX / one_lap
}

/// One producer thread sending ids `0..n` with `try_send`, one consumer thread calling
/// `try_recv` `n` times; then the main thread drains the rest. Checks exactly-once and FIFO
/// (the successful sends arrive in order), that `len` stays within `0..=cap`, and that
/// once the producer is joined nothing is "in flight" any more (`try_recv` never says
/// Empty before Closed). Afterwards: some execution delivered every item while both
/// threads ran (the model did explore the interleavings, see `common`).
fn spsc(cap: usize, n: usize, start_lap: usize) {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(n);
        let gate = Gate::new();
        let (tx, rx) = bounded_starting_at_lap::<Item>(cap, start_lap);
        let (l, g) = (ledger.clone(), gate.clone());
        let producer = thread::spawn(move || {
            let mut returned = Vec::new();
            for i in 0..n {
                g.point();
                match tx.try_send(l.item(i)) {
                    Ok(()) => {}
                    Err(TrySendError::Full(v)) => returned.push(id(v)),
                    Err(TrySendError::Closed(_)) => panic!("closed while a receiver lives"),
                }
                assert!(tx.len() <= cap);
            }
            returned
            // `tx` dropped here: the last sender closes the channel.
        });
        let rx2 = rx.clone();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..n {
                gate.point();
                match rx2.try_recv() {
                    Ok(v) => got.push(id(v)),
                    Err(TryRecvError::Empty) => {}
                    // The producer finished and dropped the last sender.
                    Err(TryRecvError::Closed) => break,
                    Err(e) => panic!("{e:?}"),
                }
                assert!(rx2.len() <= cap);
            }
            got
        });
        let returned = producer.join().unwrap();
        let mut got = consumer.join().unwrap();
        seen.record(got.len());
        loop {
            match rx.try_recv() {
                Ok(v) => got.push(id(v)),
                Err(TryRecvError::Closed) => break,
                Err(e) => panic!("{e:?} after the producer was joined"),
            }
        }
        assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
        let mut all: Vec<usize> = got.iter().chain(&returned).copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..n).collect::<Vec<_>>(),
            "got {got:?} returned {returned:?}"
        );
        let stats = rx.stats();
        assert_eq!(stats.sent, got.len() as u64);
        assert_eq!(stats.received, got.len() as u64);
        assert_eq!(stats.len, 0);
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(0);
    outcomes.assert_seen(n);
}

#[test]
fn spsc_cap1() {
    spsc(1, 2, 0);
}

#[test]
fn spsc_cap2() {
    spsc(2, 3, 0);
}

/// `wrap`: a ring of capacity 1 whose first position is one lap before `usize` wraps: the
/// second push lands on the wrapped position.
#[test]
fn wrap_spsc_cap1() {
    spsc(1, 2, last_lap(1));
}

/// `wrap`, capacity 2: positions `origin`, `origin + 1`, then the wrapped lap.
#[test]
fn wrap_spsc_cap2() {
    spsc(2, 3, last_lap(2));
}

/// `wrap`: the concurrent part straddles the wrap exactly. One item is sent and received
/// before the threads start, so both ends sit at the last index of the last lap; then one
/// thread sends two items (the last slot of the lap, then the first of the wrapped lap)
/// while another receives, reading `len` and `stats` (which count positions from the
/// origin with wrapping arithmetic) as it goes.
#[test]
fn wrap_straddle_cap2() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(3);
        let gate = Gate::new();
        let (tx, rx) = bounded_starting_at_lap::<Item>(2, last_lap(2));
        tx.try_send(ledger.item(0)).unwrap();
        assert_eq!(rx.try_recv().map(id), Ok(0));
        let (l, g) = (ledger.clone(), gate.clone());
        let producer = thread::spawn(move || {
            g.point();
            tx.try_send(l.item(1)).unwrap();
            g.point();
            tx.try_send(l.item(2))
                .unwrap_or_else(|e| panic!("{e:?}: 2 free slots"));
        });
        let rx2 = rx.clone();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                gate.point();
                let stats = rx2.stats();
                assert!(stats.len <= 2);
                assert_eq!(stats.sent - stats.received, stats.len as u64, "{stats:?}");
                assert!((1..=3).contains(&stats.sent), "{stats:?}");
                assert!(stats.received > got.len() as u64, "{stats:?}");
                gate.point();
                if let Ok(v) = rx2.try_recv() {
                    got.push(id(v));
                }
            }
            got
        });
        producer.join().unwrap();
        let mut got = consumer.join().unwrap();
        seen.record(got.clone());
        while let Ok(v) = rx.try_recv() {
            got.push(id(v));
        }
        assert_eq!(got, [1, 2]);
        let stats = rx.stats();
        assert_eq!((stats.sent, stats.received, stats.len), (3, 3, 0));
        assert!(rx.is_closed() && rx.is_empty());
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    // The item in the wrapped lap was received while the producer was running.
    outcomes.assert_seen(vec![1, 2]);
}

/// `wrap` on a static channel (`StaticChannel::starting_at_lap`), leaked for `'static`
/// handles: capacity 1, so every push moves to the next lap and the second one wraps.
#[test]
fn wrap_static_cap1() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let ch: &'static StaticChannel<Item, 1> =
            Box::leak(Box::new(StaticChannel::starting_at_lap(last_lap(1))));
        let (tx, rx) = ch.split();
        let (l, g) = (ledger.clone(), gate.clone());
        let producer = thread::spawn(move || {
            let mut returned = Vec::new();
            for i in 0..2 {
                g.point();
                if let Err(e) = tx.try_send(l.item(i)) {
                    assert!(e.is_full());
                    returned.push(id(e.into_inner()));
                }
            }
            returned
        });
        let rx2 = ch.receiver();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                gate.point();
                if let Ok(v) = rx2.try_recv() {
                    got.push(id(v));
                }
                assert!(ch.len() <= 1);
            }
            got
        });
        let returned = producer.join().unwrap();
        let mut got = consumer.join().unwrap();
        seen.record(got.len());
        loop {
            match rx.try_recv() {
                Ok(v) => got.push(id(v)),
                Err(TryRecvError::Closed) => break,
                Err(e) => panic!("{e:?} after the producer was joined"),
            }
        }
        assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
        let mut all: Vec<usize> = got.iter().chain(&returned).copied().collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1]);
        let stats = ch.stats();
        assert_eq!(
            (stats.sent, stats.received),
            (got.len() as u64, got.len() as u64)
        );
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(2);
}

/// Two producers (one item each) and two consumers (one `try_recv` each), then a drain:
/// exactly-once. Afterwards: some execution had both consumers receive.
fn mpmc_2x2(cap: usize, gates: bool, start_lap: usize) {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded_starting_at_lap::<Item>(cap, start_lap);
        let producers: Vec<_> = (0..2)
            .map(|i| {
                let (tx, l, g) = (tx.clone(), ledger.clone(), gate.clone());
                thread::spawn(move || {
                    if gates {
                        g.point();
                    }
                    match tx.try_send(l.item(i)) {
                        Ok(()) => None,
                        Err(TrySendError::Full(v)) => Some(id(v)),
                        Err(TrySendError::Closed(_)) => panic!("closed while a receiver lives"),
                    }
                })
            })
            .collect();
        drop(tx);
        // One consumer in a spawned thread, the other is the main thread (a fifth thread
        // costs minutes); the gate before the main thread's receive lets DPOR move it after
        // the other threads' operations (see `common`).
        let consumer = {
            let (rx, g) = (rx.clone(), gate.clone());
            thread::spawn(move || {
                if gates {
                    g.point();
                }
                rx.try_recv().ok().map(id)
            })
        };
        gate.point();
        let mut got: Vec<usize> = rx.try_recv().ok().map(id).into_iter().collect();
        let mut returned = Vec::new();
        for p in producers {
            returned.extend(p.join().unwrap());
        }
        got.extend(consumer.join().unwrap());
        seen.record(got.len());
        loop {
            match rx.try_recv() {
                Ok(v) => got.push(id(v)),
                Err(TryRecvError::Closed) => break,
                Err(e) => panic!("{e:?} after every thread was joined"),
            }
        }
        let mut all: Vec<usize> = got.iter().chain(&returned).copied().collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1], "got {got:?} returned {returned:?}");
        if cap >= 2 {
            // Two sends into two free slots: neither may be refused.
            assert!(
                returned.is_empty(),
                "false full at capacity {cap}: {returned:?}"
            );
        }
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(0);
    outcomes.assert_seen(2);
}

#[test]
fn mpmc_2x2_cap1() {
    mpmc_2x2(1, true, 0);
}

/// Also `false-full`: two items into two free slots are never refused, whatever the
/// receivers do meanwhile.
#[test]
fn mpmc_2x2_cap2_false_full() {
    mpmc_2x2(2, true, 0);
}

/// `wrap`: the 2 x 2 model on a capacity-1 ring one lap before its position word wraps,
/// so the slot's second use (and every `len`/full/empty check around it) straddles
/// `usize::MAX`.
#[test]
fn wrap_mpmc_2x2_cap1() {
    mpmc_2x2(1, true, last_lap(1));
}

/// `force_send` racing `recv`: capacity 1, pre-filled with item 0. One thread force-sends
/// item 1 (evicting 0 if it is still there); another receives once. Every item is
/// received, evicted and returned, or still queued — exactly once; the `evicted` statistic
/// matches the evictions returned. Afterwards: both "evicted, then the new item was
/// received" and "received the old item, no eviction" were explored.
#[test]
fn force_send_vs_recv_cap1() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        tx.try_send(ledger.item(0)).unwrap();
        let (l, g) = (ledger.clone(), gate.clone());
        let forcer = thread::spawn(move || {
            g.point();
            match tx.force_send(l.item(1)) {
                Ok(evicted) => (evicted.map(id), None),
                // Allowed only while the oldest slot cannot be evicted (it is mid-pop).
                Err(TrySendError::Full(v)) => (None, Some(id(v))),
                Err(TrySendError::Closed(_)) => panic!("closed while a receiver lives"),
            }
        });
        let rx2 = rx.clone();
        let receiver = thread::spawn(move || {
            gate.point();
            rx2.try_recv().ok().map(id)
        });
        let (evicted, refused) = forcer.join().unwrap();
        let received = receiver.join().unwrap();
        seen.record((evicted, refused, received));
        let mut got: Vec<usize> = received.into_iter().collect();
        while let Ok(v) = rx.try_recv() {
            got.push(id(v));
        }
        assert!(rx.is_closed());
        let mut all: Vec<usize> = got
            .iter()
            .chain(&evicted)
            .chain(&refused)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            [0, 1],
            "got {got:?} evicted {evicted:?} refused {refused:?}"
        );
        assert_eq!(rx.stats().evicted, evicted.iter().count() as u64);
        if evicted.is_some() {
            assert_eq!(evicted, Some(0), "only the oldest item is evicted");
        }
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen((Some(0), None, Some(1)));
    outcomes.assert_seen((None, None, Some(0)));
}

/// Two `force_send`ers racing one receiver at capacity 1 (pre-filled). A drop-oldest
/// send swaps in one step (PITFALLS `evict-then-full`): every eviction comes back to its
/// caller, none is dropped inside `force_send`, and `stats().evicted` counts exactly the
/// evictions returned. Exactly-once by drop count.
///
/// Once failed (before the one-step swap): `Ring::pop`, finding the head slot still
/// stamped "full, previous lap" (another pop claimed it with its CAS and has not yet
/// stored the next stamp), takes the "stale head" branch and spins with no bound, so the
/// two forcers spin, yielding to each other, while the thread that must finish the pop
/// never runs; loom reports the model exceeding its branch limit. See the README.
#[test]
fn force_send_two_forcers_cap1() {
    model(|| {
        let ledger = Ledger::new(3);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        tx.try_send(ledger.item(0)).unwrap();
        let forcers: Vec<_> = (1..3)
            .map(|i| {
                let (tx, l, g) = (tx.clone(), ledger.clone(), gate.clone());
                thread::spawn(move || {
                    g.point();
                    match tx.force_send(l.item(i)) {
                        Ok(evicted) => (evicted.map(id), None),
                        Err(TrySendError::Full(v)) => (None, Some(id(v))),
                        Err(TrySendError::Closed(_)) => panic!("closed while a receiver lives"),
                    }
                })
            })
            .collect();
        drop(tx);
        gate.point();
        let got_first = rx.try_recv().ok().map(id);
        let mut seen: Vec<usize> = got_first.into_iter().collect();
        let mut evictions_returned = 0;
        for f in forcers {
            let (evicted, refused) = f.join().unwrap();
            evictions_returned += evicted.is_some() as u64;
            seen.extend(evicted);
            seen.extend(refused);
        }
        while let Ok(v) = rx.try_recv() {
            seen.push(id(v));
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2], "every item seen exactly once: {seen:?}");
        assert_eq!(rx.stats().evicted, evictions_returned, "seen {seen:?}");
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// A drop-oldest send on a full channel racing `close()` and a receiver that receives
/// until the end (PITFALLS `evict-then-full`). The swap is one step: either it happened
/// before the close (the evicted item comes back, the new one is received — never `None`
/// first), or the send fails with its value and nothing is evicted. Capacity 1 and 2.
fn force_send_vs_close_and_recv(cap: usize) {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(cap + 1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(cap);
        for i in 0..cap {
            tx.try_send(ledger.item(i)).unwrap();
        }
        let (l, g) = (ledger.clone(), gate.clone());
        let forcer = thread::spawn(move || {
            g.point();
            match tx.force_send(l.item(cap)) {
                Ok(evicted) => (evicted.map(id), None),
                Err(TrySendError::Full(v)) => (None, Some((false, id(v)))),
                Err(TrySendError::Closed(v)) => (None, Some((true, id(v)))),
            }
        });
        let (closer_rx, g) = (rx.clone(), gate.clone());
        let closer = thread::spawn(move || {
            g.point();
            closer_rx.close();
        });
        gate.point();
        let mut got = Vec::new();
        while let Some(v) = loom::future::block_on(rx.recv()) {
            got.push(id(v));
        }
        let (evicted, refused) = forcer.join().unwrap();
        closer.join().unwrap();
        seen.record((evicted.is_some(), refused.map(|r| r.0)));
        let mut all: Vec<usize> = got.iter().chain(&evicted).copied().collect();
        all.extend(refused.map(|r| r.1));
        all.sort_unstable();
        assert_eq!(
            all,
            (0..=cap).collect::<Vec<_>>(),
            "received {got:?}, evicted {evicted:?}, refused {refused:?}"
        );
        if evicted.is_some() {
            assert_eq!(evicted, Some(0), "only the oldest item is evicted");
            assert_eq!(
                got.last(),
                Some(&cap),
                "the swapped-in item is received, last"
            );
        }
        assert_eq!(rx.stats().evicted, evicted.iter().count() as u64);
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen((true, None));
    outcomes.assert_seen((false, Some(true)));
}

#[test]
fn evict_then_full_force_send_vs_close_and_recv_cap1() {
    force_send_vs_close_and_recv(1);
}

#[test]
fn evict_then_full_force_send_vs_close_and_recv_cap2() {
    force_send_vs_close_and_recv(2);
}

/// `len()` (and `stats`) read while a send, a receive and a close race: always within
/// `0..=capacity`, and a snapshot's `sent - received == len`.
#[test]
fn len_within_bounds_during_send_recv_close() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(2);
        tx.try_send(ledger.item(0)).unwrap();
        let (l, g, tx2) = (ledger.clone(), gate.clone(), tx.clone());
        let sender = thread::spawn(move || {
            g.point();
            tx2.try_send(l.item(1)).map_err(|e| id(e.into_inner()))
        });
        let (rx2, g) = (rx.clone(), gate.clone());
        let receiver = thread::spawn(move || {
            g.point();
            rx2.try_recv().ok().map(id)
        });
        let (tx3, g) = (tx.clone(), gate.clone());
        let closer = thread::spawn(move || {
            g.point();
            tx3.close();
        });
        let mut lens = Vec::new();
        for _ in 0..2 {
            gate.point();
            let s = tx.stats();
            assert!(s.len <= 2, "{s:?}");
            assert_eq!(s.sent - s.received, s.len as u64, "{s:?}");
            let len = tx.len();
            assert!(len <= 2, "len {len}");
            lens.push(len);
        }
        let refused = sender.join().unwrap();
        let got = receiver.join().unwrap();
        closer.join().unwrap();
        seen.record(lens);
        drop(tx);
        let mut all: Vec<usize> = got.into_iter().chain(refused.err()).collect();
        while let Ok(v) = rx.try_recv() {
            all.push(id(v));
        }
        all.sort_unstable();
        assert_eq!(all, [0, 1]);
        assert_eq!(rx.len(), 0);
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    // The reads saw the queue change under them: full (2) and drained (0) were both read.
    outcomes.assert_seen(vec![1, 2]);
    outcomes.assert_seen(vec![1, 0]);
}

/// `skip-hang` / `hol`: capacity 1, the only slot reserved by a held `Permit` (claimed,
/// not yet published). A `try_send` from another thread must report `Full` and return
/// its value, not spin until the permit is published: the permit's holder waits for the
/// sender (`join`) before it sends, so a spinning `try_send` never finishes (loom reports
/// the spin as exceeding its branch limit).
#[test]
fn skip_hang_try_send_behind_held_permit_cap1() {
    model(|| {
        let ledger = Ledger::new(2);
        let (tx, rx) = bounded::<Item>(1);
        let permit_tx = tx.clone();
        let permit = permit_tx
            .try_reserve()
            .expect("an empty channel has a free slot");
        let l = ledger.clone();
        let sender = thread::spawn(move || match tx.try_send(l.item(1)) {
            Err(TrySendError::Full(v)) => id(v),
            other => panic!("expected Full behind a held permit, got {other:?}"),
        });
        assert_eq!(sender.join().unwrap(), 1);
        permit.send(ledger.item(0));
        drop(permit_tx);
        assert_eq!(rx.try_recv().map(id), Ok(0));
        assert_eq!(rx.try_recv().map(id), Err(TryRecvError::Closed));
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// `skip-hang`: as above for `force_send`, whose docs promise `Full` "when the oldest
/// slot cannot be evicted because it is reserved by a Permit that is still held".
#[test]
fn skip_hang_force_send_behind_held_permit_cap1() {
    model(|| {
        let ledger = Ledger::new(2);
        let (tx, rx) = bounded::<Item>(1);
        let permit_tx = tx.clone();
        let permit = permit_tx
            .try_reserve()
            .expect("an empty channel has a free slot");
        let l = ledger.clone();
        let sender = thread::spawn(move || match tx.force_send(l.item(1)) {
            Err(TrySendError::Full(v)) => id(v),
            other => panic!("expected Full behind a held permit, got {other:?}"),
        });
        assert_eq!(sender.join().unwrap(), 1);
        permit.send(ledger.item(0));
        drop(permit_tx);
        assert_eq!(rx.try_recv().map(id), Ok(0));
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// `force_send` racing a receiver that is mid-pop on a full channel (found by a review on
/// 2026-12-01): the slot to fill is the one being read, so evicting other items cannot
/// free it. `force_send` must not destroy queued items for nothing: it may give up with
/// `Full` (as `try_send` would), but with `std` only without having evicted anything
/// (under `--cfg sluicebox_fenced`, the bare-metal protocol, it may drop one evicted
/// item). Every item is received, returned, or counted as evicted, exactly once.
#[test]
fn force_send_vs_receiver_mid_pop_cap2() {
    model(|| {
        let ledger = Ledger::new(3);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(2);
        tx.try_send(ledger.item(0)).unwrap();
        tx.try_send(ledger.item(1)).unwrap();
        let (l, g) = (ledger.clone(), gate.clone());
        let forcer = thread::spawn(move || {
            g.point();
            let r = tx.force_send(l.item(2)).map_err(|e| e.into_inner());
            let evicted = tx.stats().evicted;
            (r.map(|e| e.map(id)).map_err(id), evicted)
        });
        gate.point();
        let first = rx.try_recv().map(id).ok();
        let (res, evicted) = forcer.join().unwrap();
        let mut seen: Vec<usize> = first.into_iter().collect();
        match res {
            Ok(returned) => {
                assert_eq!(evicted, returned.is_some() as u64);
                seen.extend(returned);
            }
            Err(refused) => {
                if !cfg!(sluicebox_fenced) {
                    assert_eq!(evicted, 0, "gave up after evicting an item");
                }
                seen.push(refused);
            }
        }
        while let Ok(v) = rx.try_recv() {
            seen.push(id(v));
        }
        let mut distinct = seen.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), seen.len(), "an item seen twice: {seen:?}");
        // An item not seen was evicted and dropped inside `force_send`: it must be counted.
        let unseen: Vec<usize> = (0..3).filter(|i| !seen.contains(i)).collect();
        assert!(
            unseen.len() as u64 <= evicted,
            "{unseen:?} vanished, {evicted} evicted"
        );
        for &i in &unseen {
            assert_eq!(ledger.drops(i), 1, "item {i} neither seen nor dropped");
        }
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// A drop-oldest swap whose head CAS loses to a receiver (which then closes), racing a
/// receiver that receives to the end (PITFALLS `evict-then-full`). A receiver that meets
/// the swap in progress treats it as a slot in flight; without `std` it parks there, and
/// the swap that gives up must wake it (found by review: with a swap counter instead of
/// the swap bit, and no wake on giving up, it slept on a closed, empty channel under
/// `--cfg sluicebox_fenced`).
#[test]
fn evict_then_full_failed_swap_vs_close_receiver_returns() {
    model(|| {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        tx.try_send(ledger.item(0)).unwrap();
        let (l, g) = (ledger.clone(), gate.clone());
        let forcer = thread::spawn(move || {
            g.point();
            match tx.force_send(l.item(1)) {
                Ok(evicted) => (true, evicted.map(id), None),
                Err(TrySendError::Full(v)) => (false, None, Some(id(v))),
                Err(TrySendError::Closed(v)) => (false, None, Some(id(v))),
            }
        });
        let (rx1, g) = (rx.clone(), gate.clone());
        let popper = thread::spawn(move || {
            g.point();
            let got = rx1.try_recv().ok().map(id);
            g.point();
            rx1.close();
            got
        });
        let (rx2, g) = (rx.clone(), gate.clone());
        let receiver = thread::spawn(move || {
            g.point();
            let mut got = Vec::new();
            while let Some(v) = loom::future::block_on(rx2.recv()) {
                got.push(id(v));
            }
            got
        });
        let (_, evicted, refused) = forcer.join().unwrap();
        let popped = popper.join().unwrap();
        let got = receiver.join().unwrap();
        let mut all: Vec<usize> = got
            .iter()
            .chain(&evicted)
            .chain(&popped)
            .chain(&refused)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            [0, 1],
            "got {got:?} evicted {evicted:?} popped {popped:?} refused {refused:?}"
        );
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// Capacity 1, pre-filled with item 0: one thread `force_send`s item 1 while another
/// calls `observe` on a receiver. Then `check` gets the send's result (`Ok(evicted id)`,
/// or `Err(refused id)`), what was observed, and the receiver (to drain); every item is
/// dropped exactly once afterwards.
fn swap_observed<O: Send + 'static>(
    observe: fn(&Receiver<Item>) -> O,
    check: fn(Result<Option<usize>, usize>, O, &Receiver<Item>),
) {
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        tx.try_send(ledger.item(0)).unwrap();
        let (l, g) = (ledger.clone(), gate.clone());
        let forcer = thread::spawn(move || {
            g.point();
            tx.force_send(l.item(1))
                .map(|e| e.map(id))
                .map_err(|e| id(e.into_inner()))
        });
        let (rx1, g) = (rx.clone(), gate.clone());
        let observer = thread::spawn(move || {
            g.point();
            observe(&rx1)
        });
        let r = forcer.join().unwrap();
        let o = observer.join().unwrap();
        check(r, o, &rx);
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// `len()` and `stats()` of a channel that is full before and after a `force_send`
/// (capacity 1, no receiver) read full throughout the swap with `std` (found by review:
/// they read 0 between the swap's head CAS and its tail move).
#[test]
fn evict_then_full_len_stays_full_during_swap() {
    swap_observed(
        |rx| (rx.len(), rx.stats().len),
        |r, (n, slen), _| {
            assert_eq!(r, Ok(Some(0)));
            if cfg!(sluicebox_fenced) {
                // Without `std` a read mid-swap sees the ring as it stands: one item
                // short for that instant (documented on `Ring::positions`).
                assert!(n <= 1 && slen <= 1, "len {n}, stats().len {slen}");
            } else {
                assert_eq!((n, slen), (1, 1), "len() of a channel that is always full");
            }
        },
    );
}

/// `try_recv` on a channel that is always full (capacity 1) while a `force_send` swaps:
/// the item or, at the swap's slot in flight, `Empty` (the documented false-empty of a
/// slot in flight) — never `Closed`. Without `std` the send may refuse (`Full`, nothing
/// evicted) while the oldest is mid-pop. Every item comes out exactly once.
#[test]
fn evict_then_full_try_recv_during_swap_never_closed() {
    swap_observed(
        |rx| rx.try_recv().map(id),
        |r, o, rx| {
            assert!(
                !matches!(o, Err(TryRecvError::Closed)),
                "try_recv on an open channel: {o:?}; force_send: {r:?}"
            );
            let mut got: Vec<usize> = o.ok().into_iter().collect();
            while let Ok(v) = rx.try_recv() {
                got.push(id(v));
            }
            let (evicted, refused) = match r {
                Ok(evicted) => (evicted, None),
                Err(v) => (None, Some(v)),
            };
            let mut all: Vec<usize> = got
                .iter()
                .chain(&evicted)
                .chain(&refused)
                .copied()
                .collect();
            all.sort_unstable();
            assert_eq!(all, [0, 1], "got {got:?}, evicted {evicted:?}");
        },
    );
}

/// A sender that meets a swap in progress parks there without `std` (a slot in flight);
/// a receive frees a slot meanwhile, and its wake finds nobody queued yet. The swap must
/// wake the sender when it is done (found by review: it woke receivers only, and the
/// sender slept beside a free slot under `--cfg sluicebox_fenced`). Capacity 2.
#[test]
fn evict_then_full_sender_parked_at_swap_is_woken() {
    model(|| {
        let cap = 2;
        let ledger = Ledger::new(4);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(cap);
        for i in 0..cap {
            tx.try_send(ledger.item(i)).unwrap();
        }
        let tx2 = tx.clone();
        let (l, g) = (ledger.clone(), gate.clone());
        let forcer = thread::spawn(move || {
            g.point();
            match tx.force_send(l.item(2)) {
                Ok(evicted) => (evicted.map(id), None),
                Err(TrySendError::Full(v) | TrySendError::Closed(v)) => (None, Some(id(v))),
            }
        });
        let (rx1, g) = (rx.clone(), gate.clone());
        let receiver = thread::spawn(move || {
            g.point();
            rx1.try_recv().ok().map(id)
        });
        let (l, g) = (ledger.clone(), gate.clone());
        let sender = thread::spawn(move || {
            g.point();
            loom::future::block_on(tx2.send(l.item(3))).map_err(|e| id(e.0))
        });
        let (evicted, refused) = forcer.join().unwrap();
        let popped = receiver.join().unwrap();
        let mut got: Vec<usize> = Vec::new();
        // If the ring is legitimately full (the sender must wait), make room: that pop
        // wakes the sender. With a free slot, the sender must finish on its own.
        if rx.len() == cap {
            if let Ok(v) = rx.try_recv() {
                got.push(id(v));
            }
        }
        let sent = sender.join().unwrap();
        while let Ok(v) = rx.try_recv() {
            got.push(id(v));
        }
        let mut all: Vec<usize> = got
            .iter()
            .chain(&evicted)
            .chain(&popped)
            .chain(&refused)
            .copied()
            .collect();
        if let Err(i) = sent {
            all.push(i);
        }
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}
