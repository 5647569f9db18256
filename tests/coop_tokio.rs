//! With the `tokio` feature, a task that loops on operations that are always ready
//! (`recv` over a channel that never runs dry, the stream, `acquire` on a semaphore with
//! permits to spare) still yields to the other tasks of a current-thread runtime: a 1 ms
//! ticker keeps ticking. Without the feature the ticker starves (the loop never returns
//! `Pending`); the loops here end on their own clock, so that build fails rather than
//! hangs. Run with `cargo test --features tokio --test coop_tokio`.
#![cfg(feature = "tokio")]

use futures::StreamExt;
use sluicebox::{bounded, Semaphore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_millis(400);

/// Runs `busy` (a loop that is always ready) beside a 1 ms ticker on one thread for
/// [`RUN`]; returns (ticks seen, iterations of the loop).
fn ticks_beside<F, Fut>(busy: F) -> (u64, u64)
where
    F: FnOnce(Instant) -> Fut,
    Fut: std::future::Future<Output = u64> + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let ticks = Arc::new(AtomicU64::new(0));
        let t = ticks.clone();
        let ticker = tokio::task::spawn_local(async move {
            let mut every = tokio::time::interval(Duration::from_millis(1));
            loop {
                every.tick().await;
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        tokio::task::yield_now().await; // the ticker starts
        let end = Instant::now() + RUN;
        let work = tokio::task::spawn_local(busy(end)).await.unwrap();
        ticker.abort();
        (ticks.load(Ordering::Relaxed), work)
    })
}

#[test]
fn coop_recv_over_a_channel_that_never_runs_dry_lets_a_ticker_run() {
    let (tx, rx) = bounded::<u64>(1024);
    for v in 0..1024 {
        tx.try_send(v).unwrap();
    }
    let (ticks, received) = ticks_beside(move |end| async move {
        let mut n = 0;
        // Each item goes back in: `recv` is always ready, as in a service whose queue
        // never empties.
        while Instant::now() < end {
            let v = rx.recv().await.unwrap();
            tx.try_send(v).unwrap();
            n += 1;
        }
        n
    });
    assert!(received > 1000, "the consumer ran: {received}");
    // ~400 at 1 ms; starved, a handful at most.
    assert!(ticks >= 100, "the ticker starved: {ticks} ticks in {RUN:?}");
}

#[test]
fn coop_stream_and_acquire_let_a_ticker_run() {
    let (tx, rx) = bounded::<u64>(4096);
    for v in 0..4096 {
        tx.try_send(v).unwrap();
    }
    let (ticks, n) = ticks_beside(move |end| async move {
        let mut stream = Box::pin(rx.into_stream());
        let mut n = 0;
        // Refill from the same task: the stream's next() is always ready.
        while Instant::now() < end {
            let v = stream.next().await.unwrap();
            tx.try_send(v).unwrap();
            n += 1;
        }
        n
    });
    assert!(n > 1000 && ticks >= 100, "stream: {ticks} ticks, {n} items");

    let sem = Arc::new(Semaphore::new(1));
    let (ticks, n) = ticks_beside(move |end| async move {
        let mut n = 0;
        while Instant::now() < end {
            drop(sem.acquire().await.unwrap());
            n += 1;
        }
        n
    });
    assert!(
        n > 1000 && ticks >= 100,
        "acquire: {ticks} ticks, {n} acquires"
    );
}
