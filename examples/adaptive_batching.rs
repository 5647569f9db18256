//! Strategy 3, adaptive batching: the consumer writes items to a store whose cost is mostly
//! per round trip, so it takes them in batches with `recv_batch(&mut buf, limit,
//! deadline)`. The deadline is any timer future (here smol's). When items trickle in, a
//! batch is one item and goes out at once; under load the queue is never empty, batches
//! grow to the limit, and the fixed cost per round trip is spread over many items.
//!
//! Run: `cargo run --release --example adaptive_batching [capacity] [window_ms]`
//! (defaults 256 and 5; a window of 0 takes only what is queued at the call).

use std::time::{Duration, Instant};

/// Most items in one batch.
const LIMIT: usize = 64;
/// How long a batch may wait for more items after the call, by default.
const WINDOW_MS: u64 = 5;
/// One round trip to the store, whatever the batch size.
const ROUND_TRIP: Duration = Duration::from_millis(2);

/// The load phases: name, items, pause between items (`None`: as fast as `send` allows).
const PHASES: [(&str, u64, Option<Duration>); 4] = [
    ("idle", 20, Some(Duration::from_millis(20))),
    ("steady", 300, Some(Duration::from_millis(1))),
    ("flood", 5_000, None),
    ("idle", 20, Some(Duration::from_millis(20))),
];

#[derive(Default)]
struct PhaseLog {
    batches: u64,
    items: u64,
    largest: usize,
    first: Option<Instant>,
    last: Option<Instant>,
}

fn main() {
    let arg = |i: usize, default: u64| match std::env::args().nth(i) {
        Some(a) => a
            .parse()
            .expect("usage: adaptive_batching [capacity] [window_ms]"),
        None => default,
    };
    let capacity = arg(1, 256) as usize;
    let window = Duration::from_millis(arg(2, WINDOW_MS));

    smol::block_on(async {
        let (tx, rx) = sluicebox::bounded::<(usize, u64)>(capacity);
        let monitor = tx.monitor();
        let start = Instant::now();

        let producer = smol::spawn(async move {
            let mut seq = 0u64;
            for (phase, &(_, items, pause)) in PHASES.iter().enumerate() {
                for _ in 0..items {
                    tx.send((phase, seq)).await.expect("consumer alive");
                    seq += 1;
                    if let Some(pause) = pause {
                        smol::Timer::after(pause).await;
                    }
                }
            }
            seq
        });

        let consumer = smol::spawn(async move {
            let mut logs: Vec<PhaseLog> = PHASES.iter().map(|_| PhaseLog::default()).collect();
            let (mut count, mut sum, mut peak_len) = (0u64, 0u64, 0usize);
            let mut batch = Vec::with_capacity(LIMIT);
            loop {
                // What piled up during the last write.
                peak_len = peak_len.max(rx.len());
                let deadline = async {
                    smol::Timer::after(window).await;
                };
                let n = rx.recv_batch(&mut batch, LIMIT, deadline).await;
                if n == 0 {
                    break; // closed and drained
                }
                assert!(n <= LIMIT && n == batch.len());
                let now = Instant::now();
                let log = &mut logs[batch[0].0];
                log.batches += 1;
                log.largest = log.largest.max(n);
                log.first.get_or_insert(now);
                log.last = Some(now);
                for (phase, seq) in batch.drain(..) {
                    assert_eq!(seq, count, "one producer: FIFO order");
                    logs[phase].items += 1;
                    count += 1;
                    sum += seq;
                }
                smol::Timer::after(ROUND_TRIP).await; // the write
            }
            (logs, count, sum, peak_len)
        });

        let produced = producer.await;
        let (logs, consumed, sum, peak_len) = consumer.await;
        let s = monitor.stats();

        println!("capacity {capacity}, batch limit {LIMIT}, window {window:?}, round trip {ROUND_TRIP:?}");
        println!("phase     items  batches  mean batch  largest  items/s");
        let mut means = Vec::new();
        for (log, (name, ..)) in logs.iter().zip(PHASES) {
            let mean = log.items as f64 / log.batches.max(1) as f64;
            let span = match (log.first, log.last) {
                (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
                _ => f64::NAN,
            };
            println!(
                "{name:<8} {:>6}  {:>7}  {mean:>10.1}  {:>7}  {:>7.0}",
                log.items,
                log.batches,
                log.largest,
                log.items as f64 / span
            );
            means.push(mean);
        }
        println!(
            "produced {produced}, consumed {consumed}, dropped 0; peak queue length {peak_len} \
             of {capacity}; {} ms",
            start.elapsed().as_millis()
        );

        // The claims.
        assert_eq!(produced, consumed, "every item batched exactly once");
        assert_eq!(sum, (0..produced).sum::<u64>(), "checksum");
        assert_eq!(
            (s.sent, s.received, s.rejected, s.evicted),
            (produced, produced, 0, 0)
        );
        assert!(peak_len <= capacity, "len {peak_len} exceeded {capacity}");
        for (log, (_, items, _)) in logs.iter().zip(PHASES) {
            assert_eq!(log.items, items);
        }
        let (idle, steady, flood, idle_again) = (means[0], means[1], means[2], means[3]);
        assert!(
            idle < 2.0 && idle_again < 2.0,
            "idle batches should be single items"
        );
        if capacity == 1 && window.is_zero() {
            // Nothing to batch: one slot, and no window to wait for a second item.
            println!("ok: with one slot and no window every batch is one item");
            return;
        }
        assert!(steady > idle, "batches should grow with the load");
        assert!(
            flood >= steady && flood > idle,
            "a flood should fill batches"
        );
        println!("ok: batches grew with the load and shrank back when it went idle");
    });
}
