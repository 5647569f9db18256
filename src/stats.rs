//! One snapshot of a channel's state, for dashboards and metrics exporters.

/// A snapshot of a channel, from [`stats`](crate::Sender::stats).
///
/// `len`, `reserved`, `sent` and `received` come from one consistent read of the ring's
/// two ends, so `sent - received == len` and `len + reserved <= capacity` always hold in
/// a snapshot. The other fields are read right after and may be a moment newer.
///
/// Reading a snapshot costs the channel nothing on its fast path: `sent` and `received`
/// are derived from the ring's positions; `rejected` and `evicted` are counted only on
/// their slow paths. Derived from positions, `sent` and `received` wrap after
/// `capacity × 2^B / (8 × m²)` items, where `B` is the width of `usize` and
/// `m = (capacity + 1).next_power_of_two()`: on 64-bit targets after 2^51 items at
/// capacity 256 and 2^39 at capacity 2^20, on 32-bit ones after 2^23 items at capacity
/// 16 and 2^19 at 256; `rejected` and `evicted` wrap after 2^B. Across
/// such a wrap a total goes down, and `sent - received == len` fails for the snapshots
/// between the two ends' wraps. Rates computed with `wrapping_sub` over a window shorter
/// than the wrap are exact.
///
/// A send [`Permit`](crate::Permit) takes room, not an item: while it is held it counts
/// in `reserved`, and in `sent` and `len` only once it sends. A permit dropped unused
/// counts nowhere.
///
/// `Stats::default()` is all zeros, for tests of exporters that need a snapshot without
/// a channel (the struct is `#[non_exhaustive]`: set the fields on a default):
///
/// ```
/// let mut s = sluicebox::Stats::default();
/// s.len = 3;
/// s.capacity = 4;
/// assert_eq!(s.fill_ratio(), 0.75);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Items queued now, ready for the receivers.
    pub len: usize,
    /// Room held by send permits not yet sent or dropped. Senders wait when
    /// `len + reserved == capacity`.
    pub reserved: usize,
    /// The bound.
    pub capacity: usize,
    /// Items ever accepted into the channel (by sends, `force_send` and permits).
    pub sent: u64,
    /// Items ever taken out of the channel: by receivers, by `force_send` evictions, and by
    /// the drain when the last receiver is dropped.
    pub received: u64,
    /// Senders parked waiting for space.
    pub senders_waiting: usize,
    /// Receivers parked waiting for items.
    pub receivers_waiting: usize,
    /// `try_send` and `force_send` calls refused with [`TrySendError::Full`]: the value
    /// came back and was not sent.
    ///
    /// [`TrySendError::Full`]: crate::TrySendError::Full
    pub rejected: u64,
    /// Items evicted by `force_send`.
    pub evicted: u64,
    /// Sends that gave up while they waited for room: a `send` or `reserve` future
    /// dropped while queued (a lost `select!`, a `timeout`), a blocking send that timed
    /// out. Load shed by the caller rather than by the channel: it shows up here, not in
    /// `rejected`.
    pub abandoned: u64,
    /// Live senders.
    pub senders: usize,
    /// Live receivers.
    pub receivers: usize,
    /// Whether the channel is closed.
    pub closed: bool,
}

impl Stats {
    /// How much of the room is in use, by items and by permits, from 0.0 to 1.0: at
    /// 1.0 senders wait.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(4);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.stats().fill_ratio(), 0.25);
    /// let _permit = tx.try_reserve().unwrap();
    /// assert_eq!(tx.stats().fill_ratio(), 0.5);
    /// ```
    pub fn fill_ratio(&self) -> f64 {
        if self.capacity == 0 {
            return 0.0; // a default snapshot: no channel
        }
        (self.len + self.reserved) as f64 / self.capacity as f64
    }
}
