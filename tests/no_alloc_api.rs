//! What works with no features at all (`--no-default-features`: no `std`, no `alloc` in
//! sluicebox): static channels and semaphores, async on both, observers. Runs under every
//! feature set; CI runs it with none.

use sluicebox::{Semaphore, StaticChannel, TryRecvError, TrySendError};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// A thread-parking `block_on`, counting how often the future was Pending.
fn block_on<F: Future>(fut: F) -> (F::Output, usize) {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let mut pendings = 0;
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return (v, pendings),
            Poll::Pending => {
                pendings += 1;
                thread::park();
            }
        }
    }
}

#[test]
fn static_channel_async_across_threads_exactly_once() {
    static CH: StaticChannel<u64, 2> = StaticChannel::new();
    const N: u64 = if cfg!(miri) { 200 } else { 20_000 };
    let (tx, rx) = CH.split();
    let tx2 = tx.clone();
    thread::scope(|s| {
        let producers = [tx, tx2].map(|tx| {
            s.spawn(move || {
                block_on(async move {
                    for i in 0..N {
                        tx.send(i).await.unwrap();
                    }
                })
                .1
            })
        });
        let ((count, sum), _) = block_on(async move {
            let (mut count, mut sum) = (0u64, 0u64);
            while let Some(v) = rx.recv().await {
                count += 1;
                sum += v;
            }
            (count, sum)
        });
        let pendings: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
        assert_eq!((count, sum), (2 * N, N * (N - 1)));
        // Capacity 2 and two producers: they must have waited at least once.
        assert!(pendings > 0, "the producers never waited");
    });
    let s = CH.stats();
    assert_eq!(
        (s.sent, s.received, s.len, s.closed),
        (2 * N, 2 * N, 0, true)
    );
}

#[test]
fn static_semaphore_caps_in_flight_across_threads() {
    static SEM: Semaphore = Semaphore::new(2);
    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
    static HIGH: AtomicUsize = AtomicUsize::new(0);
    const JOBS: usize = if cfg!(miri) { 20 } else { 2_000 };
    let done = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                block_on(async {
                    for _ in 0..JOBS {
                        let permit = SEM.acquire().await.unwrap();
                        let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
                        HIGH.fetch_max(now, Ordering::SeqCst);
                        thread::yield_now();
                        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                });
            });
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 4 * JOBS);
    assert!(HIGH.load(Ordering::SeqCst) <= 2, "more than 2 in flight");
    assert_eq!(SEM.available_permits(), 2);
}

#[test]
fn static_channel_try_api_and_monitor() {
    static CH: StaticChannel<&str, 2> = StaticChannel::new();
    let gauge = CH.monitor();
    let (tx, rx) = CH.split();
    tx.try_send("a").unwrap();
    tx.try_send("b").unwrap();
    assert_eq!(tx.try_send("c"), Err(TrySendError::Full("c")));
    assert_eq!(tx.force_send("d"), Ok(Some("a")));
    let s = gauge.stats();
    assert_eq!((s.len, s.rejected, s.evicted, s.senders), (2, 1, 1, 1));
    assert_eq!(rx.try_recv(), Ok("b"));
    assert_eq!(rx.try_recv(), Ok("d"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(rx);
    assert!(tx.try_send("e").unwrap_err().is_closed());
    assert!(gauge.is_closed());
}

#[test]
fn static_permit_reserves_a_slot() {
    static CH: StaticChannel<u8, 1> = StaticChannel::new();
    let (tx, rx) = CH.split();
    let permit = tx.try_reserve().unwrap();
    assert!(tx.try_send(1).unwrap_err().is_full());
    permit.send(2);
    assert_eq!(rx.try_recv(), Ok(2));
    drop(tx.try_reserve().unwrap());
    // The dropped permit gave its slot back at once.
    tx.try_send(3).unwrap();
    assert_eq!(rx.try_recv(), Ok(3));
}
