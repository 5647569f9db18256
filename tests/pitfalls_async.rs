//! One test (or a few) per async tag of `docs/pitfalls.md`; every test name contains its tag,
//! so `cargo test --test pitfalls_async handoff` runs that entry. Each scenario runs on at
//! least two executors (tokio current-thread and the allocation-free `mini::block_on`, plus
//! others where threads matter), under the watchdog. Hand-driven scenarios poll futures with
//! counting wakers and assert exactly who was woken.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]
#![cfg(not(miri))]

mod common;

use common::{
    counters, counts, poll_with, watchdog, yield_now, AfterPolls, DropCounter, Mini, Rng, Rt,
    TokioCurrent, TokioMulti, Tracked, WakeCounter,
};
use futures::future::{join_all, select, Either};
use sluicebox::{bounded, Receiver, SendError, Sender, StaticChannel, TryRecvError, TrySendError};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// `name => scenario::<Rt>;` — one watched `#[test]` each.
macro_rules! tests {
    ($($name:ident => $scenario:ident::<$rt:ty>;)*) => {$(
        #[test]
        fn $name() {
            watchdog(stringify!($name), 30, || $scenario(&<$rt>::new()));
        }
    )*};
}

/// Awaits `f`, failing with `what` if it takes longer than `secs` (a lost wakeup fails fast
/// instead of waiting for the watchdog).
async fn within<R: Rt, F: Future>(secs: u64, what: &str, f: F) -> F::Output {
    let (f, timer) = (pin!(f), R::sleep(Duration::from_secs(secs)));
    match select(f, timer).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("{what}: not done within {secs} s (lost wakeup?)"),
    }
}

fn is_pending<T>(p: &Poll<T>) -> bool {
    p.is_pending()
}

// =======================================================================================
// handoff: a woken waiter dropped before it was polled passes the wakeup on
// =======================================================================================

fn handoff<R: Rt>(rt: &R) {
    rt.block_on(async {
        // Receivers.
        const N: usize = 4;
        let (tx, rx) = bounded::<u64>(4);
        let w = counters(N);
        let mut futs: Vec<Option<_>> = (0..N).map(|_| Some(Box::pin(rx.recv()))).collect();
        for (f, w) in futs.iter_mut().zip(&w) {
            assert!(is_pending(&poll_with(
                f.as_mut().unwrap().as_mut(),
                &w.waker()
            )));
        }
        assert_eq!(rx.stats().receivers_waiting, N);
        tx.try_send(7).unwrap();
        assert_eq!(
            counts(&w),
            [1, 0, 0, 0],
            "exactly the oldest receiver is woken"
        );
        futs[0] = None; // dropped without being polled
        assert_eq!(
            counts(&w),
            [1, 1, 0, 0],
            "the dropped, woken receiver passed its wakeup to the next"
        );
        let r = poll_with(futs[1].as_mut().unwrap().as_mut(), &w[1].waker());
        assert_eq!(
            r,
            Poll::Ready(Some(7)),
            "the receiver that got the wakeup gets the item"
        );
        assert_eq!(counts(&w), [1, 1, 0, 0], "nobody else was woken");
        assert_eq!(rx.stats().receivers_waiting, 2);

        // A chain: woken, dropped, woken, dropped; with nobody left the item stays queued.
        tx.try_send(8).unwrap();
        assert_eq!(counts(&w), [1, 1, 1, 0]);
        futs[2] = None;
        assert_eq!(counts(&w), [1, 1, 1, 1]);
        futs[3] = None;
        assert_eq!(rx.stats().receivers_waiting, 0);
        assert_eq!(
            rx.try_recv(),
            Ok(8),
            "the item survived two cancelled receivers"
        );

        // Senders (thingbuf 0.1.6): capacity 1, two parked senders, a recv wakes A, A is
        // cancelled, B must get the free slot.
        let (tx, rx) = bounded::<u64>(1);
        tx.try_send(0).unwrap();
        let w = counters(2);
        let mut a = Some(Box::pin(tx.send(1)));
        let mut b = Box::pin(tx.send(2));
        assert!(is_pending(&poll_with(
            a.as_mut().unwrap().as_mut(),
            &w[0].waker()
        )));
        assert!(is_pending(&poll_with(b.as_mut(), &w[1].waker())));
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(counts(&w), [1, 0], "one freed slot wakes one sender");
        a = None;
        drop(a);
        assert_eq!(
            counts(&w),
            [1, 1],
            "the cancelled sender passed its wakeup on"
        );
        assert_eq!(poll_with(b.as_mut(), &w[1].waker()), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok(2));

        // The same with `reserve` futures.
        tx.try_send(0).unwrap();
        let w = counters(2);
        let mut a = Some(Box::pin(tx.reserve()));
        let mut b = Box::pin(tx.reserve());
        assert!(is_pending(&poll_with(
            a.as_mut().unwrap().as_mut(),
            &w[0].waker()
        )));
        assert!(is_pending(&poll_with(b.as_mut(), &w[1].waker())));
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(counts(&w), [1, 0]);
        a = None;
        drop(a);
        assert_eq!(
            counts(&w),
            [1, 1],
            "the cancelled reserve passed its wakeup on"
        );
        match poll_with(b.as_mut(), &w[1].waker()) {
            Poll::Ready(Ok(permit)) => permit.send(3),
            other => panic!(
                "the second reserve did not get the slot: {:?}",
                other.is_ready()
            ),
        }
        drop(b);
        assert_eq!(rx.try_recv(), Ok(3));

        // A woken stream dropped before polling hands the wakeup to a plain receiver.
        let (tx, rx) = bounded::<u64>(1);
        let w = counters(2);
        let mut stream = Some(Box::pin(rx.clone().into_stream()));
        let mut recv = Box::pin(rx.recv());
        let s = stream.as_mut().unwrap().as_mut();
        assert!(is_pending(
            &s.poll_recv(&mut Context::from_waker(&w[0].waker()))
        ));
        assert!(is_pending(&poll_with(recv.as_mut(), &w[1].waker())));
        tx.try_send(5).unwrap();
        assert_eq!(counts(&w), [1, 0]);
        stream = None;
        drop(stream);
        assert_eq!(
            counts(&w),
            [1, 1],
            "the dropped stream passed its wakeup on"
        );
        assert_eq!(
            poll_with(recv.as_mut(), &w[1].waker()),
            Poll::Ready(Some(5))
        );
    });
}

tests! {
    handoff_tokio_current => handoff::<TokioCurrent>;
    handoff_mini => handoff::<Mini>;
}

// =======================================================================================
// close_permits: close, then drop or cancel every kind of reservation; recv() is None
// =======================================================================================

fn close_permits<R: Rt>(rt: &R) {
    rt.block_on(async {
        // A `try_reserve` permit, dropped after the close.
        let (tx, rx) = bounded::<u64>(2);
        let permit = tx.try_reserve().unwrap();
        assert!(tx.close());
        assert!(tx.try_reserve().unwrap_err().is_closed());
        assert!(tx.reserve().await.is_err(), "reserve after close fails");
        drop(permit);
        assert_eq!(
            within::<R, _>(5, "recv after close + dropped permit", rx.recv()).await,
            None
        );

        // A `reserve().await` permit with an item behind it.
        let (tx, rx) = bounded::<u64>(2);
        let permit = tx.reserve().await.unwrap();
        tx.try_send(1).unwrap();
        rx.close();
        drop(permit);
        assert_eq!(
            rx.recv().await,
            Some(1),
            "the item behind the dropped permit"
        );
        assert_eq!(within::<R, _>(5, "recv after drain", rx.recv()).await, None);

        // A reserve future pending on a full channel, woken by the close.
        let (tx, rx) = bounded::<u64>(1);
        tx.try_send(1).unwrap();
        let w = WakeCounter::new();
        let mut reserve = Box::pin(tx.reserve());
        assert!(is_pending(&poll_with(reserve.as_mut(), &w.waker())));
        tx.close();
        assert_eq!(w.count(), 1, "close wakes the pending reserve");
        assert!(matches!(
            poll_with(reserve.as_mut(), &w.waker()),
            Poll::Ready(Err(_))
        ));
        drop(reserve);
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, None);

        // A reserve future cancelled (dropped while pending) before the close.
        let (tx, rx) = bounded::<u64>(1);
        tx.try_send(1).unwrap();
        let mut reserve = Box::pin(tx.reserve());
        assert!(is_pending(&poll_with(reserve.as_mut(), &w.waker())));
        drop(reserve);
        tx.close();
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, None);

        // A receiver parked at a held permit: the close wakes it (still waiting at the
        // permit), the permit's drop wakes it again, and then it sees the end.
        let (tx, rx) = bounded::<u64>(2);
        let permit = tx.try_reserve().unwrap();
        let w = WakeCounter::new();
        let mut recv = Box::pin(rx.recv());
        assert!(is_pending(&poll_with(recv.as_mut(), &w.waker())));
        tx.close();
        assert_eq!(w.count(), 1, "close wakes the parked receiver");
        let _ = poll_with(recv.as_mut(), &w.waker()); // still waiting at the permit, or done
        drop(permit);
        assert!(w.count() >= 1);
        let r = within::<R, _>(5, "recv after the permit's drop", recv.as_mut()).await;
        assert_eq!(r, None, "the permit was dropped: nothing to receive");

        // Several permits of both kinds: close, drop one, send one, drop one.
        let (tx, rx) = bounded::<u64>(4);
        let p1 = tx.try_reserve().unwrap();
        let p2 = tx.reserve().await.unwrap();
        let p3 = tx.try_reserve().unwrap();
        tx.close();
        drop(p1);
        p2.send(20);
        drop(p3);
        assert_eq!(
            rx.recv().await,
            Some(20),
            "a permit taken before the close still sends"
        );
        assert_eq!(
            within::<R, _>(5, "recv after mixed permits", rx.recv()).await,
            None
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

tests! {
    close_permits_tokio_current => close_permits::<TokioCurrent>;
    close_permits_mini => close_permits::<Mini>;
}

// =======================================================================================
// recv_cancel: a recv polled once, then dropped while a sender completes, loses nothing
// =======================================================================================

/// Deterministic: the woken recv future is dropped; the item stays for the next receiver.
fn recv_cancel_by_hand<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(1);
        let w = WakeCounter::new();
        for i in 0..100 {
            let mut recv = Box::pin(rx.recv());
            assert!(is_pending(&poll_with(recv.as_mut(), &w.waker())));
            tx.try_send(i).unwrap(); // completes while the recv is registered
            drop(recv);
            assert_eq!(
                rx.try_recv(),
                Ok(i),
                "the cancelled recv destroyed item {i}"
            );
        }
        assert_eq!(w.count(), 100);
    });
}

/// kanal #24 shape: a producer task, a consumer cancelling every `recv` that does not
/// finish within a short timer. Exactly-once by count and checksum, and in order.
fn recv_cancel_under_timeout<R: Rt + 'static>(rt: &R) {
    const N: u64 = 2_000;
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(1);
        let producer = rt.spawn(async move {
            let mut rng = Rng::new(24);
            for i in 0..N {
                if rng.below(64) == 0 {
                    R::sleep(Duration::from_micros(300)).await;
                } else if rng.below(4) == 0 {
                    yield_now().await;
                }
                tx.send(i).await.unwrap();
            }
        });
        let mut rng = Rng::new(50);
        let (mut got, mut sum, mut cancelled) = (Vec::new(), 0u64, 0u64);
        loop {
            let (recv, timer) = (pin!(rx.recv()), R::short_timer(rng.next()));
            match select(recv, timer).await {
                Either::Left((Some(v), _)) => {
                    sum = sum.wrapping_add(common::mix(v));
                    got.push(v);
                }
                Either::Left((None, _)) => break,
                Either::Right(_) => cancelled += 1,
            }
        }
        producer.await;
        let expected: u64 = (0..N).map(common::mix).fold(0, u64::wrapping_add);
        assert_eq!(
            got.len() as u64,
            N,
            "items lost or duplicated ({cancelled} cancels)"
        );
        assert_eq!(sum, expected, "checksum");
        assert!(got.windows(2).all(|w| w[0] + 1 == w[1]), "out of order");
        assert!(
            cancelled > 0,
            "no recv was cancelled: the test tested nothing"
        );
    });
}

/// kanal #24 literally: `tokio::time::timeout` around `recv`.
fn recv_cancel_tokio_timeout<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(1);
        let producer = tokio::spawn(async move {
            for i in 0..200u64 {
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tx.send(i).await.unwrap();
            }
        });
        let (mut count, mut sum, mut timeouts) = (0u64, 0u64, 0u64);
        loop {
            match tokio::time::timeout(Duration::from_micros(50), rx.recv()).await {
                Ok(Some(v)) => {
                    count += 1;
                    sum += v;
                }
                Ok(None) => break,
                Err(_) => timeouts += 1,
            }
        }
        producer.await.unwrap();
        assert_eq!((count, sum), (200, (0..200).sum()), "{timeouts} timeouts");
        assert!(timeouts > 0, "no timeout fired: the test tested nothing");
    });
}

tests! {
    recv_cancel_by_hand_tokio_current => recv_cancel_by_hand::<TokioCurrent>;
    recv_cancel_by_hand_mini => recv_cancel_by_hand::<Mini>;
    recv_cancel_under_timeout_tokio_current => recv_cancel_under_timeout::<TokioCurrent>;
    recv_cancel_under_timeout_tokio_multi => recv_cancel_under_timeout::<TokioMulti>;
    recv_cancel_under_timeout_mini => recv_cancel_under_timeout::<Mini>;
    recv_cancel_tokio_timeout_current => recv_cancel_tokio_timeout::<TokioCurrent>;
    recv_cancel_tokio_timeout_multi => recv_cancel_tokio_timeout::<TokioMulti>;
}

// =======================================================================================
// fifo_select: one producer under select! cancellation; the sequence stays monotonic
// =======================================================================================

fn fifo_select<R: Rt + 'static>(rt: &R) {
    const N: u64 = 3_000;
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(1);
        let producer = rt.spawn(async move {
            let mut rng = Rng::new(98);
            let mut cancelled = 0u64;
            for seq in 0..N {
                loop {
                    let timer = AfterPolls::new(rng.below(3) as u32);
                    if seq % 2 == 0 {
                        let send = pin!(tx.send(seq));
                        match select(send, timer).await {
                            Either::Left((r, _)) => {
                                r.unwrap();
                                break;
                            }
                            Either::Right(_) => cancelled += 1, // send the same seq again
                        }
                    } else {
                        let reserve = pin!(tx.reserve());
                        match select(reserve, timer).await {
                            Either::Left((permit, _)) => {
                                permit.unwrap().send(seq);
                                break;
                            }
                            Either::Right(_) => cancelled += 1,
                        }
                    }
                }
            }
            cancelled
        });
        let mut rng = Rng::new(99);
        let mut expected = 0;
        loop {
            // A slow consumer, itself cancelling now and then; the occasional real pause
            // lets the producer find the channel full, so its sends do get cancelled.
            if rng.below(64) == 0 {
                R::sleep(Duration::from_micros(200)).await;
            } else if rng.below(2) == 0 {
                AfterPolls::new(rng.below(4) as u32).await;
            }
            let (recv, timer) = (pin!(rx.recv()), AfterPolls::new(rng.below(3) as u32));
            match select(recv, timer).await {
                Either::Left((Some(v), _)) => {
                    assert_eq!(v, expected, "sequence broken under select! cancellation");
                    expected += 1;
                }
                Either::Left((None, _)) => break,
                Either::Right(_) => {}
            }
        }
        assert_eq!(expected, N);
        let cancelled = producer.await;
        assert!(
            cancelled > 0,
            "no send was cancelled: the test tested nothing"
        );
    });
}

tests! {
    fifo_select_tokio_current => fifo_select::<TokioCurrent>;
    fifo_select_tokio_multi => fifo_select::<TokioMulti>;
    fifo_select_mini => fifo_select::<Mini>;
}

/// Documented: "Waiting senders are served in FIFO order" / "Waiting receivers are served
/// in FIFO order". A waiter that was woken but lost the slot to a non-waiting caller
/// (`try_send` / `try_recv` barging in before it polled) must keep its place at the front;
/// otherwise a later waiter is served first, and sustained barging can starve it.
fn fifo_woken_waiter_keeps_its_place<R: Rt>(rt: &R) {
    rt.block_on(async {
        // Senders.
        let (tx, rx) = bounded::<u64>(1);
        tx.try_send(0).unwrap();
        let w = counters(2);
        let mut a = Box::pin(tx.send(1)); // waits first
        let mut c = Box::pin(tx.send(3)); // waits second
        assert!(is_pending(&poll_with(a.as_mut(), &w[0].waker())));
        assert!(is_pending(&poll_with(c.as_mut(), &w[1].waker())));
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(counts(&w), [1, 0]);
        tx.try_send(2).unwrap(); // barging: takes the slot A was woken for
        assert!(is_pending(&poll_with(a.as_mut(), &w[0].waker())));
        assert_eq!(rx.try_recv(), Ok(2)); // the next free slot
        assert_eq!(
            counts(&w),
            [2, 0],
            "the next free slot woke the sender that waited second, not the one that has \
             waited longest (a woken waiter that loses a race re-queues at the back)"
        );

        // Receivers.
        let (tx, rx) = bounded::<u64>(2);
        let w = counters(2);
        let mut a = Box::pin(rx.recv());
        let mut c = Box::pin(rx.recv());
        assert!(is_pending(&poll_with(a.as_mut(), &w[0].waker())));
        assert!(is_pending(&poll_with(c.as_mut(), &w[1].waker())));
        tx.try_send(1).unwrap();
        assert_eq!(counts(&w), [1, 0]);
        assert_eq!(rx.try_recv(), Ok(1)); // barging
        assert!(is_pending(&poll_with(a.as_mut(), &w[0].waker())));
        tx.try_send(2).unwrap();
        assert_eq!(
            counts(&w),
            [2, 0],
            "the next item woke the receiver that waited second, not the one that has \
             waited longest"
        );
    });
}

tests! {
    fifo_woken_waiter_keeps_its_place_tokio_current =>
        fifo_woken_waiter_keeps_its_place::<TokioCurrent>;
    fifo_woken_waiter_keeps_its_place_mini => fifo_woken_waiter_keeps_its_place::<Mini>;
}

// =======================================================================================
// send_then_drop: send, drop the last sender, racing recv: the value, then None
// =======================================================================================

fn send_then_drop<R: Rt>(rt: &R) {
    const ITERS: u64 = 1_000;
    rt.block_on(async {
        for i in 0..ITERS {
            let (tx, rx) = bounded::<u64>(1);
            let sender = rt.spawn(async move {
                match i % 3 {
                    0 => tx.send(i).await.unwrap(),
                    1 => tx.try_send(i).unwrap(),
                    _ => tx.reserve().await.unwrap().send(i),
                }
                drop(tx);
            });
            assert_eq!(
                rx.recv().await,
                Some(i),
                "iteration {i}: None before the value"
            );
            assert_eq!(rx.recv().await, None, "iteration {i}");
            sender.await;
        }
    });
    // A persistent OS thread sends and drops; the task receives.
    let (jobs, job_rx) = std::sync::mpsc::channel::<(Sender<u64>, u64)>();
    let thread = std::thread::spawn(move || {
        for (tx, v) in job_rx {
            if v % 2 == 0 {
                tx.send_blocking(v).unwrap();
            } else {
                tx.try_send(v).unwrap();
            }
        }
    });
    rt.block_on(async {
        for i in 0..ITERS {
            let (tx, rx) = bounded::<u64>(1);
            jobs.send((tx, i)).unwrap();
            assert_eq!(
                rx.recv().await,
                Some(i),
                "iteration {i}: None before the value"
            );
            assert_eq!(rx.recv().await, None, "iteration {i}");
        }
    });
    drop(jobs);
    thread.join().unwrap();
    // And a blocking receiver against a task sender.
    let (jobs, job_rx) = std::sync::mpsc::channel::<(Receiver<u64>, u64)>();
    let thread = std::thread::spawn(move || {
        for (rx, v) in job_rx {
            assert_eq!(rx.recv_blocking(), Ok(v), "None before the value");
            assert!(rx.recv_blocking().is_err());
        }
    });
    rt.block_on(async {
        for i in 0..ITERS {
            let (tx, rx) = bounded::<u64>(1);
            jobs.send((rx, i)).unwrap();
            tx.send(i).await.unwrap();
        }
    });
    drop(jobs);
    thread.join().unwrap();
}

tests! {
    send_then_drop_tokio_multi => send_then_drop::<TokioMulti>;
    send_then_drop_tokio_current => send_then_drop::<TokioCurrent>;
    send_then_drop_mini => send_then_drop::<Mini>;
}

// =======================================================================================
// register_race: a notify between the failed try and the registration is not lost
// =======================================================================================

/// Waits until `go` reaches `i`, then a random short spin so the other side's
/// try/register/retry is caught at every point.
fn await_go(go: &AtomicU64, i: u64, rng: &mut Rng) {
    let mut spins = 0u32;
    while go.load(Ordering::Acquire) != i {
        spins += 1;
        if spins % 1024 == 0 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    for _ in 0..rng.below(200) {
        std::hint::spin_loop();
    }
}

fn register_race<R: Rt>(rt: &R) {
    const ITERS: u64 = 10_000;
    // A task's recv races a thread's try_send.
    let (tx, rx) = bounded::<u64>(1);
    let go = Arc::new(AtomicU64::new(u64::MAX));
    let thread = {
        let go = go.clone();
        std::thread::spawn(move || {
            let mut rng = Rng::new(456);
            for i in 0..ITERS {
                await_go(&go, i, &mut rng);
                tx.try_send(i).expect("the channel is empty at each go");
            }
        })
    };
    rt.block_on(async {
        for i in 0..ITERS {
            go.store(i, Ordering::Release);
            assert_eq!(rx.recv().await, Some(i));
        }
    });
    thread.join().unwrap();

    // A task's send on a full channel races a thread's try_recv.
    let (tx, rx) = bounded::<u64>(1);
    tx.try_send(0).unwrap();
    let go = Arc::new(AtomicU64::new(0));
    let thread = {
        let go = go.clone();
        std::thread::spawn(move || {
            let mut rng = Rng::new(226);
            for i in 1..=ITERS {
                await_go(&go, i, &mut rng);
                assert_eq!(rx.try_recv(), Ok(i - 1), "the item is there at each go");
            }
            rx
        })
    };
    rt.block_on(async {
        for i in 1..=ITERS {
            go.store(i, Ordering::Release);
            tx.send(i).await.unwrap();
        }
    });
    let rx = thread.join().unwrap();
    assert_eq!(rx.try_recv(), Ok(ITERS));

    // Same shape with `reserve` and with a blocking receiver on the other side.
    let (tx, rx) = bounded::<u64>(1);
    tx.try_send(0).unwrap();
    let go = Arc::new(AtomicU64::new(0));
    let thread = {
        let go = go.clone();
        std::thread::spawn(move || {
            let mut rng = Rng::new(227);
            for i in 1..=ITERS / 2 {
                await_go(&go, i, &mut rng);
                assert_eq!(rx.recv_blocking(), Ok(i - 1));
            }
            // The last one too, so `rx` is not dropped under the last `reserve`.
            assert_eq!(rx.recv_blocking(), Ok(ITERS / 2));
        })
    };
    rt.block_on(async {
        for i in 1..=ITERS / 2 {
            go.store(i, Ordering::Release);
            tx.reserve().await.unwrap().send(i);
        }
    });
    thread.join().unwrap();
}

tests! {
    register_race_tokio_current => register_race::<TokioCurrent>;
    register_race_mini => register_race::<Mini>;
}

// =======================================================================================
// wake_outside_lock: wakers and values that re-enter the channel do not deadlock
// =======================================================================================

/// A waker whose `wake` uses the channel it waits on.
struct Reenter {
    tx: Sender<u64>,
    rx: Receiver<u64>,
    close: bool,
    wakes: AtomicUsize,
    got: Mutex<Vec<u64>>,
}

impl Reenter {
    fn new(tx: &Sender<u64>, rx: &Receiver<u64>, close: bool) -> Arc<Self> {
        Arc::new(Self {
            tx: tx.clone(),
            rx: rx.clone(),
            close,
            wakes: AtomicUsize::new(0),
            got: Mutex::new(Vec::new()),
        })
    }
}

impl Wake for Reenter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        let _ = self.tx.try_send(100);
        if let Ok(v) = self.rx.try_recv() {
            self.got.lock().unwrap().push(v);
        }
        let _ = self.tx.stats();
        if self.close {
            self.tx.close();
        }
    }
}

/// A waker whose `Drop` uses the channel (replaced and released wakers are dropped by the
/// channel: after unlocking, or this deadlocks).
struct DropReenter {
    tx: Sender<u64>,
    rx: Receiver<u64>,
    drops: Arc<AtomicUsize>,
}

impl Wake for DropReenter {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropReenter {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        let _ = self.rx.len();
        let taken = self.rx.try_recv();
        // Put back what we took, or send a marker: the channel sees one more push either way.
        let _ = self.tx.try_send(taken.unwrap_or(200));
    }
}

/// A value whose `Drop` sends on the channel it travels in.
struct Boomerang {
    tx: Option<Sender<Boomerang>>,
    counter: Arc<DropCounter>,
}

impl Boomerang {
    fn new(tx: Option<&Sender<Boomerang>>, counter: &Arc<DropCounter>) -> Self {
        counter.made.fetch_add(1, Ordering::SeqCst);
        Self {
            tx: tx.cloned(),
            counter: counter.clone(),
        }
    }
}

impl Drop for Boomerang {
    fn drop(&mut self) {
        self.counter.dropped.fetch_add(1, Ordering::SeqCst);
        if let Some(tx) = self.tx.take() {
            // Full or Closed gives the new value back, and it is dropped here (no sender
            // inside, so no recursion).
            let _ = tx.try_send(Boomerang::new(None, &self.counter));
            let _ = tx.stats();
            // `tx` drops here: possibly the last sender, which closes the channel.
        }
    }
}

fn wake_outside_lock<R: Rt>(rt: &R) {
    rt.block_on(async {
        // notify_one on the receive side: the woken waker sends and receives.
        let (tx, rx) = bounded::<u64>(2);
        let wakers: Vec<_> = (0..3).map(|_| Reenter::new(&tx, &rx, false)).collect();
        let mut futs: Vec<_> = (0..3).map(|_| Box::pin(rx.recv())).collect();
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(is_pending(&poll_with(f.as_mut(), &Waker::from(w.clone()))));
        }
        tx.try_send(1).unwrap();
        assert!(
            wakers[0].wakes.load(Ordering::SeqCst) >= 1,
            "the first receiver was woken"
        );
        drop(futs);

        // notify_one on the send side.
        let (tx, rx) = bounded::<u64>(1);
        tx.try_send(1).unwrap();
        let wakers: Vec<_> = (0..3).map(|_| Reenter::new(&tx, &rx, false)).collect();
        let mut futs: Vec<_> = (0..3).map(|i| Box::pin(tx.send(10 + i))).collect();
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(is_pending(&poll_with(f.as_mut(), &Waker::from(w.clone()))));
        }
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(
            wakers[0].wakes.load(Ordering::SeqCst) >= 1,
            "the first sender was woken"
        );
        drop(futs);

        // notify_all (close): every woken waker re-enters, and closes again.
        let (tx, rx) = bounded::<u64>(4);
        let wakers: Vec<_> = (0..20).map(|_| Reenter::new(&tx, &rx, true)).collect();
        let mut futs: Vec<_> = (0..20).map(|_| Box::pin(rx.recv())).collect();
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(is_pending(&poll_with(f.as_mut(), &Waker::from(w.clone()))));
        }
        assert!(tx.close());
        for w in &wakers {
            assert_eq!(
                w.wakes.load(Ordering::SeqCst),
                1,
                "close woke every receiver once"
            );
        }
        for f in &mut futs {
            assert_eq!(
                poll_with(f.as_mut(), &futures::task::noop_waker()),
                Poll::Ready(None)
            );
        }
        drop(futs);

        // A replaced waker whose Drop re-enters: replaced on re-poll, released on drop.
        let (tx, rx) = bounded::<u64>(4);
        let drops = Arc::new(AtomicUsize::new(0));
        let make = || {
            Waker::from(Arc::new(DropReenter {
                tx: tx.clone(),
                rx: rx.clone(),
                drops: drops.clone(),
            }))
        };
        let mut recv = Box::pin(rx.recv());
        assert!(is_pending(&poll_with(recv.as_mut(), &make()))); // only the stored clone lives
        let b = WakeCounter::new();
        // Replacing the stored waker drops the last `DropReenter`, which sends 200: we are
        // queued, so that send wakes `b`.
        let r = poll_with(recv.as_mut(), &b.waker());
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the replaced waker was dropped"
        );
        let r = match r {
            Poll::Pending => {
                assert_eq!(b.count(), 1, "the send from the dropped waker woke us");
                poll_with(recv.as_mut(), &b.waker())
            }
            ready => ready,
        };
        assert_eq!(
            r,
            Poll::Ready(Some(200)),
            "the value sent from the waker's Drop"
        );
        let mut recv = Box::pin(rx.recv());
        assert!(is_pending(&poll_with(recv.as_mut(), &make())));
        drop(recv); // the unregistering future releases the last `DropReenter`
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert_eq!(rx.try_recv(), Ok(200), "sent by the released waker's Drop");
        // Released by the notifier after waking it.
        let mut recv = Box::pin(rx.recv());
        assert!(is_pending(&poll_with(recv.as_mut(), &make())));
        tx.try_send(3).unwrap();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3,
            "the woken waker was released"
        );
        let r = poll_with(recv.as_mut(), &futures::task::noop_waker());
        assert_eq!(r, Poll::Ready(Some(3)), "the Drop put the item back");
        drop(recv);

        // Values whose Drop sends on the same channel.
        let counter = DropCounter::new();
        {
            // Dropped by the last receiver's drain.
            let (tx, rx) = bounded::<Boomerang>(4);
            for _ in 0..4 {
                tx.try_send(Boomerang::new(Some(&tx), &counter)).unwrap();
            }
            drop(rx);
            // Returned by a failed send, dropped by us.
            drop(tx.try_send(Boomerang::new(Some(&tx), &counter)));
        }
        {
            // Evicted by force_send, and dropped with a cancelled send future.
            let (tx, rx) = bounded::<Boomerang>(1);
            tx.try_send(Boomerang::new(Some(&tx), &counter)).unwrap();
            let evicted = tx.force_send(Boomerang::new(Some(&tx), &counter));
            drop(evicted); // its Drop's try_send finds the channel full
            let mut send = Box::pin(tx.send(Boomerang::new(Some(&tx), &counter)));
            assert!(is_pending(&poll_with(
                send.as_mut(),
                &futures::task::noop_waker()
            )));
            drop(send);
            // Received and dropped by the consumer: its Drop sends into the free slot.
            drop(rx.try_recv().unwrap());
            drop(rx.try_recv().unwrap());
            assert!(rx.try_recv().is_err());
            // Dropped by a permit's publication after the last receiver left.
            let permit = tx.try_reserve().unwrap();
            drop(rx);
            permit.send(Boomerang::new(Some(&tx), &counter));
        }
        {
            // The last sender lives inside a queued value: the receiver's drain drops it,
            // and its Drop closes the channel while the drain runs.
            let (tx, rx) = bounded::<Boomerang>(2);
            tx.try_send(Boomerang::new(Some(&tx), &counter)).unwrap();
            drop(tx);
            assert!(!rx.is_closed(), "the queued value holds a sender");
            let got = rx.try_recv().unwrap();
            drop(got); // sends a plain value, then drops the last sender: closes
            assert!(rx.is_closed());
            assert!(
                rx.try_recv().is_ok(),
                "the value sent from Drop is receivable"
            );
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
        }
        assert_eq!(
            counter.made(),
            counter.dropped(),
            "every Boomerang dropped exactly once"
        );
    });
}

tests! {
    wake_outside_lock_tokio_current => wake_outside_lock::<TokioCurrent>;
    wake_outside_lock_mini => wake_outside_lock::<Mini>;
}

// =======================================================================================
// waker_release: a stored waker is released when its future, stream or receiver drops
// =======================================================================================

fn waker_release<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(1);
        let w = WakeCounter::new();
        let waker = w.waker();
        let base = Arc::strong_count(&w); // `w` and `waker`
        assert_eq!(base, 2);

        {
            let mut recv = pin!(rx.recv());
            assert!(is_pending(&poll_with(recv.as_mut(), &waker)));
            assert_eq!(
                Arc::strong_count(&w),
                base + 1,
                "the parked recv stored a clone"
            );
            assert!(is_pending(&poll_with(recv.as_mut(), &waker)));
            assert_eq!(
                Arc::strong_count(&w),
                base + 1,
                "re-polling does not clone again"
            );
        }
        assert_eq!(
            Arc::strong_count(&w),
            base,
            "dropping the recv future released it"
        );

        // Replaced by another waker on re-poll.
        let w2 = WakeCounter::new();
        {
            let mut recv = pin!(rx.recv());
            assert!(is_pending(&poll_with(recv.as_mut(), &waker)));
            assert!(is_pending(&poll_with(recv.as_mut(), &w2.waker())));
            assert_eq!(
                Arc::strong_count(&w),
                base,
                "the replaced waker was released"
            );
            assert_eq!(Arc::strong_count(&w2), 2);
        }
        assert_eq!(Arc::strong_count(&w2), 1);

        // Taken and released by the notifier, before the future is polled or dropped.
        let mut recv = Box::pin(rx.recv());
        assert!(is_pending(&poll_with(recv.as_mut(), &waker)));
        tx.try_send(1).unwrap();
        assert_eq!(w.count(), 1);
        assert_eq!(Arc::strong_count(&w), base, "woken: no clone kept");
        assert_eq!(poll_with(recv.as_mut(), &waker), Poll::Ready(Some(1)));
        drop(recv);

        // A stream (it owns its receiver and its wait node), dropped while parked.
        let stream_rx = rx.clone();
        {
            let mut stream = Box::pin(stream_rx.into_stream());
            let polled = stream.as_mut().poll_recv(&mut Context::from_waker(&waker));
            assert!(polled.is_pending());
            assert_eq!(Arc::strong_count(&w), base + 1);
        }
        assert_eq!(
            Arc::strong_count(&w),
            base,
            "dropping the stream released it"
        );
        assert_eq!(rx.receiver_count(), 1, "the stream's receiver is gone");

        // Send, reserve and closed futures.
        tx.try_send(2).unwrap();
        {
            let mut send = pin!(tx.send(3));
            assert!(is_pending(&poll_with(send.as_mut(), &waker)));
            let mut reserve = pin!(tx.reserve());
            assert!(is_pending(&poll_with(reserve.as_mut(), &waker)));
            let mut closed = pin!(tx.closed());
            assert!(is_pending(&poll_with(closed.as_mut(), &waker)));
            assert_eq!(Arc::strong_count(&w), base + 3);
        }
        assert_eq!(
            Arc::strong_count(&w),
            base,
            "send/reserve/closed futures released it"
        );

        // Close (by the last receiver's drop) releases a parked sender's waker.
        let mut send = Box::pin(tx.send(4));
        assert!(is_pending(&poll_with(send.as_mut(), &waker)));
        assert_eq!(Arc::strong_count(&w), base + 1);
        drop(rx);
        assert_eq!(
            Arc::strong_count(&w),
            base,
            "the close woke and released it"
        );
        assert_eq!(
            poll_with(send.as_mut(), &waker),
            Poll::Ready(Err(SendError(4)))
        );
        drop(send);

        // Close (by the last sender's drop) releases a parked receiver's waker.
        let (tx, rx) = bounded::<u64>(1);
        let mut recv = Box::pin(rx.recv());
        assert!(is_pending(&poll_with(recv.as_mut(), &waker)));
        drop(tx);
        assert_eq!(Arc::strong_count(&w), base);
        assert_eq!(poll_with(recv.as_mut(), &waker), Poll::Ready(None));
    });
}

tests! {
    waker_release_tokio_current => waker_release::<TokioCurrent>;
    waker_release_mini => waker_release::<Mini>;
}

// =======================================================================================
// permit_after_close: a permit's value after every receiver is gone is dropped at once
// =======================================================================================

fn permit_after_close<R: Rt>(rt: &R) {
    rt.block_on(async {
        let drops = DropCounter::new();

        // The documented rule: dropped at once.
        let (tx, rx) = bounded::<Tracked>(2);
        let rx2 = rx.clone();
        let permit = tx.reserve().await.unwrap();
        drop(rx);
        drop(rx2);
        assert!(tx.is_closed());
        permit.send(drops.track(1));
        assert_eq!(
            drops.dropped(),
            1,
            "the value was dropped at once, not left queued"
        );
        assert_eq!(tx.len(), 0);

        // An item queued before the permit: dropped with the last receiver.
        let (tx, rx) = bounded::<Tracked>(2);
        tx.try_send(drops.track(2)).unwrap();
        let permit = tx.try_reserve().unwrap();
        drop(rx);
        assert_eq!(
            drops.dropped(),
            2,
            "the queued item went with the last receiver"
        );
        permit.send(drops.track(3));
        assert_eq!(drops.dropped(), 3);

        // An item queued behind the permit: the drain stops at the in-flight permit; the
        // permit's publication (send or drop) drains the rest.
        let (tx, rx) = bounded::<Tracked>(2);
        let permit = tx.try_reserve().unwrap();
        tx.try_send(drops.track(4)).unwrap();
        drop(rx);
        permit.send(drops.track(5));
        assert_eq!(drops.dropped(), 5, "both dropped once the permit published");
        let (tx, rx) = bounded::<Tracked>(2);
        let permit = tx.try_reserve().unwrap();
        tx.try_send(drops.track(6)).unwrap();
        drop(rx);
        drop(permit);
        assert_eq!(
            drops.dropped(),
            6,
            "the item behind a dropped permit is dropped too"
        );

        // After the close, sends give their value back.
        match tx.try_send(drops.track(7)) {
            Err(TrySendError::Closed(v)) => assert_eq!(v.0, 7),
            other => panic!("{other:?}"),
        }
        assert_eq!(drops.dropped(), 7);

        // A static channel follows the same rule.
        let ch = StaticChannel::<Tracked, 2>::new();
        let (tx, rx) = ch.split();
        let permit = tx.try_reserve().unwrap();
        drop(rx);
        permit.send(drops.track(8));
        assert_eq!(drops.dropped(), 8);
        drop(tx);
        assert_eq!(drops.live(), 0);
    });
}

tests! {
    permit_after_close_tokio_current => permit_after_close::<TokioCurrent>;
    permit_after_close_mini => permit_after_close::<Mini>;
}

// =======================================================================================
// herd: one item wakes one waiter; close wakes each remaining waiter exactly once
// =======================================================================================

fn herd<R: Rt>(rt: &R) {
    rt.block_on(async {
        const N: usize = 10;
        let (tx, rx) = bounded::<u64>(16);
        let w = counters(N);
        let mut futs: Vec<Option<_>> = (0..N).map(|_| Some(Box::pin(rx.recv()))).collect();
        for (f, w) in futs.iter_mut().zip(&w) {
            assert!(is_pending(&poll_with(
                f.as_mut().unwrap().as_mut(),
                &w.waker()
            )));
        }
        let mut expect = vec![0; N];
        tx.try_send(1).unwrap();
        expect[0] = 1;
        assert_eq!(counts(&w), expect, "one item, exactly one wake");
        tx.try_send(2).unwrap();
        expect[1] = 1;
        assert_eq!(counts(&w), expect, "one more item, exactly one more wake");
        for (i, v) in [(0, 1), (1, 2)] {
            let r = poll_with(futs[i].as_mut().unwrap().as_mut(), &w[i].waker());
            assert_eq!(r, Poll::Ready(Some(v)));
            futs[i] = None;
        }
        assert_eq!(counts(&w), expect, "completing woke nobody");
        // No ping-pong: re-polling the parked ones wakes nobody.
        for i in 2..N {
            let r = poll_with(futs[i].as_mut().unwrap().as_mut(), &w[i].waker());
            assert!(is_pending(&r));
        }
        assert_eq!(
            counts(&w),
            expect,
            "re-polling parked receivers woke nobody"
        );
        tx.close();
        assert_eq!(
            counts(&w),
            vec![1; N],
            "close wakes each remaining waiter exactly once"
        );
        for i in 2..N {
            let r = poll_with(futs[i].as_mut().unwrap().as_mut(), &w[i].waker());
            assert_eq!(r, Poll::Ready(None));
        }
        assert_eq!(counts(&w), vec![1; N], "no wake after the end");

        // Senders: a freed slot wakes one parked sender.
        let (tx, rx) = bounded::<u64>(1);
        tx.try_send(0).unwrap();
        let w = counters(N);
        let mut futs: Vec<_> = (0..N as u64).map(|i| Box::pin(tx.send(i + 1))).collect();
        for (f, w) in futs.iter_mut().zip(&w) {
            assert!(is_pending(&poll_with(f.as_mut(), &w.waker())));
        }
        let mut expect = vec![0; N];
        for i in 0..3 {
            assert_eq!(rx.try_recv(), Ok(i as u64));
            expect[i] = 1;
            assert_eq!(counts(&w), expect, "one freed slot, one sender woken");
            assert_eq!(
                poll_with(futs[i].as_mut(), &w[i].waker()),
                Poll::Ready(Ok(()))
            );
            assert_eq!(counts(&w), expect);
        }
        rx.close();
        assert_eq!(
            counts(&w),
            vec![1; N],
            "close wakes each remaining sender once"
        );
    });
}

tests! {
    herd_tokio_current => herd::<TokioCurrent>;
    herd_mini => herd::<Mini>;
}

// =======================================================================================
// hol: a held permit does not stall other senders while free slots exist
// =======================================================================================

fn hol_other_senders_proceed<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(4);
        let permit = tx.try_reserve().unwrap();
        for i in 0..3 {
            tx.try_send(i)
                .expect("free slots remain while a permit is held");
        }
        // Async senders too.
        let (tx8, rx8) = bounded::<u64>(8);
        let held = tx8.try_reserve().unwrap();
        let sends = join_all((0..7).map(|i| tx8.send(i))).await;
        assert!(
            sends.iter().all(Result::is_ok),
            "7 async sends beside a held permit"
        );
        // Receivers are not held up by the permit either.
        assert_eq!(rx8.try_recv(), Ok(0), "receivers take what is ready");
        held.send(100);
        for i in 1..7 {
            assert_eq!(rx8.try_recv(), Ok(i));
        }
        assert_eq!(
            rx8.try_recv(),
            Ok(100),
            "the permit's item queues when sent"
        );
        drop(permit);
        for i in 0..3 {
            assert_eq!(rx.recv().await, Some(i));
        }
    });
}

/// Receivers take every item that is ready beside a held permit; a receiver parked on
/// the empty channel is woken by the permit's send, and not by its drop (which brings no
/// item).
fn hol_receivers_take_what_is_ready<R: Rt>(rt: &R) {
    rt.block_on(async {
        for send_it in [true, false] {
            let (tx, rx) = bounded::<u64>(4);
            let permit = tx.try_reserve().unwrap();
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            assert_eq!(rx.try_recv(), Ok(1), "not held up by the permit");
            let w = WakeCounter::new();
            let mut recv = Box::pin(rx.recv());
            assert_eq!(poll_with(recv.as_mut(), &w.waker()), Poll::Ready(Some(2)));
            let mut recv = Box::pin(rx.recv());
            assert!(is_pending(&poll_with(recv.as_mut(), &w.waker())));
            if send_it {
                permit.send(0);
                assert_eq!(w.count(), 1, "the permit's item woke the receiver");
                assert_eq!(poll_with(recv.as_mut(), &w.waker()), Poll::Ready(Some(0)));
            } else {
                drop(permit);
                assert_eq!(w.count(), 0, "no item, no wake");
                tx.try_send(3).unwrap();
                assert_eq!(w.count(), 1);
                assert_eq!(poll_with(recv.as_mut(), &w.waker()), Poll::Ready(Some(3)));
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    });
}

/// Receivers parked before a permit was reserved: every item sent beside the held permit
/// wakes exactly one of them, which returns it at once (none stops at the permit), and a
/// woken receiver dropped before its poll hands the wakeup on; the permit's item, sent
/// last, goes to the next in line.
fn handoff_parked_receivers_beside_held_permit<R: Rt>(rt: &R) {
    rt.block_on(async {
        for drop_first in [false, true] {
            let (tx, rx) = bounded::<u64>(4);
            let w = [WakeCounter::new(), WakeCounter::new(), WakeCounter::new()];
            let mut r: Vec<_> = (0..3).map(|_| Some(Box::pin(rx.recv()))).collect();
            for (f, w) in r.iter_mut().zip(&w) {
                assert!(is_pending(&poll_with(
                    f.as_mut().unwrap().as_mut(),
                    &w.waker()
                )));
            }
            let permit = tx.try_reserve().unwrap();
            tx.try_send(1).unwrap();
            assert_eq!(w[0].count(), 1, "FIFO: the first receiver woken");
            let next = if drop_first {
                r[0] = None;
                assert_eq!(w[1].count(), 1, "the dropped receiver hands its wakeup on");
                1
            } else {
                0
            };
            let f = r[next].as_mut().unwrap();
            assert_eq!(
                poll_with(f.as_mut(), &w[next].waker()),
                Poll::Ready(Some(1))
            );
            permit.send(0);
            let last = next + 1;
            assert_eq!(
                w[last].count(),
                1,
                "the permit's item wakes the next in line"
            );
            let f = r[last].as_mut().unwrap();
            assert_eq!(
                poll_with(f.as_mut(), &w[last].waker()),
                Poll::Ready(Some(0))
            );
            let counts: Vec<_> = w.iter().map(|w| w.count()).collect();
            let expect = if drop_first { [1, 1, 1] } else { [1, 1, 0] };
            assert_eq!(counts, expect, "one wake per item");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    });
}

/// A push on a full channel whose room is held partly by a permit must answer Full (or
/// park, for `send`) — not spin. Each operation runs on a scoped thread while this thread holds
/// the permit; after a deadline the permit is dropped, which also ends any spin, so a
/// failure leaves no thread behind.
fn hol_full_at_held_permit_answers<R: Rt>(rt: &R) {
    type Op = fn(&Sender<u64>) -> String;
    let ops: [(&str, Op); 4] = [
        ("try_send", |tx| format!("{:?}", tx.try_send(9))),
        ("try_reserve", |tx| {
            format!("{:?}", tx.try_reserve().map(drop))
        }),
        ("force_send", |tx| format!("{:?}", tx.force_send(9))),
        ("send (one poll)", |tx| {
            let mut send = Box::pin(tx.send(9));
            format!(
                "{:?}",
                poll_with(send.as_mut(), &futures::task::noop_waker())
            )
        }),
    ];
    let cases: Vec<_> = [1usize, 4]
        .into_iter()
        .flat_map(|cap| ops.into_iter().map(move |op| (cap, op)))
        .map(|(cap, op)| {
            let (tx, rx) = bounded::<u64>(cap);
            (cap, op, tx, rx)
        })
        .collect();
    let spun = std::thread::scope(|scope| {
        let mut waiting = Vec::new();
        for (cap, (name, op), tx, _rx) in &cases {
            let permit = tx.try_reserve().unwrap(); // the oldest slot
            for i in 1..*cap as u64 {
                tx.try_send(i).unwrap(); // the rest: now full
            }
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            scope.spawn(move || {
                let _ = done_tx.send(op(tx));
            });
            waiting.push((*cap, *name, permit, done_rx));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let mut spun = Vec::new();
        for (cap, name, permit, done_rx) in waiting {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let answer = done_rx.recv_timeout(left);
            drop(permit); // ends a spin, if any
            match answer {
                Ok(answer) => {
                    let expected = if name.starts_with("send") {
                        "Pending"
                    } else {
                        "Full"
                    };
                    assert!(
                        answer.contains(expected),
                        "{name} at capacity {cap} answered {answer}, expected {expected}"
                    );
                }
                Err(_) => spun.push(format!("{name} at capacity {cap}")),
            }
        }
        spun
    });
    rt.block_on(async {});
    assert!(
        spun.is_empty(),
        "on a full channel whose room is held partly by a permit these pushes spun at 100% \
         CPU until the permit was dropped (2 s), instead of answering Full / Pending: \
         {spun:?} (PITFALLS skip-hang, hol)"
    );
}

/// `len()` is documented as the number of items; a permit dropped unused is not one, and
/// the permit docs say dropping it gives its room back at once.
fn hol_dropped_permit_gives_slot_back<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(1);
        drop(tx.try_reserve().unwrap());
        let (len, full, sent) = (tx.len(), tx.is_full(), tx.try_send(1));
        assert!(
            len == 0 && !full && sent.is_ok(),
            "after dropping an unused permit on an empty capacity-1 channel: len() = {len}, \
             is_full() = {full}, try_send = {sent:?} — the dropped permit kept its room"
        );
        assert_eq!(rx.try_recv(), Ok(1));
    });
}

tests! {
    hol_other_senders_proceed_tokio_current => hol_other_senders_proceed::<TokioCurrent>;
    hol_other_senders_proceed_mini => hol_other_senders_proceed::<Mini>;
    hol_receivers_take_what_is_ready_tokio_current =>
        hol_receivers_take_what_is_ready::<TokioCurrent>;
    hol_receivers_take_what_is_ready_mini => hol_receivers_take_what_is_ready::<Mini>;
    handoff_parked_receivers_beside_held_permit_tokio_current =>
        handoff_parked_receivers_beside_held_permit::<TokioCurrent>;
    handoff_parked_receivers_beside_held_permit_mini =>
        handoff_parked_receivers_beside_held_permit::<Mini>;
    hol_full_at_held_permit_answers_tokio_current =>
        hol_full_at_held_permit_answers::<TokioCurrent>;
    hol_dropped_permit_gives_slot_back_tokio_current =>
        hol_dropped_permit_gives_slot_back::<TokioCurrent>;
    hol_dropped_permit_gives_slot_back_mini => hol_dropped_permit_gives_slot_back::<Mini>;
}

// =======================================================================================
// coop: no spurious Pending from a budget of ours; tokio's budget does not apply to us
// =======================================================================================

/// With tokio's coop budget spent (tokio's own channel has started to yield), our `recv`
/// on a non-empty channel is still Ready, every time: sluicebox does not take part in
/// tokio's budget.
fn coop_tokio_budget<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(1024);
        let (ttx, mut trx) = tokio::sync::mpsc::channel::<u64>(1024);
        for i in 0..1024 {
            tx.try_send(i).unwrap();
            ttx.try_send(i).unwrap();
        }
        std::future::poll_fn(|cx| {
            let mut ready = 0;
            while let Poll::Ready(Some(_)) = trx.poll_recv(cx) {
                ready += 1;
            }
            assert!(
                ready < 1024,
                "tokio's channel never yielded: its budget is not in force here"
            );
            for i in 0..1024 {
                let mut recv = pin!(rx.recv());
                match recv.as_mut().poll(cx) {
                    Poll::Ready(Some(v)) => assert_eq!(v, i),
                    Poll::Ready(None) => panic!("closed"),
                    Poll::Pending => panic!(
                        "recv poll #{i} on a non-empty channel returned Pending (after \
                         tokio's budget ran out at {ready})"
                    ),
                }
            }
            Poll::Ready(())
        })
        .await;
    });
}

/// A long stream of recvs in one task, fed by another task on a single-threaded executor:
/// every poll of `recv` on a non-empty channel is Ready.
fn coop_long_stream<R: Rt>(rt: &R) {
    const N: u64 = 20_000;
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(64);
        let producer = rt.spawn(async move {
            for i in 0..N {
                tx.send(i).await.unwrap();
                if i % 100 == 0 {
                    yield_now().await;
                }
            }
        });
        let (mut next, mut polls, mut pending_on_empty) = (0u64, 0u64, 0u64);
        while next < N {
            let non_empty = !rx.is_empty();
            let mut recv = pin!(rx.recv());
            polls += 1;
            let v = match futures::poll!(recv.as_mut()) {
                Poll::Ready(v) => v,
                Poll::Pending => {
                    assert!(
                        !non_empty,
                        "spurious Pending: recv on a non-empty channel (item {next})"
                    );
                    pending_on_empty += 1;
                    recv.await
                }
            };
            assert_eq!(v, Some(next));
            next += 1;
        }
        producer.await;
        assert!(polls >= N);
        assert!(
            pending_on_empty > 0,
            "the consumer never waited: the producer was never slow"
        );
    });
}

tests! {
    coop_tokio_budget_current => coop_tokio_budget::<TokioCurrent>;
    coop_tokio_budget_multi => coop_tokio_budget::<TokioMulti>;
    coop_long_stream_tokio_current => coop_long_stream::<TokioCurrent>;
    coop_long_stream_futures_local => coop_long_stream::<common::FuturesLocal>;
}
