//! `SinkSender` (feature `sink`) under the futures combinators users reach for:
//! `SinkExt::send`, `send_all` and `StreamExt::forward`, on tokio and on smol, with
//! backpressure (a small channel and a slow receiver) and exactly-once delivery.
//! Run with `cargo test --features sink --test sink`.
#![cfg(feature = "sink")]

use futures::{Sink, SinkExt, StreamExt};
use sluicebox::{bounded, StaticChannel};
use std::pin::pin;
use std::time::Duration;

const N: u64 = 5_000;

async fn forward_and_check(consumer_delay: Option<Duration>) {
    let (tx, rx) = bounded::<u64>(4);
    let producer = async move {
        let sink = pin!(tx.into_sink());
        futures::stream::iter(0..N).map(Ok).forward(sink).await
    };
    let consumer = async move {
        let mut stream = pin!(rx.into_stream());
        let (mut count, mut sum, mut next) = (0u64, 0u64, 0u64);
        while let Some(v) = stream.next().await {
            assert_eq!(v, next, "FIFO");
            next += 1;
            count += 1;
            sum += v;
            if let Some(d) = consumer_delay {
                if v % 1_000 == 0 {
                    std::thread::sleep(d);
                }
            }
        }
        (count, sum)
    };
    let (sent, (count, sum)) = futures::join!(producer, consumer);
    sent.unwrap();
    // `forward` closes the sink at the end: the only sender is gone, the stream ended.
    assert_eq!((count, sum), (N, N * (N - 1) / 2));
}

#[test]
fn sink_forward_on_tokio_exactly_once_and_closes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, b) = tokio::join!(
            tokio::spawn(forward_and_check(None)),
            tokio::spawn(forward_and_check(Some(Duration::from_millis(2))))
        );
        a.unwrap();
        b.unwrap();
    });
}

#[test]
fn sink_forward_on_smol_exactly_once_and_closes() {
    smol::block_on(async {
        let a = smol::spawn(forward_and_check(None));
        let b = smol::spawn(forward_and_check(Some(Duration::from_millis(2))));
        a.await;
        b.await;
    });
}

#[test]
fn sink_send_waits_for_room_and_close_keeps_other_senders() {
    futures::executor::block_on(async {
        static CH: StaticChannel<&'static str, 1> = StaticChannel::new();
        let (tx, rx) = CH.split();
        let other = tx.clone();
        let mut sink = pin!(tx.into_sink());
        sink.send("first").await.unwrap();
        // Full: `send` waits in poll_ready until the receiver makes room.
        let mut second = pin!(sink.send("second"));
        assert!(futures::poll!(second.as_mut()).is_pending());
        assert_eq!(rx.try_recv(), Ok("first"));
        second.await.unwrap();
        // Closing the sink drops its sender only: the channel stays open for `other`.
        sink.close().await.unwrap();
        assert!(sink.get_ref().is_none());
        assert!(!rx.is_closed());
        assert!(sink.send("after close").await.is_err());
        assert_eq!(rx.try_recv(), Ok("second"));
        other.try_send("other").unwrap();
        assert_eq!(rx.try_recv(), Ok("other"));
        drop(other);
        assert!(rx.is_closed());
    });
}

#[test]
fn sink_ready_but_dropped_gives_its_room_back() {
    futures::executor::block_on(async {
        let (tx, rx) = bounded::<u8>(1);
        let watch = tx.clone();
        {
            let mut sink = pin!(tx.into_sink());
            futures::future::poll_fn(|cx| sink.as_mut().poll_ready(cx))
                .await
                .unwrap();
            assert_eq!(watch.reserved(), 1);
        }
        assert_eq!(watch.reserved(), 0);
        watch.try_send(5).unwrap();
        assert_eq!(rx.try_recv(), Ok(5));
    });
}

#[test]
#[should_panic(expected = "start_send without a successful poll_ready")]
fn sink_start_send_without_poll_ready_panics() {
    let (tx, _rx) = bounded::<u8>(1);
    let mut sink = pin!(tx.into_sink());
    let _ = sink.as_mut().start_send(1);
}
