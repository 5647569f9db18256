//! Prometheus metrics, the ecosystem's way (feature `prometheus`): a
//! [`prometheus_client`] [`Collector`](prometheus_client::collector::Collector) that reads
//! channels and semaphores on each scrape. Nothing is recorded on the data path: each
//! scrape takes one [`stats`](crate::AnyMonitor::stats) snapshot per channel.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `sluicebox_channel_items` | gauge | items queued now (`Stats::len`) |
//! | `sluicebox_channel_reserved` | gauge | room held by send permits |
//! | `sluicebox_channel_capacity` | gauge | the bound |
//! | `sluicebox_channel_senders_waiting`, `..._receivers_waiting` | gauge | parked senders / receivers |
//! | `sluicebox_channel_closed` | gauge | 1 once closed |
//! | `sluicebox_channel_sent_total`, `..._received_total` | counter | items in and out |
//! | `sluicebox_channel_rejected_total` | counter | `try_send` / `force_send` refused as full |
//! | `sluicebox_channel_evicted_total` | counter | items evicted by `force_send` |
//! | `sluicebox_channel_abandoned_total` | counter | waiting sends given up (cancelled, timed out) |
//! | `sluicebox_semaphore_available_permits` | gauge | free permits |
//! | `sluicebox_semaphore_waiters` | gauge | tasks and threads waiting to acquire |
//!
//! Every metric carries a `channel` or `semaphore` label with the name given here.
//!
//! ```
//! use prometheus_client::{encoding::text::encode, registry::Registry};
//! use std::sync::Arc;
//!
//! let (tx, _rx) = sluicebox::bounded::<String>(64);
//! let workers = Arc::new(sluicebox::Semaphore::new(4));
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(
//!     sluicebox::prometheus::Collector::new()
//!         .channel("jobs", tx.monitor().erase())
//!         .semaphore("workers", workers.clone()),
//! ));
//! tx.try_send("job".into()).unwrap();
//! let mut page = String::new();
//! encode(&mut page, &registry).unwrap();
//! assert!(page.contains("sluicebox_channel_items{channel=\"jobs\"} 1"));
//! assert!(page.contains("sluicebox_channel_sent_total{channel=\"jobs\"} 1"));
//! assert!(page.contains("sluicebox_semaphore_available_permits{semaphore=\"workers\"} 4"));
//! ```

use crate::{AnyMonitor, Semaphore, Stats};
use alloc::borrow::Cow;
use alloc::sync::Arc;
use alloc::vec::Vec;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::TypedMetric;

/// Channels and semaphores to report, each under a name. Register it with
/// `Registry::register_collector`; it reads them on every scrape.
#[derive(Debug, Default)]
pub struct Collector {
    channels: Vec<(Cow<'static, str>, AnyMonitor<'static>)>,
    semaphores: Vec<(Cow<'static, str>, SemaphoreRef)>,
}

#[derive(Debug)]
enum SemaphoreRef {
    Static(&'static Semaphore),
    Shared(Arc<Semaphore>),
}

impl SemaphoreRef {
    fn get(&self) -> &Semaphore {
        match self {
            Self::Static(s) => s,
            Self::Shared(s) => s,
        }
    }
}

/// A gauge read from a channel's snapshot.
type ChannelGauge = (&'static str, &'static str, fn(&Stats) -> i64);
/// A counter read from a channel's snapshot.
type ChannelCounter = (&'static str, &'static str, fn(&Stats) -> u64);

const CHANNEL_GAUGES: [ChannelGauge; 6] = [
    (
        "sluicebox_channel_items",
        "Items queued in the channel now.",
        |s| s.len as i64,
    ),
    (
        "sluicebox_channel_reserved",
        "Room held by send permits not yet used.",
        |s| s.reserved as i64,
    ),
    ("sluicebox_channel_capacity", "The channel's bound.", |s| {
        s.capacity as i64
    }),
    (
        "sluicebox_channel_senders_waiting",
        "Senders parked waiting for room.",
        |s| s.senders_waiting as i64,
    ),
    (
        "sluicebox_channel_receivers_waiting",
        "Receivers parked waiting for items.",
        |s| s.receivers_waiting as i64,
    ),
    (
        "sluicebox_channel_closed",
        "1 once the channel is closed.",
        |s| i64::from(s.closed),
    ),
];

const CHANNEL_COUNTERS: [ChannelCounter; 5] = [
    (
        "sluicebox_channel_sent",
        "Items accepted into the channel.",
        |s| s.sent,
    ),
    (
        "sluicebox_channel_received",
        "Items taken out of the channel.",
        |s| s.received,
    ),
    (
        "sluicebox_channel_rejected",
        "Sends refused because the channel was full (try_send, force_send).",
        |s| s.rejected,
    ),
    (
        "sluicebox_channel_evicted",
        "Items evicted by force_send.",
        |s| s.evicted,
    ),
    (
        "sluicebox_channel_abandoned",
        "Waiting sends given up: cancelled or timed out.",
        |s| s.abandoned,
    ),
];

/// A gauge read from a semaphore.
type SemaphoreGauge = (&'static str, &'static str, fn(&Semaphore) -> i64);

const SEMAPHORE_GAUGES: [SemaphoreGauge; 2] = [
    (
        "sluicebox_semaphore_available_permits",
        "Free permits.",
        |s| s.available_permits() as i64,
    ),
    (
        "sluicebox_semaphore_waiters",
        "Tasks and threads waiting to acquire.",
        |s| s.waiting() as i64,
    ),
];

impl Collector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports the channel behind `monitor` under `name` (label `channel="name"`).
    pub fn channel(
        mut self,
        name: impl Into<Cow<'static, str>>,
        monitor: AnyMonitor<'static>,
    ) -> Self {
        self.channels.push((name.into(), monitor));
        self
    }

    /// Reports a shared semaphore under `name` (label `semaphore="name"`).
    pub fn semaphore(mut self, name: impl Into<Cow<'static, str>>, sem: Arc<Semaphore>) -> Self {
        self.semaphores
            .push((name.into(), SemaphoreRef::Shared(sem)));
        self
    }

    /// Reports a `static` semaphore under `name`.
    pub fn static_semaphore(
        mut self,
        name: impl Into<Cow<'static, str>>,
        sem: &'static Semaphore,
    ) -> Self {
        self.semaphores
            .push((name.into(), SemaphoreRef::Static(sem)));
        self
    }
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), core::fmt::Error> {
        // One snapshot per channel per scrape, so its numbers agree with each other.
        let snapshots: Vec<(&str, Stats)> = self
            .channels
            .iter()
            .map(|(name, m)| (name.as_ref(), m.stats()))
            .collect();
        if !snapshots.is_empty() {
            for (metric, help, read) in CHANNEL_GAUGES {
                let mut family =
                    encoder.encode_descriptor(metric, help, None, ConstGauge::<i64>::TYPE)?;
                for (name, s) in &snapshots {
                    let labels = [("channel", *name)];
                    ConstGauge::new(read(s)).encode(family.encode_family(&labels)?)?;
                }
            }
            for (metric, help, read) in CHANNEL_COUNTERS {
                let mut family =
                    encoder.encode_descriptor(metric, help, None, ConstCounter::<u64>::TYPE)?;
                for (name, s) in &snapshots {
                    let labels = [("channel", *name)];
                    ConstCounter::new(read(s)).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        if !self.semaphores.is_empty() {
            for (metric, help, read) in SEMAPHORE_GAUGES {
                let mut family =
                    encoder.encode_descriptor(metric, help, None, ConstGauge::<i64>::TYPE)?;
                for (name, sem) in &self.semaphores {
                    let labels = [("semaphore", name.as_ref())];
                    ConstGauge::new(read(sem.get())).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}
