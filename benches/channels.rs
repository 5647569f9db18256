//! Channel throughput, sluicebox against its peers. Every number is **time per message**:
//! a criterion iteration is one message (`iter_custom` runs `iters` messages through the
//! channel and returns the time they took), so the medians in `estimates.json` are
//! ns/message and `scripts/bench_table.py` can compare rows directly.
//!
//! Rows (criterion group / parameter), one column per implementation:
//!
//! - `try_pair/<msg>` `cap64`: one thread, `try_send` then `try_recv`, uncontended.
//! - `blocking/<topo>/<msg>` `cap<N>`: OS threads, `send_blocking` / `recv_blocking`.
//! - `tokio/<topo>/<msg>`, `smol/<topo>/<msg>` `cap<N>`: async tasks on 2 worker threads.
//! - `scale/<exec>/u64` `cap64_p4`, `cap64_p1000`: 4 or 1,000 producer tasks, 1 consumer.
//!
//! Topologies: `spsc` (1:1), `mpsc4x1` (4 producers, 1 consumer), `mpmc4x4`. Peers whose
//! receiver cannot be cloned (tokio mpsc, thingbuf) sit out the `mpmc4x4` rows;
//! crossbeam-channel has no async API and sits out the async rows.
//!
//! Every run counts and checksums what it received and asserts both, so a channel that
//! drops or corrupts messages cannot look fast. `SLUICEBOX_BENCH_QUICK=1` shrinks the
//! matrix (u64 only, capacities 1 and 64) and the sample times; `SLUICEBOX_BENCH_MSG`
//! picks the message sizes (see `msg_sizes`).

use std::future::Future;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkGroup, BenchmarkId, Criterion};
use criterion::{measurement::WallTime, Throughput};

mod support;
use support::{Exec, Smol, Tokio, Tokio1};

// ---------------------------------------------------------------------------------------
// Messages: a u64 and a 64-byte value, both checksummed.

trait Msg: Copy + Default + Send + Sync + 'static {
    const NAME: &'static str;
    fn make(i: u64) -> Self;
    /// What the checksum adds up; depends on every word that `make` sets.
    fn key(&self) -> u64;
}

impl Msg for u64 {
    const NAME: &'static str = "u64";
    #[inline]
    fn make(i: u64) -> Self {
        i
    }
    #[inline]
    fn key(&self) -> u64 {
        *self
    }
}

/// A 64-byte message; its first and last words carry the index, so a torn or mixed-up
/// copy changes the checksum.
#[derive(Clone, Copy, Default)]
struct M64([u64; 8]);

impl Msg for M64 {
    const NAME: &'static str = "64B";
    #[inline]
    fn make(i: u64) -> Self {
        let mut w = [0; 8];
        w[0] = i;
        w[7] = i.wrapping_mul(3);
        M64(w)
    }
    #[inline]
    fn key(&self) -> u64 {
        self.0[0].wrapping_add(self.0[7])
    }
}

/// Count and checksum of what `n` messages, indices `0..n`, must add up to.
fn expected<T: Msg>(n: u64) -> (u64, u64) {
    (
        n,
        (0..n).fold(0u64, |s, i| s.wrapping_add(T::make(i).key())),
    )
}

fn check<T: Msg>(name: &str, n: u64, got: (u64, u64)) {
    assert_eq!(
        got,
        expected::<T>(n),
        "{name}: (count, checksum) of received messages"
    );
}

// ---------------------------------------------------------------------------------------
// The implementations, each a zero-sized marker with impls of the traits it supports.

/// The column name of an implementation in the results.
trait Named {
    const NAME: &'static str;
}

macro_rules! peers {
    ($($ty:ident => $name:literal,)*) => {$(
        struct $ty;
        impl Named for $ty {
            const NAME: &'static str = $name;
        }
    )*};
}

peers! {
    Sluicebox => "sluicebox",
    TokioMpsc => "tokio-mpsc",
    AsyncChannel => "async-channel",
    Flume => "flume",
    Kanal => "kanal",
    Thingbuf => "thingbuf",
    Crossbeam => "crossbeam",
}

/// Single-threaded `try_send` + `try_recv`.
trait TryChan<T: Msg>: Named {
    type Tx;
    type Rx;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx);
    /// `true` if sent.
    fn try_send(tx: &Self::Tx, v: T) -> bool;
    fn try_recv(rx: &mut Self::Rx) -> Option<T>;
}

/// Thread-parking send and receive. `recv` returns `None` once every sender is gone.
trait BlockingChan<T: Msg>: Named {
    type Tx: Clone + Send;
    type Rx: Send;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx);
    /// `None` if receivers cannot be cloned (the peer is single-consumer).
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx>;
    fn send(tx: &Self::Tx, v: T);
    fn recv(rx: &mut Self::Rx) -> Option<T>;
}

/// Async send and receive, statically dispatched: no boxed futures.
trait AsyncChan<T: Msg>: Named + 'static {
    type Tx: Clone + Send + Sync + 'static;
    type Rx: Send + 'static;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx);
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx>;
    /// Panics if the channel is closed.
    fn send(tx: &Self::Tx, v: T) -> impl Future<Output = ()> + Send;
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<T>> + Send;
}

#[cold]
#[inline(never)]
fn closed(name: &str) -> ! {
    panic!("{name}: channel closed during a bench run")
}

// -- sluicebox

impl<T: Msg> TryChan<T> for Sluicebox {
    type Tx = sluicebox::Sender<T>;
    type Rx = sluicebox::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        sluicebox::bounded(cap)
    }
    #[inline]
    fn try_send(tx: &Self::Tx, v: T) -> bool {
        tx.try_send(v).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

impl<T: Msg> BlockingChan<T> for Sluicebox {
    type Tx = sluicebox::Sender<T>;
    type Rx = sluicebox::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        sluicebox::bounded(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    #[inline]
    fn send(tx: &Self::Tx, v: T) {
        if tx.send_blocking(v).is_err() {
            closed(Self::NAME)
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv_blocking().ok()
    }
}

impl<T: Msg> AsyncChan<T> for Sluicebox {
    type Tx = sluicebox::Sender<T>;
    type Rx = sluicebox::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        sluicebox::bounded(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    async fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).await.is_err() {
            closed(Self::NAME)
        }
    }
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<T>> + Send {
        rx.recv()
    }
}

// -- tokio::sync::mpsc (single consumer)

impl<T: Msg> TryChan<T> for TokioMpsc {
    type Tx = tokio::sync::mpsc::Sender<T>;
    type Rx = tokio::sync::mpsc::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(cap)
    }
    #[inline]
    fn try_send(tx: &Self::Tx, v: T) -> bool {
        tx.try_send(v).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

impl<T: Msg> BlockingChan<T> for TokioMpsc {
    type Tx = tokio::sync::mpsc::Sender<T>;
    type Rx = tokio::sync::mpsc::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(cap)
    }
    fn clone_rx(_: &Self::Rx) -> Option<Self::Rx> {
        None
    }
    #[inline]
    fn send(tx: &Self::Tx, v: T) {
        if tx.blocking_send(v).is_err() {
            closed(Self::NAME)
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.blocking_recv()
    }
}

impl<T: Msg> AsyncChan<T> for TokioMpsc {
    type Tx = tokio::sync::mpsc::Sender<T>;
    type Rx = tokio::sync::mpsc::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(cap)
    }
    fn clone_rx(_: &Self::Rx) -> Option<Self::Rx> {
        None
    }
    async fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).await.is_err() {
            closed(Self::NAME)
        }
    }
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<T>> + Send {
        rx.recv()
    }
}

// -- async-channel

impl<T: Msg> TryChan<T> for AsyncChannel {
    type Tx = async_channel::Sender<T>;
    type Rx = async_channel::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }
    #[inline]
    fn try_send(tx: &Self::Tx, v: T) -> bool {
        tx.try_send(v).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

impl<T: Msg> BlockingChan<T> for AsyncChannel {
    type Tx = async_channel::Sender<T>;
    type Rx = async_channel::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    #[inline]
    fn send(tx: &Self::Tx, v: T) {
        if tx.send_blocking(v).is_err() {
            closed(Self::NAME)
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv_blocking().ok()
    }
}

impl<T: Msg> AsyncChan<T> for AsyncChannel {
    type Tx = async_channel::Sender<T>;
    type Rx = async_channel::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    async fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).await.is_err() {
            closed(Self::NAME)
        }
    }
    async fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv().await.ok()
    }
}

// -- flume

impl<T: Msg> TryChan<T> for Flume {
    type Tx = flume::Sender<T>;
    type Rx = flume::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    #[inline]
    fn try_send(tx: &Self::Tx, v: T) -> bool {
        tx.try_send(v).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

impl<T: Msg> BlockingChan<T> for Flume {
    type Tx = flume::Sender<T>;
    type Rx = flume::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    #[inline]
    fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).is_err() {
            closed(Self::NAME)
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv().ok()
    }
}

impl<T: Msg> AsyncChan<T> for Flume {
    type Tx = flume::Sender<T>;
    type Rx = flume::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    async fn send(tx: &Self::Tx, v: T) {
        if tx.send_async(v).await.is_err() {
            closed(Self::NAME)
        }
    }
    async fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv_async().await.ok()
    }
}

// -- kanal

impl<T: Msg> TryChan<T> for Kanal {
    type Tx = kanal::Sender<T>;
    type Rx = kanal::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded(cap)
    }
    #[inline]
    fn try_send(tx: &Self::Tx, v: T) -> bool {
        matches!(tx.try_send(v), Ok(true))
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok().flatten()
    }
}

impl<T: Msg> BlockingChan<T> for Kanal {
    type Tx = kanal::Sender<T>;
    type Rx = kanal::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    #[inline]
    fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).is_err() {
            closed(Self::NAME)
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv().ok()
    }
}

impl<T: Msg> AsyncChan<T> for Kanal {
    type Tx = kanal::AsyncSender<T>;
    type Rx = kanal::AsyncReceiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    async fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).await.is_err() {
            closed(Self::NAME)
        }
    }
    async fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv().await.ok()
    }
}

// -- thingbuf::mpsc (single consumer; needs `T: Default + Clone`, which both messages are)

impl<T: Msg> TryChan<T> for Thingbuf {
    type Tx = thingbuf::mpsc::Sender<T>;
    type Rx = thingbuf::mpsc::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        thingbuf::mpsc::channel(cap)
    }
    #[inline]
    fn try_send(tx: &Self::Tx, v: T) -> bool {
        tx.try_send(v).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

impl<T: Msg> BlockingChan<T> for Thingbuf {
    type Tx = thingbuf::mpsc::blocking::Sender<T>;
    type Rx = thingbuf::mpsc::blocking::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        thingbuf::mpsc::blocking::channel(cap)
    }
    fn clone_rx(_: &Self::Rx) -> Option<Self::Rx> {
        None
    }
    #[inline]
    fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).is_err() {
            closed(Self::NAME)
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv()
    }
}

impl<T: Msg> AsyncChan<T> for Thingbuf {
    type Tx = thingbuf::mpsc::Sender<T>;
    type Rx = thingbuf::mpsc::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        thingbuf::mpsc::channel(cap)
    }
    fn clone_rx(_: &Self::Rx) -> Option<Self::Rx> {
        None
    }
    async fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).await.is_err() {
            closed(Self::NAME)
        }
    }
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<T>> + Send {
        rx.recv()
    }
}

// -- crossbeam-channel (blocking and try only)

impl<T: Msg> TryChan<T> for Crossbeam {
    type Tx = crossbeam_channel::Sender<T>;
    type Rx = crossbeam_channel::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(cap)
    }
    #[inline]
    fn try_send(tx: &Self::Tx, v: T) -> bool {
        tx.try_send(v).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

impl<T: Msg> BlockingChan<T> for Crossbeam {
    type Tx = crossbeam_channel::Sender<T>;
    type Rx = crossbeam_channel::Receiver<T>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(cap)
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    #[inline]
    fn send(tx: &Self::Tx, v: T) {
        if tx.send(v).is_err() {
            closed(Self::NAME)
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> Option<T> {
        rx.recv().ok()
    }
}

// ---------------------------------------------------------------------------------------
// Workloads. `n` messages, indices 0..n, split round-robin over the producers.

#[derive(Clone, Copy)]
struct Topo {
    name: &'static str,
    producers: u64,
    consumers: usize,
}

const SPSC: Topo = Topo {
    name: "spsc",
    producers: 1,
    consumers: 1,
};
const MPSC: Topo = Topo {
    name: "mpsc4x1",
    producers: 4,
    consumers: 1,
};
const MPMC: Topo = Topo {
    name: "mpmc4x4",
    producers: 4,
    consumers: 4,
};

/// Receivers for `consumers` consumers, or `None` if the peer is single-consumer.
fn receivers<R>(rx: R, consumers: usize, clone: impl Fn(&R) -> Option<R>) -> Option<Vec<R>> {
    let mut rxs = Vec::with_capacity(consumers);
    for _ in 1..consumers {
        rxs.push(clone(&rx)?);
    }
    rxs.push(rx);
    Some(rxs)
}

/// Threads; the clock starts when every thread has passed the start barrier and stops
/// when every consumer has seen the channel close (so after the last message).
fn run_blocking<T: Msg, C: BlockingChan<T>>(cap: usize, topo: Topo, n: u64) -> Duration {
    let (tx, rx) = C::bounded(cap);
    let rxs = receivers(rx, topo.consumers, C::clone_rx).expect("multi-consumer peer");
    let barrier = Barrier::new(topo.producers as usize + topo.consumers + 1);
    let barrier = &barrier;
    std::thread::scope(|s| {
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                s.spawn(move || {
                    barrier.wait();
                    let (mut count, mut sum) = (0u64, 0u64);
                    while let Some(v) = C::recv(&mut rx) {
                        count += 1;
                        sum = sum.wrapping_add(v.key());
                    }
                    (count, sum)
                })
            })
            .collect();
        for p in 0..topo.producers {
            let tx = tx.clone();
            s.spawn(move || {
                barrier.wait();
                let mut i = p;
                while i < n {
                    C::send(&tx, T::make(i));
                    i += topo.producers;
                }
            });
        }
        drop(tx);
        barrier.wait();
        let start = Instant::now();
        let got = consumers.into_iter().fold((0u64, 0u64), |(c, s), h| {
            let (c1, s1) = h.join().expect("consumer panicked");
            (c + c1, s.wrapping_add(s1))
        });
        let elapsed = start.elapsed();
        check::<T>(C::NAME, n, got);
        elapsed
    })
}

/// Tasks on `ex`; the clock runs from before the first spawn to the last consumer's end.
fn run_async<T: Msg, C: AsyncChan<T>, E: Exec>(
    ex: &E,
    cap: usize,
    producers: u64,
    consumers: usize,
    n: u64,
) -> Duration {
    ex.block_on(async {
        let (tx, rx) = C::bounded(cap);
        let rxs = receivers(rx, consumers, C::clone_rx).expect("multi-consumer peer");
        let start = Instant::now();
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                ex.spawn(async move {
                    let (mut count, mut sum) = (0u64, 0u64);
                    while let Some(v) = C::recv(&mut rx).await {
                        count += 1;
                        sum = sum.wrapping_add(v.key());
                    }
                    (count, sum)
                })
            })
            .collect();
        let producers: Vec<_> = (0..producers)
            .map(|p| {
                let tx = tx.clone();
                ex.spawn(async move {
                    let mut i = p;
                    while i < n {
                        C::send(&tx, T::make(i)).await;
                        i += producers;
                    }
                })
            })
            .collect();
        drop(tx);
        let (mut count, mut sum) = (0, 0);
        for h in consumers {
            let (c, s) = h.await;
            count += c;
            sum = u64::wrapping_add(sum, s);
        }
        let elapsed = start.elapsed();
        for h in producers {
            h.await;
        }
        check::<T>(C::NAME, n, (count, sum));
        elapsed
    })
}

// ---------------------------------------------------------------------------------------
// Registration.

type Group<'a> = BenchmarkGroup<'a, WallTime>;

fn caps() -> &'static [usize] {
    if support::quick() {
        &[1, 64]
    } else {
        &[1, 64, 1024]
    }
}

fn group<'a>(c: &'a mut Criterion, name: String) -> Group<'a> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g
}

fn try_one<T: Msg, C: TryChan<T>>(g: &mut Group<'_>) {
    let (tx, mut rx) = C::bounded(64);
    let (mut count, mut sum) = (0u64, 0u64);
    g.bench_function(BenchmarkId::new(C::NAME, "cap64"), |b| {
        b.iter(|| {
            let ok = C::try_send(&tx, black_box(T::make(count)));
            let v = C::try_recv(&mut rx);
            assert!(ok && v.is_some(), "{}: try pair failed", C::NAME);
            if let Some(v) = v {
                sum = sum.wrapping_add(black_box(v).key());
            }
            count += 1;
        })
    });
    check::<T>(C::NAME, count, (count, sum));
}

fn try_pair<T: Msg>(c: &mut Criterion) {
    let mut g = group(c, format!("try_pair/{}", T::NAME));
    try_one::<T, Sluicebox>(&mut g);
    try_one::<T, TokioMpsc>(&mut g);
    try_one::<T, AsyncChannel>(&mut g);
    try_one::<T, Flume>(&mut g);
    try_one::<T, Kanal>(&mut g);
    try_one::<T, Thingbuf>(&mut g);
    try_one::<T, Crossbeam>(&mut g);
    g.finish();
}

fn blocking_one<T: Msg, C: BlockingChan<T>>(g: &mut Group<'_>, topo: Topo, cap: usize) {
    if topo.consumers > 1 && C::clone_rx(&C::bounded(1).1).is_none() {
        return;
    }
    g.bench_function(BenchmarkId::new(C::NAME, format!("cap{cap}")), |b| {
        b.iter_custom(|iters| run_blocking::<T, C>(cap, topo, iters))
    });
}

fn blocking<T: Msg>(c: &mut Criterion) {
    for topo in [SPSC, MPSC, MPMC] {
        let mut g = group(c, format!("blocking/{}/{}", topo.name, T::NAME));
        for &cap in caps() {
            blocking_one::<T, Sluicebox>(&mut g, topo, cap);
            blocking_one::<T, TokioMpsc>(&mut g, topo, cap);
            blocking_one::<T, AsyncChannel>(&mut g, topo, cap);
            blocking_one::<T, Flume>(&mut g, topo, cap);
            blocking_one::<T, Kanal>(&mut g, topo, cap);
            blocking_one::<T, Thingbuf>(&mut g, topo, cap);
            blocking_one::<T, Crossbeam>(&mut g, topo, cap);
        }
        g.finish();
    }
}

fn async_one<T: Msg, C: AsyncChan<T>, E: Exec>(
    g: &mut Group<'_>,
    ex: &E,
    id: String,
    cap: usize,
    producers: u64,
    consumers: usize,
) {
    if consumers > 1 && C::clone_rx(&C::bounded(1).1).is_none() {
        return;
    }
    g.bench_function(BenchmarkId::new(C::NAME, id), |b| {
        b.iter_custom(|iters| run_async::<T, C, E>(ex, cap, producers, consumers, iters))
    });
}

fn async_rows<T: Msg, E: Exec>(c: &mut Criterion, ex: &E) {
    for topo in [SPSC, MPSC, MPMC] {
        let mut g = group(c, format!("{}/{}/{}", E::NAME, topo.name, T::NAME));
        for &cap in caps() {
            let (p, n) = (topo.producers, topo.consumers);
            let id = || format!("cap{cap}");
            async_one::<T, Sluicebox, E>(&mut g, ex, id(), cap, p, n);
            async_one::<T, TokioMpsc, E>(&mut g, ex, id(), cap, p, n);
            async_one::<T, AsyncChannel, E>(&mut g, ex, id(), cap, p, n);
            async_one::<T, Flume, E>(&mut g, ex, id(), cap, p, n);
            async_one::<T, Kanal, E>(&mut g, ex, id(), cap, p, n);
            async_one::<T, Thingbuf, E>(&mut g, ex, id(), cap, p, n);
        }
        g.finish();
    }
}

/// 4 vs 1,000 producer tasks on one capacity-64 channel with one consumer.
fn scale<E: Exec>(c: &mut Criterion, ex: &E) {
    let mut g = group(c, format!("scale/{}/u64", E::NAME));
    for p in [4u64, 1000] {
        let id = || format!("cap64_p{p}");
        async_one::<u64, Sluicebox, E>(&mut g, ex, id(), 64, p, 1);
        async_one::<u64, TokioMpsc, E>(&mut g, ex, id(), 64, p, 1);
        async_one::<u64, AsyncChannel, E>(&mut g, ex, id(), 64, p, 1);
        async_one::<u64, Flume, E>(&mut g, ex, id(), 64, p, 1);
        async_one::<u64, Kanal, E>(&mut g, ex, id(), 64, p, 1);
        async_one::<u64, Thingbuf, E>(&mut g, ex, id(), 64, p, 1);
    }
    g.finish();
}

/// Which message sizes run: `SLUICEBOX_BENCH_MSG=u64`, `64B` or `all`. The default is
/// `all` in full mode and `u64` in quick mode (so `SLUICEBOX_BENCH_QUICK=1
/// SLUICEBOX_BENCH_MSG=64B` is the quick matrix with 64-byte messages).
fn msg_sizes() -> (bool, bool) {
    match std::env::var("SLUICEBOX_BENCH_MSG").as_deref() {
        Ok("u64") => (true, false),
        Ok("64B") => (false, true),
        Ok("all") => (true, true),
        Ok(other) => panic!("SLUICEBOX_BENCH_MSG: want u64, 64B or all, got {other:?}"),
        Err(_) => (true, !support::quick()),
    }
}

fn benches(c: &mut Criterion) {
    let (small, large) = msg_sizes();
    if small {
        try_pair::<u64>(c);
        blocking::<u64>(c);
        async_rows::<u64, Tokio>(c, Tokio::get());
        async_rows::<u64, Smol>(c, Smol::get());
        scale(c, Tokio::get());
        scale(c, Smol::get());
    }
    if large {
        try_pair::<M64>(c);
        blocking::<M64>(c);
        async_rows::<M64, Tokio>(c, Tokio::get());
        async_rows::<M64, Smol>(c, Smol::get());
    }
}

// ---------------------------------------------------------------------------------------
// One workload without criterion, for `perf` and `valgrind` (see `run_one`).

/// `SLUICEBOX_BENCH_ONE=<section>/<topo>/<cap>/<impl>/<messages>[/64B]` runs one workload
/// once (u64 messages, or 64-byte ones with `/64B`), prints its ns/message and exits:
/// `section` is `try_pair`, `blocking`, `blocking1` (a blocking send then a blocking
/// receive on one thread, which never waits; not a matrix row), `tokio`, `smol`, `tokio1`
/// (tokio's current-thread runtime: every task on one thread; not a matrix row) or `scale_tokio`/`scale_smol`
/// (then `topo` is the producer count), e.g.
/// `SLUICEBOX_BENCH_ONE=blocking/spsc/1/sluicebox/200000 target/release/deps/channels-*`.
fn run_one(spec: &str) {
    let f: Vec<&str> = spec.split('/').collect();
    match f[..] {
        [_, _, _, _, _] | [_, _, _, _, _, "u64"] => run_one_msg::<u64>(spec, &f[..5]),
        [_, _, _, _, _, "64B"] => run_one_msg::<M64>(spec, &f[..5]),
        _ => panic!("SLUICEBOX_BENCH_ONE: want section/topo/cap/impl/messages[/64B], got {spec:?}"),
    }
}

fn run_one_msg<T: Msg>(spec: &str, f: &[&str]) {
    let [section, topo, cap, imp, n] = f[..] else {
        unreachable!("run_one passes five fields")
    };
    let cap: usize = cap.parse().expect("capacity");
    let n: u64 = n.parse().expect("message count");
    let topo = match topo {
        "spsc" => SPSC,
        "mpsc4x1" => MPSC,
        "mpmc4x4" => MPMC,
        p => Topo {
            name: "scale",
            producers: p.parse().expect("topology or producer count"),
            consumers: 1,
        },
    };
    macro_rules! dispatch {
        ($run:ident, $($ty:ident),*) => {
            match imp {
                $(_ if imp == <$ty as Named>::NAME => $run::<T, $ty>(section, topo, cap, n),)*
                _ => panic!("unknown or unsupported implementation {imp:?}"),
            }
        };
    }
    fn try_run<T: Msg, C: TryChan<T>>(_: &str, _: Topo, cap: usize, n: u64) -> Duration {
        let (tx, mut rx) = C::bounded(cap);
        let start = Instant::now();
        let mut sum = 0u64;
        for i in 0..n {
            assert!(C::try_send(&tx, black_box(T::make(i))));
            sum = sum.wrapping_add(C::try_recv(&mut rx).expect("try_recv").key());
        }
        let elapsed = start.elapsed();
        check::<T>(C::NAME, n, (n, sum));
        elapsed
    }
    fn blocking_run<T: Msg, C: BlockingChan<T>>(
        section: &str,
        t: Topo,
        cap: usize,
        n: u64,
    ) -> Duration {
        if section != "blocking1" {
            return run_blocking::<T, C>(cap, t, n);
        }
        // As `try_run`, through the blocking calls: never waits, so it counts the
        // instructions of the blocking API's path around the ring operation.
        let (tx, mut rx) = C::bounded(cap);
        let start = Instant::now();
        let mut sum = 0u64;
        for i in 0..n {
            C::send(&tx, black_box(T::make(i)));
            sum = sum.wrapping_add(C::recv(&mut rx).expect("recv").key());
        }
        let elapsed = start.elapsed();
        check::<T>(C::NAME, n, (n, sum));
        elapsed
    }
    fn async_run<T: Msg, C: AsyncChan<T>>(section: &str, t: Topo, cap: usize, n: u64) -> Duration {
        let (p, c) = (t.producers, t.consumers);
        match section {
            "tokio" | "scale_tokio" => run_async::<T, C, Tokio>(Tokio::get(), cap, p, c, n),
            "smol" | "scale_smol" => run_async::<T, C, Smol>(Smol::get(), cap, p, c, n),
            "tokio1" => run_async::<T, C, Tokio1>(Tokio1::get(), cap, p, c, n),
            _ => panic!("unknown section {section:?}"),
        }
    }
    let elapsed = match section {
        "try_pair" => dispatch!(
            try_run,
            Sluicebox,
            TokioMpsc,
            AsyncChannel,
            Flume,
            Kanal,
            Thingbuf,
            Crossbeam
        ),
        "blocking" | "blocking1" => dispatch!(
            blocking_run,
            Sluicebox,
            TokioMpsc,
            AsyncChannel,
            Flume,
            Kanal,
            Thingbuf,
            Crossbeam
        ),
        _ => dispatch!(
            async_run,
            Sluicebox,
            TokioMpsc,
            AsyncChannel,
            Flume,
            Kanal,
            Thingbuf
        ),
    };
    println!(
        "{spec}: {:.1} ns/message",
        elapsed.as_nanos() as f64 / n as f64
    );
}

criterion_group! {
    name = channels;
    config = support::criterion();
    targets = benches
}

fn main() {
    if let Ok(spec) = std::env::var("SLUICEBOX_BENCH_ONE") {
        return run_one(&spec);
    }
    channels();
    Criterion::default().configure_from_args().final_summary();
}
