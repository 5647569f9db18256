//! One snapshot of a channel's state, for dashboards and metrics exporters.

/// A snapshot of a channel, from [`stats`](crate::Sender::stats).
///
/// `len`, `sent` and `received` come from one consistent read of the ring's two ends, so
/// `sent - received == len` and `len <= capacity` always hold in a snapshot. The other
/// fields are read right after and may be a moment newer. Totals never go backwards
/// (with a 64-bit `usize`; for 32-bit targets see below).
///
/// Reading a snapshot costs the channel nothing on its fast path: `sent` and `received`
/// are derived from the ring's positions; `rejected` and `evicted` are counted only on
/// their slow paths. On targets with a 32-bit `usize` the totals wrap: `sent` and
/// `received`, which are derived from the ring's 32-bit positions, after between 2²⁹ and
/// 2³⁰ items depending on the capacity (`cap × 2³² / (4 × (cap + 1).next_power_of_two())`),
/// and `rejected` / `evicted` after 2³². Across such a wrap a total goes down, and
/// `sent - received == len` fails for the snapshots between the two ends' wraps.
///
/// A send [`Permit`](crate::Permit) takes its slot when it is reserved: it counts in
/// `sent` and `len` from then on. A permit dropped unused leaves a gap that a receiver
/// steps over, which counts in `received` (a gap at the front of the line is stepped over
/// at once by the drop itself). So `sent` and `received` count slots that went through
/// the line; they exceed the items by the number of permits dropped unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Slots in use now: items queued, plus permits reserved but not yet sent (and
    /// permits dropped unused that receivers have not stepped over yet).
    pub len: usize,
    /// The bound.
    pub capacity: usize,
    /// Items ever accepted into the channel (plus permits ever reserved).
    pub sent: u64,
    /// Items ever taken out of the channel: by receivers, by `force_send` evictions, and by
    /// the drain when the last receiver is dropped.
    pub received: u64,
    /// Senders parked waiting for space.
    pub senders_waiting: usize,
    /// Receivers parked waiting for items.
    pub receivers_waiting: usize,
    /// `try_send` calls refused because the channel was full.
    pub rejected: u64,
    /// Items evicted by `force_send`.
    pub evicted: u64,
    /// Live senders.
    pub senders: usize,
    /// Live receivers.
    pub receivers: usize,
    /// Whether the channel is closed.
    pub closed: bool,
}

impl Stats {
    /// How full the channel is, from 0.0 to 1.0.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(4);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.stats().fill_ratio(), 0.25);
    /// ```
    pub fn fill_ratio(&self) -> f64 {
        self.len as f64 / self.capacity as f64
    }
}
