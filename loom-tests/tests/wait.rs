//! The intrusive wait list, through the channel's async and blocking API: hand-off of a
//! wakeup by a cancelled waiter, the register/notify race, and close waking waiters.
//!
//! A lost wakeup shows up as a loom deadlock: `loom::future::block_on` and
//! `recv_blocking`/`send_blocking` park through loom, so a waiter nobody wakes leaves
//! every thread blocked.
#![cfg(loom)]

mod common;

use common::*;
use loom::future::block_on;
use loom::thread;
use sluicebox::{bounded, SendError, TryRecvError};
use std::pin::pin;
#[cfg(sluicebox_fenced)]
use std::task::Context;
use std::task::Poll;

/// `handoff`: capacity 1 and full; two parked senders. Sender A's future is polled once by
/// hand (it parks first, so it is at the front); sender B parks through `block_on` in its
/// own thread; a receiver takes one item, which wakes A; A's future is dropped without
/// being polled again (racing the receive). The wakeup must pass to B, which must
/// complete; A's value must be dropped with its future, never sent.
#[test]
fn handoff_woken_send_future_dropped() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(3);
        let (tx, rx) = bounded::<Item>(1);
        tx.try_send(ledger.item(0)).unwrap();

        let (wakes, waker) = CountWaker::new();
        let mut a = Box::pin(tx.send(ledger.item(1)));
        assert!(
            poll_once(a.as_mut(), &waker).is_pending(),
            "the channel is full"
        );

        let gate = Gate::new();
        let (tx_b, l, g) = (tx.clone(), ledger.clone(), gate.clone());
        let b = thread::spawn(move || {
            g.point();
            block_on(tx_b.send(l.item(2))).expect("open channel");
        });
        let (rx2, g) = (rx.clone(), gate.clone());
        let r = thread::spawn(move || {
            g.point();
            assert_eq!(block_on(rx2.recv()).map(id), Some(0));
        });
        gate.point();
        let woken_before_drop = wakes.wakes();
        drop(a); // A: woken or not, it never completes.
        assert_eq!(ledger.drops(1), 1, "a dropped send future drops its value");
        b.join().unwrap();
        r.join().unwrap();
        assert!(wakes.wakes() <= 1);
        seen.record(woken_before_drop);
        drop(tx);
        assert_eq!(rx.try_recv().map(id), Ok(2));
        assert_eq!(rx.try_recv().map(id), Err(TryRecvError::Closed));
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    // Both cases were explored: A dropped after the receive woke it (the hand-off), and
    // A dropped before.
    outcomes.assert_seen(1);
    outcomes.assert_seen(0);
}

/// `handoff` on the receive side: two parked receivers on an empty channel, receiver A
/// polled once by hand (front of the queue), receiver B in `block_on`; one item is sent
/// (waking A), A is dropped unpolled. B must get the item (the wakeup is handed on), and
/// the dropped future must not have destroyed it (`recv-cancel`).
#[test]
fn handoff_woken_recv_future_dropped_recv_cancel() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let (tx, rx) = bounded::<Item>(1);

        let (wakes, waker) = CountWaker::new();
        let mut a = Box::pin(rx.recv());
        assert!(
            poll_once(a.as_mut(), &waker).is_pending(),
            "the channel is empty"
        );

        let gate = Gate::new();
        let (rx_b, g) = (rx.clone(), gate.clone());
        let b = thread::spawn(move || {
            g.point();
            block_on(rx_b.recv()).map(id)
        });
        let (l, g) = (ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            g.point();
            tx.try_send(l.item(0))
                .expect("a free slot and a live receiver");
            // Keep the channel open until B is done: a close would wake B too and hide a
            // lost hand-off.
            tx
        });
        gate.point();
        seen.record(wakes.wakes());
        drop(a);
        let tx = s.join().unwrap();
        assert_eq!(
            b.join().unwrap(),
            Some(0),
            "the item goes to the other receiver"
        );
        drop((tx, rx));
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(1);
    outcomes.assert_seen(0);
}

/// `handoff`, two parked senders both through `block_on` in their own threads: capacity
/// 1, empty; each sender sends one item (the second to arrive parks); the main thread
/// receives twice, each receive freeing the slot for a parked sender. Both senders
/// complete; every item arrives once. (Pre-filling the channel so that both senders park
/// costs 80 s at bound 2 for no extra path: one parked sender behind another is already
/// covered by `handoff_woken_send_future_dropped`.)
#[test]
fn handoff_two_parked_senders() {
    model(|| {
        let ledger = Ledger::new(2);
        let (tx, rx) = bounded::<Item>(1);
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let tx = tx.clone();
                let l = ledger.clone();
                thread::spawn(move || block_on(tx.send(l.item(i))).expect("open channel"))
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(block_on(rx.recv()).map(id).expect("an item per sender"));
        }
        for s in senders {
            s.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1]);
        assert_eq!(block_on(rx.recv()).map(id), None);
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// `register-race`: a receiver parks (check empty, register, re-check) while a send lands.
/// The receiver always gets the value. Afterwards: executions where the receiver parked
/// and was woken were explored (two polls), as well as the one where the value was there.
#[test]
fn register_race_recv_vs_send() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let (l, g) = (ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            g.point();
            tx.try_send(l.item(0))
                .expect("a free slot and a live receiver");
            // Keep the channel open until the receiver is done: a close would also wake
            // it, hiding a lost wakeup.
            tx
        });
        let r = thread::spawn(move || {
            let polls = Counter::new();
            gate.point();
            let got = block_on(counting_polls(rx.recv(), polls.clone())).map(id);
            (got, polls.get(), rx)
        });
        let (got, polls, rx) = r.join().unwrap();
        assert_eq!(got, Some(0));
        seen.record(polls);
        drop(s.join().unwrap());
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(1);
    outcomes.assert_seen(2);
}

/// `register-race` with the blocking API: `recv_blocking` parks the thread (loom's park)
/// while a `try_send` lands.
#[test]
fn register_race_recv_blocking_vs_send() {
    model(|| {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let (l, g) = (ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            g.point();
            tx.try_send(l.item(0))
                .expect("a free slot and a live receiver");
            tx
        });
        let r = thread::spawn(move || {
            gate.point();
            assert_eq!(rx.recv_blocking().map(id), Ok(0));
            rx
        });
        let rx = r.join().unwrap();
        drop(s.join().unwrap());
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// `register-race` on the send side: a sender parks on a full channel (capacity 1) while
/// a `try_recv` frees the slot. The sender always completes.
#[test]
fn register_race_send_vs_recv() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        tx.try_send(ledger.item(0)).unwrap();
        let (rx2, g) = (rx.clone(), gate.clone());
        let r = thread::spawn(move || {
            g.point();
            assert_eq!(rx2.try_recv().map(id), Ok(0), "the slot was filled before");
        });
        let l = ledger.clone();
        let s = thread::spawn(move || {
            let polls = Counter::new();
            gate.point();
            block_on(counting_polls(tx.send(l.item(1)), polls.clone())).expect("open channel");
            polls.get()
        });
        r.join().unwrap();
        seen.record(s.join().unwrap());
        assert_eq!(rx.try_recv().map(id), Ok(1));
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(1);
    outcomes.assert_seen(2);
}

/// Close racing a parked receiver: the receiver returns `None`, never sleeps forever.
#[test]
fn close_wakes_parked_receiver() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let g = gate.clone();
        let c = thread::spawn(move || {
            g.point();
            assert!(tx.close());
            tx
        });
        let r = thread::spawn(move || {
            let polls = Counter::new();
            gate.point();
            assert_eq!(
                block_on(counting_polls(rx.recv(), polls.clone())).map(id),
                None
            );
            polls.get()
        });
        seen.record(r.join().unwrap());
        drop(c.join().unwrap());
    });
    outcomes.assert_seen(2);
}

/// Close racing a parked sender (capacity 1, full): the sender gets its value back in
/// `SendError`; the queued item stays receivable; nothing is dropped twice or leaked.
#[test]
fn close_wakes_parked_sender() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        tx.try_send(ledger.item(0)).unwrap();
        let (rx2, g) = (rx.clone(), gate.clone());
        let c = thread::spawn(move || {
            g.point();
            assert!(rx2.close());
        });
        let l = ledger.clone();
        let s = thread::spawn(move || {
            let polls = Counter::new();
            gate.point();
            match block_on(counting_polls(tx.send(l.item(1)), polls.clone())) {
                Err(SendError(v)) => assert_eq!(id(v), 1),
                Ok(()) => panic!("sent into a full channel nobody drains"),
            }
            polls.get()
        });
        c.join().unwrap();
        seen.record(s.join().unwrap());
        assert_eq!(rx.try_recv().map(id), Ok(0));
        assert_eq!(rx.try_recv().map(id), Err(TryRecvError::Closed));
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(2);
}

/// Close racing a parked `closed()` future (its own wait list, woken only by close): it
/// completes, never sleeps forever. The last receiver's drop is the close here.
#[test]
fn close_wakes_closed_future() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let g = gate.clone();
        let c = thread::spawn(move || {
            g.point();
            drop(rx);
        });
        let w = thread::spawn(move || {
            let polls = Counter::new();
            gate.point();
            block_on(counting_polls(tx.closed(), polls.clone()));
            assert!(tx.is_closed());
            polls.get()
        });
        c.join().unwrap();
        seen.record(w.join().unwrap());
    });
    outcomes.assert_seen(1);
    outcomes.assert_seen(2);
}

/// The last sender's drop racing a parked `recv_blocking`: `Err(RecvError)`, no hang.
#[test]
fn close_by_last_sender_wakes_recv_blocking() {
    model(|| {
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let g = gate.clone();
        let c = thread::spawn(move || {
            g.point();
            drop(tx);
        });
        let r = thread::spawn(move || {
            gate.point();
            assert!(rx.recv_blocking().is_err());
        });
        c.join().unwrap();
        r.join().unwrap();
    });
}

/// A `recv` future polled once and then dropped while a send lands: dropping a queued
/// (un-notified) waiter unlinks it, dropping a notified one hands the wakeup on, and the
/// item is never lost: afterwards a receive finds it (`recv-cancel`).
#[test]
fn unregister_queued_waiter_then_notify_recv_cancel() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let (rx2, g) = (rx.clone(), gate.clone());
        let b = thread::spawn(move || {
            let (wakes, waker) = CountWaker::new();
            let mut a = pin!(rx2.recv());
            g.point();
            // Parks, or (if the send already happened) takes the item.
            let got = match poll_once(a.as_mut(), &waker) {
                Poll::Ready(v) => v.map(id),
                Poll::Pending => None,
            };
            g.point();
            (got, wakes.wakes())
            // `a` dropped here: unlinked, or its notification handed on.
        });
        let l = ledger.clone();
        let s = thread::spawn(move || {
            gate.point();
            tx.try_send(l.item(0)).unwrap();
            tx
        });
        let (got_by_a, wakes) = b.join().unwrap();
        let tx = s.join().unwrap();
        seen.record((got_by_a, wakes));
        if got_by_a.is_none() {
            assert_eq!(
                rx.try_recv().map(id),
                Ok(0),
                "the dropped future lost the item"
            );
        }
        drop((tx, rx));
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen((Some(0), 0));
    outcomes.assert_seen((None, 0));
    outcomes.assert_seen((None, 1));
}

/// `handoff` along a line of waiters (wait-list invariant 3a): capacity 2, a permit held
/// while an item is sent, then the permit sends; two receivers. Under the bare-metal
/// protocol a receiver that meets a write in flight parks and becomes a carrier, and
/// receivers that register meanwhile may miss an item's notification; a carrier must wake
/// the next while an item is left, or the second receiver sleeps beside the queued item
/// (a loom deadlock).
///
/// Only under `--cfg sluicebox_fenced`: with `std`, a receiver waits out a write in flight
/// instead of parking, so it never carries a baton, and a permit holds no receiver up
/// (ring invariant 5); two receivers waiting out one write make loom exceed its branch
/// limit (each spinner yields to the other).
#[test]
#[cfg(sluicebox_fenced)]
fn handoff_baton_behind_held_permit() {
    model(|| {
        let ledger = Ledger::new(2);
        let (tx, rx) = bounded::<Item>(2);
        let permit = tx.try_reserve().unwrap();
        let gate = Gate::new();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let (rx, g) = (rx.clone(), gate.clone());
                thread::spawn(move || {
                    g.point();
                    block_on(rx.recv())
                        .map(id)
                        .expect("an item for each receiver")
                })
            })
            .collect();
        gate.point();
        tx.try_send(ledger.item(1)).unwrap();
        gate.point();
        permit.send(ledger.item(0));
        let mut got: Vec<usize> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1], "each item received once");
        drop((tx, rx));
        ledger.assert_all_dropped_once();
    });
}

/// `handoff` by a cancelled carrier (wait-list invariant 3a): capacity 4. Receivers A and B
/// park *before* a permit is reserved (owned `RecvStream`s, hand-polled; A is at the
/// front). Then, racing: an item is sent behind the held permit and the permit is sent
/// (main thread), A is polled once more and dropped (thread `a`), and receiver C waits in
/// `block_on` (thread `c`; it registers after the permit). B is polled again only after
/// the permit is sent, so it is never a carrier itself. The item's wakeup can reach A,
/// which stops at the permit's slot and becomes a carrier; when A is dropped it must pass
/// a baton on, or the permit's publish wakes B, B takes the permit's item, and C sleeps
/// beside the other one: a loom deadlock. Before this model only the hand-polled test
/// `handoff_baton_debt_behind_held_permit` caught a dropped queued carrier that passed
/// nothing.
///
/// Only under `--cfg sluicebox_fenced`, for the reasons given for
/// `handoff_baton_behind_held_permit`: with `std` there are no carriers.
#[test]
#[cfg(sluicebox_fenced)]
fn handoff_dropped_carrier_passes_baton() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(3);
        let (tx, rx) = bounded::<Item>(4);
        let (_wa, waker_a) = CountWaker::new();
        let (_wb, waker_b) = CountWaker::new();
        let mut a = Box::pin(rx.clone().into_stream());
        let mut b = Box::pin(rx.clone().into_stream());
        assert!(a
            .as_mut()
            .poll_recv(&mut Context::from_waker(&waker_a))
            .is_pending());
        assert!(b
            .as_mut()
            .poll_recv(&mut Context::from_waker(&waker_b))
            .is_pending());
        let permit = tx.try_reserve().unwrap();
        let a = thread::spawn(move || {
            // One more poll, racing the sends; then A is cancelled.
            let got = match a.as_mut().poll_recv(&mut Context::from_waker(&waker_a)) {
                Poll::Ready(item) => item.map(id),
                Poll::Pending => None,
            };
            drop(a);
            got
        });
        let rx_c = rx.clone();
        let c = thread::spawn(move || block_on(rx_c.recv()).map(id));
        tx.try_send(ledger.item(1)).unwrap();
        permit.send(ledger.item(0));
        let got_by_a = a.join().unwrap();
        seen.record(got_by_a.is_some());
        let extra = ledger.item(2);
        if got_by_a.is_some() {
            // A took one of the two: B and C need one more between them.
            tx.try_send(extra).unwrap();
        } else {
            drop(extra);
        }
        let got_by_b = block_on(std::future::poll_fn(|cx| b.as_mut().poll_recv(cx))).map(id);
        let got_by_c = c.join().unwrap();
        let mut got: Vec<usize> = [got_by_a, got_by_b, got_by_c]
            .into_iter()
            .flatten()
            .collect();
        got.sort_unstable();
        let want: &[usize] = if got_by_a.is_some() {
            &[0, 1, 2]
        } else {
            &[0, 1]
        };
        assert_eq!(got, want, "each item received exactly once");
        assert_eq!(rx.try_recv().map(id), Err(TryRecvError::Empty));
        drop((tx, rx, b));
        ledger.assert_all_dropped_once();
    });
    // Both were explored: A cancelled empty-handed (the baton case), and A served first.
    outcomes.assert_seen(false);
    outcomes.assert_seen(true);
}
