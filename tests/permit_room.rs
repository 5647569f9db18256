//! Permits hold room, not a place in line: the `reserve`-then-build idiom does not hold
//! up the receivers, and the behaviour tokio's own tests expect of `reserve` — a closed
//! channel waits for its permits, a woken `reserve` is handed a dropped permit's room —
//! holds here too (room freed by a receive is not handed over: see
//! `reserve_disarm_a_dropped_permits_room_goes_to_the_woken_waiter`). Hand-polled with counting wakers where the order of wakes is the point;
//! tokio's multi-threaded runtime (futures inside `tokio::spawn`, so they must be `Send`)
//! for the idiom.
#![cfg(feature = "std")]

mod common;

use common::{poll_with, WakeCounter};
use sluicebox::{bounded, TrySendError};
use std::pin::pin;
use std::task::Poll;

/// The idiom `reserve` exists for: reserve room, then build the item (a read, a parse, a
/// query), then send. While one producer builds, the others' items reach the receiver.
///
/// The slow producer does not finish building until the receiver has taken the other
/// producer's three items (it waits for that, up to 10 s): a channel whose receivers
/// waited at a held permit would make the receiver wait for the producer, which waits for
/// the receiver, and the producer's wait would time out.
#[test]
#[cfg(not(miri))] // a tokio runtime with worker threads; the hand-polled tests run under miri
fn reserve_then_build_does_not_hold_up_the_receiver() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, rx) = bounded::<&'static str>(4);
        let (others_received, others_received_rx) = tokio::sync::oneshot::channel::<()>();
        let (reserved_tx, reserved_rx) = tokio::sync::oneshot::channel::<()>();
        let slow = {
            let tx = tx.clone();
            tokio::spawn(async move {
                let permit = tx.reserve().await.unwrap();
                reserved_tx.send(()).unwrap();
                // Building the item: done only once the receiver has made progress.
                let built_in_time =
                    tokio::time::timeout(std::time::Duration::from_secs(10), others_received_rx)
                        .await
                        .is_ok();
                permit.send("built slowly");
                built_in_time
            })
        };
        let fast = tokio::spawn(async move {
            reserved_rx.await.unwrap();
            for item in ["a", "b", "c"] {
                tx.send(item).await.unwrap();
            }
        });
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(rx.recv().await.unwrap());
        }
        others_received.send(()).unwrap();
        got.push(rx.recv().await.unwrap());
        fast.await.unwrap();
        assert!(
            slow.await.unwrap(),
            "the receiver waited for the held permit: it got nothing while the permit \
             was being built"
        );
        assert_eq!(got, ["a", "b", "c", "built slowly"]);
    });
}

/// tokio's `reserve_disarm`, for the room of a dropped permit: two permits take both
/// slots; two more `reserve`s wait. Dropping a permit wakes the first waiter and hands it
/// that room: before it polls, neither a `try_send` nor a fresh `reserve` can take it.
///
/// Unlike tokio, room freed by a *receive* is not handed over: the woken waiter retries,
/// a send that gets there first takes the room, and the woken waiter keeps its place at
/// the front (handing it over cost the contended rows 13-20%: `src/chan/core.rs`,
/// "Handing room to a woken sender").
#[test]
fn reserve_disarm_a_dropped_permits_room_goes_to_the_woken_waiter() {
    let (tx, rx) = bounded::<i32>(2);
    let permit1 = tx.try_reserve().unwrap();
    let permit2 = tx.try_reserve().unwrap();
    let (w3, w4, w1) = (WakeCounter::new(), WakeCounter::new(), WakeCounter::new());
    let mut r3 = pin!(tx.reserve());
    let mut r4 = pin!(tx.reserve());
    assert!(poll_with(r3.as_mut(), &w3.waker()).is_pending());
    assert!(poll_with(r4.as_mut(), &w4.waker()).is_pending());
    drop(permit1);
    assert_eq!(
        (w3.count(), w4.count()),
        (1, 0),
        "the dropped permit wakes one"
    );
    assert!(
        tx.try_send(9).unwrap_err().is_full(),
        "its room is the woken waiter's"
    );
    let mut r1 = pin!(tx.reserve());
    assert!(
        poll_with(r1.as_mut(), &w1.waker()).is_pending(),
        "a fresh reserve cannot take the room handed to the woken one"
    );
    let p3 = match poll_with(r3.as_mut(), &w3.waker()) {
        Poll::Ready(Ok(p)) => p,
        other => panic!("the woken reserve has its room: {:?}", other.is_ready()),
    };
    p3.send(3);
    permit2.send(2);
    // A receive frees room and wakes the next waiter (r4); a send that gets there first
    // takes it, and r4 stays first in line.
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!((w4.count(), w1.count()), (1, 0));
    tx.try_send(10).unwrap();
    assert!(poll_with(r4.as_mut(), &w4.waker()).is_pending());
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(
        (w4.count(), w1.count()),
        (2, 0),
        "r4 kept its place at the front"
    );
    match poll_with(r4.as_mut(), &w4.waker()) {
        Poll::Ready(Ok(p)) => p.send(4),
        other => panic!("room was freed for r4: {:?}", other.is_ready()),
    }
    assert_eq!(rx.try_recv(), Ok(10));
    assert_eq!(w1.count(), 1, "then the fresh reserve, queued behind");
    assert_eq!(rx.try_recv(), Ok(4));
}

/// tokio's `send_recv_buffer_limited`: capacity 1, a permit sent, a second `reserve`
/// waits; receiving the item wakes it. Here (unlike tokio, see above) the room a receive
/// frees is not handed over: a `try_send` in between takes it, the woken reserve waits
/// on at the front of the line, and the next receive lets it through.
#[test]
fn send_recv_buffer_limited_the_woken_reserve_keeps_the_front() {
    let (tx, rx) = bounded::<i32>(1);
    tx.try_reserve().unwrap().send(1);
    let w = WakeCounter::new();
    let mut p2 = pin!(tx.reserve());
    assert!(poll_with(p2.as_mut(), &w.waker()).is_pending());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(w.count(), 1, "notified");
    tx.try_send(1337).unwrap();
    assert!(poll_with(p2.as_mut(), &w.waker()).is_pending());
    assert_eq!(rx.try_recv(), Ok(1337));
    assert_eq!(w.count(), 2, "woken again: it kept its place");
    match poll_with(p2.as_mut(), &w.waker()) {
        Poll::Ready(Ok(permit)) => permit.send(2),
        other => panic!("the woken reserve has its room: {:?}", other.is_ready()),
    }
    assert_eq!(rx.try_recv(), Ok(2));
}

/// tokio's `recv_close_gets_none_reserved`: a permit held and a `reserve` waiting when
/// the receiver closes the channel: the waiting reserve fails; a receive waits for the
/// held permit, gets its item, and then the end.
#[test]
fn tokio_recv_close_gets_none_reserved() {
    let (tx, rx) = bounded::<i32>(1);
    let permit1 = tx.try_reserve().unwrap();
    let w2 = WakeCounter::new();
    let mut permit2 = pin!(tx.reserve());
    assert!(poll_with(permit2.as_mut(), &w2.waker()).is_pending());
    assert!(rx.close());
    assert_eq!(w2.count(), 1);
    assert!(matches!(
        poll_with(permit2.as_mut(), &w2.waker()),
        Poll::Ready(Err(_))
    ));
    {
        let w = WakeCounter::new();
        let mut recv = pin!(rx.recv());
        assert!(poll_with(recv.as_mut(), &w.waker()).is_pending());
        permit1.send(123);
        assert_eq!(w.count(), 1, "the permit's send wakes the receiver");
        assert_eq!(poll_with(recv.as_mut(), &w.waker()), Poll::Ready(Some(123)));
    }
    let mut end = pin!(rx.recv());
    assert_eq!(
        poll_with(end.as_mut(), &WakeCounter::new().waker()),
        Poll::Ready(None)
    );
}

/// tokio's `ready_close_cancel_bounded`: a permit held, the receiver closes the channel,
/// a receive waits; dropping the permit wakes it, and it sees the end.
#[test]
fn tokio_ready_close_cancel_bounded() {
    let (tx, rx) = bounded::<()>(100);
    let _tx2 = tx.clone();
    let permit = tx.try_reserve().unwrap();
    assert!(rx.close());
    let w = WakeCounter::new();
    let mut recv = pin!(rx.recv());
    assert!(poll_with(recv.as_mut(), &w.waker()).is_pending());
    drop(permit);
    assert_eq!(
        w.count(),
        1,
        "the last permit of a closed channel wakes the receiver"
    );
    assert_eq!(poll_with(recv.as_mut(), &w.waker()), Poll::Ready(None));
}

/// A waiter handed a dropped permit's room, dropped before it polls, hands the room to
/// the next waiter, and with nobody waiting gives it back: the room is never lost.
#[test]
fn granted_room_handed_on_or_given_back_when_the_waiter_is_dropped() {
    let (tx, rx) = bounded::<i32>(1);
    let permit = tx.try_reserve().unwrap();
    let (wa, wb) = (WakeCounter::new(), WakeCounter::new());
    let mut a = Box::pin(tx.reserve());
    let mut b = pin!(tx.send(2));
    assert!(poll_with(a.as_mut(), &wa.waker()).is_pending());
    assert!(poll_with(b.as_mut(), &wb.waker()).is_pending());
    drop(permit);
    assert_eq!((wa.count(), wb.count(), tx.reserved()), (1, 0, 1));
    drop(a);
    assert_eq!(wb.count(), 1, "the dropped waiter handed its room on");
    assert!(tx.try_send(9).unwrap_err().is_full(), "the room is b's");
    assert_eq!(poll_with(b.as_mut(), &wb.waker()), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));

    // Nobody left waiting: the room is given back.
    let permit = tx.try_reserve().unwrap();
    let wc = WakeCounter::new();
    let mut c = Box::pin(tx.send(3));
    assert!(poll_with(c.as_mut(), &wc.waker()).is_pending());
    drop(permit);
    assert_eq!((wc.count(), tx.reserved()), (1, 1), "room reserved for c");
    drop(c);
    assert_eq!((tx.len(), tx.reserved()), (0, 0), "given back");
    tx.try_send(4).unwrap();
    assert_eq!(rx.try_recv(), Ok(4));
}

/// A permit that is `mem::forget`-ten keeps its room while senders live (a closed
/// channel's receivers wait for it, as for any permit out); with the last sender gone
/// nobody can use it, so its room is given back and the receivers see the end.
#[test]
fn forgotten_permit_room_given_back_with_the_last_sender() {
    for close_first in [false, true] {
        let (tx, rx) = bounded::<u32>(2);
        std::mem::forget(tx.try_reserve().unwrap());
        tx.try_send(1).unwrap();
        assert!(
            tx.try_send(2).unwrap_err().is_full(),
            "the forgotten permit's room"
        );
        assert_eq!(rx.try_recv(), Ok(1));
        let w = WakeCounter::new();
        let mut recv = pin!(rx.recv());
        assert!(poll_with(recv.as_mut(), &w.waker()).is_pending());
        if close_first {
            assert!(rx.close());
            assert!(
                poll_with(recv.as_mut(), &w.waker()).is_pending(),
                "closed, but a permit is out"
            );
        }
        let woken = w.count();
        drop(tx);
        assert_eq!(
            w.count(),
            woken + 1,
            "the last sender's drop wakes the receiver"
        );
        assert_eq!(poll_with(recv.as_mut(), &w.waker()), Poll::Ready(None));
        assert_eq!((rx.reserved(), rx.len()), (0, 0));
    }
}

/// A `force_send` refused because a permit holds room is a rejection like a `try_send`
/// refused as full: the value comes back, nothing is evicted, and `stats().rejected`
/// counts it, so a load-shedding dashboard sees every value that was turned away.
#[test]
fn force_send_refused_by_held_room_counts_as_rejected() {
    let (tx, rx) = bounded::<&'static str>(2);
    tx.try_send("queued").unwrap();
    let permit = tx.try_reserve().unwrap();
    assert_eq!(
        tx.force_send("turned away"),
        Err(TrySendError::Full("turned away"))
    );
    assert_eq!(tx.try_send("also"), Err(TrySendError::Full("also")));
    let s = tx.stats();
    assert_eq!((s.rejected, s.evicted, s.sent), (2, 0, 1));
    permit.send("reserved");
    assert_eq!(tx.force_send("evicts"), Ok(Some("queued")));
    assert_eq!(rx.try_recv(), Ok("reserved"));
    assert_eq!(rx.try_recv(), Ok("evicts"));
    let s = tx.stats();
    assert_eq!((s.rejected, s.evicted, s.sent, s.received), (2, 1, 3, 3));
}
