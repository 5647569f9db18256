//! What users of tokio, async-channel and crossbeam reach for: weak handles and their
//! counts, withdrawing a `PollSender`'s wait, a fused stream, timed blocking calls,
//! abandoned sends in the stats, and the semaphore's `forget_permits`, blocking owned
//! acquires and owned `split`/`merge`. Each test ports the peer behaviour it names.
#![cfg(feature = "std")]

mod common;

use common::{poll_with, watchdog, WakeCounter};
use futures::stream::{FusedStream, StreamExt};
use sluicebox::{bounded, RecvTimeoutError, Semaphore, StaticChannel, Stats};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Weak handles (tokio's sync_mpsc_weak)

#[test]
fn weak_counts_follow_downgrade_clone_and_drop() {
    let (tx, rx) = bounded::<&'static str>(2);
    assert_eq!(
        (tx.weak_count(), rx.sender_weak_count(), rx.weak_count()),
        (0, 0, 0)
    );
    let w1 = tx.downgrade();
    let w2 = w1.clone();
    let wr = rx.downgrade();
    assert_eq!(
        (tx.weak_count(), rx.sender_weak_count(), w2.weak_count()),
        (2, 2, 2)
    );
    assert_eq!(
        (rx.weak_count(), wr.weak_count(), wr.receiver_count()),
        (1, 1, 1)
    );
    // An upgrade is a strong handle, not a weak one.
    let strong = w1.upgrade().unwrap();
    assert_eq!((tx.sender_count(), tx.weak_count()), (2, 2));
    drop((w1, strong));
    assert_eq!((tx.sender_count(), tx.weak_count()), (1, 1));
    drop((w2, wr));
    assert_eq!((tx.weak_count(), rx.weak_count()), (0, 0));
}

#[test]
fn weak_receiver_upgrades_while_a_receiver_lives_and_never_after() {
    static CH: StaticChannel<&'static str, 2> = StaticChannel::new();
    let (tx, rx) = CH.split();
    let weak = rx.downgrade();
    tx.try_send("queued").unwrap();
    // A weak receiver does not keep the channel open.
    let rx2 = weak.upgrade().expect("a receiver lives");
    drop(rx);
    assert_eq!(rx2.try_recv(), Ok("queued"));
    drop(rx2);
    assert!(weak.upgrade().is_none());
    assert!(tx.is_closed());
    assert!(tx.try_send("late").unwrap_err().is_closed());
}

#[test]
fn weak_receiver_upgrade_races_the_last_receiver_drop() {
    // Either the upgrade wins (a live receiver, the channel stays open) or the drop does
    // (no receiver, the channel closed): never a receiver of a drained, closed channel
    // that still accepts sends.
    watchdog("weak_receiver_upgrade_races", 60, || {
        for _ in 0..2_000 {
            let (tx, rx) = bounded::<u32>(1);
            let weak = rx.downgrade();
            let t = std::thread::spawn(move || drop(rx));
            let up = weak.upgrade();
            t.join().unwrap();
            match up {
                Some(rx) => {
                    assert!(!tx.is_closed());
                    tx.try_send(1).unwrap();
                    assert_eq!(rx.try_recv(), Ok(1));
                }
                None => assert!(tx.is_closed()),
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// PollSender::abort_send (tokio-util)

#[test]
fn abort_send_passes_the_wakeup_to_the_send_queued_behind() {
    let (tx, rx) = bounded::<u32>(1);
    tx.try_send(0).unwrap();
    let idle = WakeCounter::new();
    let behind = WakeCounter::new();
    let mut poll_tx = pin!(tx.clone().into_poll_sender());
    let idle_waker = idle.waker();
    let mut cx = std::task::Context::from_waker(&idle_waker);
    assert!(poll_tx.as_mut().poll_reserve(&mut cx).is_pending());
    let mut send = pin!(tx.send(1));
    assert!(poll_with(send.as_mut(), &behind.waker()).is_pending());
    // A slot frees: the PollSender (first in line) is woken, but it will not be polled.
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!((idle.count(), behind.count()), (1, 0));
    // Withdrawn: the wakeup goes to the send queued behind it, which completes.
    assert!(poll_tx.as_mut().abort_send());
    assert_eq!(behind.count(), 1);
    assert_eq!(
        poll_with(send.as_mut(), &behind.waker()),
        Poll::Ready(Ok(()))
    );
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.stats().abandoned, 1);
    assert!(!poll_tx.as_mut().abort_send());
}

// ---------------------------------------------------------------------------------------
// FusedStream

#[test]
fn fused_stream_is_skipped_by_select_once_ended() {
    futures::executor::block_on(async {
        let (tx_a, rx_a) = bounded::<u32>(4);
        let (tx_b, rx_b) = bounded::<u32>(4);
        let mut a = Box::pin(rx_a.into_stream());
        let mut b = pin!(rx_b.into_stream());
        tx_a.try_send(1).unwrap();
        drop(tx_a);
        for v in 10..13 {
            tx_b.try_send(v).unwrap();
        }
        drop(tx_b);
        let mut got = Vec::new();
        loop {
            futures::select! {
                v = a.next() => got.extend(v),
                v = b.next() => got.extend(v),
                complete => break,
            }
        }
        got.sort_unstable();
        assert_eq!(got, [1, 10, 11, 12]);
        assert!(a.is_terminated() && b.is_terminated());
    });
}

// ---------------------------------------------------------------------------------------
// Abandoned sends

#[test]
fn abandoned_counts_sends_given_up_under_a_timeout_not_completed_ones() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, rx) = bounded::<&'static str>(1);
        tx.send("fits").await.unwrap();
        for _ in 0..3 {
            let r = tokio::time::timeout(Duration::from_millis(2), tx.send("shed")).await;
            assert!(r.is_err());
        }
        let r = tokio::time::timeout(Duration::from_millis(2), tx.reserve()).await;
        assert!(r.is_err());
        // A send dropped before it ever waited is not an abandoned wait.
        drop(tx.send("never polled"));
        assert_eq!(rx.recv().await, Some("fits"));
        tx.send("completes").await.unwrap();
        let s = tx.stats();
        assert_eq!((s.abandoned, s.rejected, s.sent), (4, 0, 2));
    });
}

// ---------------------------------------------------------------------------------------
// Timed blocking calls (crossbeam-channel's and std's)

#[test]
fn recv_timeout_times_out_then_receives() {
    watchdog("recv_timeout_times_out_then_receives", 30, || {
        let (tx, rx) = bounded::<u32>(1);
        let start = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(30)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send_blocking(5).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(5));
        t.join().unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(20)),
            Err(RecvTimeoutError::Closed)
        );
        // No deadline that fits the clock: waits as `recv_blocking` (here: closed at once).
        assert_eq!(
            rx.recv_timeout(Duration::MAX),
            Err(RecvTimeoutError::Closed)
        );
    });
}

#[test]
fn send_timeout_gives_the_value_back_and_its_turn_to_the_next_sender() {
    watchdog("send_timeout_gives_its_turn", 30, || {
        let (tx, rx) = bounded::<u32>(1);
        tx.try_send(0).unwrap();
        // A sender that will time out queues first, a patient one behind it.
        let tx1 = tx.clone();
        let early = std::thread::spawn(move || tx1.send_timeout(1, Duration::from_millis(50)));
        std::thread::sleep(Duration::from_millis(10));
        let tx2 = tx.clone();
        let patient = std::thread::spawn(move || tx2.send_timeout(2, Duration::from_secs(20)));
        let err = early.join().unwrap().unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(err.into_inner(), 1);
        // The slot that frees now must reach the patient sender, not be lost with the
        // sender that gave up.
        assert_eq!(rx.recv_blocking(), Ok(0));
        patient.join().unwrap().unwrap();
        assert_eq!(rx.recv_blocking(), Ok(2));
        let s = tx.stats();
        assert_eq!((s.abandoned, s.sent, s.received), (1, 2, 2));
        drop(rx);
        let err = tx.send_timeout(3, Duration::from_secs(1)).unwrap_err();
        assert!(err.is_closed());
    });
}

#[test]
fn timed_calls_race_wakeups_exactly_once() {
    // Many short timeouts against a steady producer and consumer: every value is either
    // received once or given back once by a timed-out send.
    watchdog("timed_calls_race_wakeups_exactly_once", 120, || {
        let (tx, rx) = bounded::<u64>(2);
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let (mut sent, mut back) = (0u64, 0u64);
                    for i in 0..2_000u64 {
                        let v = p * 1_000_000 + i;
                        match tx.send_timeout(v, Duration::from_micros(50)) {
                            Ok(()) => sent += v,
                            Err(e) => back += e.into_inner(),
                        }
                    }
                    (sent, back)
                })
            })
            .collect();
        drop(tx);
        let mut received = 0u64;
        loop {
            match rx.recv_timeout(Duration::from_micros(30)) {
                Ok(v) => received += v,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Closed) => break,
            }
        }
        let (mut sent, mut back) = (0, 0);
        for p in producers {
            let (s, b) = p.join().unwrap();
            sent += s;
            back += b;
        }
        let all: u64 = (0..3u64)
            .map(|p| (0..2_000).map(|i| p * 1_000_000 + i).sum::<u64>())
            .sum();
        assert_eq!(sent, received);
        assert_eq!(sent + back, all);
        let s = rx.stats();
        assert_eq!((s.len, s.senders_waiting, s.receivers_waiting), (0, 0, 0));
    });
}

// ---------------------------------------------------------------------------------------
// Semaphore (tokio's sync_semaphore / sync_semaphore_owned, async-lock's semaphore)

#[test]
fn forget_permits_takes_only_free_ones() {
    let sem = Semaphore::new(3);
    let held = sem.try_acquire().unwrap();
    assert_eq!(sem.forget_permits(1), 1);
    assert_eq!(sem.forget_permits(5), 1);
    assert_eq!(sem.forget_permits(1), 0);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
    sem.close();
    assert_eq!(sem.forget_permits(1), 1);
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn owned_blocking_acquire_waits_for_a_release_on_another_thread() {
    watchdog("owned_blocking_acquire", 30, || {
        let sem = Arc::new(Semaphore::new(2));
        let mut both = sem.clone().acquire_many_owned_blocking(2).unwrap();
        let one = both.split(1).unwrap();
        assert!(both.split(2).is_none());
        let waiter = {
            let sem = sem.clone();
            std::thread::spawn(move || sem.acquire_many_owned_blocking(2).map(|p| p.permits()))
        };
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(sem.waiting(), 1);
        drop(one);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!waiter.is_finished(), "one permit of two is not enough");
        drop(both);
        assert_eq!(waiter.join().unwrap(), Ok(2));
        assert_eq!(sem.available_permits(), 2);
        let mut a = sem.clone().acquire_owned_blocking().unwrap();
        a.merge(sem.clone().try_acquire_owned().unwrap());
        assert_eq!((a.permits(), sem.available_permits()), (2, 0));
        sem.close();
        drop(a);
        assert!(sem.clone().acquire_owned_blocking().is_err());
    });
}

#[test]
#[should_panic(expected = "merging permits of different semaphores")]
fn owned_merge_of_different_semaphores_panics() {
    let a = Arc::new(Semaphore::new(1));
    let b = Arc::new(Semaphore::new(1));
    let mut p = a.try_acquire_owned().unwrap();
    p.merge(b.try_acquire_owned().unwrap());
}

// ---------------------------------------------------------------------------------------
// Stats for exporter tests

#[test]
fn stats_default_is_an_empty_snapshot() {
    let mut s = Stats::default();
    assert_eq!(s.fill_ratio(), 0.0);
    s.capacity = 8;
    s.len = 2;
    s.reserved = 2;
    assert_eq!(s.fill_ratio(), 0.5);
    let (tx, _rx) = bounded::<u8>(8);
    let mut expected = Stats::default();
    expected.capacity = 8;
    expected.senders = 1;
    expected.receivers = 1;
    assert_eq!(tx.stats(), expected);
}
