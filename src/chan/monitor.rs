//! A read-only handle for dashboards and metrics exporters.

use super::{handle_struct, Chan};
use crate::ChannelRef;

handle_struct! {
    /// A read-only view of a channel, for dashboards and metrics exporters: [`stats`],
    /// [`len`], [`capacity`] and the other observers, nothing that sends, receives or
    /// closes.
    ///
    /// A monitor is not a sender or a receiver: it does not keep the channel open, and it
    /// is not in [`sender_count`] or [`receiver_count`]. It keeps the channel's memory
    /// alive (for a heap channel), so after every sender and receiver is gone it still
    /// reports the final state, with `closed` set. Items are not kept alive by it: the
    /// last receiver's drop drains them as usual. `Clone`, and `Send + Sync` when `T:
    /// Send`, so one can go to a metrics thread.
    ///
    /// Reading costs the channel nothing on its fast path (see [`Stats`](crate::Stats)).
    ///
    /// [`stats`]: Monitor::stats
    /// [`len`]: Monitor::len
    /// [`capacity`]: Monitor::capacity
    /// [`sender_count`]: Monitor::sender_count
    /// [`receiver_count`]: Monitor::receiver_count
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u32>(8);
    /// let gauge = tx.monitor();
    /// tx.try_send(1).unwrap();
    /// assert_eq!((gauge.len(), gauge.capacity()), (1, 8));
    ///
    /// drop((tx, rx));
    /// let last = gauge.stats();
    /// assert!(last.closed);
    /// assert_eq!((last.sent, last.senders, last.receivers), (1, 0, 0));
    /// ```
    Monitor
}

impl<T, R: ChannelRef<T>> Monitor<T, R> {
    pub(crate) fn new(chan: R) -> Self {
        Self::from_counted(chan)
    }

    fn chan(&self) -> Chan<'_, T> {
        self.chan.chan()
    }

    /// Whether `other` watches the same channel.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// assert!(tx.monitor().same_channel(&rx.monitor()));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        self.chan().same(&other.chan())
    }

    super::readers!();
}

impl<T, R: ChannelRef<T>> Clone for Monitor<T, R> {
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T, R: ChannelRef<T>> core::fmt::Debug for Monitor<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Monitor")
            .field("stats", &self.stats())
            .finish()
    }
}
