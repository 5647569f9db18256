//! Cancellation stress: producers and consumers on real multi-threaded executors cancel
//! pending sends and receives at random — `select` against a short timer, and "poll once,
//! then drop" — and every value must still arrive exactly once (count, checksum, seen-set),
//! in order per producer, with no deadlock (watchdog).
//!
//! A cancelled `send` drops its value (documented), so producers send `Copy` values and
//! resend the same value after a cancelled send. A cancelled `reserve` or `recv` loses
//! nothing by contract.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]
#![cfg(not(miri))]

mod common;

use common::{check_delivery, enc, watchdog, yield_now, Rng, Rt};
use futures::future::{join_all, select, Either};
use sluicebox::{bounded, Receiver, Sender, TryRecvError, TrySendError};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;

const ASYNC_PRODUCERS: u64 = 3;
const ASYNC_CONSUMERS: usize = 3;
/// Plus one producer thread (`send_blocking`) and one consumer thread (`recv_blocking`),
/// whose waits share the wait lists with the tasks'.
const PRODUCERS: u64 = ASYNC_PRODUCERS + 1;
const PER_PRODUCER: u64 = 30_000;

/// How often each kind of cancellation happened (to prove the test cancelled anything).
#[derive(Default)]
struct Cancels {
    send_select: AtomicU64,
    send_poll_once: AtomicU64,
    reserve_select: AtomicU64,
    recv_select: AtomicU64,
    recv_poll_once: AtomicU64,
    batch_select: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

async fn producer<R: Rt + 'static>(tx: Sender<u64>, p: u64, seed: u64, cancels: Arc<Cancels>) {
    let mut rng = Rng::new(seed);
    for s in 0..PER_PRODUCER {
        let v = enc(p, s);
        loop {
            match rng.below(10) {
                0..=2 => {
                    tx.send(v).await.expect("receivers outlive producers");
                    break;
                }
                3 | 4 => {
                    let (send, timer) = (pin!(tx.send(v)), R::short_timer(rng.next()));
                    match select(send, timer).await {
                        Either::Left((r, _)) => {
                            r.expect("receivers outlive producers");
                            break;
                        }
                        // The send future was dropped unfinished: `v` never entered the
                        // channel; send the same value again.
                        Either::Right(_) => bump(&cancels.send_select),
                    }
                }
                5 | 6 => {
                    let mut send = pin!(tx.send(v));
                    match futures::poll!(send.as_mut()) {
                        Poll::Ready(r) => {
                            r.expect("receivers outlive producers");
                            break;
                        }
                        Poll::Pending => bump(&cancels.send_poll_once),
                    }
                    // `send` is dropped here, registered and perhaps already woken.
                }
                7 | 8 => {
                    let (reserve, timer) = (pin!(tx.reserve()), R::short_timer(rng.next()));
                    match select(reserve, timer).await {
                        Either::Left((permit, _)) => {
                            permit.expect("receivers outlive producers").send(v);
                            break;
                        }
                        Either::Right(_) => bump(&cancels.reserve_select),
                    }
                }
                _ => match tx.try_send(v) {
                    Ok(()) => break,
                    Err(TrySendError::Full(_)) => yield_now().await,
                    Err(TrySendError::Closed(_)) => panic!("closed while producing"),
                },
            }
        }
    }
}

async fn consumer<R: Rt + 'static>(
    rx: Receiver<u64>,
    seed: u64,
    cancels: Arc<Cancels>,
) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    let mut got = Vec::new();
    let mut buf = Vec::new();
    loop {
        match rng.below(10) {
            0..=2 => match rx.recv().await {
                Some(v) => got.push(v),
                None => break,
            },
            3 | 4 => {
                let (recv, timer) = (pin!(rx.recv()), R::short_timer(rng.next()));
                match select(recv, timer).await {
                    Either::Left((Some(v), _)) => got.push(v),
                    Either::Left((None, _)) => break,
                    Either::Right(_) => bump(&cancels.recv_select),
                }
            }
            5 | 6 => {
                // Poll once, then drop the future (registered, perhaps already woken).
                let polled = {
                    let mut recv = pin!(rx.recv());
                    futures::poll!(recv.as_mut())
                };
                match polled {
                    Poll::Ready(Some(v)) => got.push(v),
                    Poll::Ready(None) => break,
                    Poll::Pending => bump(&cancels.recv_poll_once),
                }
                yield_now().await;
            }
            7 | 8 => {
                // Batches under cancellation: items taken before the cancel are in `buf`.
                let done = {
                    let batch = pin!(rx.recv_batch(&mut buf, 4, R::short_timer(rng.next())));
                    match select(batch, R::short_timer(rng.next())).await {
                        Either::Left((n, _)) => n == 0,
                        Either::Right(_) => {
                            bump(&cancels.batch_select);
                            false
                        }
                    }
                };
                got.append(&mut buf);
                if done {
                    break;
                }
            }
            _ => match rx.try_recv() {
                Ok(v) => got.push(v),
                Err(TryRecvError::Empty) => yield_now().await,
                Err(TryRecvError::Closed) => break,
                Err(e) => panic!("unexpected {e:?}"),
            },
        }
    }
    got
}

fn stress<R: Rt + 'static>(cap: usize, seed: u64) {
    let what = format!("{} cancel stress cap {cap} seed {seed}", R::NAME);
    let rt = R::new();
    let cancels = Arc::new(Cancels::default());
    let (tx, rx) = bounded::<u64>(cap);

    let blocking_producer = {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for s in 0..PER_PRODUCER {
                tx.send_blocking(enc(ASYNC_PRODUCERS, s)).unwrap();
            }
        })
    };
    let blocking_consumer = {
        let rx = rx.clone();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv_blocking() {
                got.push(v);
            }
            got
        })
    };

    let mut got = rt.block_on(async {
        let consumers: Vec<_> = (0..ASYNC_CONSUMERS)
            .map(|c| {
                let fut = consumer::<R>(rx.clone(), seed ^ (c as u64 + 100), cancels.clone());
                rt.spawn(fut)
            })
            .collect();
        let producers: Vec<_> = (0..ASYNC_PRODUCERS)
            .map(|p| rt.spawn(producer::<R>(tx.clone(), p, seed ^ p, cancels.clone())))
            .collect();
        drop(tx);
        drop(rx);
        join_all(producers).await;
        join_all(consumers).await
    });
    blocking_producer.join().unwrap();
    got.push(blocking_consumer.join().unwrap());
    check_delivery(&what, &got, PRODUCERS, PER_PRODUCER);

    let c = &*cancels;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let sends = load(&c.send_select) + load(&c.send_poll_once) + load(&c.reserve_select);
    let recvs = load(&c.recv_select) + load(&c.recv_poll_once) + load(&c.batch_select);
    println!(
        "{what}: cancelled sends {} (select) {} (poll once) reserves {}; recvs {} (select) \
         {} (poll once) batches {}",
        load(&c.send_select),
        load(&c.send_poll_once),
        load(&c.reserve_select),
        load(&c.recv_select),
        load(&c.recv_poll_once),
        load(&c.batch_select),
    );
    assert!(
        sends > 0,
        "{what}: no send was ever cancelled: the test tested nothing"
    );
    assert!(
        recvs > 0,
        "{what}: no recv was ever cancelled: the test tested nothing"
    );
}

macro_rules! stress_tests {
    ($($name:ident: $rt:ty, $cap:expr, $seed:expr;)*) => {$(
        #[test]
        fn $name() {
            watchdog(stringify!($name), 30, || stress::<$rt>($cap, $seed));
        }
    )*};
}

stress_tests! {
    cancel_stress_tokio_multi_cap1: common::TokioMulti, 1, 1;
    cancel_stress_tokio_multi_cap4: common::TokioMulti, 4, 2;
    cancel_stress_smol_cap1: common::Smol, 1, 3;
    cancel_stress_smol_cap4: common::Smol, 4, 4;
    cancel_stress_async_std_cap1: common::AsyncStd, 1, 5;
    cancel_stress_async_std_cap4: common::AsyncStd, 4, 6;
    cancel_stress_futures_pool_cap1: common::FuturesPool, 1, 7;
    cancel_stress_futures_pool_cap4: common::FuturesPool, 4, 8;
    cancel_stress_tokio_current_cap1: common::TokioCurrent, 1, 9;
    cancel_stress_tokio_current_cap4: common::TokioCurrent, 4, 10;
    cancel_stress_mini_cap1: common::Mini, 1, 11;
    cancel_stress_mini_cap4: common::Mini, 4, 12;
}
