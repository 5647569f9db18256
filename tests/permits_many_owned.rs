//! Multi-slot and owned permits (tokio's `reserve_many`, `try_reserve_many`,
//! `reserve_owned`, `try_reserve_owned`): room is gathered in FIFO order and given back
//! on cancel; owned permits move into spawned tasks; items are delivered exactly once.
#![cfg(feature = "std")]

mod common;

use common::{poll_with, watchdog, WakeCounter};
use sluicebox::{bounded, StaticChannel, TrySendError};
use std::pin::pin;
use std::task::Poll;

#[test]
fn reserve_many_takes_its_slots_together_and_keeps_its_place() {
    let (tx, rx) = bounded::<u32>(3);
    for v in 0..3 {
        tx.try_send(v).unwrap();
    }
    let w_many = WakeCounter::new();
    let w_single = WakeCounter::new();
    let mut many = pin!(tx.reserve_many(2));
    assert!(poll_with(many.as_mut(), &w_many.waker()).is_pending());
    let mut single = pin!(tx.send(9));
    assert!(poll_with(single.as_mut(), &w_single.waker()).is_pending());
    // One slot frees: the batch (first in line) is woken and finds one slot of two. It
    // takes none of it and waits on, first in line; the send behind it waits its turn.
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(w_many.count(), 1);
    assert!(poll_with(many.as_mut(), &w_many.waker()).is_pending());
    assert_eq!(w_single.count(), 0);
    assert_eq!((tx.reserved(), tx.stats().senders_waiting), (0, 2));
    // A second slot: the batch completes; the single send still waits (FIFO).
    assert_eq!(rx.try_recv(), Ok(1));
    let Poll::Ready(Ok(permits)) = poll_with(many.as_mut(), &w_many.waker()) else {
        panic!("reserve_many(2) should complete with two free slots");
    };
    assert_eq!(permits.len(), 2);
    assert!(poll_with(single.as_mut(), &w_single.waker()).is_pending());
    for (p, v) in permits.zip([10, 11]) {
        p.send(v);
    }
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(
        poll_with(single.as_mut(), &w_single.waker()),
        Poll::Ready(Ok(()))
    );
    let got: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(got, [10, 11, 9]);
    assert_eq!((tx.reserved(), tx.stats().senders_waiting), (0, 0));
}

#[test]
fn reserve_many_dropped_while_woken_passes_the_wakeup_on() {
    let (tx, rx) = bounded::<u32>(2);
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let w = WakeCounter::new();
    let w_behind = WakeCounter::new();
    let mut many = Box::pin(tx.reserve_many(1));
    assert!(poll_with(many.as_mut(), &w.waker()).is_pending());
    let mut behind = pin!(tx.reserve());
    assert!(poll_with(behind.as_mut(), &w_behind.waker()).is_pending());
    // A slot frees and wakes the batch, which is dropped without being polled again:
    // the wakeup goes to the reserve behind it.
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!((w.count(), w_behind.count()), (1, 0));
    drop(many);
    assert_eq!(w_behind.count(), 1);
    let Poll::Ready(Ok(p)) = poll_with(behind.as_mut(), &w_behind.waker()) else {
        panic!("the wakeup should reach the waiting reserve");
    };
    p.send(7);
    assert_eq!((tx.len(), tx.reserved()), (2, 0));
    assert_eq!(tx.stats().abandoned, 1);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(7));
}

#[test]
fn reserve_many_bad_counts_and_close() {
    futures::executor::block_on(async {
        let (tx, rx) = bounded::<u32>(2);
        assert!(tx.reserve_many(3).await.is_err());
        assert!(tx.try_reserve_many(3).unwrap_err().is_full());
        assert_eq!(tx.reserve_many(0).await.unwrap().len(), 0);
        let held = tx.try_reserve_many(1).unwrap();
        assert!(matches!(
            tx.try_reserve_many(2),
            Err(TrySendError::Full(()))
        ));
        assert_eq!(tx.reserved(), 1, "a failed try takes nothing");
        // A batch waiting when the channel closes gives back what it holds and fails.
        let w = WakeCounter::new();
        let mut many = pin!(tx.reserve_many(2));
        assert!(poll_with(many.as_mut(), &w.waker()).is_pending());
        rx.close();
        assert!(matches!(
            poll_with(many.as_mut(), &w.waker()),
            Poll::Ready(Err(_))
        ));
        drop(held);
        assert_eq!(tx.reserved(), 0);
        assert!(tx.try_reserve_many(1).unwrap_err().is_closed());
    });
}

#[test]
fn reserve_many_on_a_static_channel_with_lifetime_payloads() {
    static CH: StaticChannel<&'static str, 4> = StaticChannel::new();
    let (tx, rx) = CH.split();
    let mut permits = tx.try_reserve_many(3).unwrap();
    permits.next().unwrap().send("one");
    drop(permits);
    assert_eq!((CH.len(), CH.reserved()), (1, 0));
    assert_eq!(rx.try_recv(), Ok("one"));
}

#[test]
fn reserve_many_stress_exactly_once_on_tokio() {
    watchdog("reserve_many_stress_exactly_once_on_tokio", 120, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = bounded::<u64>(4);
            let mut tasks = Vec::new();
            for p in 0..4u64 {
                let tx = tx.clone();
                tasks.push(tokio::spawn(async move {
                    let mut next = 0u64;
                    while next < 2_000 {
                        let batch = (1 + next % 3).min(2_000 - next) as usize;
                        let permits = tx.reserve_many(batch).await.unwrap();
                        for permit in permits {
                            permit.send(p << 32 | next);
                            next += 1;
                        }
                    }
                }));
            }
            drop(tx);
            let consumer = tokio::spawn(async move {
                let mut seen = [0u64; 4];
                let (mut count, mut sum) = (0u64, 0u64);
                while let Some(v) = rx.recv().await {
                    let (p, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                    assert_eq!(i, seen[p], "FIFO per producer");
                    seen[p] += 1;
                    count += 1;
                    sum += v;
                }
                (count, sum)
            });
            for t in tasks {
                t.await.unwrap();
            }
            let (count, sum) = consumer.await.unwrap();
            let per = |p: u64| (0..2_000u64).map(|i| p << 32 | i).sum::<u64>();
            assert_eq!(count, 4 * 2_000);
            assert_eq!(sum, (0..4).map(per).sum::<u64>());
        });
    });
}

#[test]
fn owned_permit_moves_into_tokio_spawn_and_gives_the_sender_back() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, rx) = bounded::<Box<dyn FnOnce() -> u32 + Send>>(1);
        // The future of `reserve_owned` itself runs inside a spawned task (needs `Send`).
        let handle = tokio::spawn(async move {
            let permit = tx.reserve_owned().await.unwrap();
            let tx = permit.send(Box::new(|| 42));
            let permit = tx.reserve_owned().await.unwrap();
            tokio::spawn(async move { permit.send(Box::new(|| 7)) })
                .await
                .unwrap()
        });
        assert_eq!(rx.recv().await.unwrap()(), 42);
        assert_eq!(rx.recv().await.unwrap()(), 7);
        let tx = handle.await.unwrap();
        let tx = tx.try_reserve_owned().unwrap().release();
        assert_eq!((tx.reserved(), tx.len()), (0, 0));
        drop(rx);
        let err = tx.try_reserve_owned().unwrap_err();
        assert!(err.is_closed());
        assert!(err.into_inner().reserve_owned().await.is_err());
    });
}

#[test]
fn owned_permit_dropped_gives_room_back_and_drops_its_sender() {
    let (tx, rx) = bounded::<u8>(1);
    let permit = tx.clone().try_reserve_owned().unwrap();
    assert_eq!((tx.sender_count(), tx.reserved()), (2, 1));
    drop(permit);
    assert_eq!((tx.sender_count(), tx.reserved()), (1, 0));
    // The last sender inside a permit: dropping the permit closes the channel.
    let permit = tx.try_reserve_owned().unwrap();
    assert!(!rx.is_closed());
    drop(permit);
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv(), Err(sluicebox::TryRecvError::Closed));
}

/// A waiting batch that finds some room, but not enough, takes none of it and does not
/// wake itself: it stays queued, holding nothing, until more room frees. (An earlier
/// version took the room, gave it back, was handed it again as the front waiter and
/// woke itself on every poll, holding one slot between polls.)
#[test]
fn reserve_many_with_partial_room_neither_spins_nor_holds_room() {
    let (tx, rx) = bounded::<u32>(4);
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let w = WakeCounter::new();
    let mut many = pin!(tx.reserve_many(3));
    for _ in 0..100 {
        assert!(poll_with(many.as_mut(), &w.waker()).is_pending());
    }
    assert_eq!(w.count(), 0, "the batch woke itself");
    assert_eq!((tx.reserved(), tx.stats().senders_waiting), (0, 1));
    // The two free slots stay usable by others meanwhile.
    tx.try_send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    // Room for three now: the pops woke it, and it completes.
    assert!(w.count() >= 1);
    let Poll::Ready(Ok(permits)) = poll_with(many.as_mut(), &w.waker()) else {
        panic!("three slots are free");
    };
    assert_eq!((permits.len(), tx.reserved()), (3, 3));
}
