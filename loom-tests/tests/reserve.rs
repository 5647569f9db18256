//! Reservations (ring invariant 5): a permit holds room, never a place in line.
//!
//! - Receivers take every item that is ready while a permit is held; a receiver that
//!   waited at a held permit would deadlock these models (loom reports it).
//! - Items plus reservations never exceed the capacity; a reservation given back frees its
//!   room at once, for a parked sender.
//! - A closed channel reports its end only once no permit is out, and the last permit's
//!   send or drop wakes every parked receiver.
//! - Drop-oldest leaves reserved room alone.
//!
//! Actors run in spawned threads behind `Gate` points (see `common`).
#![cfg(loom)]

mod common;

use common::*;
use loom::future::block_on;
use loom::thread;
use sluicebox::{bounded, TrySendError};
use std::task::Poll;

/// `hol`: a permit held for the whole model (sent only after everything else is done)
/// while a sender sends and a receiver receives, both blocking: the receiver gets the
/// item. If receivers waited at the permit, the receiver would wait for the main thread,
/// which waits for the receiver: a deadlock, which loom reports.
#[test]
fn hol_receiver_not_held_up_by_a_held_permit_cap2() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(3);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(2);
        let permit_tx = tx.clone();
        let permit = permit_tx.try_reserve().expect("an empty channel");
        let (l, g) = (ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            g.point();
            tx.send_blocking(l.item(1)).expect("the receiver lives");
            g.point();
            // Room: one slot held by the permit, one by item 1 unless it was received.
            match tx.try_send(l.item(2)) {
                Ok(()) => true,
                Err(TrySendError::Full(v)) => {
                    drop(v);
                    false
                }
                Err(e) => panic!("{e:?}"),
            }
        });
        let r = thread::spawn(move || {
            gate.point();
            let got = rx.recv_blocking().map(id);
            (got, rx)
        });
        let (got, rx) = r.join().unwrap();
        assert_eq!(got, Ok(1), "the ready item, past the held permit");
        let stats = rx.stats();
        assert!(stats.len + stats.reserved <= 2, "{stats:?}");
        let fit = s.join().unwrap();
        seen.record(fit);
        assert_eq!(rx.reserved(), 1);
        permit.send(ledger.item(0));
        if fit {
            assert_eq!(rx.try_recv().map(id), Ok(2));
        }
        assert_eq!(rx.try_recv().map(id), Ok(0));
        drop((permit_tx, rx));
        ledger.assert_all_dropped_once();
    });
    // Item 2 fit once item 1 was received, and not before.
    outcomes.assert_seen(true);
    outcomes.assert_seen(false);
}

/// `hol`: the room of a permit dropped unused is free at once: a sender parked on the
/// full channel (the permit holds its only slot) is woken and sends; a receiver racing
/// all of it gets that item exactly once. Explored: the sender parked before the drop.
#[test]
fn hol_dropped_permit_frees_room_for_parked_sender() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let permit_tx = tx.clone();
        let permit = permit_tx.try_reserve().expect("an empty channel");
        let (l, g) = (ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            g.point();
            // Full (the permit holds the only slot) until the permit is dropped.
            let parked_at_once = tx.is_full();
            tx.send_blocking(l.item(0)).expect("the receiver lives");
            parked_at_once
        });
        let g = gate.clone();
        let r = thread::spawn(move || {
            g.point();
            let got = rx.recv_blocking().map(id);
            (got, rx)
        });
        gate.point();
        drop(permit);
        let parked = s.join().unwrap();
        let (got, rx) = r.join().unwrap();
        assert_eq!(got, Ok(0));
        let st = rx.stats();
        assert_eq!(
            (st.len, st.reserved, st.sent, st.received),
            (0, 0, 1, 1),
            "one item through; the dropped permit counts nowhere"
        );
        seen.record(parked);
        drop((permit_tx, rx));
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(true);
}

/// Reservations, sends through them, returns and plain sends from two threads at
/// capacity 2, against a receiver: items plus reservations never exceed the capacity
/// (the receiver checks each snapshot), every accepted item is received exactly once, and
/// each producer's items arrive in the order it sent them.
#[test]
fn room_is_exact_with_reservations_and_sends_racing_cap2() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(3);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(2);
        let (tx2, l, g) = (tx.clone(), ledger.clone(), gate.clone());
        // Producer A: a permit it gives back, then one it sends through.
        let a = thread::spawn(move || {
            let item = l.item(0);
            g.point();
            drop(tx2.try_reserve());
            g.point();
            let sent = match tx2.try_reserve() {
                Ok(permit) => {
                    g.point();
                    permit.send(item);
                    true
                }
                Err(_) => false,
            };
            sent
        });
        // Producer B: two plain sends.
        let (l, g) = (ledger.clone(), gate.clone());
        let b = thread::spawn(move || {
            let mut sent = Vec::new();
            for i in [1, 2] {
                g.point();
                if tx.try_send(l.item(i)).is_ok() {
                    sent.push(i);
                }
            }
            sent
        });
        let r = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                gate.point();
                let st = rx.stats();
                assert!(st.len + st.reserved <= 2, "room exceeded: {st:?}");
                if let Ok(v) = rx.try_recv() {
                    got.push(id(v));
                }
            }
            (got, rx)
        });
        let a_sent = a.join().unwrap();
        let b_sent = b.join().unwrap();
        let (mut got, rx) = r.join().unwrap();
        assert_eq!(rx.reserved(), 0, "every reservation was sent or given back");
        while let Ok(v) = rx.try_recv() {
            got.push(id(v));
        }
        let mut expect: Vec<usize> = b_sent.clone();
        if a_sent {
            expect.push(0);
        }
        let mut sorted = got.clone();
        sorted.sort_unstable();
        expect.sort_unstable();
        assert_eq!(sorted, expect, "exactly the accepted items, once each");
        let b_order: Vec<usize> = got.iter().copied().filter(|&i| i != 0).collect();
        assert_eq!(b_order, b_sent, "producer B's order");
        seen.record((a_sent, b_sent.len()));
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    // Room ran out for somebody, and somewhere everything fit.
    outcomes.assert_seen((true, 2));
    outcomes.assert_seen((true, 1));
}

/// `close-behind-permit`: two receivers parked on an empty channel while two permits are
/// out — one a thread blocked in `recv_blocking`, one a `recv` future the main thread
/// polls by hand; the channel is closed (they wake, see permits out, and park again),
/// then one permit sends and the other is dropped, in either order. Every receiver
/// returns: between them the one item, and the end.
///
/// One receiver thread, not two: two threads waiting out the same write in flight (the
/// `std` protocol) make loom exceed its branch limit, on this design and the one before
/// it (each spinner yields to the other); under `--cfg sluicebox_fenced`, which parks
/// instead, two blocked receivers pass.
#[test]
fn close_behind_permit_last_permit_wakes_every_receiver() {
    model(|| {
        for send_last in [false, true] {
            let ledger = Ledger::new(1);
            let gate = Gate::new();
            let (tx, rx) = bounded::<Item>(2);
            let p1 = tx.try_reserve().unwrap();
            let p2 = tx.try_reserve().unwrap();
            let (rx1, g) = (rx.clone(), gate.clone());
            let r1 = thread::spawn(move || {
                g.point();
                let mut got = 0;
                while let Ok(v) = rx1.recv_blocking() {
                    id(v);
                    got += 1;
                }
                got
            });
            let (woken, waker) = CountWaker::new();
            let mut r2 = Box::pin(rx.recv());
            assert!(poll_once(r2.as_mut(), &waker).is_pending());
            gate.point();
            assert!(rx.close());
            assert!(woken.wakes() >= 1, "the close wakes the parked future");
            assert!(
                poll_once(r2.as_mut(), &waker).is_pending(),
                "permits are out: not the end yet"
            );
            let seen = woken.wakes();
            gate.point();
            if send_last {
                drop(p2);
                gate.point();
                p1.send(ledger.item(0));
            } else {
                p1.send(ledger.item(0));
                gate.point();
                drop(p2);
            }
            let mut got = r1.join().unwrap();
            assert!(
                woken.wakes() > seen,
                "the last permit (or its item) wakes the parked future"
            );
            match poll_once(r2.as_mut(), &waker) {
                Poll::Ready(Some(v)) => {
                    id(v);
                    got += 1;
                }
                Poll::Ready(None) => {}
                Poll::Pending => panic!("woken, but the end is not there"),
            }
            assert_eq!(got, 1, "the permit's item, received once");
            drop(r2);
            assert_eq!(rx.try_recv().map(id), Err(sluicebox::TryRecvError::Closed));
            drop((tx, rx));
            ledger.assert_all_dropped_once();
        }
    });
}

/// Drop-oldest beside a reservation: a `force_send` on a channel whose room is held
/// partly by a permit (capacity 1: all of it) races the permit's send or drop. It evicts
/// only published items, never the permit's room: `Full` while the permit holds the
/// slot; afterwards a plain send, or a swap of the permit's item. Every item comes out
/// exactly once (received, or handed back by `force_send`).
#[test]
fn evict_then_full_force_send_vs_permit_cap1() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        for send_it in [true, false] {
            let ledger = Ledger::new(2);
            let gate = Gate::new();
            let (tx, rx) = bounded::<Item>(1);
            let permit_tx = tx.clone();
            let permit = permit_tx.try_reserve().unwrap();
            let (l, g) = (ledger.clone(), gate.clone());
            let f = thread::spawn(move || {
                g.point();
                match tx.force_send(l.item(1)) {
                    Ok(None) => "plain",
                    Ok(Some(old)) => {
                        assert_eq!(id(old), 0, "only the permit's item can be the oldest");
                        "swapped"
                    }
                    Err(TrySendError::Full(v)) => {
                        drop(v);
                        "full"
                    }
                    Err(e) => panic!("{e:?}"),
                }
            });
            gate.point();
            if send_it {
                permit.send(ledger.item(0));
            } else {
                drop((permit, ledger.item(0)));
            }
            let how = f.join().unwrap();
            let got = rx.try_recv().map(id).ok();
            match (send_it, how) {
                (true, "full") => assert_eq!(got, Some(0)),
                (true, "swapped") | (false, "plain") => assert_eq!(got, Some(1)),
                (false, "full") => assert_eq!(got, None),
                other => panic!("unexpected {other:?}, got {got:?}"),
            }
            seen.record((send_it, how));
            drop((permit_tx, rx));
            ledger.assert_all_dropped_once();
        }
    });
    outcomes.assert_seen((true, "full"));
    outcomes.assert_seen((true, "swapped"));
    outcomes.assert_seen((false, "full"));
    outcomes.assert_seen((false, "plain"));
}

/// An async `reserve` parked on a full channel (a permit holds the only slot) is woken
/// by the permit's drop and gets the room; a `try_send` racing it may take the room
/// first (barging), and then the woken reserve parks again until the receiver frees it.
/// Nothing hangs; every item is received once.
#[test]
fn reserve_parked_woken_by_dropped_permit() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let permit_tx = tx.clone();
        let permit = permit_tx.try_reserve().unwrap();
        let (tx2, l, g) = (tx.clone(), ledger.clone(), gate.clone());
        let waiter = thread::spawn(move || {
            g.point();
            let p = block_on(tx2.reserve()).expect("open");
            p.send(l.item(0));
        });
        let (l, g) = (ledger.clone(), gate.clone());
        let barger = thread::spawn(move || {
            g.point();
            tx.try_send(l.item(1)).is_ok()
        });
        gate.point();
        drop(permit);
        let barged = barger.join().unwrap();
        let mut got = Vec::new();
        if barged {
            got.push(id(rx.recv_blocking().unwrap()));
        }
        waiter.join().unwrap();
        while let Ok(v) = rx.try_recv() {
            got.push(id(v));
        }
        got.sort_unstable();
        assert_eq!(got, if barged { vec![0, 1] } else { vec![0] });
        seen.record(barged);
        drop((permit_tx, rx));
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(true);
    outcomes.assert_seen(false);
}

/// A permit forgotten (`mem::forget`) while a receiver waits on the empty channel: the
/// last sender's drop closes the channel and gives the forgotten room back (every permit
/// borrows a sender, so nobody can use it any more), and the receiver, racing the drop,
/// sees the end instead of waiting for that permit for good.
#[test]
fn forgotten_permit_given_back_by_the_last_sender_drop() {
    model(|| {
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        std::mem::forget(tx.try_reserve().unwrap());
        let g = gate.clone();
        let r = thread::spawn(move || {
            g.point();
            let end = rx.recv_blocking().map(id);
            (end, rx)
        });
        gate.point();
        drop(tx);
        let (end, rx) = r.join().unwrap();
        assert_eq!(end, Err(sluicebox::RecvError));
        assert_eq!((rx.reserved(), rx.len()), (0, 0));
    });
}
