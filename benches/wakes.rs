//! Wakes per message: how often a send or recv future returns `Pending` and is polled
//! again, for sluicebox, kanal (the fastest peer), and the cancel-safe peers thingbuf and
//! tokio's mpsc, on the async rows of `benches/channels.rs`. A diagnostic, not a criterion benchmark: it explains the rows
//! where time per message differs by a whole number of wake-ups (see README,
//! Performance).
//!
//! ```text
//! cargo bench -p sluicebox-benches --bench wakes
//! SLUICEBOX_BENCH_MSG=64B cargo bench -p sluicebox-benches --bench wakes   # 64-byte messages
//! ```
//!
//! Every send and recv future is wrapped in a counter (one `Box::pin` per operation, for
//! both channels alike), so the ns/message printed here are higher than the criterion
//! rows'; compare the wake counts. "wakes" is polls minus futures: every poll after a
//! future's first comes from a wake-up, spurious ones included. Every run checks its
//! checksum.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Instant;

// The criterion settings in `support` are unused here.
#[allow(dead_code)]
mod support;
use support::{Exec, Smol, Tokio};

/// Per side (0 = send, 1 = recv): futures made, polls, and `Pending` returns.
struct Side {
    futures: AtomicU64,
    polls: AtomicU64,
    pending: AtomicU64,
}

static SIDES: [Side; 2] = [const {
    Side {
        futures: AtomicU64::new(0),
        polls: AtomicU64::new(0),
        pending: AtomicU64::new(0),
    }
}; 2];

struct Counted<F> {
    inner: Pin<Box<F>>,
    side: &'static Side,
}

fn counted<F: Future>(inner: F, side: usize) -> Counted<F> {
    SIDES[side].futures.fetch_add(1, Relaxed);
    Counted {
        inner: Box::pin(inner),
        side: &SIDES[side],
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.side.polls.fetch_add(1, Relaxed);
        let r = self.inner.as_mut().poll(cx);
        if r.is_pending() {
            self.side.pending.fetch_add(1, Relaxed);
        }
        r
    }
}

/// `producers` tasks send `0..n` between them into one channel of `cap`; one consumer
/// task sums what it receives. Returns the consumer's sum.
fn run<E: Exec>(ex: &E, peer: &str, cap: usize, producers: u64, n: u64) -> u64 {
    // The two channels' types differ, so the body is written once, as a macro.
    macro_rules! body {
        ($bounded:expr, $make:expr, $item:pat => $v:expr) => {{
            #[allow(unused_mut)] // tokio's receiver needs `&mut`
            let (tx, mut rx) = $bounded;
            let sends: Vec<_> = (0..producers)
                .map(|p| {
                    let tx = tx.clone();
                    ex.spawn(async move {
                        for i in (p..n).step_by(producers as usize) {
                            counted(tx.send($make(i)), 0).await.expect("receiver alive");
                        }
                    })
                })
                .collect();
            drop(tx);
            let sum = ex
                .spawn(async move {
                    let mut sum = 0u64;
                    while let $item = counted(rx.recv(), 1).await {
                        sum = sum.wrapping_add($v);
                    }
                    sum
                })
                .await;
            for s in sends {
                s.await;
            }
            sum
        }};
    }
    let wide = |i: u64| [i; 8];
    ex.block_on(async {
        match (peer, large()) {
            ("sluicebox", false) => body!(sluicebox::bounded::<u64>(cap), |i| i, Some(v) => v),
            ("sluicebox", true) => body!(sluicebox::bounded(cap), wide, Some(v) => v[7]),
            ("kanal", false) => body!(kanal::bounded_async::<u64>(cap), |i| i, Ok(v) => v),
            ("kanal", true) => body!(kanal::bounded_async(cap), wide, Ok(v) => v[7]),
            ("thingbuf", false) => body!(thingbuf::mpsc::channel::<u64>(cap), |i| i, Some(v) => v),
            ("thingbuf", true) => body!(thingbuf::mpsc::channel(cap), wide, Some(v) => v[7]),
            ("tokio-mpsc", false) => {
                body!(tokio::sync::mpsc::channel::<u64>(cap), |i| i, Some(v) => v)
            }
            ("tokio-mpsc", true) => body!(tokio::sync::mpsc::channel(cap), wide, Some(v) => v[7]),
            _ => unreachable!("unknown peer {peer}"),
        }
    })
}

/// `SLUICEBOX_BENCH_MSG=64B`: 64-byte messages (`[u64; 8]`) instead of `u64`.
fn large() -> bool {
    std::env::var("SLUICEBOX_BENCH_MSG").is_ok_and(|v| v == "64B")
}

fn row<E: Exec>(ex: &E, peer: &str, cap: usize, producers: u64) {
    let n = 500_000u64;
    for s in &SIDES {
        s.futures.store(0, Relaxed);
        s.polls.store(0, Relaxed);
        s.pending.store(0, Relaxed);
    }
    let start = Instant::now();
    let sum = run(ex, peer, cap, producers, n);
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(sum, n * (n - 1) / 2, "{peer}: wrong checksum");
    let per = |x: &AtomicU64| x.load(Relaxed) as f64 / n as f64;
    let wakes = |s: &Side| (s.polls.load(Relaxed) - s.futures.load(Relaxed)) as f64 / n as f64;
    println!(
        "| {} | cap {cap}, {producers}:1 | {peer} | {ns:.0} | {:.3} | {:.3} | {:.3} | {:.3} |",
        E::NAME,
        per(&SIDES[0].pending),
        wakes(&SIDES[0]),
        per(&SIDES[1].pending),
        wakes(&SIDES[1]),
    );
}

const PEERS: [&str; 4] = ["sluicebox", "kanal", "thingbuf", "tokio-mpsc"];

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    println!("| executor | workload | channel | ns/msg | send Pending/msg | send wakes/msg | recv Pending/msg | recv wakes/msg |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    for (cap, producers) in [(1, 1), (64, 1), (64, 4), (64, 1000)] {
        for peer in PEERS {
            row(Tokio::get(), peer, cap, producers);
        }
    }
    for (cap, producers) in [(1, 1), (64, 1), (64, 4), (64, 1000)] {
        for peer in PEERS {
            row(Smol::get(), peer, cap, producers);
        }
    }
}
