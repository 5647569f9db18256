//! The behavioural suite: every scenario is a generic function over [`Rt`], and
//! [`suite_tests!`] turns the whole list into `#[test]`s for one executor, each under the
//! watchdog. The per-executor files (`tests/exec_*.rs`) are one macro call each.
#![allow(dead_code)]

use crate::common::{
    check_delivery, enc, wait_until, yield_now, AfterPolls, DropCounter, Rt, Tracked,
};
use futures::future::{join_all, Either};
use futures::StreamExt;
use sluicebox::{bounded, Receiver, SendError, Sender, StaticChannel, TryRecvError, TrySendError};
use std::pin::pin;
use std::time::{Duration, Instant};

/// Generates one `#[test]` per scenario for the executor made by `$make` (a `Rt` type).
/// Generates one `#[test]` per scenario for the executor `$rt` (a `Rt` type), each under
/// the watchdog. The calling file declares `mod common;` and `mod suite;`.
#[macro_export]
macro_rules! suite_tests {
    (@each $rt:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                common::watchdog(
                    concat!(stringify!($name), " on ", stringify!($rt)),
                    30,
                    || {
                        let rt = <$rt as common::Rt>::new();
                        suite::$name(&rt);
                    },
                );
            }
        )*
    };
    ($rt:ty) => {
        $crate::suite_tests!(@each $rt;
            spsc_cap1, spsc_cap2, spsc_cap64,
            mpsc_4to1_cap1, mpsc_4to1_cap2, mpsc_4to1_cap64,
            mpmc_4to4_cap1, mpmc_4to4_cap2, mpmc_4to4_cap64,
            mpmc_joined_cap1, mpmc_joined_cap64,
            mpmc_mixed_api,
            blocking_producers_async_consumers, async_producers_blocking_consumers,
            close_last_sender_drains_then_none, close_last_receiver_returns_value,
            close_wakes_all_parked, reserve_permit, stats_count_permits_as_room, permits_hold_room_not_a_place_in_line,
            recv_many_basic, recv_many_takes_only_what_is_there, recv_batch_timer_deadline, recv_batch_poll_deadline,
            stream_basic, stream_concurrent, closed_future, static_channel,
            weak_sender,
        );
    };
}

/// Items per producer in the throughput-style scenarios (debug build, 2 cores).
const PER: u64 = 1_000;

async fn produce(tx: Sender<u64>, p: u64, n: u64) {
    for s in 0..n {
        tx.send(enc(p, s))
            .await
            .expect("receivers are alive while producers run");
    }
}

async fn consume(rx: Receiver<u64>) -> Vec<u64> {
    let mut got = Vec::new();
    while let Some(v) = rx.recv().await {
        got.push(v);
    }
    got
}

/// `producers` tasks send `per` items each through a channel of `cap`; `consumers` tasks
/// receive until `None`. Every task is spawned.
fn mpmc<R: Rt>(rt: &R, producers: u64, consumers: usize, cap: usize, per: u64) {
    let what = format!("{} {producers}:{consumers} cap {cap}", R::NAME);
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(cap);
        let cons: Vec<_> = (0..consumers)
            .map(|_| rt.spawn(consume(rx.clone())))
            .collect();
        let prods: Vec<_> = (0..producers)
            .map(|p| rt.spawn(produce(tx.clone(), p, per)))
            .collect();
        // Keep `rx` (it never receives) for the stats; the senders must all go.
        drop(tx);
        join_all(prods).await;
        let got = join_all(cons).await;
        check_delivery(&what, &got, producers, per);
        let s = rx.stats();
        assert_eq!(s.sent, producers * per, "{what}: stats.sent");
        assert_eq!(s.received, producers * per, "{what}: stats.received");
        assert_eq!(s.len, 0, "{what}: stats.len");
        assert_eq!(s.senders, 0, "{what}: every producer is gone");
        assert_eq!(s.receivers, 1, "{what}: only our idle receiver is left");
        assert_eq!(s.receivers_waiting, 0, "{what}: nobody waits");
        assert!(s.closed, "{what}: closed by the last sender's drop");
    });
}

pub fn spsc_cap1<R: Rt>(rt: &R) {
    mpmc(rt, 1, 1, 1, PER * 4);
}
pub fn spsc_cap2<R: Rt>(rt: &R) {
    mpmc(rt, 1, 1, 2, PER * 4);
}
pub fn spsc_cap64<R: Rt>(rt: &R) {
    mpmc(rt, 1, 1, 64, PER * 4);
}
pub fn mpsc_4to1_cap1<R: Rt>(rt: &R) {
    mpmc(rt, 4, 1, 1, PER);
}
pub fn mpsc_4to1_cap2<R: Rt>(rt: &R) {
    mpmc(rt, 4, 1, 2, PER);
}
pub fn mpsc_4to1_cap64<R: Rt>(rt: &R) {
    mpmc(rt, 4, 1, 64, PER);
}
pub fn mpmc_4to4_cap1<R: Rt>(rt: &R) {
    mpmc(rt, 4, 4, 1, PER);
}
pub fn mpmc_4to4_cap2<R: Rt>(rt: &R) {
    mpmc(rt, 4, 4, 2, PER);
}
pub fn mpmc_4to4_cap64<R: Rt>(rt: &R) {
    mpmc(rt, 4, 4, 64, PER);
}

/// 4:4 with every producer and consumer joined inside the one `block_on` task: wakeups
/// within a single task, no spawn.
fn mpmc_joined<R: Rt>(rt: &R, cap: usize) {
    let what = format!("{} joined 4:4 cap {cap}", R::NAME);
    let got = rt.block_on(async {
        let (tx, rx) = bounded::<u64>(cap);
        let prods = join_all((0..4).map(|p| produce(tx.clone(), p, PER)));
        let cons = join_all((0..4).map(|_| consume(rx.clone())));
        drop((tx, rx));
        futures::join!(prods, cons).1
    });
    check_delivery(&what, &got, 4, PER);
}

pub fn mpmc_joined_cap1<R: Rt>(rt: &R) {
    mpmc_joined(rt, 1);
}
pub fn mpmc_joined_cap64<R: Rt>(rt: &R) {
    mpmc_joined(rt, 64);
}

/// Producers mix `send`, `reserve`+`Permit::send`, `try_send`-then-`send` and
/// `try_reserve`; consumers mix `recv`, `recv_many`, `recv_batch` and the stream.
pub fn mpmc_mixed_api<R: Rt>(rt: &R) {
    let what = format!("{} mixed API 4:4 cap 3", R::NAME);
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(3);
        let mut cons = Vec::new();
        for c in 0..4 {
            let rx = rx.clone();
            cons.push(rt.spawn(async move {
                let mut got = Vec::new();
                match c {
                    0 => {
                        while let Some(v) = rx.recv().await {
                            got.push(v);
                        }
                    }
                    1 => while rx.recv_many(&mut got, 5).await != 0 {},
                    2 => {
                        // A deadline made of polls: runs on any executor.
                        while rx.recv_batch(&mut got, 4, AfterPolls::new(3)).await != 0 {}
                    }
                    _ => {
                        let mut stream = pin!(rx.into_stream());
                        while let Some(v) = stream.next().await {
                            got.push(v);
                        }
                    }
                }
                got
            }));
        }
        drop(rx);
        let mut prods = Vec::new();
        for p in 0..4u64 {
            let tx = tx.clone();
            prods.push(rt.spawn(async move {
                for s in 0..PER {
                    let v = enc(p, s);
                    match (p + s) % 4 {
                        0 => tx.send(v).await.unwrap(),
                        1 => tx.reserve().await.unwrap().send(v),
                        2 => match tx.try_send(v) {
                            Ok(()) => {}
                            Err(TrySendError::Full(v)) => tx.send(v).await.unwrap(),
                            Err(TrySendError::Closed(_)) => panic!("closed while sending"),
                        },
                        _ => match tx.try_reserve() {
                            Ok(permit) => permit.send(v),
                            Err(e) => {
                                assert!(e.is_full(), "closed while sending");
                                tx.reserve().await.unwrap().send(v);
                            }
                        },
                    }
                }
            }));
        }
        drop(tx);
        join_all(prods).await;
        let got = join_all(cons).await;
        check_delivery(&what, &got, 4, PER);
    });
}

/// Two OS threads send with `send_blocking`; async consumers receive: tasks woken by
/// threads and threads unparked by tasks.
pub fn blocking_producers_async_consumers<R: Rt>(rt: &R) {
    let what = format!("{} blocking producers, async consumers", R::NAME);
    let (tx, rx) = bounded::<u64>(2);
    let threads: Vec<_> = (0..2u64)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for s in 0..PER {
                    tx.send_blocking(enc(p, s)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let got = rt.block_on(async {
        let cons: Vec<_> = (0..2).map(|_| rt.spawn(consume(rx.clone()))).collect();
        drop(rx);
        join_all(cons).await
    });
    for t in threads {
        t.join().unwrap();
    }
    check_delivery(&what, &got, 2, PER);
}

/// Async producers; two OS threads receive with `recv_blocking`.
pub fn async_producers_blocking_consumers<R: Rt>(rt: &R) {
    let what = format!("{} async producers, blocking consumers", R::NAME);
    let (tx, rx) = bounded::<u64>(2);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv_blocking() {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    drop(rx);
    rt.block_on(async {
        let prods: Vec<_> = (0..2)
            .map(|p| rt.spawn(produce(tx.clone(), p, PER)))
            .collect();
        drop(tx);
        join_all(prods).await;
    });
    let got: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    check_delivery(&what, &got, 2, PER);
}

/// The last sender's drop closes the channel after the queue drains: items, then `None`
/// (for good); parked receivers are woken with `None`.
pub fn close_last_sender_drains_then_none<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(4);
        let tx2 = tx.clone();
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        assert!(!rx.is_closed(), "one sender is still alive");
        tx2.send(3).await.unwrap();
        drop(tx2);
        assert!(rx.is_closed());
        for i in 0..4 {
            assert_eq!(
                rx.recv().await,
                Some(i),
                "queued items drain after the close"
            );
        }
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.recv().await, None, "None is final");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

        // Parked receivers are woken by the last sender's drop.
        let (tx, rx) = bounded::<u64>(2);
        let parked: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                rt.spawn(async move { rx.recv().await })
            })
            .collect();
        wait_until("3 receivers are parked", || {
            rx.stats().receivers_waiting == 3
        })
        .await;
        drop(tx);
        for r in join_all(parked).await {
            assert_eq!(
                r, None,
                "a parked receiver gets None when the last sender drops"
            );
        }
    });
}

/// The last receiver's drop: queued items are dropped at once, a parked sender and every
/// later send fail with their value returned.
pub fn close_last_receiver_returns_value<R: Rt>(rt: &R) {
    rt.block_on(async {
        let drops = DropCounter::new();
        let (tx, rx) = bounded::<Tracked>(2);
        tx.send(drops.track(1)).await.unwrap();
        tx.send(drops.track(2)).await.unwrap();
        let parked = {
            let tx = tx.clone();
            let v = drops.track(3);
            rt.spawn(async move { tx.send(v).await })
        };
        wait_until("a sender is parked on the full channel", || {
            tx.stats().senders_waiting == 1
        })
        .await;
        let rx2 = rx.clone();
        drop(rx);
        assert!(!tx.is_closed(), "one receiver is still alive");
        assert_eq!(drops.dropped(), 0);
        drop(rx2);
        assert!(tx.is_closed());
        assert_eq!(
            drops.dropped(),
            2,
            "the 2 queued items are dropped when the last receiver goes"
        );
        let err = parked.await.expect_err("the parked send fails once closed");
        assert_eq!(err.0 .0, 3, "the parked send gets its own value back");
        drop(err);
        assert_eq!(drops.dropped(), 3);

        let SendError(back) = tx.send(drops.track(4)).await.unwrap_err();
        assert_eq!(back.0, 4);
        match tx.try_send(drops.track(5)) {
            Err(TrySendError::Closed(v)) => assert_eq!(v.0, 5),
            other => panic!("try_send on a closed channel: {other:?}"),
        }
        assert!(tx.reserve().await.is_err());
        assert!(tx.try_reserve().unwrap_err().is_closed());
        drop(back);
        assert_eq!(drops.live(), 0, "every value dropped exactly once");
        assert_eq!(drops.made(), 5);
    });
}

/// `close()` wakes every parked receiver, `closed()` future, sender and reserver.
pub fn close_wakes_all_parked<R: Rt>(rt: &R) {
    const K: usize = 4;
    rt.block_on(async {
        // Receivers and `closed()` futures on an empty channel.
        let (tx, rx) = bounded::<u64>(1);
        let recvs: Vec<_> = (0..K)
            .map(|_| {
                let rx = rx.clone();
                rt.spawn(async move { rx.recv().await })
            })
            .collect();
        let closeds: Vec<_> = (0..K)
            .map(|_| {
                let tx = tx.clone();
                rt.spawn(async move { tx.closed().await })
            })
            .collect();
        wait_until("K receivers parked", || rx.stats().receivers_waiting == K).await;
        // `closed()` waiters are not counted in stats; give them a moment to park.
        for _ in 0..10 {
            yield_now().await;
        }
        assert!(tx.close(), "this call closes");
        assert!(!rx.close(), "already closed");
        for r in join_all(recvs).await {
            assert_eq!(r, None);
        }
        join_all(closeds).await;

        // Senders and reservers on a full channel.
        let (tx, rx) = bounded::<u64>(1);
        tx.send(100).await.unwrap();
        let sends: Vec<_> = (0..K as u64)
            .map(|i| {
                let tx = tx.clone();
                rt.spawn(async move { tx.send(i).await })
            })
            .collect();
        let reserves: Vec<_> = (0..K)
            .map(|_| {
                let tx = tx.clone();
                rt.spawn(async move { tx.reserve().await.map(drop) })
            })
            .collect();
        wait_until("2K senders parked", || tx.stats().senders_waiting == 2 * K).await;
        assert!(rx.close());
        for (i, r) in join_all(sends).await.into_iter().enumerate() {
            assert_eq!(
                r,
                Err(SendError(i as u64)),
                "each parked send gets its value back"
            );
        }
        for r in join_all(reserves).await {
            assert!(r.is_err(), "parked reserve fails on close");
        }
        assert_eq!(
            rx.recv().await,
            Some(100),
            "the queued item survives close()"
        );
        assert_eq!(rx.recv().await, None);
    });
}

/// `reserve` → `Permit::send`; a dropped permit gives its room back.
pub fn reserve_permit<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(2);
        tx.send(1).await.unwrap();
        let permit = tx.reserve().await.unwrap();
        assert!(
            tx.try_send(2).unwrap_err().is_full(),
            "the permit holds the room"
        );
        assert!(tx.try_reserve().unwrap_err().is_full());
        assert_eq!(rx.recv().await, Some(1));
        permit.send(7);
        assert_eq!(rx.recv().await, Some(7));

        // A dropped permit: a sender gets its room.
        let permit = tx.try_reserve().unwrap();
        drop(permit);
        let sender = {
            let tx = tx.clone();
            rt.spawn(async move { tx.send(8).await })
        };
        assert_eq!(
            rx.recv().await,
            Some(8),
            "the sender used the room the permit gave back"
        );
        sender.await.unwrap();

        // A reserve parked on a full channel completes when a slot frees.
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        let waiting = {
            let tx = tx.clone();
            rt.spawn(async move {
                let permit = tx.reserve().await.unwrap();
                permit.send(3);
            })
        };
        wait_until("a reserve is parked", || tx.stats().senders_waiting == 1).await;
        assert_eq!(rx.recv().await, Some(1));
        waiting.await;
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        let s = tx.stats();
        assert_eq!((s.sent - s.received, s.len), (0, 0));
        assert!(s.rejected >= 1, "the Full try_send was counted");
    });
}

/// `Stats` while permits are out, as documented: a held permit counts in `reserved`,
/// in `sent` and `len` only once it sends, and nowhere if dropped.
pub fn stats_count_permits_as_room<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(4);
        tx.send(1).await.unwrap();
        let p1 = tx.try_reserve().unwrap();
        let p2 = tx.reserve().await.unwrap();
        let s = tx.stats();
        assert_eq!((s.len, s.reserved, s.sent, s.received), (1, 2, 1, 0));
        assert_eq!((tx.len(), tx.reserved()), (1, 2));
        assert_eq!(s.fill_ratio(), 0.75);
        drop(p1);
        tx.send(2).await.unwrap();
        p2.send(3);
        let s = tx.stats();
        assert_eq!((s.len, s.reserved, s.sent), (3, 0, 3));
        for expect in 1..=3 {
            assert_eq!(rx.recv().await, Some(expect));
        }
        let s = rx.stats();
        assert_eq!(
            (s.len, s.reserved, s.sent, s.received),
            (0, 0, 3, 3),
            "3 items through the channel; the dropped permit counts nowhere"
        );
    });
}

/// A permit holds room, not a place in line: receivers take what is ready, the permit's
/// item queues when it is sent, a dropped permit's room is free at once, and a closed
/// channel reports its end only after the last permit.
pub fn permits_hold_room_not_a_place_in_line<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(4);
        let p1 = tx.try_reserve().unwrap();
        tx.try_send(1).unwrap();
        let p2 = tx.try_reserve().unwrap();
        tx.try_send(2).unwrap();
        assert!(tx.is_full());
        assert!(
            tx.try_send(99).unwrap_err().is_full(),
            "the permits hold room"
        );
        drop(p1);
        assert!(!tx.is_full(), "a dropped permit's room is free at once");
        p2.send(3);
        tx.try_send(4).unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(rx.recv().await.unwrap());
        }
        assert_eq!(got, [1, 2, 3, 4], "items queue in the order they are sent");
        assert!(rx.is_empty());

        // A held permit holds no receiver up.
        let permit = tx.try_reserve().unwrap();
        tx.try_send(10).unwrap();
        assert_eq!(rx.recv().await, Some(10), "not held up by the permit");
        // A receiver parked on an empty channel is woken by the permit's send.
        let waiting = {
            let rx = rx.clone();
            rt.spawn(async move { rx.recv().await })
        };
        wait_until("a receiver is parked", || rx.stats().receivers_waiting == 1).await;
        permit.send(11);
        assert_eq!(waiting.await, Some(11));

        // Reserve, then send another item, then use the permit: in the order sent.
        let permit_tx = tx.clone();
        let waiting = {
            let rx = rx.clone();
            rt.spawn(async move { (rx.recv().await, rx.recv().await) })
        };
        wait_until("a receiver is parked", || rx.stats().receivers_waiting == 1).await;
        let filler = rt.spawn(async move {
            let permit = permit_tx.reserve().await.unwrap();
            permit_tx.try_send(21).unwrap();
            permit.send(20);
        });
        filler.await;
        assert_eq!(waiting.await, (Some(21), Some(20)));

        // Closed with permits out: the end comes after the last permit.
        let sent = tx.try_reserve().unwrap();
        let dropped = tx.try_reserve().unwrap();
        assert!(rx.close());
        assert!(tx.try_send(30).unwrap_err().is_closed());
        let waiting = {
            let rx = rx.clone();
            rt.spawn(async move { (rx.recv().await, rx.recv().await) })
        };
        wait_until("a receiver is parked", || rx.stats().receivers_waiting == 1).await;
        sent.send(31);
        drop(dropped);
        assert_eq!(waiting.await, (Some(31), None));
    });
}

pub fn recv_many_basic<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(8);
        for i in 0..5 {
            tx.send(i).await.unwrap();
        }
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 3).await, 3);
        assert_eq!(buf, [0, 1, 2]);
        assert_eq!(rx.recv_many(&mut buf, 2).await, 2);
        assert_eq!(buf, [0, 1, 2, 3, 4]);
        assert_eq!(
            rx.recv_many(&mut buf, 0).await,
            0,
            "limit 0 returns at once"
        );

        // Waits for the first item.
        let waiting = {
            let rx = rx.clone();
            rt.spawn(async move {
                let mut buf = Vec::new();
                let n = rx.recv_many(&mut buf, 1).await;
                (n, buf)
            })
        };
        wait_until("recv_many is parked", || rx.stats().receivers_waiting == 1).await;
        tx.send(9).await.unwrap();
        assert_eq!(waiting.await, (1, vec![9]), "recv_many woke with the item");

        // Closed: what is left, then 0.
        tx.send(10).await.unwrap();
        drop(tx);
        buf.clear();
        assert_eq!(rx.recv_many(&mut buf, 10).await, 1);
        assert_eq!(buf, [10]);
        assert_eq!(
            rx.recv_many(&mut buf, 10).await,
            0,
            "0 once closed and drained"
        );
    });
}

/// `recv_many` (documented: "appends it and every item available right now, up to
/// `limit`") returns what is queued now; it does not wait for `limit` items.
pub fn recv_many_takes_only_what_is_there<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(8);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        let mut buf = Vec::new();
        let (many, timer) = (
            pin!(rx.recv_many(&mut buf, 10)),
            R::sleep(Duration::from_secs(2)),
        );
        match futures::future::select(many, timer).await {
            Either::Left((n, _)) => assert_eq!(n, 2),
            Either::Right(_) => panic!(
                "recv_many(&mut buf, 10) with 2 items queued and the sender alive did not \
                 return within 2 s: it waits for `limit` items (recv_many_into passes \
                 `pending()` as recv_batch's deadline) instead of returning what is there"
            ),
        }
        drop(tx);
    });
}

/// `recv_batch` with the executor's own timer: returns what arrived before the deadline,
/// collects items that arrive while it waits, stops at `limit` without waiting.
pub fn recv_batch_timer_deadline<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(16);
        // 3 items, then silence (channel open): the deadline ends the batch.
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        let mut buf = Vec::new();
        let start = Instant::now();
        let n = rx
            .recv_batch(&mut buf, 100, R::sleep(Duration::from_millis(30)))
            .await;
        assert_eq!((n, &buf[..]), (3, &[0, 1, 2][..]));
        assert!(
            start.elapsed() >= Duration::from_millis(25),
            "waited for the deadline ({:?})",
            start.elapsed()
        );

        // `limit` reached: returns without waiting for a (long) deadline.
        for i in 0..10 {
            tx.send(i).await.unwrap();
        }
        buf.clear();
        let start = Instant::now();
        let n = rx
            .recv_batch(&mut buf, 4, R::sleep(Duration::from_secs(20)))
            .await;
        assert_eq!((n, &buf[..]), (4, &[0, 1, 2, 3][..]));
        assert!(start.elapsed() < Duration::from_secs(10));
        while rx.try_recv().is_ok() {}

        // Items arriving one by one while the batch waits are collected.
        let feeder = {
            let tx = tx.clone();
            rt.spawn(async move {
                for i in 0..3 {
                    R::sleep(Duration::from_millis(5)).await;
                    tx.send(i).await.unwrap();
                }
            })
        };
        buf.clear();
        let n = rx
            .recv_batch(&mut buf, 3, R::sleep(Duration::from_secs(20)))
            .await;
        assert_eq!((n, &buf[..]), (3, &[0, 1, 2][..]));
        feeder.await;

        drop(tx);
        let n = rx
            .recv_batch(&mut buf, 3, R::sleep(Duration::from_millis(1)))
            .await;
        assert_eq!(n, 0, "0 once closed and drained");
    });
}

/// `recv_batch` with a deadline made of polls (no timer at all).
pub fn recv_batch_poll_deadline<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(16);
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        let mut buf = Vec::new();
        let n = rx.recv_batch(&mut buf, 100, AfterPolls::new(5)).await;
        assert_eq!((n, &buf[..]), (3, &[0, 1, 2][..]));

        // An already-complete deadline: the first item and whatever is there now.
        tx.send(7).await.unwrap();
        tx.send(8).await.unwrap();
        buf.clear();
        assert_eq!(rx.recv_batch(&mut buf, 100, async {}).await, 2);
        assert_eq!(buf, [7, 8]);

        // Waits for the first item however long, before the deadline runs.
        let waiting = {
            let rx = rx.clone();
            rt.spawn(async move {
                let mut buf = Vec::new();
                let n = rx.recv_batch(&mut buf, 100, AfterPolls::new(0)).await;
                (n, buf)
            })
        };
        wait_until("recv_batch is parked", || rx.stats().receivers_waiting == 1).await;
        tx.send(42).await.unwrap();
        let (n, got) = waiting.await;
        assert_eq!((n, &got[..]), (1, &[42][..]));
    });
}

pub fn stream_basic<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(4);
        for i in 0..4 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        let stream = pin!(rx.into_stream());
        assert_eq!(stream.collect::<Vec<_>>().await, [0, 1, 2, 3]);

        // poll_recv by hand, and into_inner.
        let (tx, rx) = bounded::<u64>(1);
        let rx = rx.into_stream().into_inner();
        tx.try_send(5).unwrap();
        let mut stream = pin!(rx.into_stream());
        let v = std::future::poll_fn(|cx| stream.as_mut().poll_recv(cx)).await;
        assert_eq!(v, Some(5));
        assert_eq!(stream.get_ref().len(), 0);
        drop(tx);
        assert_eq!(stream.next().await, None);
    });
}

/// A stream consumer parked between items, fed by spawned producers.
pub fn stream_concurrent<R: Rt>(rt: &R) {
    let what = format!("{} stream 2:2 cap 1", R::NAME);
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(1);
        let cons: Vec<_> = (0..2)
            .map(|_| {
                let stream = rx.clone().into_stream();
                rt.spawn(async move {
                    let stream = pin!(stream);
                    stream.collect::<Vec<_>>().await
                })
            })
            .collect();
        drop(rx);
        let prods: Vec<_> = (0..2)
            .map(|p| rt.spawn(produce(tx.clone(), p, PER)))
            .collect();
        drop(tx);
        join_all(prods).await;
        check_delivery(&what, &join_all(cons).await, 2, PER);
    });
}

pub fn closed_future<R: Rt>(rt: &R) {
    rt.block_on(async {
        // Completes when the last receiver drops.
        let (tx, rx) = bounded::<u64>(1);
        let waiting = {
            let tx = tx.clone();
            rt.spawn(async move { tx.closed().await })
        };
        yield_now().await;
        assert!(!tx.is_closed());
        drop(rx);
        waiting.await;
        tx.closed().await; // already closed: at once

        // close() from another sender wakes it; it does not steal slot wakeups.
        let (tx, rx) = bounded::<u64>(1);
        let tx2 = tx.clone();
        let waiting = rt.spawn(async move { tx2.closed().await });
        tx.send(1).await.unwrap();
        assert_eq!(rx.recv().await, Some(1));
        let (closed, timer) = (pin!(tx.closed()), pin!(AfterPolls::new(3)));
        let sel = futures::future::select(closed, timer).await;
        assert!(
            matches!(sel, Either::Right(_)),
            "closed() is pending while open"
        );
        tx.close();
        waiting.await;
        assert_eq!(rx.recv().await, None);
    });
}

/// A `StaticChannel`: `split`, extra handles, 2:2 traffic, closes when the last sender
/// goes; and one on the stack with non-`'static` handles.
pub fn static_channel<R: Rt>(rt: &R) {
    let what = format!("{} static 2:2 cap 2", R::NAME);
    // A fresh channel per call (the suite may run this more than once per binary);
    // `&'static` so its handles can go to spawned tasks.
    let ch: &'static StaticChannel<u64, 2> = Box::leak(Box::new(StaticChannel::new()));
    rt.block_on(async {
        let (tx, rx) = ch.split();
        let rx2 = ch.receiver();
        assert_eq!((ch.sender_count(), ch.receiver_count()), (1, 2));
        let consume_static = |rx: sluicebox::StaticReceiver<'static, u64, 2>| async move {
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await {
                got.push(v);
            }
            got
        };
        let cons = vec![rt.spawn(consume_static(rx)), rt.spawn(consume_static(rx2))];
        let prods: Vec<_> = (0..2u64)
            .map(|p| {
                let tx = tx.clone();
                rt.spawn(async move {
                    for s in 0..PER {
                        tx.send(enc(p, s)).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        join_all(prods).await;
        check_delivery(&what, &join_all(cons).await, 2, PER);
        assert!(ch.is_closed(), "the last sender's drop closed it");
        assert_eq!(ch.stats().sent, 2 * PER);
    });

    // On the stack, joined in one task.
    let local = StaticChannel::<u64, 1>::new();
    let got = rt.block_on(async {
        let (tx, rx) = local.split();
        let prod = async move {
            for i in 0..100 {
                tx.send(i).await.unwrap();
            }
        };
        let cons = async {
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await {
                got.push(v);
            }
            got
        };
        futures::join!(prod, cons).1
    });
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

/// A `WeakSender` does not keep the channel open and upgrades only while it is.
pub fn weak_sender<R: Rt>(rt: &R) {
    rt.block_on(async {
        let (tx, rx) = bounded::<u64>(2);
        let weak = tx.downgrade();
        let up = weak.upgrade().expect("a sender lives");
        up.send(1).await.unwrap();
        drop(up);
        drop(tx);
        assert!(weak.upgrade().is_none(), "no sender left");
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, None);
    });
}
