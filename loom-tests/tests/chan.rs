//! The channel end to end: handle counting and close, permits, weak senders, the blocking
//! API, and a static channel.
//!
//! Actors run in spawned threads with a `Gate` point before each call, and each model
//! checks afterwards that its interesting interleavings were explored (see `common`).
#![cfg(loom)]

mod common;

use common::*;
use loom::future::block_on;
use loom::thread;
use sluicebox::{bounded, RecvError, StaticChannel, TryRecvError, TrySendError};

/// `send-then-drop`: a sender sends, then drops the last sender, racing an async `recv`
/// loop: the receiver gets the value, then `None` — never `None` first. Explored: the
/// receiver finding the value at once, and parking before it arrived.
#[test]
fn send_then_drop_async_recv() {
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
            g.point();
            drop(tx);
        });
        let r = thread::spawn(move || {
            let polls = Counter::new();
            gate.point();
            let first = block_on(counting_polls(rx.recv(), polls.clone())).map(id);
            assert_eq!(first, Some(0), "None before the value");
            gate.point();
            assert_eq!(block_on(rx.recv()).map(id), None);
            polls.get()
        });
        s.join().unwrap();
        seen.record(r.join().unwrap());
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(1);
    outcomes.assert_seen(2);
}

/// `send-then-drop` with two senders (capacity 1): each sends (waiting for room), then
/// drops its sender; the receiver gets both values, then `None`.
#[test]
fn send_then_drop_two_senders() {
    model(|| {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let (tx, l, g) = (tx.clone(), ledger.clone(), gate.clone());
                thread::spawn(move || {
                    g.point();
                    block_on(tx.send(l.item(i))).expect("open channel")
                })
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        gate.point();
        while let Some(v) = block_on(rx.recv()) {
            got.push(id(v));
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1], "None before every value arrived");
        for s in senders {
            s.join().unwrap();
        }
        drop(rx);
        ledger.assert_all_dropped_once();
    });
}

/// `send-then-drop`, blocking API: `send_blocking` then drop, racing `recv_blocking`.
#[test]
fn send_then_drop_blocking() {
    model(|| {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let (l, g) = (ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            g.point();
            tx.send_blocking(l.item(0)).expect("open channel");
            g.point();
            drop(tx);
        });
        let r = thread::spawn(move || {
            gate.point();
            assert_eq!(rx.recv_blocking().map(id), Ok(0));
            gate.point();
            assert_eq!(rx.recv_blocking().map(id), Err(RecvError));
        });
        s.join().unwrap();
        r.join().unwrap();
        ledger.assert_all_dropped_once();
    });
}

/// The blocking API's park/unpark: capacity 1, two items through `send_blocking` and
/// `recv_blocking`, in order; then the end.
#[test]
fn blocking_park_unpark_cap1_two_items() {
    let parked = Outcomes::new();
    let seen = parked.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let (l, g) = (ledger.clone(), gate.clone());
        let parked = seen.clone();
        let s = thread::spawn(move || {
            for i in 0..2 {
                g.point();
                // A receiver waiting now is parked on an empty channel: only the unpark
                // of the send below can wake it.
                parked.record(("receiver parked", tx.stats().receivers_waiting > 0));
                tx.send_blocking(l.item(i)).expect("open channel");
            }
        });
        let r = thread::spawn(move || {
            for i in 0..2 {
                gate.point();
                assert_eq!(rx.recv_blocking().map(id), Ok(i));
            }
            assert_eq!(rx.recv_blocking().map(id), Err(RecvError));
        });
        s.join().unwrap();
        r.join().unwrap();
        ledger.assert_all_dropped_once();
    });
    // The park path was reached, not only the try path.
    parked.assert_seen(("receiver parked", true));
}

/// `drop-once`: sends racing `close()` and the last receiver's drop (which drains the
/// queue). Every item is received, handed back (`Closed`), or dropped by the channel —
/// exactly once, checked by the ledger after every handle is gone; loom's `Track` catches
/// a leak. Explored: an item received, a send refused, an item drained by the drop.
#[test]
fn drop_once_send_recv_vs_close_and_last_receiver_drop() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(2);
        let (tx_c, l, g) = (tx.clone(), ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            let mut returned = Vec::new();
            for i in 0..2 {
                g.point();
                if let Err(e) = tx.try_send(l.item(i)) {
                    assert!(e.is_closed(), "2 slots, 2 items: {e:?}");
                    returned.push(id(e.into_inner()));
                }
            }
            returned
        });
        let g = gate.clone();
        let c = thread::spawn(move || {
            g.point();
            tx_c.close();
        });
        // The only receiver: takes at most one item, then drops (closing and draining).
        let r = thread::spawn(move || {
            gate.point();
            let got = rx.try_recv().ok().map(id);
            gate.point();
            drop(rx);
            got
        });
        let returned = s.join().unwrap();
        c.join().unwrap();
        let got = r.join().unwrap();
        for i in got.iter().chain(&returned) {
            assert_eq!(ledger.drops(*i), 1);
        }
        if let Some(g) = got {
            assert!(
                !returned.contains(&g),
                "item {g} both received and returned"
            );
        }
        ledger.assert_no_double_drop();
        let drained = 2 - got.iter().count() - returned.len();
        seen.record((got.is_some(), returned.len(), drained));
        // Every handle is gone (each thread's handles were dropped on exit): the channel
        // is freed and anything still queued with it.
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen((true, 0, 1));
    outcomes.assert_seen((false, 2, 0));
    outcomes.assert_seen((false, 0, 2));
    outcomes.assert_seen((true, 1, 0));
}

/// `permit-after-close`: the last receiver's drop racing a `Permit::send`: the value is
/// not left behind in a channel nobody can read — it is dropped by the time both finish,
/// while a sender still keeps the channel alive.
#[test]
fn permit_after_close_value_dropped_at_once() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let (l, g, tx2) = (ledger.clone(), gate.clone(), tx.clone());
        let p = thread::spawn(move || {
            let item = l.item(0);
            g.point();
            match tx2.try_reserve() {
                Ok(permit) => {
                    g.point();
                    permit.send(item);
                    true
                }
                // The receiver was already gone.
                Err(e) => {
                    assert!(e.is_closed(), "a free slot: {e:?}");
                    false
                }
            }
        });
        let r = thread::spawn(move || {
            gate.point();
            drop(rx);
        });
        let reserved = p.join().unwrap();
        r.join().unwrap();
        seen.record(reserved);
        assert!(tx.is_closed());
        assert_eq!(
            ledger.drops(0),
            1,
            "value left in a channel with no receiver"
        );
        drop(tx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(true);
    outcomes.assert_seen(false);
}

/// `close-permits`: a reservation (`try_reserve`) dropped unused, racing an async `recv`
/// and `close()`: the receiver ends with `None`, after the reservation if it was made
/// before the close. Explored: the receiver parked while the permit was out, and woken.
#[test]
fn close_permits_try_reserve_dropped() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let g = gate.clone();
        let p = thread::spawn(move || {
            g.point();
            let reserved = tx.try_reserve().map(drop).is_ok();
            (reserved, tx) // keep the sender: only `close()` ends the channel
        });
        let (rx2, g) = (rx.clone(), gate.clone());
        let closer = thread::spawn(move || {
            g.point();
            rx2.close();
        });
        let r = thread::spawn(move || {
            let polls = Counter::new();
            gate.point();
            assert_eq!(
                block_on(counting_polls(rx.recv(), polls.clone())).map(id),
                None
            );
            (polls.get(), rx)
        });
        let (reserved, tx) = p.join().unwrap();
        closer.join().unwrap();
        let (polls, rx) = r.join().unwrap();
        seen.record((reserved, polls >= 2));
        assert_eq!(rx.len(), 0);
        drop((tx, rx));
    });
    outcomes.assert_seen((true, true));
    outcomes.assert_seen((false, true));
}

/// `close-permits`: `reserve().await` then `Permit::send`, racing `recv` and `close()`.
/// A value sent through a permit granted before the close is received, then `None`; a
/// refused reservation sends nothing. The receiver never hangs and nothing leaks.
#[test]
fn close_permits_reserve_send() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let (l, g) = (ledger.clone(), gate.clone());
        let p = thread::spawn(move || {
            let item = l.item(0);
            g.point();
            let sent = match block_on(tx.reserve()) {
                Ok(permit) => {
                    g.point();
                    permit.send(item);
                    true
                }
                Err(_) => false,
            };
            (sent, tx)
        });
        let (rx2, g) = (rx.clone(), gate.clone());
        let closer = thread::spawn(move || {
            g.point();
            rx2.close();
        });
        let r = thread::spawn(move || {
            gate.point();
            let first = block_on(rx.recv()).map(id);
            (first, rx)
        });
        let (sent, tx) = p.join().unwrap();
        closer.join().unwrap();
        let (first, rx) = r.join().unwrap();
        seen.record(sent);
        if sent {
            assert_eq!(first, Some(0));
            assert_eq!(block_on(rx.recv()).map(id), None);
        } else {
            assert_eq!(first, None);
        }
        drop((tx, rx));
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(true);
    outcomes.assert_seen(false);
}

/// `close-permits`: two reservations on a capacity-2 channel, the first dropped and the
/// second sent, then the last sender dropped, racing the receiver: it gets the one
/// value, and ends with `None`.
#[test]
fn close_permits_two_reservations_last_sender_drop() {
    model(|| {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(2);
        let (l, g) = (ledger.clone(), gate.clone());
        let p = thread::spawn(move || {
            g.point();
            let a = tx.try_reserve().unwrap();
            let b = tx.try_reserve().unwrap();
            g.point();
            drop(a);
            g.point();
            b.send(l.item(0));
            g.point();
            drop(tx);
        });
        let r = thread::spawn(move || {
            gate.point();
            assert_eq!(block_on(rx.recv()).map(id), Some(0));
            gate.point();
            assert_eq!(block_on(rx.recv()).map(id), None);
        });
        p.join().unwrap();
        r.join().unwrap();
        ledger.assert_all_dropped_once();
    });
}

/// `weak-revive`: `WeakSender::upgrade` racing the last sender's drop.
///
/// The invariant: an upgraded sender is a counted sender, so while it lives the channel
/// is not closed by the sender count — only `close()` or the last receiver could close it,
/// and neither happens here. So if `upgrade` returns `Some(s)`, a `try_send` through `s`
/// must succeed (never `Closed`); if it returns `None`, the count had reached zero and the
/// channel ends closed. The receiver gets exactly what was sent, then `None`.
#[test]
fn weak_revive_upgrade_vs_last_sender_drop() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let weak = tx.downgrade();
        let (l, g) = (ledger.clone(), gate.clone());
        let u = thread::spawn(move || {
            let item = l.item(0);
            g.point();
            match weak.upgrade() {
                Some(s) => {
                    g.point();
                    match s.try_send(item) {
                        Ok(()) => {}
                        Err(TrySendError::Closed(_)) => {
                            panic!("upgrade gave a live sender on a closed channel")
                        }
                        Err(TrySendError::Full(_)) => panic!("empty channel reported full"),
                    }
                    true
                }
                None => false,
            }
        });
        let d = thread::spawn(move || {
            gate.point();
            drop(tx);
        });
        let sent = u.join().unwrap();
        d.join().unwrap();
        seen.record(sent);
        assert!(rx.is_closed(), "every sender is gone");
        assert_eq!(block_on(rx.recv()).map(id), sent.then_some(0));
        assert_eq!(block_on(rx.recv()).map(id), None);
        drop(rx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(true);
    outcomes.assert_seen(false);
}

/// `weak-revive` with an explicit `close()`: a strong sender stays alive, so `upgrade`
/// can only fail because of the close, and a send through an upgraded sender can only be
/// refused after the close was called.
#[test]
fn weak_revive_upgrade_vs_close() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let weak = tx.downgrade();
        let closing = Flag::new();
        let (l, g, c2) = (ledger.clone(), gate.clone(), closing.clone());
        let u = thread::spawn(move || {
            let item = l.item(0);
            g.point();
            match weak.upgrade() {
                Some(s) => {
                    g.point();
                    match s.try_send(item) {
                        Ok(()) => "sent",
                        Err(e) => {
                            assert!(e.is_closed() && c2.get(), "refused before any close: {e:?}");
                            "refused"
                        }
                    }
                }
                None => {
                    assert!(c2.get(), "upgrade failed with a live sender and no close");
                    "no upgrade"
                }
            }
        });
        let (closing2, rx2) = (closing.clone(), rx.clone());
        let c = thread::spawn(move || {
            gate.point();
            closing2.set();
            rx2.close();
        });
        let what = u.join().unwrap();
        c.join().unwrap();
        seen.record(what);
        assert_eq!(rx.try_recv().ok().map(id), (what == "sent").then_some(0));
        assert_eq!(rx.try_recv().map(id), Err(TryRecvError::Closed));
        drop((tx, rx));
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen("sent");
    outcomes.assert_seen("refused");
    outcomes.assert_seen("no upgrade");
}

/// A `StaticChannel`, leaked for `'static` handles (its `new` is a plain `fn` under loom):
/// `send-then-drop` through async send/recv, capacity 2.
#[test]
fn static_channel_send_then_drop() {
    model(|| {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let ch: &'static StaticChannel<Item, 2> = Box::leak(Box::new(StaticChannel::new()));
        let (tx, rx) = ch.split();
        let (l, g) = (ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            for i in 0..2 {
                g.point();
                block_on(tx.send(l.item(i))).expect("open channel");
            }
        });
        let r = thread::spawn(move || {
            for i in 0..2 {
                gate.point();
                assert_eq!(block_on(rx.recv()).map(id), Some(i));
            }
            assert_eq!(block_on(rx.recv()).map(id), None);
        });
        s.join().unwrap();
        r.join().unwrap();
        assert!(ch.is_closed());
        assert_eq!(
            (ch.sender_count(), ch.receiver_count(), ch.len()),
            (0, 0, 0)
        );
        ledger.assert_all_dropped_once();
    });
}

/// A leaked `StaticChannel<_, 1>` through the blocking API, with the last receiver's drop
/// racing a parked `send_blocking`: the sender gets its value back, or its value was
/// queued and then dropped by the receiver's drain — exactly once either way.
#[test]
fn static_channel_blocking_last_receiver_drop() {
    model(|| {
        let ledger = Ledger::new(2);
        let gate = Gate::new();
        let ch: &'static StaticChannel<Item, 1> = Box::leak(Box::new(StaticChannel::new()));
        let (tx, rx) = ch.split();
        tx.try_send(ledger.item(0)).unwrap();
        let (l, g) = (ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            g.point();
            tx.send_blocking(l.item(1)).map_err(|e| id(e.0))
        });
        let r = thread::spawn(move || {
            gate.point();
            let got = rx.try_recv().ok().map(id);
            gate.point();
            drop(rx);
            got
        });
        let res = s.join().unwrap();
        let got = r.join().unwrap();
        assert!(ch.is_closed());
        // Whatever is still queued now stays in the leaked channel: drain it by hand.
        let rx = ch.receiver();
        while let Ok(v) = rx.try_recv() {
            drop(v);
        }
        drop(rx);
        if let Err(returned) = res {
            assert_eq!(returned, 1);
        }
        assert_eq!(got, Some(0));
        ledger.assert_all_dropped_once();
    });
}

/// `drop-once` / `permit-after-close` for a plain send: a `try_send` racing the last
/// receiver's drop. If the send was accepted, its value must not stay in a channel nobody
/// can read: by the time both finish (a sender still keeping the channel alive) it has
/// been dropped by the receiver's drain. A refused send hands the value back.
///
/// With `std` the drain waits out a send mid-write (the push itself no longer checks for
/// a gone receiver; `chan/core.rs`, "Waiting out a slot in flight"). Under loom the
/// ring gives up on a slot in flight at first sight, so the models reach that wait
/// whenever the sender is preempted between its claim and its publish.
#[test]
fn drop_once_send_mid_write_vs_last_receiver_drop() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let ledger = Ledger::new(1);
        let gate = Gate::new();
        let (tx, rx) = bounded::<Item>(1);
        let (tx2, l, g) = (tx.clone(), ledger.clone(), gate.clone());
        let s = thread::spawn(move || {
            let item = l.item(0);
            g.point();
            tx2.try_send(item).map_err(|e| id(e.into_inner()))
        });
        let r = thread::spawn(move || {
            gate.point();
            drop(rx);
        });
        let res = s.join().unwrap();
        r.join().unwrap();
        seen.record(res.is_ok());
        assert!(tx.is_closed());
        if let Err(returned) = res {
            assert_eq!(returned, 0);
        }
        assert_eq!(
            ledger.drops(0),
            1,
            "accepted value still queued after the last receiver was dropped (send {res:?})"
        );
        drop(tx);
        ledger.assert_all_dropped_once();
    });
    outcomes.assert_seen(true);
    outcomes.assert_seen(false);
}
