//! PITFALLS `lifetime-payload`: every public future, permit and stream is `Send` for a
//! `T: Send` with lifetimes in it, inside `tokio::spawn` (which needs `Send`): the job
//! queue of a service (`Box<dyn FnOnce() + Send + 'static>`), `&'static str`,
//! `Cow<'static, str>`, `Vec<&'static [u8]>` and boxed futures, on heap and static
//! channels. A trait bound relating a storage type to `T` on a future makes rustc lose
//! these (a higher-ranked-lifetime limitation of auto-trait checks in `async` blocks), so
//! this file is mostly a compile test; each task also checks what it received.
//!
//! Also: the handles, futures and permits are `Send`/`Sync` exactly when they were
//! before the types became storage-erased (`send_sync_matrix`).
#![cfg(all(feature = "std", not(miri)))]

use futures::StreamExt;
use sluicebox::{bounded, Semaphore, StaticChannel};
use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

type Job = Box<dyn FnOnce() -> usize + Send + 'static>;
type BoxFuture = Pin<Box<dyn Future<Output = usize> + Send + 'static>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Spawns a producer that uses every sending future (`send`, `reserve` + `Permit::send`,
/// `PollSender`, `closed`) and a consumer that uses every receiving one (`recv`,
/// `recv_many`, the stream), all inside `tokio::spawn`, over a heap channel of `T`.
/// Returns what the consumer got, mapped by `value`.
macro_rules! heap_round_trip {
    ($t:ty, $make:expr, $value:expr) => {{
        let make: fn(usize) -> $t = $make;
        let value: fn($t) -> usize = $value;
        runtime().block_on(async move {
            let (tx, rx) = bounded::<$t>(2);
            let closer = tx.clone();
            let producer = tokio::spawn(async move {
                tx.send(make(1)).await.unwrap();
                let permit = tx.reserve().await.unwrap();
                permit.send(make(2));
                let mut poll_tx = Box::pin(tx.clone().into_poll_sender());
                let mut third = Some(make(3));
                std::future::poll_fn(|cx| {
                    let permit = std::task::ready!(poll_tx.as_mut().poll_reserve(cx)).unwrap();
                    permit.send(third.take().unwrap());
                    std::task::Poll::Ready(())
                })
                .await;
                tx.send(make(4)).await.unwrap();
            });
            let watcher = tokio::spawn(async move {
                closer.closed().await;
            });
            let consumer = tokio::spawn(async move {
                let mut got = Vec::new();
                got.push(value(rx.recv().await.unwrap()));
                let mut batch = Vec::new();
                rx.recv_many(&mut batch, 1).await;
                got.extend(batch.into_iter().map(value));
                let mut stream = Box::pin(rx.into_stream());
                while let Some(v) = stream.next().await {
                    got.push(value(v));
                    if got.len() == 4 {
                        // Closing ends the stream and wakes the watcher's `closed()`.
                        stream.as_ref().get_ref().get_ref().close();
                    }
                }
                got
            });
            producer.await.unwrap();
            let got = consumer.await.unwrap();
            watcher.await.unwrap();
            got
        })
    }};
}

#[test]
fn lifetime_payload_boxed_job_queue_in_tokio_spawn() {
    let got = heap_round_trip!(Job, |i| Box::new(move || i * 10), |job| job());
    assert_eq!(got, [10, 20, 30, 40]);
}

#[test]
fn lifetime_payload_static_str_in_tokio_spawn() {
    const WORDS: [&str; 5] = ["", "one", "two", "three", "four"];
    let got = heap_round_trip!(&'static str, |i| WORDS[i], |s| s.len());
    assert_eq!(got, [3, 3, 5, 4]);
}

#[test]
fn lifetime_payload_cow_in_tokio_spawn() {
    let got = heap_round_trip!(
        Cow<'static, str>,
        |i| if i % 2 == 0 {
            Cow::Borrowed("ab")
        } else {
            Cow::Owned("x".repeat(i))
        },
        |c| c.len()
    );
    assert_eq!(got, [1, 2, 3, 2]);
}

#[test]
fn lifetime_payload_vec_of_static_slices_in_tokio_spawn() {
    static BYTES: [u8; 4] = [1, 2, 3, 4];
    let got = heap_round_trip!(Vec<&'static [u8]>, |i| vec![&BYTES[..i]; i], |v| v
        .iter()
        .map(|s| s.len())
        .sum());
    assert_eq!(got, [1, 4, 9, 16]);
}

#[test]
fn lifetime_payload_boxed_futures_in_tokio_spawn() {
    let got = runtime().block_on(async {
        let (tx, rx) = bounded::<BoxFuture>(2);
        let producer = tokio::spawn(async move {
            for i in 1..=4usize {
                tx.send(Box::pin(async move { i + 100 })).await.unwrap();
            }
        });
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(fut) = rx.recv().await {
                got.push(fut.await);
            }
            got
        });
        producer.await.unwrap();
        consumer.await.unwrap()
    });
    assert_eq!(got, [101, 102, 103, 104]);
}

/// A static channel's futures, inside `tokio::spawn`, with a job type and `&'static str`.
#[test]
fn lifetime_payload_static_channel_in_tokio_spawn() {
    static JOBS: StaticChannel<Job, 2> = StaticChannel::new();
    static WORDS: StaticChannel<&'static str, 2> = StaticChannel::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    let (got, jobs) = runtime().block_on(async move {
        let (jtx, jrx) = JOBS.split();
        let (wtx, wrx) = WORDS.split();
        let producer = tokio::spawn(async move {
            for i in 1..=3 {
                let ran = ran2.clone();
                jtx.send(Box::new(move || ran.fetch_add(i, SeqCst)))
                    .await
                    .unwrap();
            }
            let permit = wtx.reserve().await.unwrap();
            permit.send("held");
            wtx.send("sent").await.unwrap();
            wtx.closed().await;
        });
        let words = tokio::spawn(async move {
            let got = (wrx.recv().await.unwrap(), wrx.recv().await.unwrap());
            drop(wrx); // closes WORDS: the producer's `closed()` returns
            got
        });
        let jobs = tokio::spawn(async move {
            let mut n = 0;
            let mut stream = Box::pin(jrx.into_stream());
            while let Some(job) = stream.next().await {
                job();
                n += 1;
                if n == 3 {
                    break;
                }
            }
            n
        });
        producer.await.unwrap();
        (words.await.unwrap(), jobs.await.unwrap())
    });
    assert_eq!(got, ("held", "sent"));
    assert_eq!((jobs, ran.load(SeqCst)), (3, 6));
}

/// The semaphore's futures inside `tokio::spawn`.
#[test]
fn lifetime_payload_semaphore_acquire_in_tokio_spawn() {
    static LIMIT: Semaphore = Semaphore::new(1);
    let done = runtime().block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                tokio::spawn(async {
                    let permit = LIMIT.acquire().await.unwrap();
                    tokio::task::yield_now().await;
                    drop(permit);
                    let many = LIMIT.acquire_many(1).await.unwrap();
                    many.permits()
                })
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            done += t.await.unwrap();
        }
        done
    });
    assert_eq!((done, LIMIT.available_permits()), (4, 1));
}

// ---------------------------------------------------------------------------------------
// Send / Sync, by value: autoref specialisation picks `true` where the bound holds.
// ---------------------------------------------------------------------------------------

struct Probe<T: ?Sized>(std::marker::PhantomData<T>);

fn probe<T: ?Sized>(_: &T) -> Probe<T> {
    Probe(std::marker::PhantomData)
}

trait SendYes {
    fn send(&self) -> bool {
        true
    }
}
impl<T: ?Sized + Send> SendYes for &Probe<T> {}
trait SendNo {
    fn send(&self) -> bool {
        false
    }
}
impl<T: ?Sized> SendNo for Probe<T> {}

trait SyncYes {
    fn sync(&self) -> bool {
        true
    }
}
impl<T: ?Sized + Sync> SyncYes for &Probe<T> {}
trait SyncNo {
    fn sync(&self) -> bool {
        false
    }
}
impl<T: ?Sized> SyncNo for Probe<T> {}

/// `(Send, Sync)` of the value of `$e`.
macro_rules! traits {
    ($e:expr) => {{
        let p = probe(&$e);
        ((&&p).send(), (&&p).sync())
    }};
}

/// `(name, Send, Sync)` of every handle, future, permit and stream of a heap and a
/// static channel of `T`, made from `v`.
macro_rules! matrix {
    ($t:ty, $v:expr) => {{
        static CH: StaticChannel<$t, 2> = StaticChannel::new();
        let mut rows: Vec<(&str, (bool, bool))> = Vec::new();
        for heap in [true, false] {
            macro_rules! row {
                ($name:expr, $x:expr) => {
                    rows.push(($name, traits!($x)))
                };
            }
            if heap {
                let (tx, rx) = bounded::<$t>(2);
                row!("Sender", tx);
                row!("Receiver", rx);
                row!("WeakSender", tx.downgrade());
                row!("Monitor", tx.monitor());
                row!("SendFuture", tx.send($v));
                row!("RecvFuture", rx.recv());
                row!("ReserveFuture", tx.reserve());
                row!("ClosedFuture", tx.closed());
                row!("Permit", tx.try_reserve().unwrap());
                row!("PollSender", tx.clone().into_poll_sender());
                row!("RecvStream", rx.clone().into_stream());
            } else {
                let (tx, rx) = CH.split();
                row!("static Sender", tx);
                row!("static Receiver", rx);
                row!("static SendFuture", tx.send($v));
                row!("static RecvFuture", rx.recv());
                row!("static ReserveFuture", tx.reserve());
                row!("static ClosedFuture", tx.closed());
                row!("static Permit", tx.try_reserve().unwrap());
                row!("static PollSender", tx.clone().into_poll_sender());
                row!("static RecvStream", rx.clone().into_stream());
            }
        }
        rows
    }};
}

#[test]
fn lifetime_payload_send_sync_matrix() {
    // `T: Send + Sync`: everything is `Send + Sync`.
    for (name, st) in matrix!(&'static str, "x") {
        assert_eq!(st, (true, true), "{name} of &'static str");
    }
    // `T: Send`, not `Sync`: handles, permits and the futures that hold no `T` stay
    // `Send + Sync`; a send future holds a `T`, so it is `Send` but not `Sync`.
    for (name, st) in matrix!(Cell<u8>, Cell::new(1)) {
        let expected = if name.ends_with("SendFuture") {
            (true, false)
        } else {
            (true, true)
        };
        assert_eq!(st, expected, "{name} of Cell<u8>");
    }
    // `T` not `Send`: nothing can cross threads.
    let sem = Semaphore::new(1);
    assert_eq!(traits!(sem.acquire()), (true, true), "semaphore Acquire");
    assert_eq!(
        traits!(sem.try_acquire().unwrap()),
        (true, true),
        "SemaphorePermit"
    );
    let (tx, rx) = bounded::<Rc<u8>>(1);
    for (name, st) in [
        ("Sender", traits!(tx)),
        ("Receiver", traits!(rx)),
        ("SendFuture", traits!(tx.send(Rc::new(1)))),
        ("RecvFuture", traits!(rx.recv())),
        ("Permit", traits!(tx.try_reserve().unwrap())),
    ] {
        assert!(!st.0, "{name} of Rc<u8> must not be Send");
    }
}
