//! What monitoring costs the data path: send/recv throughput with and without another
//! thread reading `stats()` in a tight loop. ns per message; the count and checksum of
//! every run are checked.
//!
//! `cargo bench -p sluicebox-benches --bench stats_cost` (`SLUICEBOX_BENCH_QUICK=1` for
//! short samples).

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
/// threads poll `stats()` (pausing `pause` between reads). Returns the elapsed time.
fn run(n: u64, observers: usize, pause: Option<Duration>) -> Duration {
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
                    if let Some(pause) = pause {
                        thread::sleep(pause);
                    }
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
    // A tight loop (the worst case; on 2 cores the observer also takes CPU from the
    // producer and consumer) and a realistic dashboard rate (every 100 us).
    let cases = [
        ("no_observer", 0, None),
        ("stats_polled_in_tight_loop", 1, None),
        (
            "stats_polled_every_100us",
            1,
            Some(Duration::from_micros(100)),
        ),
    ];
    for (name, observers, pause) in cases {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| run(iters.max(1), observers, pause))
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
