//! Strategy 2b, drop the oldest: a sensor publishes readings faster than a display can
//! show them. Old readings are worthless once a newer one exists, so the sensor uses
//! `force_send`: when the buffer is full the oldest reading is evicted (and handed back),
//! the newest always gets in, and the display always sees recent data. The channel counts
//! evictions itself (`stats().evicted`).
//!
//! Run: `cargo run --release --example drop_oldest`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CAPACITY: usize = 4;
const READINGS: u64 = 600;
const SENSOR_PERIOD: Duration = Duration::from_millis(1);
const DISPLAY_PERIOD: Duration = Duration::from_millis(25);

#[derive(Debug)]
struct Reading {
    seq: u64,
    celsius: f64,
}

#[async_std::main]
async fn main() {
    let (tx, rx) = sluicebox::bounded::<Reading>(CAPACITY);
    let monitor = rx.monitor();
    let start = Instant::now();
    // The sensor's newest reading, to show how stale the displayed one is.
    let newest = Arc::new(AtomicU64::new(0));

    let sensor_newest = Arc::clone(&newest);
    let sensor = async_std::task::spawn(async move {
        let (mut evicted, mut evicted_seq_sum, mut peak_len) = (0u64, 0u64, 0usize);
        for seq in 0..READINGS {
            let reading = Reading {
                seq,
                celsius: 20.0 + (seq % 50) as f64 / 10.0,
            };
            sensor_newest.store(seq, Ordering::Relaxed);
            match tx.force_send(reading) {
                Ok(None) => {}
                Ok(Some(old)) => {
                    assert!(old.seq < seq, "the evicted reading is an older one");
                    evicted += 1;
                    evicted_seq_sum += old.seq;
                }
                Err(e) => panic!("force_send failed: {e:?}"),
            }
            peak_len = peak_len.max(tx.len());
            async_std::task::sleep(SENSOR_PERIOD).await;
        }
        (evicted, evicted_seq_sum, peak_len)
        // `tx` drops here: the display drains what is left, then sees the end.
    });

    let display = async_std::task::spawn(async move {
        let (mut shown, mut shown_seq_sum, mut last) = (0u64, 0u64, None::<Reading>);
        while let Some(r) = rx.recv().await {
            assert!(
                last.as_ref().map_or(true, |l| l.seq < r.seq),
                "readings arrive in order"
            );
            if shown % 8 == 0 {
                println!(
                    "[{:>4} ms] display: reading #{:<3} {:.1} °C  (sensor is at #{})",
                    start.elapsed().as_millis(),
                    r.seq,
                    r.celsius,
                    newest.load(Ordering::Relaxed)
                );
            }
            shown += 1;
            shown_seq_sum += r.seq;
            last = Some(r);
            async_std::task::sleep(DISPLAY_PERIOD).await;
        }
        (shown, shown_seq_sum, last.map(|r| r.seq))
    });

    let (evicted, evicted_seq_sum, peak_len) = sensor.await;
    let (shown, shown_seq_sum, last_shown) = display.await;
    let s = monitor.stats();
    println!(
        "produced {READINGS}, consumed {shown}, evicted {evicted} (stats().evicted = {}), \
         in {} ms",
        s.evicted,
        start.elapsed().as_millis()
    );
    println!(
        "peak queue length {peak_len} of {CAPACITY}; last reading shown #{}",
        last_shown.unwrap()
    );

    // The claims.
    assert_eq!(
        READINGS,
        shown + evicted,
        "every reading shown or counted evicted"
    );
    assert_eq!(s.evicted, evicted, "the channel's count matches ours");
    assert_eq!(
        s.rejected, 0,
        "force_send never refuses an unreserved channel"
    );
    assert_eq!(s.sent, READINGS, "every reading got in");
    assert_eq!(
        shown_seq_sum + evicted_seq_sum,
        (0..READINGS).sum::<u64>(),
        "checksum: each reading either shown or evicted, exactly once"
    );
    assert_eq!(
        last_shown,
        Some(READINGS - 1),
        "latest-value semantics: the newest reading is never the one dropped"
    );
    assert!(peak_len <= CAPACITY, "len {peak_len} exceeded {CAPACITY}");
    assert!(
        evicted > 0,
        "a sensor 25x faster than the display must evict"
    );
    println!("ok: the display kept up with the present by skipping stale readings");
}
