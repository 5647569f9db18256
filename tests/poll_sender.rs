//! `PollSender::poll_reserve`: waits, is woken in FIFO order, hands its wakeup on when
//! dropped, reports close.
#![cfg(feature = "std")]

use sluicebox::bounded;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

#[derive(Default)]
struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count::default());
    (c.clone(), Waker::from(c))
}
fn woken(c: &Count) -> usize {
    c.0.load(Ordering::SeqCst)
}

#[test]
fn poll_reserve_waits_then_gets_the_freed_slot() {
    let (tx, rx) = bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let mut ps = pin!(tx.clone().into_poll_sender());
    let (count, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    assert!(ps.as_mut().poll_reserve(&mut cx).is_pending());
    assert_eq!(rx.stats().senders_waiting, 1);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(
        woken(&count),
        1,
        "the freed slot woke the waiting PollSender"
    );
    match ps.as_mut().poll_reserve(&mut cx) {
        Poll::Ready(Ok(permit)) => permit.send(2),
        other => panic!("expected a permit, got {other:?}"),
    }
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.stats().senders_waiting, 0);
}

#[test]
fn poll_reserve_dropped_after_wake_hands_the_wakeup_on() {
    let (tx, rx) = bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let (c1, w1) = counter();
    let (c2, w2) = counter();
    let mut second = Box::pin(tx.clone().into_poll_sender());
    {
        let mut first = Box::pin(tx.clone().into_poll_sender());
        assert!(first
            .as_mut()
            .poll_reserve(&mut Context::from_waker(&w1))
            .is_pending());
        assert!(second
            .as_mut()
            .poll_reserve(&mut Context::from_waker(&w2))
            .is_pending());
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(
            (woken(&c1), woken(&c2)),
            (1, 0),
            "FIFO: the first waiter is woken"
        );
        // Dropped without polling again: the wakeup must move on (PITFALLS `handoff`).
    }
    assert_eq!(woken(&c2), 1, "the dropped waiter handed its wakeup on");
    match second.as_mut().poll_reserve(&mut Context::from_waker(&w2)) {
        Poll::Ready(Ok(permit)) => permit.send(3),
        other => panic!("expected a permit, got {other:?}"),
    }
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
fn poll_reserve_reports_close_and_wakes_on_it() {
    let (tx, rx) = bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let mut ps = pin!(tx.into_poll_sender());
    let (count, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    assert!(ps.as_mut().poll_reserve(&mut cx).is_pending());
    drop(rx);
    assert_eq!(woken(&count), 1, "close wakes the waiting sender");
    assert!(matches!(
        ps.as_mut().poll_reserve(&mut cx),
        Poll::Ready(Err(_))
    ));
    assert!(ps.get_ref().is_closed());
}

#[test]
fn poll_reserve_permit_dropped_gives_the_slot_back() {
    let (tx, rx) = bounded::<u32>(1);
    let mut ps = pin!(tx.into_poll_sender());
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    match ps.as_mut().poll_reserve(&mut cx) {
        Poll::Ready(Ok(permit)) => drop(permit),
        other => panic!("expected a permit, got {other:?}"),
    }
    assert_eq!(rx.len(), 0);
    assert!(ps.get_ref().try_send(5).is_ok());
    assert_eq!(rx.try_recv(), Ok(5));
}
