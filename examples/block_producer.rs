//! Strategy 1, block the producer: `send().await` waits while the channel is full, so a
//! producer that needs no time of its own is held to a slow consumer's pace, and the queue
//! never holds more than its capacity.
//!
//! Run: `cargo run --release --example block_producer`

use std::time::{Duration, Instant};

const CAPACITY: usize = 8;
const ITEMS: u64 = 200;
/// What one item costs the consumer.
const WORK: Duration = Duration::from_millis(4);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (tx, rx) = sluicebox::bounded::<u64>(CAPACITY);
    let monitor = tx.monitor();
    let start = Instant::now();

    // A producer with no delay of its own: only the full channel slows this loop down.
    let producer = tokio::spawn(async move {
        for i in 0..ITEMS {
            tx.send(i)
                .await
                .expect("the consumer outlives the producer");
        }
        start.elapsed()
    });

    let consumer = tokio::spawn(async move {
        let (mut count, mut sum) = (0u64, 0u64);
        while let Some(item) = rx.recv().await {
            assert_eq!(item, count, "one producer: items arrive in order");
            count += 1;
            sum += item;
            tokio::time::sleep(WORK).await;
        }
        (count, sum)
    });

    // Sample the channel every millisecond; print one line every 150 ms.
    let (mut peak_len, mut peak_waiting, mut samples) = (0, 0, 0u32);
    let last = loop {
        let s = monitor.stats();
        peak_len = peak_len.max(s.len);
        peak_waiting = peak_waiting.max(s.senders_waiting);
        samples += 1;
        if s.closed && s.len == 0 {
            break s;
        }
        if samples % 150 == 0 {
            println!(
                "[{:>5} ms] len {}/{}  sent {:>3}  received {:>3}  senders waiting {}",
                start.elapsed().as_millis(),
                s.len,
                s.capacity,
                s.sent,
                s.received,
                s.senders_waiting
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };

    let producer_time = producer.await.unwrap();
    let (consumed, sum) = consumer.await.unwrap();
    let total = start.elapsed();
    println!("produced {ITEMS}, consumed {consumed}, dropped 0, checksum {sum}");
    println!(
        "peak queue length {peak_len} of {CAPACITY}; the producer was seen parked in send: {}",
        peak_waiting > 0
    );
    println!(
        "the producer took {} ms to send {ITEMS} items: the consumer's pace, ~{:.0} items/s",
        producer_time.as_millis(),
        consumed as f64 / total.as_secs_f64()
    );

    // The claims.
    assert_eq!(consumed, ITEMS, "every item sent was received");
    assert_eq!(sum, (0..ITEMS).sum::<u64>(), "checksum");
    assert_eq!((last.sent, last.received), (ITEMS, ITEMS));
    assert_eq!((last.rejected, last.evicted), (0, 0), "nothing was dropped");
    assert!(peak_len <= CAPACITY, "len {peak_len} exceeded {CAPACITY}");
    assert!(peak_waiting <= 1, "one producer, at most one parked sender");
    // The last send completes only after the consumer took item ITEMS-1-CAPACITY, and
    // each item before that cost it at least WORK: the producer was held back.
    let floor = WORK * (ITEMS as u32 - 1 - CAPACITY as u32);
    assert!(
        producer_time >= floor,
        "the producer finished in {producer_time:?}, faster than the consumer allows ({floor:?})"
    );
    println!("ok: the producer waited instead of piling up items");
}
