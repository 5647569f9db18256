//! What monitoring costs the data path: send/recv throughput with and without another
//! thread reading `stats()` in a tight loop. ns per message; the count and checksum of
//! every run are checked.
//!
//! `cargo bench --bench stats_cost` (`SLUICEBOX_BENCH_QUICK=1` for short samples).

// Only the criterion settings are used here.
#[allow(dead_code)]
mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Sends `n` items from one thread to another through a cap-64 channel (try API with a
/// yield when full/empty, so the cost is the ring's, not parking), while `observers`
/// threads poll `stats()` in a tight loop. Returns the elapsed time.
fn run(n: u64, observers: usize) -> Duration {
    let (tx, rx) = sluicebox::bounded::<u64>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = (0..observers)
        .map(|_| {
            let (gauge, stop) = (tx.monitor(), stop.clone());
            thread::spawn(move || {
                let mut reads = 0u64;
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let s = gauge.stats();
                    assert!(s.sent >= last && s.len <= s.capacity);
                    last = s.sent;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let start = Instant::now();
    let producer = thread::spawn(move || {
        for i in 0..n {
            let mut v = i;
            while let Err(e) = tx.try_send(v) {
                v = e.into_inner();
                thread::yield_now();
            }
        }
    });
    let (mut count, mut sum) = (0u64, 0u64);
    while count < n {
        match rx.try_recv() {
            Ok(v) => {
                count += 1;
                sum += v;
            }
            Err(_) => thread::yield_now(),
        }
    }
    let elapsed = start.elapsed();
    producer.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in watchers {
        assert!(w.join().unwrap() > 0, "the observer never read");
    }
    assert_eq!(sum, n * (n - 1) / 2, "lost or duplicated items");
    elapsed
}

fn stats_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("stats_cost");
    for observers in [0, 1] {
        let name = if observers == 0 {
            "no_observer"
        } else {
            "stats_polled_in_loop"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| run(iters.max(1), observers))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = stats_cost
}
criterion_main!(benches);
