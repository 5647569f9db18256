//! Strategy 2, drop the newest: a metrics recorder on a hot path must never wait, so it
//! uses `try_send`, and when the buffer is full the new sample comes back as
//! `TrySendError::Full` and is dropped. The channel counts the refusals itself
//! (`stats().rejected`), so the loss is visible without extra bookkeeping.
//!
//! Run: `cargo run --release --example drop_newest`

use sluicebox::TrySendError;
use std::time::{Duration, Instant};

const CAPACITY: usize = 256;
const BURSTS: u64 = 5;
const BURST: u64 = 1_000;
/// The consumer flushes up to this many samples at a time...
const FLUSH: usize = 100;
/// ...and each flush costs it this long.
const FLUSH_COST: Duration = Duration::from_millis(15);

struct Sample {
    seq: u64,
    value: f64,
}

fn main() {
    smol::block_on(async {
        let (tx, rx) = sluicebox::bounded::<Sample>(CAPACITY);
        let monitor = tx.monitor();
        let start = Instant::now();

        let flusher = smol::spawn(async move {
            let (mut count, mut seq_sum, mut value_sum) = (0u64, 0u64, 0.0f64);
            let (mut flushes, mut last_seq) = (0u32, None);
            let mut batch = Vec::with_capacity(FLUSH);
            while rx.recv_many(&mut batch, FLUSH).await > 0 {
                for s in batch.drain(..) {
                    assert!(last_seq < Some(s.seq), "one recorder: FIFO order");
                    last_seq = Some(s.seq);
                    count += 1;
                    seq_sum += s.seq;
                    value_sum += s.value;
                }
                flushes += 1;
                smol::Timer::after(FLUSH_COST).await;
            }
            (count, seq_sum, value_sum, flushes)
        });

        // The recorder: bursts of samples with no await between them, a pause after each.
        let (mut produced, mut dropped, mut kept_seq_sum) = (0u64, 0u64, 0u64);
        let mut peak_len = 0;
        for burst in 0..BURSTS {
            let mut burst_dropped = 0;
            for i in 0..BURST {
                let seq = burst * BURST + i;
                produced += 1;
                match tx.try_send(Sample {
                    seq,
                    value: seq as f64 * 0.5,
                }) {
                    Ok(()) => kept_seq_sum += seq,
                    Err(TrySendError::Full(_sample)) => burst_dropped += 1,
                    Err(TrySendError::Closed(_)) => unreachable!("the flusher outlives us"),
                }
                peak_len = peak_len.max(monitor.len());
            }
            dropped += burst_dropped;
            let s = monitor.stats();
            println!(
                "[{:>4} ms] burst {burst}: {BURST} recorded, {burst_dropped:>3} dropped; \
                 len {}/{}, rejected so far {}",
                start.elapsed().as_millis(),
                s.len,
                s.capacity,
                s.rejected
            );
            smol::Timer::after(Duration::from_millis(100)).await;
        }
        drop(tx);

        let (consumed, seq_sum, value_sum, flushes) = flusher.await;
        let s = monitor.stats();
        println!(
            "produced {produced}, consumed {consumed} in {flushes} flushes, dropped {dropped} \
             ({:.0}%); stats().rejected = {}",
            100.0 * dropped as f64 / produced as f64,
            s.rejected
        );
        println!(
            "peak queue length {peak_len} of {CAPACITY}; the recorder never waited ({} ms total)",
            start.elapsed().as_millis()
        );

        // The claims.
        assert_eq!(
            produced,
            consumed + dropped,
            "every sample kept or counted dropped"
        );
        assert_eq!(s.rejected, dropped, "the channel's count matches ours");
        assert_eq!((s.sent, s.received), (consumed, consumed));
        assert_eq!(s.evicted, 0);
        assert_eq!(seq_sum, kept_seq_sum, "checksum of the kept samples");
        assert_eq!(value_sum, kept_seq_sum as f64 * 0.5);
        assert!(peak_len <= CAPACITY, "len {peak_len} exceeded {CAPACITY}");
        // A burst of 1,000 into 256 slots, drained 100 per 15 ms, must overflow.
        assert!(dropped > 0, "the bursts should have overflowed the buffer");
        println!("ok: overflow was dropped at the door and counted, not queued");
    });
}
