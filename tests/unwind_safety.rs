//! Handles, futures and permits are `UnwindSafe + RefUnwindSafe` (tokio and crossbeam
//! assert the same of theirs), and the claim behind it holds: a panic in user code — an
//! item's `Drop`, a waker, the code holding a permit or a handle — never leaves a channel
//! or a semaphore inconsistent. After each panic, caught with `catch_unwind`, the channel
//! still delivers every item exactly once and its counts add up.
#![cfg(feature = "std")]

use sluicebox::{
    bounded, Acquire, ClosedFuture, Heap, Monitor, Permit, PollSender, Receiver, RecvFuture,
    RecvStream, ReserveFuture, Semaphore, SemaphorePermit, SendFuture, Sender, StaticChannel,
    StaticReceiver, StaticSender, WeakReceiver, WeakSender,
};
use std::panic::{catch_unwind, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};
use std::sync::Arc;

fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

#[test]
fn unwind_safe_handles_futures_and_permits() {
    type P = &'static str;
    unwind_safe::<Sender<P>>();
    unwind_safe::<Receiver<P>>();
    unwind_safe::<WeakSender<P>>();
    unwind_safe::<WeakReceiver<P>>();
    unwind_safe::<Monitor<P, Heap<P>>>();
    unwind_safe::<StaticSender<'static, P, 4>>();
    unwind_safe::<StaticReceiver<'static, P, 4>>();
    unwind_safe::<StaticChannel<P, 4>>();
    unwind_safe::<SendFuture<'static, P>>();
    unwind_safe::<RecvFuture<'static, P>>();
    unwind_safe::<ReserveFuture<'static, P>>();
    unwind_safe::<ClosedFuture<'static, P>>();
    unwind_safe::<Permit<'static, P>>();
    unwind_safe::<PollSender<P, Heap<P>>>();
    unwind_safe::<RecvStream<P, Heap<P>>>();
    unwind_safe::<Semaphore>();
    unwind_safe::<SemaphorePermit<'static>>();
    unwind_safe::<sluicebox::OwnedSemaphorePermit>();
    unwind_safe::<Acquire<'static>>();
    unwind_safe::<Arc<Semaphore>>();
    unwind_safe::<sluicebox::AnyMonitor<'static>>();
    unwind_safe::<sluicebox::OwnedPermit<P>>();
    unwind_safe::<sluicebox::PermitIterator<'static, P>>();
    unwind_safe::<sluicebox::WeakReceiver<P>>();
}

/// An item whose `Drop` panics when told to.
struct Bomb(u32, bool);
impl Drop for Bomb {
    fn drop(&mut self) {
        if self.1 && !std::thread::panicking() {
            panic!("bomb {}", self.0);
        }
    }
}

#[test]
fn unwind_safe_sender_panics_mid_use_channel_stays_consistent() {
    let (tx, rx) = bounded::<u32>(4);
    // A sender task panics while it holds a permit and a second sender handle.
    let r = catch_unwind(|| {
        let extra = tx.clone();
        let permit = tx.try_reserve().unwrap();
        extra.try_send(1).unwrap();
        let _keep = permit;
        panic!("sender panics while holding a permit");
    });
    assert!(r.is_err());
    // The permit's room came back with the unwind, and the extra sender is gone.
    let s = tx.stats();
    assert_eq!((s.len, s.reserved, s.senders), (1, 0, 1));
    for v in 2..=4 {
        tx.try_send(v).unwrap();
    }
    assert!(tx.try_send(5).unwrap_err().is_full());
    drop(tx);
    let got: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(got, [1, 2, 3, 4]);
    assert!(rx.is_closed());
}

#[test]
fn unwind_safe_receiver_panics_mid_use_items_not_lost() {
    let (tx, rx) = bounded::<Bomb>(4);
    for i in 0..3 {
        tx.try_send(Bomb(i, i == 1)).unwrap();
    }
    // The receiver panics while dropping the item it took (its `Drop` panics).
    let r = catch_unwind(AssertUnwindSafe(|| {
        let first = rx.try_recv().unwrap();
        assert_eq!(first.0, 0);
        drop(rx.try_recv().unwrap()); // bomb 1 goes off here
    }));
    assert!(r.is_err());
    // Bomb 2 is still there, exactly once.
    let last = rx.try_recv().unwrap();
    assert_eq!(last.0, 2);
    assert!(rx.try_recv().is_err());
    let s = rx.stats();
    assert_eq!((s.sent, s.received, s.len), (3, 3, 0));
}

#[test]
fn unwind_safe_last_receiver_drop_panics_rest_still_dropped() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted(bool);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
            if self.0 && !std::thread::panicking() {
                panic!("item drop panics");
            }
        }
    }
    let (tx, rx) = bounded::<Counted>(4);
    for i in 0..4 {
        tx.try_send(Counted(i == 1)).unwrap();
    }
    // The receiver (the last one) is dropped while its owner unwinds; its drain hits a
    // panicking item: every other item is still dropped, each once.
    let r = catch_unwind(AssertUnwindSafe(move || drop(rx)));
    assert!(r.is_err());
    assert_eq!(DROPS.load(Ordering::SeqCst), 4);
    assert!(tx.is_closed());
    assert!(tx.try_send(Counted(false)).unwrap_err().is_closed());
    assert_eq!(tx.len(), 0);
}

#[test]
fn unwind_safe_semaphore_permit_holder_panics_permit_returned() {
    let sem = Semaphore::new(2);
    let r = catch_unwind(|| {
        let _a = sem.try_acquire().unwrap();
        let _b = sem.try_acquire_many(1).unwrap();
        panic!("holder panics");
    });
    assert!(r.is_err());
    assert_eq!(sem.available_permits(), 2);
    assert!(sem.try_acquire_many(2).is_ok());
}

#[test]
fn unwind_safe_panicking_waker_does_not_lose_the_item() {
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};
    struct PanicWaker;
    impl Wake for PanicWaker {
        fn wake(self: Arc<Self>) {
            panic!("waker panics");
        }
    }
    let (tx, rx) = bounded::<u32>(1);
    let waker = Waker::from(Arc::new(PanicWaker));
    let mut cx = Context::from_waker(&waker);
    let mut recv = Box::pin(rx.recv());
    assert!(recv.as_mut().poll(&mut cx).is_pending());
    // The send wakes the parked receiver, whose waker panics: the item is in the channel.
    let r = catch_unwind(AssertUnwindSafe(|| tx.try_send(7)));
    assert!(matches!(r, Err(_) | Ok(Ok(()))));
    assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(7)));
    let s = tx.stats();
    assert_eq!(
        (s.sent, s.received, s.len, s.receivers_waiting),
        (1, 1, 0, 0)
    );
}
