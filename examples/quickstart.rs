//! The crate in one screen: a fast producer, a slow consumer, a bounded channel that pushes
//! back, and the channel's own numbers showing it.
//!
//! Run: `cargo run --release --example quickstart`

use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (tx, rx) = sluicebox::bounded::<u64>(8);
    let monitor = tx.clone();
    let start = Instant::now();

    // A producer that would outrun the consumer 10x: `send` waits while the channel is
    // full, so it is held to the consumer's pace and memory stays at 8 items.
    let producer = tokio::spawn(async move {
        for i in 0..200u64 {
            tx.send(i)
                .await
                .expect("the consumer outlives the producer");
        }
    });

    // A slow consumer.
    let consumer = tokio::spawn(async move {
        let mut sum = 0u64;
        while let Some(item) = rx.recv().await {
            sum += item;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        sum
    });

    // Watch the fill level while it runs.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = monitor.stats();
        println!(
            "[{:>4} ms] len {}/{}  sent {:>3}  received {:>3}  senders waiting {}",
            start.elapsed().as_millis(),
            s.len,
            s.capacity,
            s.sent,
            s.received,
            s.senders_waiting
        );
    }
    drop(monitor);

    producer.await.unwrap();
    let sum = consumer.await.unwrap();
    assert_eq!(sum, (0..200u64).sum::<u64>());
    println!(
        "done: 200 items, checksum {sum}, in {} ms; the queue never held more than 8",
        start.elapsed().as_millis()
    );
}
